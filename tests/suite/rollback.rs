//! `warden undo`, `warden rollback` and `warden diff` through the real
//! binary (issue 6): changes by edit plugins and by granted programs,
//! created, deleted and binary files, modes, a warden killed mid-turn, and
//! a directory swapped for a symlink before the restore.

use super::harness::Warden;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Ws {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

/// A workspace with a text file, a binary file, a file to delete and a
/// directory; and a directory outside it.
fn workspace() -> Ws {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(root.join("bin.dat"), [0u8, 255, 1, 254]).unwrap();
    std::fs::write(root.join("old.txt"), "keep me\n").unwrap();
    std::fs::write(root.join("sub/f.txt"), "inside\n").unwrap();
    Ws {
        _tmp: tmp,
        root,
        outside,
    }
}

impl Ws {
    fn s(&self) -> &str {
        self.root.to_str().unwrap()
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root.join(rel)).unwrap()
    }

    fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.root.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Everything is as [`workspace`] made it.
    fn assert_original(&self) {
        assert_eq!(self.read("a.txt"), b"one\ntwo\nthree\n");
        assert_eq!(self.mode("a.txt"), 0o644);
        assert_eq!(self.read("bin.dat"), [0u8, 255, 1, 254]);
        assert_eq!(self.read("old.txt"), b"keep me\n");
        assert_eq!(self.read("sub/f.txt"), b"inside\n");
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "bin.dat", "old.txt", "sub"]);
    }
}

fn write(w: &Warden, ws: &Ws, path: &str, content: &str) {
    let input = serde_json::json!({"path": path, "content": content}).to_string();
    w.ok(&[
        "call",
        "edit.write",
        "--workspace",
        ws.s(),
        "--input",
        &input,
    ]);
}

/// `sh -c SCRIPT` in the workspace through the spawner guest.
fn sh_input(script: &str) -> String {
    serde_json::json!({"program": "sh", "args": ["-c", script]}).to_string()
}

fn with_shell() -> Warden {
    let w = Warden::new();
    w.install("spawner", &["file:.:write", "program:sh"]);
    w
}

#[test]
fn edit_plugin_turns_are_shown_undone_and_rolled_back() {
    let w = Warden::new();
    let ws = workspace();
    write(&w, &ws, "a.txt", "one\nTWO\nthree\n");
    let patch = "*** Begin Patch\n*** Delete File: old.txt\n*** Add File: new/deep/n.txt\n+created\n*** End Patch\n";
    let input = serde_json::json!({"patch": patch}).to_string();
    let r = w.ok(&[
        "call",
        "edit.apply_patch",
        "--workspace",
        ws.s(),
        "--input",
        &input,
    ]);
    assert!(
        r.stderr
            .contains("turn 2 of session cli: 4 path(s) changed"),
        "{}",
        r.stderr
    );
    write(&w, &ws, "a.txt", "third turn\n");

    let diff = w
        .ok(&[
            "diff",
            "cli",
            "--turn",
            "1",
            "--workspace",
            ws.s(),
            "--color",
            "never",
        ])
        .stdout;
    assert_eq!(
        diff,
        "turn 1 of session cli: 1 change(s)\n\
         changed a.txt: file (mode 644) -> file (mode 644)\n\
         --- a/a.txt\n+++ b/a.txt\n\
         @@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    );
    let diff = w
        .ok(&["diff", "cli", "--workspace", ws.s(), "--color", "always"])
        .stdout;
    assert!(
        diff.contains("\x1b[31m-two\x1b[0m\n\x1b[32m+TWO\x1b[0m"),
        "{diff}"
    );
    assert!(
        diff.contains("deleted old.txt: file (mode 644) -> nothing"),
        "{diff}"
    );
    assert!(
        diff.contains("created new/deep/n.txt: nothing -> file (mode 644)"),
        "{diff}"
    );

    // Back to just after turn 1, then to before the session.
    w.ok(&["rollback", "cli", "--to", "1", "--workspace", ws.s()]);
    assert_eq!(ws.read("a.txt"), b"one\nTWO\nthree\n");
    assert_eq!(ws.read("old.txt"), b"keep me\n");
    assert!(!ws.root.join("new").exists());
    w.ok(&["rollback", "cli", "--workspace", ws.s()]);
    ws.assert_original();
    let r = w.run(&["undo", "--workspace", ws.s()]);
    assert_eq!(r.code, 5);
    assert!(r.stderr.contains("nothing to undo in"), "{}", r.stderr);
    let r = w.run(&["rollback", "nope", "--workspace", ws.s()]);
    assert!(
        r.stderr.contains("no session `nope` in")
            && r.stderr.contains("sessions with captured turns here: cli"),
        "{}",
        r.stderr
    );

    // Each restore is in the audit log, before it happened.
    let rollbacks = w.records(&["--session", "cli"]);
    let kinds: Vec<&str> = rollbacks
        .iter()
        .filter_map(|e| e["record"]["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "rollback").count(),
        2,
        "{kinds:?}"
    );
    w.ok(&["log", "verify"]);
}

#[test]
fn changes_made_by_a_granted_program_are_undone() {
    let w = with_shell();
    let ws = workspace();
    let script = "printf 'fn main() {}\\n' > gen.rs; printf '\\001\\000\\377' > bin.dat; \
                  chmod 755 a.txt; rm old.txt; mkdir -p d/e; echo z > d/e/z; ln -s a.txt link";
    let r = w.ok(&[
        "call",
        "spawner.run",
        "--workspace",
        ws.s(),
        "--input",
        &sh_input(script),
        "--json",
    ]);
    let v = r.json();
    assert_eq!(v["result"]["exit_code"], 0, "{v}");
    assert_eq!(v["turn"], 1);
    assert_eq!(
        v["changed"],
        serde_json::json!([
            "a.txt", "bin.dat", "d", "d/e", "d/e/z", "gen.rs", "link", "old.txt"
        ])
    );
    assert_eq!(ws.mode("a.txt"), 0o755);
    let diff = w.ok(&["diff", "cli", "--workspace", ws.s()]).stdout;
    assert!(diff.contains("binary file bin.dat differs"), "{diff}");
    assert!(
        diff.contains("changed a.txt: file (mode 644) -> file (mode 755)"),
        "{diff}"
    );
    assert!(
        diff.contains("created link: nothing -> symlink to a.txt"),
        "{diff}"
    );
    assert!(diff.contains("+fn main() {}"), "{diff}");
    let r = w.ok(&["undo", "--workspace", ws.s()]);
    assert!(
        r.stderr.contains("undid turn cli/1: restored 8 path(s)"),
        "{}",
        r.stderr
    );
    ws.assert_original();
}

#[test]
fn a_warden_killed_mid_turn_loses_nothing() {
    let w = with_shell();
    let ws = workspace();
    // A child's writes land in its overlay and reach the workspace only
    // when its tree has exited under warden: a warden killed mid-run
    // applies none of them, and the interrupted turn has nothing to lose.
    let script = "echo x > f; echo four >> a.txt; rm old.txt; sleep 3037";
    let mut child = w
        .command(&[
            "call",
            "spawner.run",
            "--workspace",
            ws.s(),
            "--input",
            &sh_input(script),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let running = || {
        let out = std::process::Command::new("pgrep")
            .args(["-fx", "sleep 3037"])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    while !running() {
        assert!(Instant::now() < deadline, "the child never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ws.root.join("old.txt").exists(),
        "a child's write landed mid-run"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    ws.assert_original();
    assert!(!ws.root.join("f").exists());
    // The call was recorded before it ran.
    let calls = w.records(&["--plugin", "spawner"]);
    assert_eq!(calls[0]["record"]["kind"], "install");
    assert_eq!(calls[1]["record"]["kind"], "call");
    assert_eq!(calls[1]["record"]["turn"], 1);
    assert!(calls[2..].iter().all(|e| e["record"]["kind"] != "result"));
    // The next call is a new turn, captured as usual.
    let r = w.ok(&[
        "call",
        "spawner.run",
        "--workspace",
        ws.s(),
        "--input",
        &sh_input("echo y > g"),
    ]);
    assert!(
        r.stderr
            .contains("turn 2 of session cli: 1 path(s) changed"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_directory_swapped_for_a_symlink_is_not_restored_through() {
    let w = Warden::new();
    let ws = workspace();
    write(&w, &ws, "sub/f.txt", "changed\n");
    std::fs::write(ws.outside.join("f.txt"), "outside\n").unwrap();
    std::fs::rename(ws.root.join("sub"), ws.root.join("sub.real")).unwrap();
    std::os::unix::fs::symlink(&ws.outside, ws.root.join("sub")).unwrap();

    let r = w.run(&["undo", "--workspace", ws.s()]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("not restoring: a path changed after the turn(s) being undone (by a later turn, another session or by hand), and undoing would lose that: sub/f.txt; pass --force"),
        "{}",
        r.stderr
    );
    let r = w.run(&["undo", "--force", "--workspace", ws.s()]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("restored 0 paths, but not: sub/f.txt: sub is no longer a directory (a symlink or file is in its place); not following it"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(ws.outside.join("f.txt")).unwrap(),
        b"outside\n"
    );
    assert_eq!(std::fs::read_dir(&ws.outside).unwrap().count(), 1);
    let denied = w.records(&["--decision", "deny"]);
    assert_eq!(denied.last().unwrap()["record"]["kind"], "rollback");

    // With the directory back, the same undo works.
    std::fs::remove_file(ws.root.join("sub")).unwrap();
    std::fs::rename(ws.root.join("sub.real"), ws.root.join("sub")).unwrap();
    w.ok(&["undo", "--workspace", ws.s()]);
    ws.assert_original();
}

#[test]
fn undo_will_not_lose_later_changes_unless_forced() {
    let w = Warden::new();
    let ws = workspace();
    write(&w, &ws, "a.txt", "by the plugin\n");
    std::fs::write(ws.root.join("a.txt"), "by hand\n").unwrap();
    let r = w.run(&["undo", "--workspace", ws.s()]);
    assert_eq!(r.code, 5);
    assert!(
        r.stderr
            .contains("undoing would lose that: a.txt; pass --force"),
        "{}",
        r.stderr
    );
    assert_eq!(ws.read("a.txt"), b"by hand\n");
    w.ok(&["undo", "--force", "--workspace", ws.s()]);
    ws.assert_original();
}

/// A read-only plugin's calls are not turns.
#[test]
fn reading_is_not_a_turn() {
    let w = Warden::new();
    let ws = workspace();
    let r = w.ok(&[
        "call",
        "fs.read",
        "--workspace",
        ws.s(),
        "--input",
        r#"{"path":"a.txt"}"#,
        "--json",
    ]);
    assert_eq!(r.json()["turn"], serde_json::Value::Null);
    let r = w.run(&["undo", "--workspace", ws.s()]);
    assert!(r.stderr.contains("nothing to undo"), "{}", r.stderr);
}

#[test]
fn mcp_calls_that_change_files_are_turns_of_the_mcp_session() {
    let w = Warden::new();
    let ws = workspace();
    let v = super::audit::mcp_call(
        &w,
        ws.s(),
        "edit__write",
        serde_json::json!({"path": "a.txt", "content": "over MCP\n"}),
    );
    assert_eq!(v["result"]["isError"], false, "{v}");
    assert_eq!(ws.read("a.txt"), b"over MCP\n");
    let records = w.records(&["--session", "mcp"]);
    assert_eq!(records[0]["record"]["turn"], 1);
    assert_eq!(
        records[1]["record"]["detail"]["changed"],
        serde_json::json!(["a.txt"])
    );
    let r = w.ok(&["rollback", "mcp", "--workspace", ws.s()]);
    assert!(
        r.stderr.contains("undid turn mcp/1: restored 1 path(s)"),
        "{}",
        r.stderr
    );
    ws.assert_original();
}

/// Every file, directory and symlink under `root`, with its content (or
/// link target) and mode: the workspace byte for byte.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.is_dir() {
                out.insert(rel, (b"<dir>".to_vec(), mode));
                stack.push(p);
            } else if m.is_symlink() {
                let to = std::fs::read_link(&p).unwrap();
                out.insert(rel, (to.as_os_str().as_encoded_bytes().to_vec(), 0));
            } else {
                out.insert(rel, (std::fs::read(&p).unwrap(), mode));
            }
        }
    }
    out
}

/// Issue 16, item 14: undo with a damaged journal must not delete the
/// user's file. A program changes one file, rewrites another and deletes a
/// third in one turn; then each stored copy the restore needs is in turn
/// overwritten, truncated, deleted and replaced by a FIFO. Each time
/// `warden rollback` (with and without --force) changes nothing in the
/// workspace, byte for byte, names the bad object and the path it would
/// restore, and the refusal is in the audit log. With the journal intact
/// again the same rollback restores everything.
#[test]
fn issue16_undo_with_a_damaged_journal_changes_nothing() {
    let w = with_shell();
    let ws = workspace();
    let script = "printf 'changed\\n' > a.txt; printf 'x' > bin.dat; rm old.txt";
    let r = w.ok(&[
        "call",
        "spawner.run",
        "--workspace",
        ws.s(),
        "--input",
        &sh_input(script),
        "--json",
    ]);
    assert_eq!(r.json()["result"]["exit_code"], 0);
    let turns = w
        .ok(&["diff", "cli", "--json", "--workspace", ws.s()])
        .json();
    let objects = w.data().join("journal/objects");
    let object_of = |path: &str| {
        let change = turns[0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {turns}"));
        let sha = change["before"]["sha256"].as_str().unwrap().to_string();
        objects.join(&sha[..2]).join(&sha[2..])
    };
    let after = tree(&ws.root);
    type Damage = fn(&std::path::Path);
    let damages: [(&str, &str, Damage); 4] = [
        (
            "a.txt",
            "its content does not match its digest (damaged or truncated)",
            |o| std::fs::write(o, "one\ntwo\nthree!\n").unwrap(),
        ),
        (
            "bin.dat",
            "its content does not match its digest (damaged or truncated)",
            |o| std::fs::write(o, [0u8, 255]).unwrap(),
        ),
        ("old.txt", "it is missing", |o| {
            std::fs::remove_file(o).unwrap()
        }),
        (
            "old.txt",
            "it cannot be read: it is not a regular file",
            |o| {
                std::fs::remove_file(o).unwrap();
                assert!(
                    std::process::Command::new("mkfifo")
                        .arg(o)
                        .status()
                        .unwrap()
                        .success()
                );
            },
        ),
    ];
    let mut refusals = 0;
    for (path, why, damage) in damages {
        let object = object_of(path);
        let saved = std::fs::read(&object).unwrap();
        damage(&object);
        for force in [false, true] {
            let mut args = vec!["rollback", "cli", "--workspace", ws.s()];
            if force {
                args.push("--force");
            }
            let r = w.run(&args);
            assert_ne!(r.code, 0, "{path}: {}", r.stderr);
            assert!(
                r.stderr.contains(&format!(
                    "not restoring: the journal's copy of one file is missing or damaged, so undoing would lose it; nothing in the workspace was changed: {path} (journal object {}: {why})",
                    object.display()
                )),
                "{path}: {}",
                r.stderr
            );
            assert_eq!(tree(&ws.root), after, "{path}: the workspace changed");
            refusals += 1;
        }
        let _ = std::fs::remove_file(&object);
        std::fs::write(&object, saved).unwrap();
    }
    let denied: Vec<serde_json::Value> = w
        .records(&["--decision", "deny"])
        .into_iter()
        .map(|e| e["record"].clone())
        .filter(|r| r["kind"] == "rollback")
        .collect();
    assert_eq!(denied.len(), refusals, "{denied:?}");
    assert!(
        denied.iter().all(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("nothing in the workspace was changed")),
        "{denied:?}"
    );
    w.ok(&["rollback", "cli", "--workspace", ws.s()]);
    ws.assert_original();
}

#[test]
fn issue13_journal_verify_finds_damage_and_gc_keeps_what_turns_need() {
    let w = Warden::new();
    let ws = workspace();
    write(&w, &ws, "a.txt", "first\n");
    write(&w, &ws, "a.txt", "second\n");
    let r = w.ok(&["journal", "verify"]);
    assert!(r.stdout.contains("is intact"), "{}", r.stdout);
    // Nothing is unneeded: every content is named by a turn (and young).
    let r = w.ok(&["journal", "gc", "--json"]).json();
    assert_eq!(r["removed"], 0, "{r}");
    assert_eq!(r["kept"], 3, "{r}");
    assert_eq!(r["forgotten"], serde_json::json!([]));
    // A damaged content is named with the turn and path that need it.
    let turns = w
        .ok(&["diff", "cli", "--json", "--workspace", ws.s()])
        .json();
    let sha = turns[0]["changes"][0]["before"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let object = w
        .data()
        .join("journal/objects")
        .join(&sha[..2])
        .join(&sha[2..]);
    std::fs::write(&object, "tampered").unwrap();
    let r = w.run(&["journal", "verify"]);
    assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{} cli/1 needs a.txt (journal object {}): its content does not match its digest (damaged or truncated)",
            ws.root.display(),
            object.display()
        )),
        "{}",
        r.stdout
    );
    // Under a cap of nothing, every turn is forgotten, and said so.
    let r = w.ok(&["journal", "gc", "--max-mib", "0"]);
    assert!(
        r.stdout.contains("forgot 2 turn(s) to fit 0 MiB"),
        "{}",
        r.stdout
    );
    let r = w.run(&["undo", "--workspace", ws.s()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("nothing to undo"), "{}", r.stderr);
    assert_eq!(ws.read("a.txt"), b"second\n");
}
