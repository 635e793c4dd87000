//! Issue 13: undo captures each change where it happens — the file guard
//! tells the journal's turn about every path before changing it — so a
//! turn costs what it changes, never a scan or a copy of the workspace.
//! Real components through the real host; the journal as `warden undo`
//! uses it.

use super::common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use warden_core::journal::{Journal, Status};

/// Every path under `root` (but `.git`) with its content (or link target)
/// and mode.
fn tree(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".git" {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            let body = if m.is_symlink() {
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if m.is_dir() {
                stack.push(p.clone());
                b"<dir>".to_vec()
            } else {
                std::fs::read(&p).unwrap()
            };
            out.insert(rel, (body, mode));
        }
    }
    out
}

fn objects(root: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(root) else {
        return 0;
    };
    dirs.flatten()
        .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
        .sum()
}

async fn ok(
    p: &warden_core::runtime::Prepared,
    cap: &warden_core::journal::Capture,
    tool: &str,
    input: serde_json::Value,
) {
    let out = p
        .call_captured(tool, &input.to_string(), Some(cap.clone()))
        .await
        .unwrap();
    assert!(out.result.is_ok(), "{tool} {input}: {:?}", out.result);
    assert!(out.denials.is_empty(), "{tool}: {:?}", out.denials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_every_change_through_the_guard_is_captured_and_a_killed_turn_is_undone() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.ws.join("dir/inner")).unwrap();
    std::fs::write(fx.ws.join("dir/inner/deep.txt"), "deep").unwrap();
    std::fs::write(fx.ws.join("dir/top.txt"), "top").unwrap();
    std::fs::write(fx.ws.join("gone.txt"), "delete me").unwrap();
    std::fs::write(fx.ws.join("cut.txt"), "cut me short").unwrap();
    let original = tree(&fx.ws);
    let p = fx.prepare("hostile", &["file:.:write"]);
    let journal_root = fx.tmp.path().join("journal");
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    let turn = journal.begin_next("s").unwrap();
    let cap = turn.capture();
    for (tool, input) in [
        ("write", json!({"path": "a.txt", "content": "changed"})),
        ("write", json!({"path": "created.txt", "content": "new"})),
        ("truncate", json!({"path": "cut.txt"})),
        ("set_times", json!({"path": "dir/top.txt"})),
        ("unlink", json!({"path": "gone.txt"})),
        ("mkdir", json!({"path": "made"})),
        (
            "write_via_dir",
            json!({"path": "made/x.txt", "content": "x"}),
        ),
        ("rename", json!({"from": "dir", "to": "moved"})),
        (
            "write",
            json!({"path": "moved/inner/deep.txt", "content": "after the move"}),
        ),
        ("symlink", json!({"from": "a.txt", "to": "link"})),
        (
            "hard_link",
            json!({"from": "moved/top.txt", "to": "hard.txt"}),
        ),
    ] {
        ok(&p, &cap, tool, input).await;
    }
    assert_eq!(fx.read("moved/inner/deep.txt"), "after the move");
    // As if warden were SIGKILLed now: the turn is never finished; what it
    // saved is on disk, and the next journal operation closes it.
    drop(turn);
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    journal.recover().unwrap();
    let turns = journal.turns().unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].status, Status::Interrupted);
    let paths: Vec<&str> = turns[0].changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "a.txt",
            "created.txt",
            "cut.txt",
            "dir",
            "dir/inner",
            "dir/inner/deep.txt",
            "dir/top.txt",
            "gone.txt",
            "hard.txt",
            "link",
            "made",
            "made/x.txt",
            "moved",
            "moved/inner",
            "moved/inner/deep.txt",
            "moved/top.txt",
        ]
    );
    journal.undo(&turns, false).unwrap();
    assert_eq!(tree(&fx.ws), original);
    assert_still_answers(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_turn_in_a_large_workspace_stores_only_what_it_changed() {
    let fx = Fixture::new();
    for d in 0..20 {
        let dir = fx.ws.join(format!("src/d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(
                dir.join(format!("f{f}.rs")),
                format!("// {d}/{f}\n").repeat(64),
            )
            .unwrap();
        }
    }
    let p = fx.prepare("hostile", &["file:.:write"]);
    let journal_root = fx.tmp.path().join("journal");
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    for n in 1..=3 {
        let turn = journal.begin_next("s").unwrap();
        ok(
            &p,
            &turn.capture(),
            "write",
            json!({"path": "src/d7/f7.rs", "content": format!("v{n}")}),
        )
        .await;
        let rec = turn.finish().unwrap();
        assert_eq!(rec.changes.len(), 1, "{rec:?}");
    }
    // The original and three versions: nothing of the other 1999 files.
    assert_eq!(objects(&journal_root.join("objects")), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_change_whose_pre_image_cannot_be_saved_is_refused() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let journal_root = fx.tmp.path().join("journal");
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    let turn = journal.begin_next("s").unwrap();
    // The store cannot take anything: a file sits where its directory goes.
    std::fs::write(journal_root.join("objects"), "not a directory").unwrap();
    let out = p
        .call_captured(
            "write",
            &json!({"path": "a.txt", "content": "lost"}).to_string(),
            Some(turn.capture()),
        )
        .await
        .unwrap();
    let Err(warden_core::runtime::ToolFailure::Failed { message }) = &out.result else {
        panic!("{:?}", out.result);
    };
    assert!(message.contains("I/O error"), "{message}");
    assert_eq!(out.denials.len(), 1, "{:?}", out.denials);
    let d = &out.denials[0];
    assert_eq!(d.operation, "write");
    assert_eq!(d.resource, fx.ws.join("a.txt").display().to_string());
    assert!(
        d.reason
            .starts_with("what it holds could not be saved for undo, so it was not changed: "),
        "{}",
        d.reason
    );
    // Nothing changed, and the host still answers.
    assert_eq!(fx.read("a.txt"), "hi");
    std::fs::remove_file(journal_root.join("objects")).unwrap();
    assert!(turn.finish().unwrap().changes.is_empty());
    assert_still_answers(&p).await;
}

/// Since issue 17 the workspace is always the guest's `.`, also when only a
/// path inside it is granted, and the guard narrows what `.` reaches. Every
/// change made through `.` under a narrowed writable grant (`file:sub:write`)
/// is still told to the journal first, and undone exactly; a change outside
/// the grant is refused, recorded, and not in the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_changes_under_a_narrowed_grant_through_dot_are_captured() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.ws.join("sub/dir/inner")).unwrap();
    std::fs::write(fx.ws.join("sub/dir/inner/deep.txt"), "deep").unwrap();
    std::fs::write(fx.ws.join("sub/b.txt"), "bee").unwrap();
    std::fs::write(fx.ws.join("sub/cut.txt"), "cut me short").unwrap();
    std::fs::write(fx.ws.join("sub/gone.txt"), "delete me").unwrap();
    let original = tree(&fx.ws);
    let p = fx.prepare("hostile", &["file:sub:write"]);
    let journal_root = fx.tmp.path().join("journal");
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    let turn = journal.begin_next("s").unwrap();
    let cap = turn.capture();
    for (tool, input) in [
        ("write", json!({"path": "sub/new.txt", "content": "new"})),
        (
            "write",
            json!({"path": "./sub/b.txt", "content": "changed"}),
        ),
        ("truncate", json!({"path": "sub/cut.txt"})),
        ("set_times", json!({"path": "sub/b.txt"})),
        ("mkdir", json!({"path": "sub/made"})),
        (
            "write_via_dir",
            json!({"path": "sub/made/x.txt", "content": "x"}),
        ),
        ("rename", json!({"from": "sub/dir", "to": "sub/moved"})),
        ("symlink", json!({"from": "b.txt", "to": "sub/link"})),
        (
            "hard_link",
            json!({"from": "sub/b.txt", "to": "sub/hard.txt"}),
        ),
        ("unlink", json!({"path": "sub/gone.txt"})),
    ] {
        ok(&p, &cap, tool, input).await;
    }
    for (tool, input, op, resource) in [
        (
            "write",
            json!({"path": "a.txt", "content": "x"}),
            "write",
            "a.txt",
        ),
        (
            "rename",
            json!({"from": "sub/b.txt", "to": "b.txt"}),
            "rename",
            "b.txt",
        ),
        ("mkdir", json!({"path": "top"}), "mkdir", "top"),
    ] {
        let out = p
            .call_captured(tool, &input.to_string(), Some(cap.clone()))
            .await
            .unwrap();
        assert!(out.result.is_err(), "{tool} {input}: {:?}", out.result);
        let d = out
            .denials
            .iter()
            .find(|d| d.operation == op)
            .unwrap_or_else(|| panic!("no {op} denial in {:?}", out.denials));
        assert_eq!(d.resource, fx.ws.join(resource).display().to_string());
        assert_eq!(d.reason, "no grant covers this path", "{tool} {input}");
    }
    assert_eq!(fx.read("a.txt"), "hi");
    // Killed mid-turn: the next journal operation closes it from its log.
    drop(turn);
    let journal = Journal::at(&journal_root, &fx.ws, vec![]).unwrap();
    journal.recover().unwrap();
    let turns = journal.turns().unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].status, Status::Interrupted);
    let paths: Vec<&str> = turns[0].changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "sub/b.txt",
            "sub/cut.txt",
            "sub/dir",
            "sub/dir/inner",
            "sub/dir/inner/deep.txt",
            "sub/gone.txt",
            "sub/hard.txt",
            "sub/link",
            "sub/made",
            "sub/made/x.txt",
            "sub/moved",
            "sub/moved/inner",
            "sub/moved/inner/deep.txt",
            "sub/new.txt",
        ]
    );
    journal.undo(&turns, false).unwrap();
    assert_eq!(tree(&fx.ws), original);
    // The host still answers (a.txt, which the benign check reads, is not
    // granted here).
    let out = p
        .call("read", &json!({"path": "sub/b.txt"}).to_string())
        .await
        .unwrap();
    assert_eq!(out.result.unwrap(), json!("bee"));
}
