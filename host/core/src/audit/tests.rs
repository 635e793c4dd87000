use super::*;

fn log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::in_dir(dir.path()).unwrap();
    (dir, log)
}

fn call(plugin: &str, resource: &str) -> Record {
    Record {
        kind: Kind::Call,
        decision: Decision::Allow,
        plugin: Some(plugin.into()),
        tool: Some("write".into()),
        resource: Some(resource.into()),
        rule: vec!["files write /w".into()],
        ..Record::default()
    }
}

fn filled(n: usize) -> (tempfile::TempDir, Log) {
    let (dir, log) = log();
    for i in 0..n {
        log.append(call("edit", &format!("f{i}"))).unwrap();
    }
    (dir, log)
}

fn lines(log: &Log) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn put(log: &Log, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(log.path(), text).unwrap();
}

fn tampered(log: &Log) -> (String, String) {
    match log.verify() {
        Err(Error::Tampered { at, what, .. }) => (at, what),
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

#[test]
fn appends_chain_and_verify() {
    let (_d, log) = filled(5);
    assert_eq!(
        log.verify().unwrap(),
        Verified {
            records: 5,
            anchored: 5
        }
    );
    let entries = log.entries().unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].prev, GENESIS);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev, pair[0].mac);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    assert_eq!(entries[4].record, call("edit", "f4"));
}

#[test]
fn an_edited_record_is_caught() {
    let (_d, log) = filled(4);
    let mut l = lines(&log);
    l[1] = l[1].replace("\"f1\"", "\"f9\"");
    put(&log, &l);
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 2 (line 2)");
    assert!(what.starts_with("its MAC does not match"), "{what}");
}

#[test]
fn an_edit_with_every_later_mac_recomputed_is_caught() {
    // The attacker rewrites the chain from the edited record on, but has
    // to use some key other than warden's.
    let (_d, log) = filled(4);
    let forger = mac::Key::load_or_create(&_d.path().join("forger.key")).unwrap();
    let entries = log.entries().unwrap();
    let mut l = lines(&log);
    let mut prev = entries[0].mac.clone();
    for (i, e) in entries.iter().enumerate().skip(1) {
        let mut r = e.record.clone();
        if i == 1 {
            r.resource = Some("innocent".into());
        }
        let forged = sign(&forger, e.seq, &e.time, &e.user, &prev, r);
        l[i] = line_of(&forger, &forged);
        prev = forged.mac;
    }
    put(&log, &l);
    std::fs::write(
        _d.path().join("audit.head"),
        format!("{{\"seq\":4,\"mac\":\"{prev}\"}}"),
    )
    .unwrap();
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 2 (line 2)");
    assert!(what.starts_with("its MAC does not match"), "{what}");
}

#[test]
fn deleting_the_last_records_is_caught() {
    for n in [1, 3, 5] {
        let (_d, log) = filled(5);
        let l = lines(&log);
        if n == 5 {
            std::fs::write(log.path(), "").unwrap();
        } else {
            put(&log, &l[..5 - n]);
        }
        let (at, what) = tampered(&log);
        assert_eq!(at, "the end of the log");
        assert!(
            what.starts_with(&format!(
                "the log has {} records but its anchor records 5",
                5 - n
            )),
            "{what}"
        );
        // Nothing is chained onto a cut log.
        let err = log.append(call("edit", "after")).unwrap_err().to_string();
        assert!(err.contains("nothing more is appended"), "{err}");
    }
}

#[test]
fn deleting_or_reordering_records_is_caught() {
    let (_d, log) = filled(4);
    let l = lines(&log);
    put(
        &log,
        &[l[0].clone(), l[2].clone(), l[1].clone(), l[3].clone()],
    );
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 2 (line 2)");
    assert!(
        what.starts_with("sequence number 3 where 2 was expected"),
        "{what}"
    );
    put(&log, &[l[0].clone(), l[1].clone(), l[3].clone()]);
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 3 (line 3)");
    assert!(what.starts_with("sequence number 4 where 3"), "{what}");
}

#[test]
fn replaying_an_older_copy_is_caught() {
    let (_d, log) = filled(3);
    let old = std::fs::read(log.path()).unwrap();
    log.append(call("edit", "evidence")).unwrap();
    log.append(call("edit", "more evidence")).unwrap();
    std::fs::write(log.path(), old).unwrap();
    let (_, what) = tampered(&log);
    assert!(
        what.starts_with("the log has 3 records but its anchor records 5"),
        "{what}"
    );
}

#[test]
fn a_forged_newline_stays_inside_its_record() {
    let (_d, log) = filled(1);
    let evil = "a\n{\"seq\":2,\"forged\":true}\r\u{1b}[2J\u{0}";
    log.append(call("edit", evil)).unwrap();
    assert_eq!(lines(&log).len(), 2);
    log.verify().unwrap();
    assert_eq!(
        log.entries().unwrap()[1].record.resource.as_deref(),
        Some(evil)
    );
    // A line inserted by hand is a record out of sequence.
    let mut l = lines(&log);
    l.insert(1, "{\"seq\":2,\"forged\":true}".into());
    put(&log, &l);
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 2 (line 2)");
    assert!(what.starts_with("not a record"), "{what}");
}

#[test]
fn a_crash_before_the_anchor_moved_is_repaired() {
    let (d, log) = filled(2);
    let before = std::fs::read(d.path().join("audit.head")).unwrap();
    log.append(call("edit", "third")).unwrap();
    std::fs::write(d.path().join("audit.head"), before).unwrap();
    assert_eq!(
        log.verify().unwrap(),
        Verified {
            records: 3,
            anchored: 2
        }
    );
    log.append(call("edit", "fourth")).unwrap();
    assert_eq!(log.verify().unwrap().anchored, 4);
}

#[test]
fn a_crash_during_the_first_append_is_repaired() {
    let (d, log) = filled(1);
    std::fs::remove_file(d.path().join("audit.head")).unwrap();
    assert_eq!(
        log.verify().unwrap(),
        Verified {
            records: 1,
            anchored: 0
        }
    );
    log.append(call("edit", "second")).unwrap();
    assert_eq!(
        log.verify().unwrap(),
        Verified {
            records: 2,
            anchored: 2
        }
    );
}

#[test]
fn concurrent_first_uses_share_one_key() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("key");
    let keys: Vec<String> = (0..8)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || mac::Key::load_or_create(&p).unwrap().mac(b"m"))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]));
}

#[test]
fn a_missing_anchor_or_key_change_is_caught() {
    let (d, log) = filled(2);
    std::fs::remove_file(d.path().join("audit.head")).unwrap();
    let (_, what) = tampered(&log);
    assert!(what.starts_with("the anchor"), "{what}");
    let (d, log) = filled(2);
    std::fs::remove_file(d.path().join("audit.key")).unwrap();
    let (at, what) = tampered(&log);
    assert_eq!(at, "record 1 (line 1)");
    assert!(what.starts_with("its MAC does not match"), "{what}");
}

#[test]
fn concurrent_writers_keep_the_chain() {
    let (d, _) = log();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let dir = d.path().to_path_buf();
            std::thread::spawn(move || {
                let log = Log::in_dir(&dir).unwrap();
                for i in 0..20 {
                    log.append(call("edit", &format!("{t}/{i}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let log = Log::in_dir(d.path()).unwrap();
    assert_eq!(log.verify().unwrap().records, 120);
    let mut seen: Vec<_> = log
        .entries()
        .unwrap()
        .into_iter()
        .filter_map(|e| e.record.resource)
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 120);
}

#[test]
fn a_full_disk_refuses_the_record() {
    let (d, log) = log();
    std::os::unix::fs::symlink("/dev/full", log.path()).unwrap();
    let err = log.append(call("edit", "x")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io(crate::error::IoFailure {
                action: "append to",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(!d.path().join("audit.head").exists());
    // A log path that cannot be opened at all.
    let (_d2, log2) = log_with_dir_in_the_way();
    let err = log2.append(call("edit", "x")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io(crate::error::IoFailure { action: "open", .. })
        ),
        "{err:?}"
    );
}

fn log_with_dir_in_the_way() -> (tempfile::TempDir, Log) {
    let (d, log) = log();
    std::fs::create_dir(log.path()).unwrap();
    (d, log)
}

#[test]
fn long_fields_are_cut() {
    let (_d, log) = log();
    let e = log.append(call("edit", &"x".repeat(10_000))).unwrap();
    let r = e.record.resource.unwrap();
    assert_eq!(
        r.chars().count(),
        MAX_FIELD_CHARS + "…(cut)".chars().count()
    );
    log.verify().unwrap();
}

/// Issue 13: a process keeps the log open with the chain head in memory;
/// an older copy put back under it (same file, rewritten) or in its place
/// (a new file) is still caught by its next append, which refuses.
#[test]
fn issue13_a_log_changed_under_a_kept_open_log_is_checked_again() {
    for replace in [false, true] {
        let (_d, log) = filled(3);
        let old = std::fs::read(log.path()).unwrap();
        log.append(call("edit", "evidence")).unwrap();
        log.append(call("edit", "more evidence")).unwrap();
        if replace {
            std::fs::remove_file(log.path()).unwrap();
        }
        std::fs::write(log.path(), &old).unwrap();
        match log.append(call("edit", "next")) {
            Err(Error::Tampered { what, .. }) => assert!(
                what.starts_with("the log ends at record 3 but its anchor is record 5"),
                "{what}"
            ),
            other => panic!("expected the append to be refused, got {other:?}"),
        }
        assert_eq!(std::fs::read(log.path()).unwrap(), old);
    }
}

/// The in-memory head is only used while nobody else appended: two logs
/// on one directory (as two processes) taking turns keep one chain.
#[test]
fn issue13_two_kept_open_logs_taking_turns_keep_one_chain() {
    let (d, a) = log();
    let b = Log::in_dir(d.path()).unwrap();
    for i in 0..10 {
        let log = if i % 3 == 0 { &a } else { &b };
        log.append(call("edit", &format!("f{i}"))).unwrap();
    }
    assert_eq!(a.verify().unwrap().records, 10);
}
