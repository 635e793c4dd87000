//! P1: a plugin touches only what lies under its granted roots. Each attack
//! is a real call of the hostile guest through the real host; each asserts
//! the exact refusal, the recorded denial, that nothing changed on disk, and
//! that the host still answers a benign call afterwards.

use super::common::{Fixture, assert_still_answers, call, failure};
use serde_json::json;
use std::path::Path;
use warden_core::capability::Denial;
use warden_core::runtime::CallOutput;

const EPERM: &str = "Operation not permitted (os error 63)";
const ENOENT: &str = "No such file or directory (os error 44)";
const LEAVES: &str = "the path leaves the granted directory";
const READ_ONLY: &str = "the grant is read-only";

fn denial<'a>(denials: &'a [Denial], operation: &str) -> &'a Denial {
    denials
        .iter()
        .find(|d| d.operation == operation)
        .unwrap_or_else(|| panic!("no `{operation}` denial in {denials:?}"))
}

#[tokio::test]
async fn escapes_through_dotdot_and_symlinks_are_refused() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    for path in [
        "../outside/secret",
        "./../outside/secret",
        "link_abs/secret",
        "link_rel/secret",
    ] {
        let (msg, out) = failure(&p, "read", json!({ "path": path })).await;
        assert_eq!(msg, EPERM, "{path}");
        let d = denial(&out.denials, "read");
        assert_eq!(d.reason, LEAVES, "{path}");
        assert_eq!(d.resource, fx.ws.join(path).display().to_string());
        assert_eq!(d.allow, None, "no grant can allow an escape");
    }
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn absolute_and_proc_paths_find_nothing() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let secret = fx.outside.join("secret").display().to_string();
    for path in [
        secret.as_str(),
        "/proc/self/root/etc/passwd",
        "/proc/self/fd/3",
        "/etc/passwd",
    ] {
        let (msg, out) = failure(&p, "read", json!({ "path": path })).await;
        // No preopen covers these paths, so the guest cannot even name them
        // to the host: nothing is opened and nothing needs recording.
        assert_eq!(msg, ENOENT, "{path}");
        assert!(out.denials.is_empty());
    }
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn nul_bytes_and_symlink_loops_fail_cleanly() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let (msg, _) = failure(&p, "read", json!({"path": "a.txt\u{0}../../etc/passwd"})).await;
    assert_eq!(msg, "file name contained an unexpected NUL byte");
    let (msg, _) = failure(&p, "read", json!({"path": "loop_a"})).await;
    assert_eq!(msg, "Symbolic link loop (os error 32)");
    let (msg, _) = failure(&p, "write", json!({"path": "loop_a", "content": "x"})).await;
    assert_eq!(msg, "Symbolic link loop (os error 32)");
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn symlinks_created_by_the_plugin_cannot_leave_the_root() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    // An absolute target is refused when the link is made.
    let outside = fx.outside.display().to_string();
    let (msg, out) = failure(&p, "symlink", json!({"from": outside, "to": "mine_abs"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "symlink").reason,
        "a symbolic link may not point to an absolute path"
    );
    assert!(std::fs::symlink_metadata(fx.ws.join("mine_abs")).is_err());
    // A relative one pointing out may be made, but never followed.
    let out = call(
        &p,
        "symlink",
        json!({"from": "../outside", "to": "mine_rel"}),
    )
    .await
    .unwrap();
    assert!(out.result.is_ok(), "{:?}", out.result);
    let (msg, out) = failure(&p, "read", json!({"path": "mine_rel/secret"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(denial(&out.denials, "read").reason, LEAVES);
    let (msg, out) = failure(
        &p,
        "write",
        json!({"path": "mine_rel/planted", "content": "x"}),
    )
    .await;
    assert_eq!(msg, EPERM);
    assert_eq!(denial(&out.denials, "write").reason, LEAVES);
    assert!(!fx.outside.join("planted").exists());
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn read_only_grants_refuse_every_kind_of_change() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:read"]);
    let attacks = [
        (
            "write",
            json!({"path": "a.txt", "content": "pwned"}),
            "write",
        ),
        (
            "write",
            json!({"path": "new.txt", "content": "pwned"}),
            "write",
        ),
        ("truncate", json!({"path": "a.txt"}), "write"),
        ("set_len", json!({"path": "a.txt"}), "truncate"),
        ("set_times", json!({"path": "a.txt"}), "set-times"),
        ("unlink", json!({"path": "a.txt"}), "unlink"),
        ("rename", json!({"from": "a.txt", "to": "b.txt"}), "rename"),
        ("mkdir", json!({"path": "newdir"}), "mkdir"),
        ("hard_link", json!({"from": "a.txt", "to": "alias"}), "link"),
        (
            "symlink",
            json!({"from": "a.txt", "to": "alias"}),
            "symlink",
        ),
    ];
    for (tool, input, op) in attacks {
        let (msg, out) = failure(&p, tool, input.clone()).await;
        assert_eq!(msg, EPERM, "{tool} {input}");
        let d = denial(&out.denials, op);
        assert_eq!(d.reason, READ_ONLY, "{tool}");
        assert!(
            d.allow
                .as_deref()
                .is_some_and(|a| a.starts_with("file:") && a.ends_with(":write")),
            "{d:?}"
        );
    }
    assert_eq!(fx.read("a.txt"), "hi");
    let mtime = std::fs::metadata(fx.ws.join("a.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_ne!(mtime, std::time::SystemTime::UNIX_EPOCH);
    for name in ["new.txt", "b.txt", "newdir", "alias"] {
        assert!(!fx.ws.join(name).exists(), "{name} was created");
    }
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn links_and_renames_from_a_read_only_root_into_a_writable_one_are_refused() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.ws.join("sub")).unwrap();
    let p = fx.prepare("hostile", &["file:.:read", "file:sub:write"]);
    let ro = fx.ws.join("a.txt").display().to_string();
    let rw = fx.ws.join("sub/alias").display().to_string();
    for tool in ["hard_link", "rename"] {
        let (msg, out) = failure(&p, tool, json!({"from": ro, "to": rw})).await;
        assert_eq!(msg, EPERM, "{tool}");
        assert_eq!(out.denials[0].reason, READ_ONLY, "{tool}");
    }
    assert!(!fx.ws.join("sub/alias").exists());
    assert_eq!(fx.read("a.txt"), "hi");
    // The writable root itself works.
    let out = call(
        &p,
        "write",
        json!({"path": fx.ws.join("sub/ok").display().to_string(), "content": "ok"}),
    )
    .await
    .unwrap();
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn protected_paths_stay_read_only_inside_a_writable_grant() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let git = fx.ws.join(".git").display().to_string();
    let attacks = [
        (
            "write",
            json!({"path": ".git/config", "content": "pwned"}),
            "write",
        ),
        (
            "write",
            json!({"path": "gitlink/config", "content": "pwned"}),
            "write",
        ),
        (
            "write",
            json!({"path": ".git/new-hook", "content": "pwned"}),
            "write",
        ),
        (
            "write_via_dir",
            json!({"path": ".git/config", "content": "pwned"}),
            "write",
        ),
        ("truncate", json!({"path": ".git/config"}), "write"),
        ("set_len", json!({"path": ".git/config"}), "truncate"),
        ("set_times", json!({"path": ".git/config"}), "set-times"),
        ("unlink", json!({"path": ".git/config"}), "unlink"),
        ("unlink", json!({"path": "gitlink/config"}), "unlink"),
        ("mkdir", json!({"path": ".git/hooks"}), "mkdir"),
        (
            "rename",
            json!({"from": ".git/config", "to": "stolen"}),
            "rename",
        ),
        (
            "rename",
            json!({"from": "a.txt", "to": ".git/config"}),
            "rename",
        ),
        ("rename", json!({"from": ".git", "to": "moved"}), "rename"),
        (
            "hard_link",
            json!({"from": ".git/config", "to": "alias"}),
            "link",
        ),
        (
            "symlink",
            json!({"from": "/etc/passwd", "to": ".git/evil"}),
            "symlink",
        ),
    ];
    for (tool, input, op) in attacks {
        let (msg, out) = failure(&p, tool, input.clone()).await;
        assert_eq!(msg, EPERM, "{tool} {input}");
        let d = denial(&out.denials, op);
        assert_eq!(
            d.reason,
            format!("{git} is protected: it stays read-only unless granted by name"),
            "{tool} {input}"
        );
        assert_eq!(d.allow.as_deref(), Some("file:.git:write"), "{tool}");
    }
    // A symlink planted by the plugin does not help either.
    let _ = call(&p, "symlink", json!({"from": ".git", "to": "mine"}))
        .await
        .unwrap();
    let (msg, _) = failure(
        &p,
        "write",
        json!({"path": "mine/config", "content": "pwned"}),
    )
    .await;
    assert_eq!(msg, EPERM);
    assert_eq!(fx.read(".git/config"), "cfg");
    assert!(!fx.ws.join(".git/new-hook").exists() && !fx.ws.join(".git/hooks").exists());
    assert!(!fx.ws.join("stolen").exists() && !fx.ws.join("alias").exists());
    // Reading a protected path is fine, and so is writing elsewhere.
    let out = call(&p, "read", json!({"path": ".git/config"}))
        .await
        .unwrap();
    assert_eq!(out.result.unwrap(), json!("cfg"));
    let out = call(&p, "write", json!({"path": "fine.txt", "content": "ok"}))
        .await
        .unwrap();
    assert!(out.result.is_ok());
    assert_eq!(fx.read("fine.txt"), "ok");
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn protected_paths_are_protected_before_they_exist() {
    let fx = Fixture::new();
    std::fs::remove_dir_all(fx.ws.join(".git")).unwrap();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let (msg, out) = failure(&p, "mkdir", json!({"path": ".git"})).await;
    assert_eq!(msg, EPERM);
    assert!(
        denial(&out.denials, "mkdir")
            .reason
            .ends_with("is protected: it stays read-only unless granted by name")
    );
    let (msg, _) = failure(
        &p,
        "write",
        json!({"path": ".git", "content": "gitdir: /tmp/evil"}),
    )
    .await;
    assert_eq!(msg, EPERM);
    assert!(!fx.ws.join(".git").exists());
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn wardens_own_directories_are_protected_inside_a_writable_grant() {
    let fx = Fixture::new();
    // A workspace that contains warden's config directory, as $HOME would.
    let config = fx.ws.join("home/.config/warden");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let mut ctx = fx.context();
    ctx.protected = vec![config.clone()];
    let l = super::common::loaded("hostile");
    let g = warden_core::grant::Grant::from_specs(&["file:.:write"]).unwrap();
    let e = warden_core::grant::effective(&l.manifest, &g, &ctx);
    let p = l
        .prepare(super::common::runtime(), e, &fx.ws, |_| None)
        .unwrap();
    let (msg, out) = failure(&p, "mkdir", json!({"path": "home/.config/warden"})).await;
    assert_eq!(msg, EPERM);
    // warden's own directories are invisible, not merely read-only: no
    // grant lifts that (see warden_dirs_are_invisible_even_through_symlinks).
    let d = denial(&out.denials, "mkdir");
    assert_eq!(d.allow, None);
    assert!(d.reason.contains("is warden's own directory"), "{d:?}");
    assert!(!config.exists());
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn a_protected_path_granted_by_name_is_writable() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write", "file:.git:write"]);
    let out = call(
        &p,
        "write",
        json!({"path": ".git/config", "content": "changed"}),
    )
    .await
    .unwrap();
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(fx.read(".git/config"), "changed");
}

#[tokio::test]
async fn a_single_file_grant_admits_only_that_file() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:a.txt:read"]);
    assert_still_answers(&p).await;
    let (msg, out) = failure(&p, "read", json!({"path": ".git/config"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "read").reason,
        "only a single file is granted in this directory"
    );
    // The directory it is in may be walked (issue 17), showing only the
    // granted name; every other name in it is still refused through it.
    let out = call(&p, "list", json!({"path": "."})).await.unwrap();
    assert_eq!(out.result.unwrap(), json!(["a.txt"]));
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    let (msg, out) = failure(&p, "read", json!({"path": "./.git/../.git/config"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "read").reason,
        "only a single file is granted in this directory"
    );
    let (msg, _) = failure(&p, "write", json!({"path": "a.txt", "content": "x"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(fx.read("a.txt"), "hi");
    assert_still_answers(&p).await;
}

/// Issue 17: a plugin with none of its file requests granted still runs
/// (its other tools work); every file use is refused by the guard with the
/// grant that would allow it, and nothing on disk changes.
#[tokio::test]
async fn nothing_granted_means_every_file_use_is_denied() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &[]);
    assert!(p.effective().files.is_empty());
    let (msg, out) = failure(&p, "read", json!({"path": "a.txt"})).await;
    assert_eq!(msg, EPERM);
    let d = denial(&out.denials, "read");
    assert_eq!(d.resource, fx.ws.join("a.txt").display().to_string());
    assert_eq!(d.reason, "no grant covers this path");
    assert_eq!(d.allow.as_deref(), Some("file:a.txt:read"));
    let (msg, out) = failure(&p, "write", json!({"path": "a.txt", "content": "x"})).await;
    assert_eq!(msg, EPERM);
    let d = denial(&out.denials, "write");
    assert_eq!(d.reason, "no grant covers this path");
    assert_eq!(d.allow.as_deref(), Some("file:a.txt:write"));
    let (msg, out) = failure(&p, "list", json!({"path": "."})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "read").allow.as_deref(),
        Some("file:.:read")
    );
    assert_eq!(fx.read("a.txt"), "hi");
    // A tool that needs no file still works.
    let out = call(&p, "echo", json!({})).await.expect("echo runs");
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(out.denials.is_empty());
    assert_still_answers(&fx.prepare("hostile", &["file:.:read"])).await;
}

/// Issue 17: after `--grant file:sub:read` of a plugin that requests the
/// whole workspace, `sub/b.txt` (workspace-relative) reads, and a path
/// outside the narrowed grant is a denial naming the grant, not "not found".
#[tokio::test]
async fn a_narrowed_grant_reads_workspace_relative_paths_and_denies_the_rest() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.ws.join("sub")).unwrap();
    std::fs::write(fx.ws.join("sub/b.txt"), "inside").unwrap();
    let p = fx.prepare("hostile", &["file:sub:read"]);
    let out = call(&p, "read", json!({"path": "sub/b.txt"}))
        .await
        .expect("read completes");
    assert_eq!(out.result.expect("read inside the grant"), json!("inside"));
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    for path in ["a.txt", "sub/../a.txt", "./a.txt"] {
        let (msg, out) = failure(&p, "read", json!({ "path": path })).await;
        assert_eq!(msg, EPERM, "{path}");
        let d = denial(&out.denials, "read");
        assert_eq!(d.resource, fx.ws.join("a.txt").display().to_string());
        assert_eq!(d.reason, "no grant covers this path", "{path}");
        assert_eq!(d.allow.as_deref(), Some("file:a.txt:read"), "{path}");
    }
    // Still beneath the workspace: `..` past it is refused as before.
    let (msg, _) = failure(&p, "read", json!({"path": "../outside/secret"})).await;
    assert_eq!(msg, EPERM);
    let (msg, out) = failure(&p, "write", json!({"path": "sub/b.txt", "content": "x"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "write").reason,
        "the grant is read-only"
    );
    assert_eq!(fx.read("sub/b.txt"), "inside");
    let out = call(&p, "read", json!({"path": "sub/b.txt"}))
        .await
        .expect("the host still answers");
    assert_eq!(out.result.expect("read"), json!("inside"));
}

#[tokio::test]
async fn grants_compare_path_components_not_prefixes() {
    let fx = Fixture::new();
    let evil = fx.tmp.path().canonicalize().unwrap().join("ws-evil");
    std::fs::create_dir(&evil).unwrap();
    std::fs::write(evil.join("loot"), "loot").unwrap();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let (msg, _) = failure(
        &p,
        "read",
        json!({"path": evil.join("loot").display().to_string()}),
    )
    .await;
    assert_eq!(msg, ENOENT);
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn creating_through_a_dangling_symlink_is_refused() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    // The link's target does not exist yet: following it on create would
    // make `.git/hooks-planted` behind the protected-path check's back.
    let out = call(
        &p,
        "symlink",
        json!({"from": ".git/hooks-planted", "to": "dangle"}),
    )
    .await
    .unwrap();
    assert!(out.result.is_ok(), "{:?}", out.result);
    let (msg, out) = failure(
        &p,
        "write",
        json!({"path": "dangle", "content": "#!/bin/sh\necho pwned"}),
    )
    .await;
    assert_eq!(msg, EPERM);
    assert_eq!(
        denial(&out.denials, "write").reason,
        "refusing to create through a dangling symbolic link"
    );
    assert!(!fx.ws.join(".git/hooks-planted").exists());
    assert_still_answers(&p).await;
}

/// `from` a [`Denial`] list, the ones that are refusals of protected paths
/// or of leaving the grant.
fn refused_into_git(denials: &[Denial]) -> bool {
    denials
        .iter()
        .any(|d| d.reason.contains("is protected") || d.reason == LEAVES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_into_dot_git_through_nested_workspaces() {
    // One call in WS flips `sub/a` between absent and a symlink to
    // `../.git`; at the same time a call in WS/sub (its own workspace)
    // aims every kind of change at `a/…`. The guard used to resolve a
    // missing parent as "allow" and then act on the path string, so the
    // change followed the link swapped in between: `.git/config` was
    // replaced within a few hundred rounds. Here: 30 calls of 250 flips
    // against twice 30 calls of 30 rounds of 6 changes each: about 7 500
    // flips and 10 000 aimed changes (each call within its 2 s limit).
    let fx = Fixture::new();
    let sub = fx.ws.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let git_before = std::fs::read_dir(fx.ws.join(".git")).unwrap().count();
    let outer = fx.prepare("hostile", &["file:.:write"]);
    let l = super::common::loaded("hostile");
    let g = warden_core::grant::Grant::from_specs(&["file:.:write"]).unwrap();
    let mut ctx = fx.context();
    ctx.workspace = sub.clone();
    let e = warden_core::grant::effective(&l.manifest, &g, &ctx);
    let inner = l
        .prepare(super::common::runtime(), e, &sub, |_| None)
        .unwrap();
    let mut flips = 0;
    let mut refused = false;
    for _ in 0..30 {
        // The same aim from WS itself, where the link resolves inside the
        // grant and reaches `.git` as a protected path.
        let (a, b, c) = tokio::join!(
            call(
                &outer,
                "flip",
                json!({"path": "sub/a", "target": "../.git", "n": 250})
            ),
            call(&inner, "aim", json!({"dir": "a", "n": 30})),
            call(&outer, "aim", json!({"dir": "sub/a", "n": 30})),
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        flips += a.result.unwrap().as_u64().unwrap();
        assert_eq!(b.result.unwrap(), json!(0), "a change landed in `a`");
        assert_eq!(c.result.unwrap(), json!(0), "a change landed in `sub/a`");
        refused |= refused_into_git(&b.denials) && refused_into_git(&c.denials);
        assert_eq!(fx.read(".git/config"), "cfg");
    }
    assert!(flips > 0, "the link was never made");
    assert!(refused, "no change was ever aimed while `a` was the link");
    assert_eq!(
        std::fs::read_dir(fx.ws.join(".git")).unwrap().count(),
        git_before,
        "something was created in .git"
    );
    assert!(!fx.ws.join("pwned").exists() && !sub.join("pwned").exists());
    assert_still_answers(&outer).await;
}

#[tokio::test]
async fn single_file_grant_cannot_reach_siblings() {
    let fx = Fixture::new();
    std::fs::write(fx.ws.join("notes.txt"), "notes").unwrap();
    std::fs::write(fx.ws.join(".env"), "TOKEN=secret").unwrap();
    let p = fx.prepare("hostile", &["file:notes.txt:write"]);
    let single = "only a single file is granted in this directory";
    let notes = fx.ws.join("notes.txt");
    for (target, reason) in [
        (".env", single),
        (".git/config", single),
        ("a.txt", single),
        ("link_rel/secret", LEAVES),
        ("../outside/secret", LEAVES),
    ] {
        // The name may be replaced: it is the granted one.
        let out = call(&p, "unlink", json!({"path": "notes.txt"}))
            .await
            .unwrap();
        assert!(out.result.is_ok(), "{:?}", out.result);
        let out = call(&p, "symlink", json!({"from": target, "to": "notes.txt"}))
            .await
            .unwrap();
        assert!(out.result.is_ok(), "{:?}", out.result);
        // What it now points at is not.
        let (msg, out) = failure(&p, "read", json!({"path": "notes.txt"})).await;
        assert_eq!(msg, EPERM, "{target}");
        let d = denial(&out.denials, "read");
        assert_eq!(d.reason, reason, "{target}");
        if reason == single {
            // The refusal names what was reached, not the granted name.
            assert_eq!(d.resource, fx.ws.join(target).display().to_string());
        }
        let (msg, out) = failure(
            &p,
            "write",
            json!({"path": "notes.txt", "content": "pwned"}),
        )
        .await;
        assert_eq!(msg, EPERM, "{target}");
        let d = denial(&out.denials, "write");
        assert!(
            d.reason.starts_with("refusing to") || d.reason == LEAVES,
            "{target}: {:?}",
            out.denials
        );
        std::fs::remove_file(&notes).unwrap();
        std::fs::write(&notes, "notes").unwrap();
    }
    // Nor can a sibling be brought in under the granted name.
    let _ = call(&p, "unlink", json!({"path": "notes.txt"}))
        .await
        .unwrap();
    for tool in ["hard_link", "rename"] {
        let (msg, out) = failure(&p, tool, json!({"from": ".env", "to": "notes.txt"})).await;
        assert_eq!(msg, EPERM, "{tool}");
        assert_eq!(out.denials[0].reason, single, "{tool}");
        assert_eq!(out.denials[0].allow.as_deref(), Some("file:.env:write"));
    }
    assert!(!notes.exists());
    std::fs::write(&notes, "notes").unwrap();
    assert_eq!(fx.read(".env"), "TOKEN=secret");
    assert_eq!(fx.read(".git/config"), "cfg");
    assert_eq!(
        std::fs::read_to_string(fx.outside.join("secret")).unwrap(),
        "secret"
    );
    let out = call(&p, "read", json!({"path": "notes.txt"}))
        .await
        .unwrap();
    assert_eq!(out.result.unwrap(), json!("notes"));
}

#[tokio::test]
async fn warden_dirs_are_invisible_even_through_symlinks() {
    let fx = Fixture::new();
    let root = fx.ws.parent().unwrap().to_path_buf();
    // A dotfile manager: XDG_CONFIG_HOME is a symlink into the workspace;
    // XDG_DATA_HOME is one too, to a directory that does not exist yet;
    // XDG_STATE_HOME is inside the workspace and does not exist yet.
    let config = fx.ws.join("dotfiles/config/warden");
    std::fs::create_dir_all(config.join("grants")).unwrap();
    std::fs::write(config.join("grants/hostile.toml"), "files = []").unwrap();
    std::fs::write(config.join("audit.key"), "KEY").unwrap();
    std::os::unix::fs::symlink(fx.ws.join("dotfiles/config"), root.join("xdg-config")).unwrap();
    std::os::unix::fs::symlink(fx.ws.join("dotfiles/data"), root.join("xdg-data")).unwrap();
    let env = |k: &str| -> Option<std::ffi::OsString> {
        match k {
            "HOME" => Some(root.join("home").into()),
            "XDG_CONFIG_HOME" => Some(root.join("xdg-config").into()),
            "XDG_DATA_HOME" => Some(root.join("xdg-data").into()),
            "XDG_STATE_HOME" => Some(fx.ws.join("state").into()),
            "XDG_CACHE_HOME" => Some(root.join("cache").into()),
            _ => None,
        }
    };
    let dirs = warden_core::dirs::Dirs::from_env(env).unwrap();
    let mut ctx = fx.context();
    ctx.protected = dirs.protected();
    let l = super::common::loaded("hostile");
    let g = warden_core::grant::Grant::from_specs(&["file:.:write"]).unwrap();
    let e = warden_core::grant::effective(&l.manifest, &g, &ctx);
    for h in [
        &config,
        &fx.ws.join("dotfiles/data/warden"),
        &fx.ws.join("state/warden"),
    ] {
        assert!(e.hidden.contains(h), "{h:?} not in {:?}", e.hidden);
    }
    let p = l
        .prepare(super::common::runtime(), e, &fx.ws, |_| None)
        .unwrap();
    let attacks = [
        (
            "read",
            json!({"path": "dotfiles/config/warden/audit.key"}),
            "read",
        ),
        ("list", json!({"path": "dotfiles/config/warden"}), "read"),
        (
            "write",
            json!({"path": "dotfiles/config/warden/grants/hostile.toml", "content": "pwned"}),
            "write",
        ),
        (
            "unlink",
            json!({"path": "dotfiles/config/warden/audit.key"}),
            "unlink",
        ),
        (
            "rename",
            json!({"from": "dotfiles/config", "to": "moved"}),
            "rename",
        ),
        (
            "rename",
            json!({"from": "dotfiles", "to": "moved"}),
            "rename",
        ),
        (
            "symlink",
            json!({"from": "elsewhere", "to": "state"}),
            "symlink",
        ),
        ("mkdir", json!({"path": "dotfiles/data/warden"}), "mkdir"),
        ("mkdir", json!({"path": "state/warden"}), "mkdir"),
    ];
    for (i, (tool, input, op)) in attacks.into_iter().enumerate() {
        if i == 7 {
            // The parents may be made: only warden's own directory is out.
            for dir in ["dotfiles/data", "state"] {
                let out = call(&p, "mkdir", json!({"path": dir})).await.unwrap();
                assert!(out.result.is_ok(), "{dir}: {:?}", out.result);
            }
        }
        let (msg, out) = failure(&p, tool, input.clone()).await;
        assert_eq!(msg, EPERM, "{tool} {input}");
        let d = denial(&out.denials, op);
        assert!(
            d.reason
                .contains("is warden's own directory: no plugin may see or change it"),
            "{tool} {input}: {d:?}"
        );
        assert_eq!(d.allow, None, "no grant can allow it");
    }
    // A listing of the directory holding it does not show it.
    let out = call(&p, "list", json!({"path": "dotfiles/config"}))
        .await
        .unwrap();
    assert_eq!(out.result.unwrap(), json!([]));
    assert_eq!(
        std::fs::read_to_string(config.join("audit.key")).unwrap(),
        "KEY"
    );
    assert_eq!(
        std::fs::read_to_string(config.join("grants/hostile.toml")).unwrap(),
        "files = []"
    );
    assert!(!fx.ws.join("moved").exists());
    assert!(!fx.ws.join("dotfiles/data/warden").exists() && !fx.ws.join("state/warden").exists());
    assert_still_answers(&p).await;
}

/// Issue 11: every capability's refusals share one bound. A guest that is
/// refused hundreds of times is refused every time, but a call reports at
/// most `MAX_DENIALS` of them and counts the rest (before, the file guard
/// cut its list silently and the count was lost).
#[tokio::test]
async fn a_flood_of_file_refusals_is_bounded_and_counted() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let out = call(&p, "aim", json!({"dir": ".git", "n": 40}))
        .await
        .unwrap();
    assert_eq!(out.result, Ok(json!(0)), "nothing lands in .git");
    let max = warden_core::capability::MAX_DENIALS;
    assert_eq!(out.denials.len(), max);
    assert!(
        out.denials_dropped >= 40 * 5 - max,
        "five refusals per round: {} dropped",
        out.denials_dropped
    );
    assert!(out.denials.iter().all(|d| d.resource.contains(".git")));
    assert_eq!(
        std::fs::read_to_string(fx.ws.join(".git/config")).unwrap(),
        "cfg"
    );
    assert_still_answers(&p).await;
}

/// What `out` listed or said, with no denial recorded.
fn quiet(out: &CallOutput) -> serde_json::Value {
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    out.result.clone().expect("the tool succeeds")
}

/// The one refusal of `out`: its operation, what it names (relative to
/// the workspace) and the grant that would allow it.
fn refused(fx: &Fixture, out: &CallOutput) -> (String, String, Option<String>) {
    assert_eq!(out.denials.len(), 1, "{:?}", out.denials);
    let d = &out.denials[0];
    assert_eq!(d.reason, "no grant covers this path", "{d:?}");
    let rel = Path::new(&d.resource)
        .strip_prefix(&fx.ws)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| d.resource.clone());
    (d.operation.to_string(), rel, d.allow.clone())
}

/// Issue 17: a narrowed grant to a file that does not exist yet lets the
/// plugin create it, walk to it, and nothing else: every name beside it,
/// there or not, is refused and recorded the same way (so refusals do not
/// tell which names exist), and the host still answers.
#[tokio::test]
async fn a_grant_to_a_file_not_there_yet_creates_it_and_nothing_beside_it() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:c.txt:write"]);
    assert_eq!(
        quiet(&call(&p, "list", json!({"path": "."})).await.unwrap()),
        json!([])
    );
    assert_eq!(
        quiet(&call(&p, "stat", json!({"path": "."})).await.unwrap()),
        json!(true)
    );
    let out = call(&p, "write", json!({"path": "c.txt", "content": "c"}))
        .await
        .unwrap();
    quiet(&out);
    assert_eq!(fx.read("c.txt"), "c");
    assert_eq!(
        quiet(&call(&p, "list", json!({"path": "."})).await.unwrap()),
        json!(["c.txt"])
    );
    let cases = [
        (
            "write",
            json!({"path": "c2.txt", "content": "x"}),
            "write",
            "c2.txt",
            "file:c2.txt:write",
        ),
        (
            "write",
            json!({"path": "a.txt", "content": "x"}),
            "write",
            "a.txt",
            "file:a.txt:write",
        ),
        (
            "read",
            json!({"path": "a.txt"}),
            "read",
            "a.txt",
            "file:a.txt:read",
        ),
        (
            "read",
            json!({"path": "missing.txt"}),
            "read",
            "missing.txt",
            "file:missing.txt:read",
        ),
        (
            "stat",
            json!({"path": "a.txt"}),
            "stat",
            "a.txt",
            "file:a.txt:read",
        ),
        (
            "stat",
            json!({"path": "missing.txt"}),
            "stat",
            "missing.txt",
            "file:missing.txt:read",
        ),
        (
            "stat",
            json!({"path": "no/such/dir"}),
            "stat",
            "no/such/dir",
            "file:no/such/dir:read",
        ),
        (
            "list",
            json!({"path": ".git"}),
            "read",
            ".git",
            "file:.git:read",
        ),
        ("mkdir", json!({"path": "d"}), "mkdir", "d", "file:d:write"),
        (
            "unlink",
            json!({"path": "a.txt"}),
            "unlink",
            "a.txt",
            "file:a.txt:write",
        ),
        (
            "rename",
            json!({"from": "a.txt", "to": "c.txt"}),
            "rename",
            "a.txt",
            "file:a.txt:write",
        ),
        (
            "rename",
            json!({"from": "c.txt", "to": "moved.txt"}),
            "rename",
            "moved.txt",
            "file:moved.txt:write",
        ),
    ];
    for (tool, input, op, resource, allow) in cases {
        let (msg, out) = failure(&p, tool, input.clone()).await;
        assert_eq!(msg, EPERM, "{tool} {input}");
        let (got_op, got_resource, got_allow) = refused(&fx, &out);
        assert_eq!(
            (got_op.as_str(), got_resource.as_str(), got_allow.as_deref()),
            (op, resource, Some(allow)),
            "{tool} {input}"
        );
    }
    assert_eq!(fx.read("a.txt"), "hi");
    assert_eq!(fx.read("c.txt"), "c");
    assert!(!fx.ws.join("c2.txt").exists() && !fx.ws.join("d").exists());
    let out = call(&p, "read", json!({"path": "c.txt"})).await.unwrap();
    assert_eq!(quiet(&out), json!("c"));
}

/// Issue 17: `file:src/new/x.rs:write` where `src/new` does not exist yet:
/// the directories on the way may be looked at and made, the file written,
/// and nothing else in them read, listed, written or made.
#[tokio::test]
async fn a_nested_grant_makes_its_directories_and_reaches_nothing_beside_them() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.ws.join("src")).unwrap();
    std::fs::write(fx.ws.join("src/lib.rs"), "lib").unwrap();
    let p = fx.prepare("hostile", &["file:src/new/x.rs:write"]);
    // The file's directory is not there yet: that is "not found", not a
    // refusal, since it is on the way to the grant.
    let (msg, out) = failure(&p, "write", json!({"path": "src/new/x.rs", "content": "x"})).await;
    assert_eq!(msg, ENOENT);
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    let (msg, out) = failure(&p, "stat", json!({"path": "src/new"})).await;
    assert_eq!(msg, ENOENT);
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    assert_eq!(
        quiet(&call(&p, "stat", json!({"path": "src"})).await.unwrap()),
        json!(true)
    );
    quiet(&call(&p, "mkdir", json!({"path": "src/new"})).await.unwrap());
    quiet(
        &call(
            &p,
            "write",
            json!({"path": "src/new/x.rs", "content": "fn x() {}"}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(fx.read("src/new/x.rs"), "fn x() {}");
    assert_eq!(
        quiet(&call(&p, "list", json!({"path": "."})).await.unwrap()),
        json!(["src"])
    );
    assert_eq!(
        quiet(&call(&p, "list", json!({"path": "src"})).await.unwrap()),
        json!(["new"])
    );
    assert_eq!(
        quiet(&call(&p, "list", json!({"path": "src/new"})).await.unwrap()),
        json!(["x.rs"])
    );
    let cases = [
        (
            "read",
            json!({"path": "src/lib.rs"}),
            "read",
            "src/lib.rs",
            "file:src/lib.rs:read",
        ),
        (
            "write",
            json!({"path": "src/lib.rs", "content": "x"}),
            "write",
            "src/lib.rs",
            "file:src/lib.rs:write",
        ),
        (
            "write",
            json!({"path": "src/new/y.rs", "content": "y"}),
            "write",
            "src/new/y.rs",
            "file:src/new/y.rs:write",
        ),
        (
            "write",
            json!({"path": "src/other/z.rs", "content": "z"}),
            "write",
            "src/other/z.rs",
            "file:src/other/z.rs:write",
        ),
        (
            "mkdir",
            json!({"path": "src/other"}),
            "mkdir",
            "src/other",
            "file:src/other:write",
        ),
        (
            "mkdir",
            json!({"path": "elsewhere"}),
            "mkdir",
            "elsewhere",
            "file:elsewhere:write",
        ),
        (
            "unlink",
            json!({"path": "src/new"}),
            "unlink",
            "src/new",
            "file:src/new:write",
        ),
        (
            "rename",
            json!({"from": "src/new", "to": "src/old"}),
            "rename",
            "src/new",
            "file:src/new:write",
        ),
        (
            "set_times",
            json!({"path": "src"}),
            "set-times",
            "src",
            "file:src:write",
        ),
        (
            "write_via_dir",
            json!({"path": "src/evil.rs", "content": "x"}),
            "write",
            "src/evil.rs",
            "file:src/evil.rs:write",
        ),
    ];
    for (tool, input, op, resource, allow) in cases {
        let (msg, out) = failure(&p, tool, input.clone()).await;
        assert_eq!(msg, EPERM, "{tool} {input}");
        let (got_op, got_resource, got_allow) = refused(&fx, &out);
        assert_eq!(
            (got_op.as_str(), got_resource.as_str(), got_allow.as_deref()),
            (op, resource, Some(allow)),
            "{tool} {input}"
        );
    }
    assert_eq!(fx.read("src/lib.rs"), "lib");
    assert!(!fx.ws.join("src/other").exists() && !fx.ws.join("src/new/y.rs").exists());
    let out = call(&p, "read", json!({"path": "src/new/x.rs"}))
        .await
        .unwrap();
    assert_eq!(quiet(&out), json!("fn x() {}"));
}

/// Issue 17: a directory granted before it exists is made, and what is
/// put in it is under the grant; a read-only grant of a missing path
/// makes nothing.
#[tokio::test]
async fn a_directory_granted_before_it_exists_is_made_and_filled() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:build/out:write"]);
    quiet(&call(&p, "mkdir", json!({"path": "build"})).await.unwrap());
    quiet(
        &call(&p, "mkdir", json!({"path": "build/out"}))
            .await
            .unwrap(),
    );
    quiet(
        &call(
            &p,
            "write",
            json!({"path": "build/out/report.txt", "content": "ok"}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(fx.read("build/out/report.txt"), "ok");
    let (msg, out) = failure(
        &p,
        "write",
        json!({"path": "build/log.txt", "content": "x"}),
    )
    .await;
    assert_eq!(msg, EPERM);
    assert_eq!(refused(&fx, &out).1, "build/log.txt");
    let r = fx.prepare("hostile", &["file:later:read"]);
    let (msg, out) = failure(&r, "mkdir", json!({"path": "later"})).await;
    assert_eq!(msg, EPERM);
    assert_eq!(out.denials[0].reason, READ_ONLY);
    let (msg, out) = failure(&r, "stat", json!({"path": "later"})).await;
    assert_eq!(msg, ENOENT);
    assert!(out.denials.is_empty(), "{:?}", out.denials);
    assert!(!fx.ws.join("later").exists());
    assert_still_answers(&fx.prepare("hostile", &["file:a.txt:read"])).await;
}
