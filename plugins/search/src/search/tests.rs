#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let full = ws.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, c).unwrap();
    }
    ws
}

fn input(pattern: &str) -> SearchInput {
    serde_json::from_value(serde_json::json!({ "pattern": pattern })).unwrap()
}

fn hits(out: &SearchOutput) -> Vec<String> {
    out.matches
        .iter()
        .map(|m| format!("{}:{}:{}", m.path, m.line_number, m.line))
        .collect()
}

fn sample() -> tempfile::TempDir {
    tree(&[
        (".gitignore", b"target/\n"),
        ("src/lib.rs", b"fn main() {}\nfn Helper() {}\n"),
        ("src/util.py", b"def main():\n    pass\n"),
        ("target/debug.rs", b"fn main() {}\n"),
        ("img.png", b"\x89PNG\0\0fn main"),
    ])
}

#[test]
fn searches_text_files_skipping_ignored_and_binary() {
    let ws = sample();
    let out = run(ws.path(), input("main")).unwrap();
    assert_eq!(
        hits(&out),
        ["src/lib.rs:1:fn main() {}", "src/util.py:1:def main():"]
    );
    assert_eq!(out.files_skipped, 1);
    assert_eq!(out.files_searched, 2);
    assert!(!out.truncated);
}

#[test]
fn glob_filters_by_name_or_path() {
    let ws = sample();
    let mut i = input("main");
    i.glob = Some("*.py".into());
    assert_eq!(
        hits(&run(ws.path(), i).unwrap()),
        ["src/util.py:1:def main():"]
    );
    let mut i = input("main");
    i.glob = Some("src/*.rs".into());
    assert_eq!(
        hits(&run(ws.path(), i).unwrap()),
        ["src/lib.rs:1:fn main() {}"]
    );
}

#[test]
fn case_insensitive_and_named_file() {
    let ws = sample();
    let mut i = input("helper");
    assert!(run(ws.path(), input("helper")).unwrap().matches.is_empty());
    i.case_insensitive = true;
    i.path = "src/lib.rs".into();
    assert_eq!(
        hits(&run(ws.path(), i).unwrap()),
        ["src/lib.rs:2:fn Helper() {}"]
    );
    // Naming an ignored file searches it.
    let mut i = input("main");
    i.path = "target/debug.rs".into();
    assert_eq!(run(ws.path(), i).unwrap().matches.len(), 1);
}

#[test]
fn max_results_truncates() {
    let ws = tree(&[("a.txt", "x\n".repeat(50).as_bytes())]);
    let mut i = input("x");
    i.max_results = 3;
    let out = run(ws.path(), i).unwrap();
    assert_eq!(out.matches.len(), 3);
    assert!(out.truncated);
}

#[test]
fn large_files_are_skipped() {
    let big = vec![b'x'; usize::try_from(MAX_FILE_BYTES).unwrap() + 1];
    let ws = tree(&[("big.txt", &big), ("small.txt", b"x\n")]);
    let out = run(ws.path(), input("x")).unwrap();
    assert_eq!(hits(&out), ["small.txt:1:x"]);
    assert_eq!(out.files_skipped, 1);
}

#[test]
fn bad_inputs_are_invalid() {
    let ws = sample();
    let invalid = |i: SearchInput| match run(ws.path(), i) {
        Err(ToolError::InvalidInput(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(invalid(input("(")).contains("bad regex"));
    assert!(invalid(input("")).contains("empty"));
    // Would need far more than the size limit once compiled.
    assert!(invalid(input(r"\w{1000}{1000}")).contains("bad regex"));
    let mut i = input("x");
    i.context_lines = 11;
    assert!(invalid(i).contains("context_lines"));
    let mut i = input("x");
    i.max_results = 0;
    assert!(invalid(i).contains("max_results"));
    let mut i = input("x");
    i.glob = Some("a[".into());
    assert!(invalid(i).contains("bad glob"));
    let mut i = input("x");
    i.path = ".git".into();
    assert!(invalid(i).contains(".git"));
    let mut i = input("x");
    i.path = "/etc".into();
    assert!(invalid(i).contains("relative"));
    let unknown: Result<SearchInput, _> =
        serde_json::from_value(serde_json::json!({"pattern": "x", "regex": true}));
    assert!(unknown.is_err());
}

#[test]
fn missing_path_is_not_found() {
    let ws = sample();
    let mut i = input("x");
    i.path = "nope".into();
    assert!(matches!(run(ws.path(), i), Err(ToolError::NotFound(_))));
}
