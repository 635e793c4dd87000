//! Issue 17: `warden plugin new` writes a project that builds, installs and
//! passes its own test out of the box, and refuses to write over anything.

use super::harness::Warden;
use std::path::Path;
use std::process::{Command, Stdio};

/// A Rust project with every capability passes its own `./test.sh`, run as
/// a user runs it: the real cargo for wasm32-wasip2, this warden binary,
/// a scratch warden home with exactly the grants the project names.
#[test]
fn issue17_a_new_rust_plugin_passes_its_own_test() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("probe");
    let r = w.run(&[
        "plugin",
        "new",
        "probe",
        "--capability",
        "files",
        "--capability",
        "programs",
        "--capability",
        "network",
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for file in ["Cargo.toml", "warden.toml", "README.md", "test.sh"] {
        assert!(project.join(file).is_file(), "{file} is written");
    }
    let manifest = std::fs::read_to_string(project.join("warden.toml")).unwrap();
    assert!(
        manifest.contains("[[files]]")
            && manifest.contains("[[programs]]")
            && manifest.contains("[[network]]"),
        "{manifest}"
    );
    // Its own target dir, so the build does not wait on the outer one.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    let out = Command::new("./test.sh")
        .current_dir(&project)
        .env("WARDEN", env!("CARGO_BIN_EXE_warden"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .expect("the project's test.sh runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for tool in ["ok   probe.read", "ok   probe.echo", "ok   probe.get"] {
        assert!(text.contains(tool), "{tool}: {text}");
    }
    assert!(
        text.contains("probe: all tools answered as expected"),
        "{text}"
    );
}

/// Refusals exit 2 and write nothing: a directory that is not empty, and a
/// name the manifest rules reject.
#[test]
fn issue17_plugin_new_refuses_to_write_over_anything() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let r = w.run(&["plugin", "new", "taken", "--dir", taken.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("it is not empty"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&taken).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing is added");
    assert_eq!(
        std::fs::read_to_string(taken.join("notes.txt")).unwrap(),
        "mine"
    );

    let bad = dir.path().join("bad");
    let r = w.run(&["plugin", "new", "Bad Name", "--dir", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!bad.exists(), "nothing is written for a refused name");
}
