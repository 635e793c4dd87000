//! Issue 17: plugins anyone can write. A Python plugin (componentize-py)
//! built from `examples/python-notes`, packed with `warden plugin pack`,
//! installed under a narrowed grant and called through the real binary:
//! it reads what the grant covers, is refused the rest with the grant that
//! would allow it, and `audit` says how its `wasi:sockets` is linked.
//! The toolchains are installed by `.ci/setup`; without them these tests
//! fail (they do not skip), saying what to install.

use super::common::Fixture;
use super::harness::Warden;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// warden with its own state in `home`, in `cwd`.
fn warden(home: &Path, cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .env_remove("WARDEN_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn warden");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Build the Python example into `out` with componentize-py, against the
/// world for plugins that run no programs.
fn build_python(out: &Path) {
    let example = repo().join("examples/python-notes");
    let built = Command::new("componentize-py")
        .arg("-d")
        .arg(repo().join("wit"))
        .args(["-w", "plugin-without-process", "componentize", "app", "-o"])
        .arg(out)
        .current_dir(&example)
        .output()
        .expect("componentize-py 0.25.1 is missing: run `bash .ci/setup` (pip install componentize-py==0.25.1)");
    assert!(
        built.status.success(),
        "componentize-py failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

#[test]
fn a_python_plugin_is_packed_installed_audited_and_reads_only_its_grant() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(ws.join("notes")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(ws.join("notes/todo.txt"), "water the plants\n").unwrap();
    std::fs::write(ws.join("secret.txt"), "not for plugins").unwrap();
    let raw = tmp.path().join("raw.wasm");
    build_python(&raw);

    // A manifest without a description is refused, naming the manifest's
    // file, the field and what to write; nothing is written.
    let refused = tmp.path().join("refused.wasm");
    let undescribed = tmp.path().join("warden.toml");
    std::fs::write(&undescribed, "name = \"pynotes\"\nversion = \"0.1.0\"\n").unwrap();
    let r = warden(
        &home,
        tmp.path(),
        &[
            "plugin",
            "pack",
            raw.to_str().unwrap(),
            "--manifest",
            undescribed.to_str().unwrap(),
            "-o",
            refused.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "invalid manifest ({}): missing field `description`: add one line saying what the plugin is for",
            undescribed.display()
        )),
        "{}",
        r.stderr
    );
    assert!(!refused.exists());

    // A manifest that does not justify the imports is refused, and nothing
    // is written.
    let bare = tmp.path().join("bare.toml");
    std::fs::write(
        &bare,
        "name = \"pynotes\"\nversion = \"0.1.0\"\ndescription = \"Notes.\"\n",
    )
    .unwrap();
    let r = warden(
        &home,
        tmp.path(),
        &[
            "plugin",
            "pack",
            raw.to_str().unwrap(),
            "--manifest",
            bare.to_str().unwrap(),
            "-o",
            refused.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("wasi:filesystem/") && r.stderr.contains("[[files]]"),
        "{}",
        r.stderr
    );
    assert!(!refused.exists());

    let packed = tmp.path().join("pynotes.wasm");
    let manifest = repo().join("examples/python-notes/warden.toml");
    let r = warden(
        &home,
        tmp.path(),
        &[
            "plugin",
            "pack",
            raw.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("packed pynotes 0.1.0 into"),
        "{}",
        r.stderr
    );
    // Packing twice would carry two manifests: refused.
    let again = tmp.path().join("again.wasm");
    let r = warden(
        &home,
        tmp.path(),
        &[
            "plugin",
            "pack",
            packed.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("already carries a `warden:manifest` section"),
        "{}",
        r.stderr
    );

    let r = warden(
        &home,
        tmp.path(),
        &[
            "plugin",
            "install",
            packed.to_str().unwrap(),
            "--grant",
            "file:notes:read",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = warden(&home, &ws, &["plugin", "audit", "pynotes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("import check: ok"), "{}", r.stdout);
    assert!(
        r.stdout.contains("deny-all (never granted)")
            && r.stdout.contains("sockets (wasi:sockets): linked deny-all"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("files (wasi:filesystem, through warden's guard; the workspace is `.`): linked with 1 granted path(s)"),
        "{}",
        r.stdout
    );

    // Inside the narrowed grant, by a workspace-relative path.
    let r = warden(
        &home,
        &ws,
        &[
            "call",
            "pynotes.read",
            "--json",
            "--input",
            r#"{"path":"notes/todo.txt"}"#,
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["result"]["text"], "water the plants\n", "{v}");
    let r = warden(
        &home,
        &ws,
        &[
            "call",
            "pynotes.list",
            "--json",
            "--input",
            r#"{"path":"notes"}"#,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["result"]["entries"],
        serde_json::json!(["todo.txt"]),
        "{v}"
    );

    // Outside it: a denial naming the grant, not "not found".
    let r = warden(
        &home,
        &ws,
        &[
            "call",
            "pynotes.read",
            "--input",
            r#"{"path":"secret.txt"}"#,
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let real = ws.canonicalize().unwrap();
    assert!(
        r.stderr.contains(
            "no grant covers this path\n  to allow it: warden plugin grant pynotes --add --grant file:secret.txt:read"
        ) && r.stderr.contains(&format!("{}/secret.txt", real.display())),
        "{}",
        r.stderr
    );
    let log = warden(
        &home,
        &ws,
        &["log", "--decision", "deny", "--plugin", "pynotes"],
    );
    assert!(
        log.stdout.contains("denial DENY pynotes.read"),
        "{}",
        log.stdout
    );
    // The host still answers.
    let r = warden(
        &home,
        &ws,
        &[
            "call",
            "pynotes.read",
            "--input",
            r#"{"path":"notes/todo.txt"}"#,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn write_input(path: &str, content: &str) -> String {
    serde_json::json!({"path": path, "content": content}).to_string()
}

/// Issue 17: `warden plugin grant edit --grant file:c.txt:write` (and a
/// nested `file:src/new/x.rs:write`) lets `edit.write` create those files,
/// with the directories on the way, through the real binary; every other
/// name is refused with the grant that would allow it, recorded, and
/// leaves the disk as it was.
#[test]
fn a_narrowed_grant_to_files_not_there_yet_lets_edit_create_them() {
    let w = Warden::new();
    let fx = Fixture::new();
    std::fs::create_dir(fx.ws.join("src")).unwrap();
    std::fs::write(fx.ws.join("src/lib.rs"), "lib").unwrap();
    let ws = fx.ws.to_str().unwrap();
    w.ok(&[
        "plugin",
        "grant",
        "edit",
        "--grant",
        "file:c.txt:write",
        "--grant",
        "file:src/new/x.rs:write",
    ]);
    for (path, content) in [("c.txt", "c"), ("src/new/x.rs", "fn x() {}")] {
        let r = w.ok(&[
            "call",
            "edit.write",
            "--json",
            "--workspace",
            ws,
            "--input",
            &write_input(path, content),
        ]);
        assert_eq!(r.json()["result"]["created"], true, "{}", r.stdout);
        assert_eq!(fx.read(path), content);
    }
    // Once the granted files exist, a refusal in their directories says
    // that only single files are granted there.
    let single = "only a single file is granted in this directory";
    let replace_a = serde_json::json!({"path": "a.txt", "old": "hi", "new": "bye"}).to_string();
    // A call, its input, and each denial it meets: operation, path, reason.
    type Denied<'a> = &'a [(&'a str, &'a str, &'a str)];
    let refusals: [(&str, String, Denied); 5] = [
        (
            "edit.write",
            write_input("c2.txt", "x"),
            &[("write", "c2.txt", single)],
        ),
        (
            "edit.write",
            write_input("src/new/y.rs", "y"),
            &[("write", "src/new/y.rs", single)],
        ),
        (
            "edit.write",
            write_input("src/lib.rs", "x"),
            &[("write", "src/lib.rs", single)],
        ),
        (
            "edit.write",
            write_input("docs/new.md", "x"),
            &[("stat", "docs", single), ("mkdir", "docs", single)],
        ),
        ("edit.replace", replace_a, &[("stat", "a.txt", single)]),
    ];
    let mut expected = Vec::new();
    for (tool, input, denied) in &refusals {
        let r = w.run(&["call", tool, "--workspace", ws, "--input", input]);
        assert_eq!(r.code, 3, "{tool} {input}: {}", r.stderr);
        for (op, rel, reason) in denied.iter() {
            let access = if *op == "stat" { "read" } else { "write" };
            assert!(
                r.stderr.contains(&format!(
                    "denied: files {op} {ws}/{rel}: {reason}\n  to allow it: warden plugin grant edit --add --grant file:{rel}:{access}"
                )),
                "{tool} {input}: {}",
                r.stderr
            );
            expected.push((op.to_string(), format!("{ws}/{rel}"), reason.to_string()));
        }
    }
    let denials: Vec<(String, String, String)> = w
        .records(&["--plugin", "edit", "--decision", "deny"])
        .iter()
        .filter(|e| e["record"]["kind"] == "denial")
        .map(|e| {
            let r = &e["record"];
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("operation"), field("resource"), field("reason"))
        })
        .collect();
    assert_eq!(denials, expected);
    assert_eq!(fx.read("src/lib.rs"), "lib");
    assert_eq!(fx.read("a.txt"), "hi");
    assert!(!fx.ws.join("c2.txt").exists() && !fx.ws.join("src/new/y.rs").exists());
    assert!(!fx.ws.join("docs").exists());
    // The host still answers, and the granted file is still writable.
    w.ok(&[
        "call",
        "edit.write",
        "--workspace",
        ws,
        "--input",
        &write_input("c.txt", "again"),
    ]);
    assert_eq!(fx.read("c.txt"), "again");
}
