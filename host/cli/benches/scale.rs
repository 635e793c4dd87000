//! What a call costs as the workspace grows, measured as a user runs it
//! (`warden call` of the release binary, a fresh process per call):
//!
//! - `edit.write` of one small file in a 10-file workspace and in a large
//!   one (50 000 files of 4 KiB, 200 MB, by default): the median per call,
//!   the first call in each workspace, and how much the journal grew per
//!   turn;
//! - `search.search` of a pattern that matches nothing, over the whole
//!   large workspace, beside `rg -j1` over the same tree.
//!
//! Run: `cargo bench --workspace --bench scale` (add `-- --files N
//! --calls N`), or `bench/compare.sh` for every benchmark at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NO_MATCH: &str = "ZQXJ_no_such_text_VWK";

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A source-like text file of about `bytes` bytes.
fn text(i: usize, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 80);
    let mut line = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "    let value_{line} = compute(input_{i}, {line}) + offset; // step {line} of file {i}\n"
        ));
        line += 1;
    }
    s
}

fn make_workspace(root: &Path, files: usize, bytes: usize) -> std::io::Result<()> {
    const PER_DIR: usize = 500;
    for i in 0..files {
        let dir = root.join(format!("src/d{:04}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(dir.join(format!("f{i:06}.rs")), text(i, bytes))?;
    }
    Ok(())
}

fn tree_bytes(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

struct Home {
    dir: PathBuf,
}

impl Home {
    fn warden(&self, ws: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(args)
            .arg("--workspace")
            .arg(ws)
            .current_dir(ws)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn journal_bytes(&self) -> u64 {
        tree_bytes(&self.dir.join("data/warden/journal"))
    }
}

fn run(mut cmd: Command) -> Result<Duration, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let out = cmd.output()?;
    let took = t.elapsed();
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(took)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Edit {
    first: Duration,
    median: Duration,
    growth_per_turn: u64,
    first_growth: u64,
}

fn edits(home: &Home, ws: &Path, calls: usize) -> Result<Edit, Box<dyn std::error::Error>> {
    let write = |n: usize| {
        let input = format!(r#"{{"path":"notes/n.txt","content":"edit number {n}\n"}}"#);
        home.warden(ws, &["call", "edit.write", "--input", &input])
    };
    let before = home.journal_bytes();
    let first = run(write(0))?;
    let after_first = home.journal_bytes();
    let mut samples = Vec::with_capacity(calls);
    for n in 1..=calls {
        samples.push(run(write(n))?);
    }
    let grown = home.journal_bytes().saturating_sub(after_first);
    Ok(Edit {
        first,
        median: median(samples),
        growth_per_turn: grown / calls as u64,
        first_growth: after_first.saturating_sub(before),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = arg("--files", 50_000);
    let calls = arg("--calls", 20);
    let kib = arg("--kib", 4);
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().canonicalize()?;
    let home = Home {
        dir: root.join("home"),
    };
    let small = root.join("small");
    let large = root.join("large");
    make_workspace(&small, 10, kib * 1024)?;
    let t = Instant::now();
    make_workspace(&large, files, kib * 1024)?;
    println!(
        "workspaces: 10 files, and {files} files of {kib} KiB ({:.0} MB, written in {:.1} s); {} cores",
        tree_bytes(&large) as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        std::thread::available_parallelism()?.get()
    );
    // Compile the plugins once, outside every measurement.
    let warm = root.join("warm");
    make_workspace(&warm, 1, 16)?;
    run(home.warden(
        &warm,
        &[
            "call",
            "edit.write",
            "--input",
            r#"{"path":"w","content":"w"}"#,
        ],
    ))?;
    run(home.warden(
        &warm,
        &["call", "search.search", "--input", r#"{"pattern":"w"}"#],
    ))?;

    let s = edits(&home, &small, calls)?;
    let l = edits(&home, &large, calls)?;
    for (name, e) in [("10 files", &s), (&*format!("{files} files"), &l)] {
        println!(
            "edit.write, {name:<12} median {:>8.1} ms   first call {:>8.1} ms   journal +{:>7.1} KiB first, +{:>6.1} KiB per turn after",
            ms(e.median),
            ms(e.first),
            e.first_growth as f64 / 1024.0,
            e.growth_per_turn as f64 / 1024.0
        );
    }
    println!(
        "edit.write large / small: {:.2}x",
        l.median.as_secs_f64() / s.median.as_secs_f64()
    );

    let search_input = format!(r#"{{"pattern":"{NO_MATCH}"}}"#);
    let search = || home.warden(&large, &["call", "search.search", "--input", &search_input]);
    let rg = || {
        let mut c = Command::new("rg");
        c.args(["-j1", NO_MATCH])
            .current_dir(&large)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    if Command::new("rg").arg("--version").output().is_err() {
        println!("search: rg is not installed (bash .ci/setup installs it); not compared");
        return Ok(());
    }
    // Page cache warm for both.
    run(rg())?;
    run(search())?;
    let reps = 5;
    let mut w = Vec::new();
    let mut r = Vec::new();
    for _ in 0..reps {
        w.push(run(search())?);
        r.push(run(rg())?);
    }
    let (w, r) = (median(w), median(r));
    println!(
        "search, no match, {files} files: search.search {:>8.1} ms   rg -j1 {:>8.1} ms   ratio {:.2}x",
        ms(w),
        ms(r),
        w.as_secs_f64() / r.as_secs_f64()
    );
    Ok(())
}
