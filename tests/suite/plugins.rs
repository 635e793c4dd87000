//! The bundled plugins, run as components through the real host under the
//! same grant machinery as any third-party plugin.

use super::common::{Fixture, call};
use serde_json::{Value, json};
use warden_core::runtime::{Prepared, ToolFailure};

async fn ok(p: &Prepared, tool: &str, input: Value) -> Value {
    let out = call(p, tool, input).await.expect("call completes");
    out.result
        .unwrap_or_else(|e| panic!("{tool} failed: {e:?}"))
}

async fn err(
    p: &Prepared,
    tool: &str,
    input: Value,
) -> (ToolFailure, Vec<warden_core::capability::Denial>) {
    let out = call(p, tool, input).await.expect("call completes");
    (out.result.expect_err("must fail"), out.denials)
}

fn numbered(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

#[tokio::test]
async fn fs_reads_a_window_lists_and_globs() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.ws.join("src/deep")).unwrap();
    std::fs::write(fx.ws.join("src/lib.rs"), numbered(10)).unwrap();
    std::fs::write(fx.ws.join("src/deep/mod.rs"), "x").unwrap();
    std::fs::write(fx.ws.join(".hidden"), "h").unwrap();
    let p = fx.prepare("fs", &["file:.:read"]);

    let v = ok(
        &p,
        "read",
        json!({"path": "src/lib.rs", "offset_line": 3, "limit_lines": 2}),
    )
    .await;
    assert_eq!(v["content"], "line 3\nline 4\n");
    assert_eq!(
        (
            v["start_line"].as_u64(),
            v["end_line"].as_u64(),
            v["total_lines"].as_u64()
        ),
        (Some(3), Some(4), Some(10))
    );
    assert_eq!(v["truncated"], false);

    let v = ok(&p, "list", json!({"path": "."})).await;
    let names: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"src") && names.contains(&"a.txt"),
        "{names:?}"
    );
    assert!(
        !names.contains(&".hidden") && !names.contains(&".git"),
        "{names:?}"
    );

    let v = ok(&p, "glob", json!({"pattern": "**/*.rs"})).await;
    let mut matches: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    matches.sort();
    assert_eq!(matches, ["src/deep/mod.rs", "src/lib.rs"]);

    let (e, _) = err(&p, "read", json!({"path": "../outside/secret"})).await;
    assert!(matches!(e, ToolFailure::InvalidInput { .. }), "{e:?}");
    let (e, _) = err(&p, "read", json!({"path": "missing.txt"})).await;
    assert!(matches!(e, ToolFailure::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn search_honours_gitignore_and_gives_context() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.ws.join("src")).unwrap();
    std::fs::create_dir_all(fx.ws.join("target")).unwrap();
    std::fs::write(fx.ws.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(
        fx.ws.join("src/a.rs"),
        "fn one() {}\nfn needle() {}\nfn three() {}\n",
    )
    .unwrap();
    std::fs::write(fx.ws.join("target/junk.rs"), "fn needle() {}\n").unwrap();
    let p = fx.prepare("search", &["file:.:read"]);
    let v = ok(
        &p,
        "search",
        json!({"pattern": "needle", "context_lines": 1}),
    )
    .await;
    let m = v["matches"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{v}");
    assert_eq!(m[0]["path"], "src/a.rs");
    assert_eq!(m[0]["line_number"], 2);
    assert_eq!(m[0]["before"], json!(["fn one() {}"]));
    assert_eq!(m[0]["after"], json!(["fn three() {}"]));
    let (e, _) = err(&p, "search", json!({"pattern": "("})).await;
    assert!(matches!(e, ToolFailure::InvalidInput { .. }), "{e:?}");
}

#[tokio::test]
async fn edit_writes_replaces_and_patches() {
    let fx = Fixture::new();
    let p = fx.prepare("edit", &["file:.:write"]);
    let v = ok(
        &p,
        "write",
        json!({"path": "new/dir/f.txt", "content": "alpha\nbeta\n"}),
    )
    .await;
    assert_eq!(v["created"], true);
    assert_eq!(fx.read("new/dir/f.txt"), "alpha\nbeta\n");
    let v = ok(
        &p,
        "replace",
        json!({"path": "new/dir/f.txt", "old": "beta", "new": "gamma"}),
    )
    .await;
    assert_eq!(v["replacements"], 1);
    assert_eq!(fx.read("new/dir/f.txt"), "alpha\ngamma\n");
    let patch = "*** Begin Patch\n*** Update File: new/dir/f.txt\n@@\n alpha\n-gamma\n+delta\n*** Add File: added.txt\n+hello\n*** Delete File: a.txt\n*** End Patch\n";
    let v = ok(&p, "apply_patch", json!({"patch": patch})).await;
    assert_eq!(v["files"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(fx.read("new/dir/f.txt"), "alpha\ndelta\n");
    assert_eq!(fx.read("added.txt"), "hello\n");
    assert!(!fx.ws.join("a.txt").exists());
}

#[tokio::test]
async fn a_patch_with_one_failing_hunk_changes_nothing() {
    let fx = Fixture::new();
    std::fs::write(fx.ws.join("one.txt"), "1\n2\n3\n").unwrap();
    std::fs::write(fx.ws.join("two.txt"), "a\nb\nc\n").unwrap();
    let p = fx.prepare("edit", &["file:.:write"]);
    let patch = "*** Begin Patch\n*** Update File: one.txt\n@@\n 1\n-2\n+TWO\n*** Update File: two.txt\n@@\n a\n-not there\n+x\n*** Add File: three.txt\n+3\n*** End Patch\n";
    let (e, _) = err(&p, "apply_patch", json!({"patch": patch})).await;
    let text = format!("{e:?}");
    assert!(text.contains("two.txt"), "{text}");
    assert_eq!(fx.read("one.txt"), "1\n2\n3\n");
    assert_eq!(fx.read("two.txt"), "a\nb\nc\n");
    assert!(!fx.ws.join("three.txt").exists());
}

#[tokio::test]
async fn edit_gets_no_back_door_into_protected_or_read_only_paths() {
    let fx = Fixture::new();
    let p = fx.prepare("edit", &["file:.:write"]);
    let (e, denials) = err(
        &p,
        "write",
        json!({"path": ".git/config", "content": "pwned"}),
    )
    .await;
    assert!(matches!(e, ToolFailure::Denied { .. }), "{e:?}");
    assert_eq!(denials[0].allow.as_deref(), Some("file:.git:write"));
    let patch = "*** Begin Patch\n*** Add File: .git/hooks/pre-commit\n+#!/bin/sh\n*** End Patch\n";
    let (_, _) = err(&p, "apply_patch", json!({"patch": patch})).await;
    assert_eq!(fx.read(".git/config"), "cfg");
    assert!(!fx.ws.join(".git/hooks").exists());

    let p = fx.prepare("edit", &["file:.:read"]);
    let (e, denials) = err(&p, "write", json!({"path": "a.txt", "content": "pwned"})).await;
    assert!(matches!(e, ToolFailure::Denied { .. }), "{e:?}");
    assert_eq!(denials[0].reason, "the grant is read-only");
    assert_eq!(fx.read("a.txt"), "hi");
}
