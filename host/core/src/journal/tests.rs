use super::*;
use std::os::unix::fs::PermissionsExt as _;

struct Fx {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    outside: PathBuf,
    j: Journal,
}

fn fx() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let ws = root.join("ws");
    let outside = root.join("outside");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(ws.join("src/a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(ws.join("gone.txt"), "delete me\n").unwrap();
    std::fs::write(ws.join("bin.dat"), [0u8, 159, 146, 150, 255]).unwrap();
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    std::fs::write(ws.join(".git/HEAD"), "ref").unwrap();
    let j = Journal::at(&root.join("journal"), &ws, vec![]).unwrap();
    Fx {
        _tmp: tmp,
        ws,
        outside,
        j,
    }
}

/// Tell the turn's capture that `rel` is about to change, as the file
/// guard and the overlay commit do.
fn touch(t: &Turn, ws: &Path, rel: &str, deep: bool) {
    t.capture().before_change(&ws.join(rel), deep).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn objects(j: &Journal) -> usize {
    walk_count(&j.dir.parent().unwrap().parent().unwrap().join("objects"))
}

fn walk_count(p: &Path) -> usize {
    std::fs::read_dir(p)
        .map(|d| {
            d.map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk_count(&e.path())
                } else {
                    1
                }
            })
            .sum()
        })
        .unwrap_or(0)
}

fn change_everything(t: &Turn, ws: &Path) {
    for (rel, deep) in [
        ("src/a.rs", false),
        ("gone.txt", true),
        ("bin.dat", true),
        ("new", false),
        ("new/deep", false),
        ("new/deep/n.txt", true),
        ("link", true),
        (".git/HEAD", false),
    ] {
        touch(t, ws, rel, deep);
    }
    std::fs::write(ws.join("src/a.rs"), "fn a() { changed }\n").unwrap();
    std::fs::set_permissions(ws.join("src/a.rs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(ws.join("gone.txt")).unwrap();
    std::fs::write(ws.join("bin.dat"), [1u8, 2, 0, 3]).unwrap();
    std::fs::create_dir_all(ws.join("new/deep")).unwrap();
    std::fs::write(ws.join("new/deep/n.txt"), "new").unwrap();
    std::os::unix::fs::symlink("src/a.rs", ws.join("link")).unwrap();
    std::fs::write(ws.join(".git/HEAD"), "changed by git").unwrap();
}

fn assert_original(ws: &Path) {
    assert_eq!(
        std::fs::read_to_string(ws.join("src/a.rs")).unwrap(),
        "fn a() {}\n"
    );
    assert_eq!(mode(&ws.join("src/a.rs")), 0o644);
    assert_eq!(
        std::fs::read_to_string(ws.join("gone.txt")).unwrap(),
        "delete me\n"
    );
    assert_eq!(
        std::fs::read(ws.join("bin.dat")).unwrap(),
        [0u8, 159, 146, 150, 255]
    );
    assert!(!ws.join("new").exists());
    assert!(std::fs::symlink_metadata(ws.join("link")).is_err());
}

#[test]
fn a_turn_records_every_change_and_undo_restores_it() {
    let f = fx();
    let turn = f.j.begin("s1", 1).unwrap();
    change_everything(&turn, &f.ws);
    let rec = turn.finish().unwrap();
    let paths: Vec<&str> = rec.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bin.dat",
            "gone.txt",
            "link",
            "new",
            "new/deep",
            "new/deep/n.txt",
            "src/a.rs"
        ]
    );
    assert_eq!(rec.status, Status::Finished);
    let gone = rec.changes.iter().find(|c| c.path == "gone.txt").unwrap();
    assert!(gone.after.is_none());
    let restored = f.j.undo(&[rec], false).unwrap();
    assert!(restored.contains(&"gone.txt".to_string()), "{restored:?}");
    assert_original(&f.ws);
    // .git is not journaled: git's own history is its undo.
    assert_eq!(
        std::fs::read_to_string(f.ws.join(".git/HEAD")).unwrap(),
        "changed by git"
    );
    let turns = f.j.turns().unwrap();
    assert!(turns[0].undone);
}

#[test]
fn a_turn_stores_only_what_it_touches() {
    let f = fx();
    for i in 0..200 {
        std::fs::write(f.ws.join(format!("other-{i}.txt")), format!("{i}")).unwrap();
    }
    f.j.begin("s", 1).unwrap().finish().unwrap();
    assert_eq!(
        objects(&f.j),
        0,
        "a turn that touches nothing reads nothing"
    );
    let t = f.j.begin("s", 2).unwrap();
    touch(&t, &f.ws, "src/a.rs", false);
    std::fs::write(f.ws.join("src/a.rs"), "v2").unwrap();
    let rec = t.finish().unwrap();
    assert_eq!(rec.changes.len(), 1);
    // The pre-image and the result, nothing of the 200 other files.
    assert_eq!(objects(&f.j), 2);
    assert_eq!(f.j.next_turn("s").unwrap(), 3);
}

#[test]
fn a_renamed_tree_is_captured_whole_and_undone() {
    let f = fx();
    std::fs::write(f.ws.join("src/b.rs"), "fn b() {}\n").unwrap();
    let t = f.j.begin("s", 1).unwrap();
    touch(&t, &f.ws, "src", true);
    touch(&t, &f.ws, "moved", true);
    std::fs::rename(f.ws.join("src"), f.ws.join("moved")).unwrap();
    // Written again under its new name: it did not exist before the turn.
    touch(&t, &f.ws, "moved/a.rs", true);
    std::fs::write(f.ws.join("moved/a.rs"), "changed after the move").unwrap();
    let rec = t.finish().unwrap();
    let paths: Vec<&str> = rec.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "moved",
            "moved/a.rs",
            "moved/b.rs",
            "src",
            "src/a.rs",
            "src/b.rs"
        ]
    );
    assert!(
        rec.changes
            .iter()
            .filter(|c| c.path.starts_with("moved"))
            .all(|c| c.before.is_none())
    );
    f.j.undo(&[rec], false).unwrap();
    assert!(!f.ws.join("moved").exists());
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "fn a() {}\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/b.rs")).unwrap(),
        "fn b() {}\n"
    );
}

#[test]
fn a_closed_turn_refuses_further_changes() {
    let f = fx();
    let t = f.j.begin("s", 1).unwrap();
    let capture = t.capture();
    t.finish().unwrap();
    let err = capture
        .before_change(&f.ws.join("src/a.rs"), false)
        .unwrap_err();
    assert!(err.contains("already closed"), "{err}");
    // Outside the workspace and inside .git nothing is captured at all.
    let t = f.j.begin("s", 2).unwrap();
    t.capture()
        .before_change(&f.outside.join("x"), true)
        .unwrap();
    t.capture()
        .before_change(&f.ws.join(".git/HEAD"), false)
        .unwrap();
    assert!(t.finish().unwrap().changes.is_empty());
}

#[test]
fn a_turn_left_unfinished_is_recovered_and_undone() {
    let f = fx();
    let turn = f.j.begin("s", 1).unwrap();
    touch(&turn, &f.ws, "src/a.rs", false);
    std::fs::write(f.ws.join("src/a.rs"), "half-way").unwrap();
    touch(&turn, &f.ws, "created", true);
    std::fs::write(f.ws.join("created"), "x").unwrap();
    drop(turn); // as if warden died: the index still names the turn
    // ... killed while it wrote the next line of the log.
    let mut wal = std::fs::OpenOptions::new()
        .append(true)
        .open(f.j.dir.join("pending.wal"))
        .unwrap();
    std::io::Write::write_all(&mut wal, b"{\"kind\":\"before\",\"pa").unwrap();
    assert_eq!(f.j.next_turn("s").unwrap(), 2);
    f.j.recover().unwrap();
    let turns = f.j.turns().unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].status, Status::Interrupted);
    assert_eq!(turns[0].changes.len(), 2);
    f.j.undo(&turns, false).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "fn a() {}\n"
    );
    assert!(!f.ws.join("created").exists());
}

#[test]
fn undo_refuses_to_lose_later_changes_unless_forced() {
    let f = fx();
    let t = f.j.begin("s", 1).unwrap();
    touch(&t, &f.ws, "src/a.rs", false);
    std::fs::write(f.ws.join("src/a.rs"), "turn 1").unwrap();
    let rec = t.finish().unwrap();
    std::fs::write(f.ws.join("src/a.rs"), "by hand afterwards").unwrap();
    match f.j.undo(std::slice::from_ref(&rec), false) {
        Err(Error::Conflict(paths)) => assert_eq!(paths, ["src/a.rs"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "by hand afterwards"
    );
    f.j.undo(&[rec], true).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "fn a() {}\n"
    );
}

#[test]
fn several_turns_undo_to_the_oldest_state() {
    let f = fx();
    for (n, text) in [(1, "one"), (2, "two"), (3, "three")] {
        let t = f.j.begin("s", n).unwrap();
        touch(&t, &f.ws, "src/a.rs", true);
        std::fs::write(f.ws.join("src/a.rs"), text).unwrap();
        t.finish().unwrap();
    }
    let turns = f.j.turns().unwrap();
    f.j.undo(&turns[1..], false).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "one"
    );
}

#[test]
fn a_directory_swapped_for_a_symlink_is_not_written_through() {
    let f = fx();
    let t = f.j.begin("s", 1).unwrap();
    touch(&t, &f.ws, "src/a.rs", false);
    std::fs::write(f.ws.join("src/a.rs"), "changed").unwrap();
    let rec = t.finish().unwrap();
    // The attack: src/ becomes a link to a directory outside.
    std::fs::write(f.outside.join("a.rs"), "outside").unwrap();
    std::fs::rename(f.ws.join("src"), f.ws.join("src.moved")).unwrap();
    std::os::unix::fs::symlink(&f.outside, f.ws.join("src")).unwrap();
    match f.j.undo(std::slice::from_ref(&rec), true) {
        Err(Error::Partial { failed, .. }) => {
            assert_eq!(
                failed,
                [
                    "src/a.rs: src is no longer a directory (a symlink or file is in its place); not following it"
                ]
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(f.outside.join("a.rs")).unwrap(),
        "outside"
    );
    assert_eq!(walk_count(&f.outside), 1);
    // The turn is still there to undo once the link is gone.
    assert!(!f.j.turns().unwrap()[0].undone);
}

#[test]
fn ignored_paths_are_not_captured_and_coming_into_view_is_not_a_change() {
    let f = fx();
    std::fs::write(f.ws.join(".gitignore"), "target/\nlocal.env\n").unwrap();
    std::fs::write(f.ws.join("local.env"), "SECRET=1").unwrap();
    std::fs::create_dir_all(f.ws.join("sub")).unwrap();
    std::fs::write(f.ws.join("sub/.gitignore"), "*.log\n").unwrap();
    let t = f.j.begin("s", 1).unwrap();
    for (rel, deep) in [
        ("target", false),
        ("target/out", true),
        ("sub/x.log", true),
        (".gitignore", true),
    ] {
        touch(&t, &f.ws, rel, deep);
    }
    std::fs::create_dir_all(f.ws.join("target")).unwrap();
    std::fs::write(f.ws.join("target/out"), "build").unwrap();
    std::fs::write(f.ws.join("sub/x.log"), "log").unwrap();
    std::fs::write(f.ws.join(".gitignore"), "target/\n").unwrap();
    let rec = t.finish().unwrap();
    let paths: Vec<&str> = rec.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, [".gitignore"]);
    f.j.undo(&[rec], false).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.ws.join("local.env")).unwrap(),
        "SECRET=1"
    );
}

#[test]
fn bad_session_names_are_refused() {
    for bad in ["", ".hidden", "a/b", "../x", &"x".repeat(65)] {
        assert!(matches!(check_session(bad), Err(Error::Usage(_))), "{bad}");
    }
    check_session("cli-2026.11_a").unwrap();
}

#[test]
fn a_symlink_to_git_inside_the_workspace_is_not_restored_through() {
    // A plugin cannot write .git, but it can leave `hooks -> .git` behind
    // and hope an undo writes a file's old content through it.
    let f = fx();
    std::fs::create_dir_all(f.ws.join("hooks")).unwrap();
    std::fs::write(f.ws.join("hooks/pre-commit"), "#!/bin/sh\necho old\n").unwrap();
    let t = f.j.begin("s", 1).unwrap();
    touch(&t, &f.ws, "hooks/pre-commit", true);
    std::fs::write(f.ws.join("hooks/pre-commit"), "new").unwrap();
    let rec = t.finish().unwrap();
    std::fs::rename(f.ws.join("hooks"), f.ws.join("hooks.old")).unwrap();
    std::os::unix::fs::symlink(".git", f.ws.join("hooks")).unwrap();
    match f.j.undo(std::slice::from_ref(&rec), false) {
        Err(Error::Conflict(paths)) => assert_eq!(paths, ["hooks/pre-commit"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    match f.j.undo(&[rec], true) {
        Err(Error::Partial { failed, restored }) => {
            assert_eq!(restored, 0);
            assert_eq!(
                failed,
                [
                    "hooks/pre-commit: hooks is no longer a directory (a symlink or file is in its place); not following it"
                ]
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!f.ws.join(".git/pre-commit").exists());
    assert_eq!(std::fs::read_dir(f.ws.join(".git")).unwrap().count(), 1);
}

/// Whether `begin` on `j` gets the workspace lock within `wait`.
fn locks_within(j: &Journal, wait: std::time::Duration) -> bool {
    let j = j.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let turn = j.begin_next("other");
        let _ = tx.send(turn.is_ok());
        // Hold it until the test is done looking.
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(turn);
    });
    rx.recv_timeout(wait).unwrap_or(false)
}

#[test]
fn nested_workspaces_exclude_each_other_by_real_path() {
    let f = fx();
    let root = f.ws.parent().unwrap().join("journal");
    let sub = Journal::at(&root, &f.ws.join("src"), vec![]).unwrap();
    // The same directory reached through a symlink is the same workspace.
    std::os::unix::fs::symlink(&f.ws, f.outside.join("ws-link")).unwrap();
    let via_link = Journal::at(&root, &f.outside.join("ws-link/src"), vec![]).unwrap();
    let unrelated = Journal::at(&root, &f.outside, vec![]).unwrap();
    let short = std::time::Duration::from_millis(300);
    let turn = f.j.begin_next("s").unwrap();
    assert!(!locks_within(&sub, short), "WS/src ran while WS was locked");
    assert!(!locks_within(&via_link, short), "a symlinked spelling ran");
    assert!(
        locks_within(&unrelated, short),
        "an unrelated workspace waited"
    );
    drop(turn);
    let inner = sub.begin_next("s").unwrap();
    assert!(!locks_within(&f.j, short), "WS ran while WS/src was locked");
    drop(inner);
    assert!(locks_within(&f.j, std::time::Duration::from_secs(5)));
}

/// Issue 15: an agent's turn that makes two captured calls is one turn
/// in two parts; undoing both restores what was there before the turn.
#[test]
fn a_turn_captured_in_parts_is_one_turn() {
    let f = fx();
    let first = f.j.begin_part("agent", 3).unwrap();
    touch(&first, &f.ws, "one.txt", false);
    std::fs::write(f.ws.join("one.txt"), "1\n").unwrap();
    let one = first.finish().unwrap();
    let second = f.j.begin_part("agent", 3).unwrap();
    touch(&second, &f.ws, "src/a.rs", false);
    std::fs::write(f.ws.join("src/a.rs"), "changed\n").unwrap();
    let two = second.finish().unwrap();
    assert_eq!((one.turn, one.part, two.turn, two.part), (3, 0, 3, 1));
    let turns = f.j.turns().unwrap();
    assert_eq!(turns.len(), 2);
    assert!(turns.iter().all(|t| t.turn == 3 && t.session == "agent"));
    // The next plain capture of the session comes after it.
    assert_eq!(f.j.next_turn("agent").unwrap(), 4);
    // A numbered turn that is recorded already is not begun again.
    assert!(f.j.begin("agent", 3).is_err());
    f.j.undo(&turns, false).unwrap();
    assert!(!f.ws.join("one.txt").exists());
    assert_eq!(
        std::fs::read_to_string(f.ws.join("src/a.rs")).unwrap(),
        "fn a() {}\n"
    );
}

#[test]
fn gc_removes_what_no_turn_needs_and_the_cap_forgets_the_oldest_turns() {
    let f = fx();
    let root = f.ws.parent().unwrap().join("journal");
    for (n, text) in [(1, "one"), (2, "two")] {
        let t = f.j.begin("s", n).unwrap();
        touch(&t, &f.ws, "src/a.rs", true);
        std::fs::write(f.ws.join("src/a.rs"), text).unwrap();
        t.finish().unwrap();
    }
    // An object no turn names: left by an aborted call, say.
    let store = Store::new(root.join("objects"));
    std::fs::write(f.ws.join("stray"), "stray").unwrap();
    let stray = store.put(&f.ws.join("stray")).unwrap();
    assert_eq!(objects(&f.j), 4);
    // Young objects are kept: a turn may be saving one right now.
    let now = std::time::SystemTime::now();
    let r = gc::collect(&root, u64::MAX, now).unwrap();
    assert_eq!((r.removed, r.kept), (0, 4));
    let later = now + gc::GRACE + std::time::Duration::from_secs(1);
    let r = gc::collect(&root, u64::MAX, later).unwrap();
    assert_eq!((r.removed, r.kept), (1, 3));
    assert!(store.verify(&stray).is_err());
    assert!(r.forgotten.is_empty());
    // Under a cap of 6 bytes only the newest turn ("one" -> "two") fits.
    let r = gc::collect(&root, 6, later).unwrap();
    assert_eq!(r.forgotten.len(), 1, "{r:?}");
    assert!(r.forgotten[0].ends_with("s/1"), "{r:?}");
    assert_eq!(f.j.turns().unwrap().len(), 1);
    assert_eq!(objects(&f.j), 2);
    assert!(gc::verify(&root).unwrap().is_empty());
    // A damaged object is found, with the turn and path that need it.
    let turn = &f.j.turns().unwrap()[0];
    let Some(State::File { sha256, .. }) = &turn.changes[0].before else {
        panic!("{turn:?}");
    };
    std::fs::write(store.object_path(sha256), "tampered").unwrap();
    let bad = gc::verify(&root).unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].path, "src/a.rs");
    assert!(bad[0].why.contains("does not match its digest"), "{bad:?}");
}
