#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn one_update(patch: &str) -> Vec<Hunk> {
    match parse(patch).unwrap().as_slice() {
        [Op::Update { hunks, .. }] => hunks.clone(),
        other => panic!("expected one update, got {other:?}"),
    }
}

/// Parse a single-update patch and apply it to `original`.
fn patched(original: &str, patch: &str) -> Result<Applied, HunkError> {
    apply(original, &one_update(patch))
}

fn parse_err(patch: &str) -> ParseError {
    parse(patch).expect_err("patch should be rejected")
}

// ---- parsing ----------------------------------------------------------

#[test]
fn parses_every_kind_of_section() {
    let ops = parse(
        "*** Begin Patch\n\
         *** Add File: new.txt\n\
         +one\n\
         +\n\
         +three\n\
         *** Update File: src/a.rs\n\
         *** Move to: src/b.rs\n\
         @@ fn a\n\
         \x20ctx\n\
         -old\n\
         +new\n\
         *** Delete File: gone.txt\n\
         *** End Patch\n",
    )
    .unwrap();
    assert_eq!(
        ops,
        [
            Op::Add {
                path: "new.txt".into(),
                content: "one\n\nthree\n".into()
            },
            Op::Update {
                path: "src/a.rs".into(),
                move_to: Some("src/b.rs".into()),
                hunks: vec![Hunk {
                    header: Some("fn a".into()),
                    lines: vec![
                        Line::Context("ctx".into()),
                        Line::Remove("old".into()),
                        Line::Add("new".into()),
                    ],
                    end_of_file: false,
                }],
            },
            Op::Delete {
                path: "gone.txt".into()
            },
        ]
    );
}

#[test]
fn tolerates_surrounding_blank_lines_crlf_and_blank_separators() {
    let patch = "\n\n*** Begin Patch\r\n*** Add File: a\r\n+x\r\n\r\n*** Update File: b\r\n-y\r\n+z\r\n\r\n*** End Patch\r\n\n";
    let ops = parse(patch).unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(
        ops[0],
        Op::Add {
            path: "a".into(),
            content: "x\n".into()
        }
    );
    // The blank line before `*** End Patch` is not a context line.
    let Op::Update { hunks, .. } = &ops[1] else {
        panic!()
    };
    assert_eq!(hunks[0].lines.len(), 2);
}

#[test]
fn first_hunk_may_omit_the_at_line_and_empty_lines_are_context() {
    let hunks = one_update("*** Begin Patch\n*** Update File: f\n a\n\n-b\n*** End Patch");
    assert_eq!(hunks[0].header, None);
    assert_eq!(
        hunks[0].lines,
        [
            Line::Context("a".into()),
            Line::Context(String::new()),
            Line::Remove("b".into())
        ]
    );
}

#[test]
fn unified_diff_ranges_are_not_headers() {
    let hunks =
        one_update("*** Begin Patch\n*** Update File: f\n@@ -1,2 +1,3 @@\n-a\n+b\n*** End Patch");
    assert_eq!(hunks[0].header, None);
    let hunks =
        one_update("*** Begin Patch\n*** Update File: f\n@@ impl Foo @@\n-a\n*** End Patch");
    assert_eq!(hunks[0].header.as_deref(), Some("impl Foo @@"));
}

#[test]
fn a_pure_move_needs_no_hunks() {
    let ops =
        parse("*** Begin Patch\n*** Update File: a\n*** Move to: b\n\n*** End Patch").unwrap();
    assert_eq!(
        ops,
        [Op::Update {
            path: "a".into(),
            move_to: Some("b".into()),
            hunks: vec![]
        }]
    );
}

#[test]
fn malformed_envelopes_name_the_line() {
    let e = parse_err("*** Update File: a\n-x\n*** End Patch");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("*** Begin Patch"));

    let e = parse_err("*** Begin Patch\n*** Add File: a\n+x\n");
    assert!(e.message.contains("without `*** End Patch`"));

    let e = parse_err("*** Begin Patch\n*** Rename File: a\n*** End Patch");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("Rename File"));

    let e = parse_err("*** Begin Patch\n*** Update File: a\n@@\n x\nno prefix\n*** End Patch");
    assert_eq!(e.line, 5);
    assert!(e.message.contains("hunk lines start with"));

    let e = parse_err("*** Begin Patch\n*** Add File: a\nno plus\n*** End Patch");
    assert_eq!(e.line, 3);

    let e = parse_err("*** Begin Patch\n*** Add File: a\n+x\n\n+y\n*** End Patch");
    assert!(e.message.contains("lone `+`"));

    let e = parse_err("*** Begin Patch\n*** End Patch\ntrailing");
    assert_eq!(e.line, 3);

    let e = parse_err("*** Begin Patch\n*** Update File: a\n*** End Patch");
    assert!(e.message.contains("no hunks"));

    let e = parse_err("*** Begin Patch\n*** Update File: a\n@@ x\n@@ y\n-a\n*** End Patch");
    assert!(e.message.contains("empty"));

    let e = parse_err("*** Begin Patch\n*** Delete File:   \n*** End Patch");
    assert!(e.message.contains("needs a path"));

    let e = parse_err("*** Begin Patch\n*** Update File: a\n*** End of File\n*** End Patch");
    assert!(e.message.contains("must end a hunk"));

    let long = format!("*** Begin Patch\n{}\n*** End Patch", "z".repeat(10_000));
    let e = parse_err(&long);
    assert!(e.message.len() < 400, "{}", e.message);

    assert_eq!(parse("*** Begin Patch\n*** End Patch").unwrap(), []);
}

// ---- applying ---------------------------------------------------------

#[test]
fn replaces_with_context() {
    let out = patched(
        "a\nb\nc\n",
        "*** Begin Patch\n*** Update File: f\n@@\n a\n-b\n+B\n+B2\n c\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "a\nB\nB2\nc\n");
    assert_eq!((out.added, out.removed), (2, 1));
}

#[test]
fn multiple_hunks_apply_in_order() {
    let original = "x\n1\nx\n2\nx\n";
    let out = patched(
        original,
        "*** Begin Patch\n*** Update File: f\n@@\n-x\n+first\n@@\n 2\n-x\n+last\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "first\n1\nx\n2\nlast\n");
}

#[test]
fn a_later_hunk_cannot_match_before_an_earlier_one() {
    let err = patched(
        "a\nb\n",
        "*** Begin Patch\n*** Update File: f\n@@\n-b\n@@\n-a\n*** End Patch",
    )
    .unwrap_err();
    assert_eq!(err.hunk, 2);
    assert_eq!(err.from_line, 3);
}

#[test]
fn context_header_picks_the_right_occurrence() {
    let original = "fn one() {\n    x\n}\nfn two() {\n    x\n}\n";
    let out = patched(
        original,
        "*** Begin Patch\n*** Update File: f\n@@ fn two\n-    x\n+    y\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "fn one() {\n    x\n}\nfn two() {\n    y\n}\n");
    // The header line may also be the first context line.
    let out = patched(
        original,
        "*** Begin Patch\n*** Update File: f\n@@ fn two\n fn two() {\n-    x\n+    z\n*** End Patch",
    )
    .unwrap();
    assert!(out.text.ends_with("fn two() {\n    z\n}\n"));
}

#[test]
fn missing_header_is_reported() {
    let err = patched(
        "a\n",
        "*** Begin Patch\n*** Update File: f\n@@ fn nope\n-a\n*** End Patch",
    )
    .unwrap_err();
    assert!(err.header_missing);
    assert!(err.to_string().contains("fn nope"));
}

#[test]
fn falls_back_to_ignoring_trailing_whitespace_and_keeps_file_context() {
    let original = "keep  \nold\t\nend\n";
    let out = patched(
        original,
        "*** Begin Patch\n*** Update File: f\n keep\n-old\n+new\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "keep  \nnew\nend\n");
}

#[test]
fn exact_match_is_preferred_over_a_loose_earlier_one() {
    let out = patched(
        "x \nx\n",
        "*** Begin Patch\n*** Update File: f\n-x\n+y\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "x \ny\n");
}

#[test]
fn failing_hunk_reports_what_it_looked_for() {
    let err = patched(
        "a\nb\nc\n",
        "*** Begin Patch\n*** Update File: f\n@@ a\n a\n-B\n+x\n*** End Patch",
    )
    .unwrap_err();
    assert_eq!(err.hunk, 1);
    assert_eq!(err.expected, ["a", "B"]);
    let msg = err.to_string();
    assert!(msg.contains("hunk 1 (@@ a) did not match"), "{msg}");
    assert!(msg.contains("\n  |a\n  |B"), "{msg}");
}

#[test]
fn keeps_crlf_line_endings() {
    let out = patched(
        "one\r\ntwo\r\nthree\r\n",
        "*** Begin Patch\n*** Update File: f\n one\n-two\n+TWO\n+2\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "one\r\nTWO\r\n2\r\nthree\r\n");
}

#[test]
fn keeps_a_missing_final_newline() {
    let patch = "*** Begin Patch\n*** Update File: f\n-b\n+c\n*** End Patch";
    assert_eq!(patched("a\nb", patch).unwrap().text, "a\nc");
    // Appending after a last line that had no newline gives it one.
    let append = "*** Begin Patch\n*** Update File: f\n b\n+c\n*** End Patch";
    assert_eq!(patched("a\nb", append).unwrap().text, "a\nb\nc");
    assert_eq!(patched("a\nb\n", append).unwrap().text, "a\nb\nc\n");
}

#[test]
fn end_of_file_anchors_the_match() {
    let patch = "*** Begin Patch\n*** Update File: f\n-x\n+y\n*** End of File\n*** End Patch";
    assert_eq!(patched("x\nmid\nx\n", patch).unwrap().text, "x\nmid\ny\n");
    let err = patched("x\nmid\n", patch).unwrap_err();
    assert!(err.to_string().contains("at the end of the file"));
}

#[test]
fn pure_insertions() {
    let at_end = "*** Begin Patch\n*** Update File: f\n@@\n+z\n*** End Patch";
    assert_eq!(patched("a\n", at_end).unwrap().text, "a\nz\n");
    assert_eq!(patched("", at_end).unwrap().text, "z\n");
    let after_header = "*** Begin Patch\n*** Update File: f\n@@ fn a\n+    new\n*** End Patch";
    assert_eq!(
        patched("fn a() {\n}\n", after_header).unwrap().text,
        "fn a() {\n    new\n}\n"
    );
}

#[test]
fn removing_everything_leaves_an_empty_file() {
    let out = patched(
        "a\nb\n",
        "*** Begin Patch\n*** Update File: f\n-a\n-b\n*** End Patch",
    )
    .unwrap();
    assert_eq!(out.text, "");
    assert_eq!(out.removed, 2);
}

#[test]
fn long_expectations_are_quoted_briefly() {
    let mut patch = String::from("*** Begin Patch\n*** Update File: f\n");
    for i in 0..30 {
        patch.push_str(&format!("-{}\n", "y".repeat(300) + &i.to_string()));
    }
    patch.push_str("*** End Patch");
    let msg = patched("a\n", &patch).unwrap_err().to_string();
    assert!(msg.contains("(10 more lines)"));
    assert!(!msg.contains(&"y".repeat(201)));
}
