//! Per-call cost of warden's plugin host, in process, with a fresh instance
//! for every call (the isolation warden always keeps).
//!
//! Run: `cargo bench -p warden --bench calls` (add `-- --calls N` to change
//! the sample size). Reports median, p99 and mean for:
//! - a trivial tool (`hostile.echo {}`),
//! - a 1 KiB file read through the bundled `fs` plugin, and the same read as
//!   a bare `std::fs::read_to_string` in a guest (the host's share of it),
//! - loading a component warden compiled earlier from its disk cache,
//! - compiling a component from scratch, for comparison.

use std::time::{Duration, Instant};
use warden_core::component::Package;
use warden_core::grant::{self, Context, Grant};
use warden_core::runtime::Runtime;

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let total: Duration = samples.iter().sum();
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    println!(
        "{name:<44} n={n:<6} median {:>9.1} µs   p99 {:>9.1} µs   mean {:>9.1} µs",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        total.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .skip_while(|a| a != "--calls")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path().canonicalize()?.join("ws");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(ws.join("one-kib.txt"), "abcdefghijklmno\n".repeat(64))?;
    let cache = tmp.path().join("cache");
    let rt = Runtime::new(Some(cache.clone()))?;
    let ctx = Context {
        workspace: ws.clone(),
        protected: vec![],
        home: None,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let hostile = Package::from_bytes(
        std::fs::read(warden_core::test_programs::path("hostile"))?,
        "hostile",
    )?;
    let fs = Package::from_bytes(
        warden_core::bundled::get("fs")
            .ok_or("fs is bundled")?
            .to_vec(),
        "fs",
    )?;

    let mut compile = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        wasmtime::component::Component::new(rt.engine(), &fs.bytes)?;
        compile.push(t.elapsed());
    }
    rt.compile(&fs)?; // fills the cache
    let mut load = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        rt.compile(&fs)?;
        load.push(t.elapsed());
    }

    let bind =
        |package: &Package| -> Result<warden_core::runtime::Prepared, Box<dyn std::error::Error>> {
            let loaded = rt.load(package)?;
            let g = Grant::everything_requested(&package.manifest);
            let e = grant::effective(&package.manifest, &g, &ctx);
            Ok(loaded.prepare(&rt, e, &ws, |_| None)?)
        };
    let echo = bind(&hostile)?;
    let read = bind(&fs)?;
    let read_input = r#"{"path":"one-kib.txt"}"#;

    let measure = |p: &warden_core::runtime::Prepared,
                   tool: &str,
                   input: &str|
     -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls + calls / 10 {
            let t = Instant::now();
            let out = tokio.block_on(p.call(tool, input))?;
            let took = t.elapsed();
            if out.result.is_err() {
                return Err(format!("{tool} failed: {:?}", out.result).into());
            }
            if i >= calls / 10 {
                samples.push(took);
            }
        }
        Ok(samples)
    };
    println!(
        "warden plugin host, fresh instance per call, {} cores",
        std::thread::available_parallelism()?.get()
    );
    stats(
        "trivial tool (hostile.echo {})",
        measure(&echo, "echo", "{}")?,
    );
    stats("1 KiB read (fs.read)", measure(&read, "read", read_input)?);
    stats(
        "1 KiB read_to_string (hostile.read)",
        measure(&echo, "read", read_input)?,
    );
    stats("load cached compiled component (fs)", load);
    stats("compile component from scratch (fs)", compile);
    Ok(())
}
