#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let full = ws.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, c).unwrap();
    }
    ws
}

fn apply(ws: &tempfile::TempDir, patch: &str) -> Result<ApplyPatchOutput, ToolError> {
    run(
        ws.path(),
        ApplyPatchInput {
            patch: patch.into(),
        },
    )
}

/// Every file under the workspace with its content, sorted.
fn snapshot(ws: &tempfile::TempDir) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![ws.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(ws.path()).unwrap().display().to_string();
            if path.is_dir() {
                out.push((rel + "/", String::new()));
                stack.push(path);
            } else {
                out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn adds_updates_moves_and_deletes() {
    let ws = workspace(&[
        ("src/lib.rs", "fn a() {\n    1\n}\n"),
        ("old.rs", "x\ny\n"),
        ("gone.txt", "bye\nnow"),
    ]);
    let out = apply(
        &ws,
        "*** Begin Patch\n\
         *** Add File: docs/new.md\n\
         +# Title\n\
         +text\n\
         *** Update File: src/lib.rs\n\
         @@ fn a\n\
         -    1\n\
         +    2\n\
         *** Update File: old.rs\n\
         *** Move to: src/new.rs\n\
         \x20x\n\
         +z\n\
         *** Delete File: gone.txt\n\
         *** End Patch",
    )
    .unwrap();
    let summary: Vec<_> = out
        .files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.from.as_deref(),
                f.action,
                f.lines_added,
                f.lines_removed,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("docs/new.md", None, Action::Added, 2, 0),
            ("src/lib.rs", None, Action::Updated, 1, 1),
            ("src/new.rs", Some("old.rs"), Action::Moved, 1, 0),
            ("gone.txt", None, Action::Deleted, 0, 2),
        ]
    );
    let expect = |p: &str| std::fs::read_to_string(ws.path().join(p)).unwrap();
    assert_eq!(expect("docs/new.md"), "# Title\ntext\n");
    assert_eq!(expect("src/lib.rs"), "fn a() {\n    2\n}\n");
    assert_eq!(expect("src/new.rs"), "x\nz\ny\n");
    assert!(!ws.path().join("old.rs").exists());
    assert!(!ws.path().join("gone.txt").exists());
}

#[test]
fn a_failing_hunk_changes_nothing_and_names_file_and_hunk() {
    let ws = workspace(&[("a.txt", "one\n"), ("b.txt", "two\nthree\n")]);
    let before = snapshot(&ws);
    let err = apply(
        &ws,
        "*** Begin Patch\n\
         *** Update File: a.txt\n\
         -one\n\
         +ONE\n\
         *** Add File: c.txt\n\
         +c\n\
         *** Update File: b.txt\n\
         @@\n\
         \x20two\n\
         -four\n\
         +4\n\
         *** End Patch",
    )
    .unwrap_err();
    let ToolError::Failed(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.starts_with("Update File b.txt: hunk 1"), "{msg}");
    assert!(msg.contains("  |two\n  |four"), "{msg}");
    assert!(msg.ends_with("nothing was changed"), "{msg}");
    assert_eq!(snapshot(&ws), before);
}

#[test]
fn existence_is_checked_before_anything_is_written() {
    let ws = workspace(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    let before = snapshot(&ws);
    let add_existing =
        "*** Begin Patch\n*** Delete File: a.txt\n*** Add File: b.txt\n+x\n*** End Patch";
    assert!(
        matches!(apply(&ws, add_existing), Err(ToolError::Failed(m)) if m.contains("already exists"))
    );
    let delete_missing =
        "*** Begin Patch\n*** Delete File: a.txt\n*** Delete File: nope.txt\n*** End Patch";
    assert!(
        matches!(apply(&ws, delete_missing), Err(ToolError::NotFound(m)) if m.contains("nope.txt"))
    );
    let update_missing = "*** Begin Patch\n*** Update File: nope.txt\n-a\n*** End Patch";
    assert!(matches!(
        apply(&ws, update_missing),
        Err(ToolError::NotFound(_))
    ));
    let move_onto = "*** Begin Patch\n*** Update File: a.txt\n*** Move to: b.txt\n*** End Patch";
    assert!(
        matches!(apply(&ws, move_onto), Err(ToolError::Failed(m)) if m.contains("already exists"))
    );
    assert_eq!(snapshot(&ws), before);
}

#[test]
fn a_write_failure_rolls_back_earlier_writes_and_new_directories() {
    // `blocker` is a file, so creating `blocker/x.txt` fails only when the
    // patch is being written, after the earlier sections are on disk.
    let ws = workspace(&[("a.txt", "a\n"), ("gone.txt", "g\n"), ("blocker", "")]);
    let before = snapshot(&ws);
    let err = apply(
        &ws,
        "*** Begin Patch\n\
         *** Update File: a.txt\n\
         -a\n\
         +A\n\
         *** Add File: new/deep/n.txt\n\
         +n\n\
         *** Delete File: gone.txt\n\
         *** Add File: blocker/x.txt\n\
         +x\n\
         *** End Patch",
    )
    .unwrap_err();
    let ToolError::Failed(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("writing blocker/x.txt failed"), "{msg}");
    assert!(msg.contains("workspace is unchanged"), "{msg}");
    assert_eq!(snapshot(&ws), before);
}

#[test]
fn refuses_bad_paths_duplicates_and_oversized_patches() {
    let ws = workspace(&[("a.txt", "a\n")]);
    let invalid = |p: &str| match apply(&ws, p) {
        Err(ToolError::InvalidInput(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(invalid("*** Begin Patch\n*** Add File: ../x\n+x\n*** End Patch").contains("`..`"));
    assert!(invalid("*** Begin Patch\n*** Add File: /x\n+x\n*** End Patch").contains("absolute"));
    assert!(
        invalid("*** Begin Patch\n*** Update File: a.txt\n*** Move to: b.txt\n*** Delete File: b.txt\n*** End Patch")
            .contains("more than one section")
    );
    assert!(invalid("*** Begin Patch\n*** End Patch").contains("no files"));
    assert!(
        invalid("*** Begin Patch\n*** Frob File: a\n*** End Patch").starts_with("patch line 2")
    );
    let huge = format!(
        "*** Begin Patch\n*** Add File: h\n{}*** End Patch",
        "+x\n".repeat(MAX_PATCH_BYTES / 3 + 1)
    );
    assert!(invalid(&huge).contains("larger than"));
    assert!(!ws.path().join("b.txt").exists());
}

#[test]
fn crlf_files_stay_crlf() {
    let ws = workspace(&[("w.txt", "a\r\nb\r\n")]);
    apply(
        &ws,
        "*** Begin Patch\n*** Update File: w.txt\n a\n+between\n b\n*** End Patch",
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(ws.path().join("w.txt")).unwrap(),
        "a\r\nbetween\r\nb\r\n"
    );
}
