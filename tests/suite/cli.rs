//! The `warden` binary as a user runs it. Each test gets its own config and
//! data directories; compiled components are cached in one shared place.

use super::common::{Fixture, component};
use super::harness::{Ran as Run, Warden};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

#[test]
fn call_reads_a_file_of_the_repository_and_shows_its_grants() {
    let w = Warden::new();
    let root = repo_root();
    let r = w.run_in(
        &root,
        &["call", "fs.read", "--input", r#"{"path":"Cargo.toml"}"#],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("[workspace]"), "{}", r.stdout);
    let canonical = root.canonicalize().unwrap();
    assert!(
        r.stderr
            .contains(&format!("fs.read in {} under:", canonical.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("files  read {}", canonical.display())),
        "{}",
        r.stderr
    );

    let r = w.run_in(
        &root,
        &[
            "call",
            "fs.read",
            "--json",
            "--input",
            r#"{"path":"Cargo.toml"}"#,
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["grants"]["files"][0]["access"], "read");
    assert_eq!(
        v["grants"]["files"][0]["host"],
        canonical.display().to_string()
    );
}

#[test]
fn install_shows_what_is_requested_and_asks_first() {
    let w = Warden::new();
    let path = component("hostile");
    let path = path.to_str().unwrap();
    let r = w.on_terminal(&["plugin", "install", path], b"n\n");
    assert_eq!(r.code, 3, "{}", r.stderr);
    for want in [
        "plugin hostile 0.1.0 by an unnamed publisher",
        "requests:\n  files  write the workspace — attack the workspace",
        "env    WARDEN_TEST_VAR",
        "limits memory 32 MiB, time 2000 ms, output 64 KiB per call",
        "Install `hostile` with these grants? [y/N] ",
        "not installed: nothing was granted",
    ] {
        assert!(
            r.stderr.contains(want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
    assert!(!w.run(&["plugin", "list"]).stdout.contains("hostile"));

    let r = w.on_terminal(
        &["plugin", "install", path, "--grant", "file:.:read"],
        b"y\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("will grant:\n  files  read ."),
        "{}",
        r.stderr
    );
    let list = w.run(&["plugin", "list", "--json"]).json();
    let hostile = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile")
        .expect("listed");
    assert_eq!(hostile["grant"]["files"][0]["access"], "read");
    assert_eq!(hostile["grant"]["env"], serde_json::json!([]));

    let r = w.run(&["plugin", "install", path, "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("plugin `hostile` is already installed"),
        "{}",
        r.stderr
    );
}

#[test]
fn install_refuses_a_grant_the_plugin_never_asked_for() {
    let w = Warden::new();
    let path = component("hostile");
    let r = w.run(&[
        "plugin",
        "install",
        path.to_str().unwrap(),
        "--yes",
        "--grant",
        "env:HOME",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("invalid grant: plugin `hostile` does not request env `HOME`"),
        "{}",
        r.stderr
    );
}

#[test]
fn install_refuses_imports_beyond_the_manifest() {
    let w = Warden::new();
    let path = component("overreach");
    let r = w.run(&["plugin", "install", path.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        "error: refused plugin `overreach`: it imports `wasi:filesystem/preopens@0.2.6`, which needs the `files` capability, but its manifest requests none; the author must add a [[files]] entry to warden.toml and rebuild"
    );
    assert!(!w.data().join("plugins/overreach").exists());
}

#[test]
fn install_refuses_garbage_truncated_core_and_oversized_binaries() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(component("hostile")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage.wasm",
            b"MZ\x90\x00 this is not wasm".to_vec(),
            "not a valid WebAssembly binary",
        ),
        ("empty.wasm", Vec::new(), "not a valid WebAssembly binary"),
        (
            "truncated.wasm",
            good[..good.len() / 2].to_vec(),
            "not a valid WebAssembly binary",
        ),
        (
            "core.wasm",
            b"\0asm\x01\0\0\0".to_vec(),
            "this is a core WebAssembly module, not a component",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let r = w.run(&["plugin", "install", path.to_str().unwrap(), "--yes"]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
    }
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(65 * 1024 * 1024)
        .unwrap();
    let r = w.run(&["plugin", "install", big.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("68157440 bytes is over the limit of 67108864"),
        "{}",
        r.stderr
    );
    // The host still works.
    assert_eq!(w.run(&["plugin", "list"]).code, 0);
}

/// The imports a component really has, read with wasmparser, independently
/// of warden's own listing.
fn real_imports(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    // parse_all walks into nested modules and components too; only the
    // outermost component's imports are what the host must provide.
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    names.push(import.unwrap().name.name.to_string());
                }
            }
            _ => {}
        }
    }
    names.sort();
    names
}

#[test]
fn audit_tells_the_truth_about_each_bundled_plugin() {
    let w = Warden::new();
    for warden_core::bundled::Bundled { name, bytes, .. } in warden_core::bundled::BUNDLED {
        let v = w.run(&["plugin", "audit", name, "--json"]).json();
        let listed: Vec<String> = v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, real_imports(bytes), "{name}");
        assert_eq!(v["import_check"], "ok", "{name}");
        assert_eq!(v["digest"], warden_core::component::digest(bytes));
        assert_eq!(v["source"], "bundled");
        assert!(
            !v["tools"].as_array().unwrap().is_empty(),
            "{name} has tools"
        );
        let files = listed.iter().any(|i| i.starts_with("wasi:filesystem/"));
        let process = listed
            .iter()
            .any(|i| i.starts_with("warden:plugin/process"));
        let network = listed.iter().any(|i| i.starts_with("wasi:http/"));
        // fs, search and edit work on files themselves; exec and git only
        // through the programs they run; fetch only over wasi:http.
        let expected = match *name {
            "exec" | "git" => (false, true, false),
            "fetch" => (false, false, true),
            _ => (true, false, false),
        };
        assert_eq!((files, process, network), expected, "{name}: {listed:?}");
        assert!(
            !listed.iter().any(|i| i.starts_with("wasi:sockets")),
            "{name}"
        );
    }
    let text = w.run(&["plugin", "audit", "edit"]).stdout;
    assert!(text.contains("import check: ok"), "{text}");
    assert!(
        text.contains("Can create, change and delete files under: ."),
        "{text}"
    );
    assert!(text.contains("kept read-only:"), "{text}");
}

#[test]
fn audit_of_a_file_reports_a_failed_import_check() {
    let w = Warden::new();
    let path = component("overreach");
    let r = w.run(&["plugin", "audit", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("import check: FAILED: refused plugin `overreach`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("wasi:filesystem/preopens@0.2.6"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("not installed"), "{}", r.stdout);
}

#[test]
fn tools_lists_every_tool_with_its_schema_and_escapes_descriptions() {
    let w = Warden::new();
    w.install_hostile();
    let v = w.run(&["tools", "--json"]).json();
    let tools = v.as_array().unwrap();
    let read = tools
        .iter()
        .find(|t| t["name"] == "fs.read")
        .expect("fs.read");
    assert_eq!(read["plugin"], "fs");
    assert!(
        read["input_schema"]["properties"]["path"].is_object(),
        "{read}"
    );
    assert!(tools.iter().any(|t| t["name"] == "hostile.spin"));
    let text = w.run(&["tools"]).stdout;
    assert!(
        text.contains("hostile.echo\n    Return the input.\\u{202e}gnp.exe"),
        "{text}"
    );
    assert!(!text.contains('\u{202e}'));
}

#[test]
fn a_denied_call_says_what_was_refused_and_how_to_allow_it() {
    let w = Warden::new();
    w.install_hostile();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let args = [
        "call",
        "hostile.write",
        "--workspace",
        ws,
        "--input",
        r#"{"path":".git/config","content":"pwned"}"#,
    ];
    let r = w.run(&args);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hostile.write failed: Operation not permitted (os error 63)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("denied: files write {ws}/.git/config: {ws}/.git is protected: it stays read-only unless granted by name")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("to allow it: warden plugin grant hostile --add --grant file:.git:write"),
        "{}",
        r.stderr
    );
    assert_eq!(fx.read(".git/config"), "cfg");
    // Following the hint works, and only then.
    let r = w.run(&[
        "plugin",
        "grant",
        "hostile",
        "--add",
        "--grant",
        "file:.git:write",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fx.read(".git/config"), "pwned");
}

/// Issue 17: with nothing granted the plugin still runs, and each use is
/// refused with the grant that would allow it (exit 3).
#[test]
fn revoking_every_grant_denies_each_use_with_the_grant_that_would_allow_it() {
    let w = Warden::new();
    w.install_hostile();
    let r = w.run(&["plugin", "grant", "hostile", "--none"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fx = Fixture::new();
    let r = w.run(&[
        "call",
        "hostile.read",
        "--workspace",
        fx.ws.to_str().unwrap(),
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("  nothing\n"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "denied: files read {}/a.txt: no grant covers this path\n  to allow it: warden plugin grant hostile --add --grant file:a.txt:read (only if the plugin's manifest requests it)",
            fx.ws.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn limits_and_bad_input_have_their_own_exit_codes() {
    let w = Warden::new();
    w.install_hostile();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let r = w.run(&["call", "hostile.spin", "--workspace", ws]);
    assert_eq!(r.code, 4);
    assert!(
        r.stderr
            .contains("hostile.spin was stopped after its time limit of 2000 ms"),
        "{}",
        r.stderr
    );
    let huge = vec![b' '; 2 * 1024 * 1024];
    let r = w.run_in(
        w.home.path(),
        &["call", "hostile.echo", "--workspace", ws, "--input", "-"],
        Some(&huge),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("the input is over the limit of 1048576 bytes"),
        "{}",
        r.stderr
    );
    let r = w.run(&[
        "call",
        "hostile.echo",
        "--workspace",
        ws,
        "--input",
        "{oops",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not valid JSON"), "{}", r.stderr);
    let r = w.run(&["call", "nosuch.tool"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no plugin named `nosuch`"),
        "{}",
        r.stderr
    );
    let r = w.run(&["call", "fs.nosuch"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("plugin `fs` has no tool `nosuch`"),
        "{}",
        r.stderr
    );
    let r = w.run(&[
        "call",
        "hostile.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    assert_eq!((r.code, r.stdout.trim()), (0, "hi"), "{}", r.stderr);
}

#[test]
fn a_component_changed_after_install_is_refused() {
    let w = Warden::new();
    w.install_hostile();
    let installed = w.data().join("plugins/hostile/component.wasm");
    let mut bytes = std::fs::read(component("overreach")).unwrap();
    bytes.extend_from_slice(b"");
    std::fs::write(&installed, bytes).unwrap();
    let fx = Fixture::new();
    let r = w.run(&[
        "call",
        "hostile.read",
        "--workspace",
        fx.ws.to_str().unwrap(),
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("changed since it was installed"),
        "{}",
        r.stderr
    );
}

#[test]
fn remove_forgets_a_plugin_but_not_a_bundled_one() {
    let w = Warden::new();
    w.install_hostile();
    let r = w.run(&["plugin", "remove", "hostile"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!w.run(&["plugin", "list"]).stdout.contains("hostile"));
    assert!(
        !w.home
            .path()
            .join("config/warden/grants/hostile.toml")
            .exists()
    );
    let r = w.run(&["plugin", "remove", "fs"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`fs` is bundled with warden and cannot be removed"),
        "{}",
        r.stderr
    );
}

/// The user's real home, so a granted toolchain under it (rustup, cargo)
/// can be found; warden's own state stays in the test's directories.
fn real_home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/root".into())
}

impl Warden {
    fn run_with_home(&self, cwd: &Path, args: &[&str]) -> Run {
        self.spawn(cwd, args, None, Path::new(&real_home()))
    }
}

#[test]
fn exec_runs_a_real_projects_tests_once_cargo_is_granted() {
    let w = Warden::new();
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub fn add(a: u32, b: u32) -> u32 { a + b }\n#[test]\nfn adds() { assert_eq!(add(2, 2), 4); }\n").unwrap();
    let input = r#"{"cmd":["cargo","test","--offline"]}"#;

    // Nothing runs before the user grants a program; the refusal names the
    // one program asked for, not every program exec may ask for (issue 17).
    let r = w.run_with_home(root, &["call", "exec.run", "--input", input]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "denied: process run cargo test --offline: the program `cargo` is not granted to plugin `exec`\n  to allow it: warden plugin grant exec --add --grant program:cargo"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("npm"), "{}", r.stderr);
    assert!(!root.join("target").exists(), "nothing ran");

    let r = w.run_with_home(
        root,
        &[
            "plugin",
            "grant",
            "exec",
            "--add",
            "--grant",
            "program:cargo:test|check **",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("run    cargo (") && r.stderr.contains("with arguments `test|check **`"),
        "{}",
        r.stderr
    );

    let r = w.run_with_home(root, &["call", "exec.run", "--json", "--input", input]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["result"]["ok"], true, "{v}");
    assert!(
        v["result"]["stdout"]
            .as_str()
            .unwrap()
            .contains("test adds ... ok"),
        "{v}"
    );
    assert!(
        root.join("target").exists(),
        "the build wrote inside the workspace"
    );

    // The user's narrower pattern holds.
    let r = w.run_with_home(
        root,
        &["call", "exec.run", "--input", r#"{"cmd":["cargo","run"]}"#],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not fit the grant `test|check **`"),
        "{}",
        r.stderr
    );
}

#[test]
fn git_commits_only_with_dot_git_granted_by_name() {
    let w = Warden::new();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    std::fs::write(root.join("notes.txt"), "hello\n").unwrap();

    // The bundled default grants what git's manifest requests (files) but no
    // program; then `.git` stays protected until named.
    let r = w.run_with_home(
        root,
        &[
            "plugin",
            "grant",
            "git",
            "--grant",
            "file:.:read",
            "--grant",
            "program:git",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.run_with_home(
        root,
        &["call", "git.add", "--input", r#"{"paths":["notes.txt"]}"#],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Read-only file system") || r.stderr.contains("index.lock"),
        "{}",
        r.stderr
    );

    let r = w.run_with_home(
        root,
        &[
            "plugin",
            "grant",
            "git",
            "--add",
            "--grant",
            "file:.git:write",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let status = w
        .run_with_home(root, &["call", "git.status", "--json"])
        .json();
    assert_eq!(
        status["result"]["entries"][0]["path"], "notes.txt",
        "{status}"
    );
    let r = w.run_with_home(
        root,
        &["call", "git.add", "--input", r#"{"paths":["notes.txt"]}"#],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.run_with_home(
        root,
        &[
            "call",
            "git.commit",
            "--json",
            "--input",
            r#"{"message":"add notes"}"#,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = String::from_utf8_lossy(&git(&["log", "--format=%s %an"]).stdout).into_owned();
    assert_eq!(log.trim(), "add notes warden");
    // The working tree itself stays read-only for the git plugin.
    assert_eq!(
        std::fs::read_to_string(root.join("notes.txt")).unwrap(),
        "hello\n"
    );
}

#[test]
fn audit_shows_programs_patterns_and_refused_flags() {
    let w = Warden::new();
    let text = w.run(&["plugin", "audit", "git"]).stdout;
    assert!(text.contains("warden:plugin/process@0.1.0"), "{text}");
    assert!(
        text.contains("run    git status|diff|log|show|add|commit|rev-parse **"),
        "{text}"
    );
    assert!(text.contains("refused flags: -c --config-env"), "{text}");
    assert!(
        text.contains("Can run these programs once you grant them: git."),
        "{text}"
    );
}

#[test]
fn fetch_get_works_when_granted_and_is_refused_with_the_grant_to_give_when_not() {
    let server = super::netserver::Server::html(
        "<html><h1>Docs</h1><p>Read <a href=\"/more\">more</a>.</p>",
    );
    let w = Warden::new();
    let url = format!("{}/page", server.origin());
    let input = json_input(&url);

    // No network grant: linked with no origins, so the request is refused
    // before connecting, naming the grant (issue 17).
    let r = w.run(&["call", "fetch.get", "--input", &input]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "denied: network connect {}: no network grant covers this origin\n  to allow it: warden plugin grant fetch --add --grant net:{}",
            server.origin(),
            server.origin()
        )),
        "{}",
        r.stderr
    );
    assert!(server.heads().is_empty());

    // Another port granted: refused, naming the origin and the grant.
    let other = super::netserver::Server::html("other");
    let g = w.run(&[
        "plugin",
        "grant",
        "fetch",
        "--add",
        "--grant",
        &format!("net:{}", other.origin()),
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let r = w.run(&["call", "fetch.get", "--input", &input]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "denied: network connect {}: port {} is not granted ({} is)",
            server.origin(),
            server.port(),
            other.origin()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "to allow it: warden plugin grant fetch --add --grant net:{}",
            server.origin()
        )),
        "{}",
        r.stderr
    );
    assert!(server.heads().is_empty());

    // Granted: the page comes back as Markdown.
    let g = w.run(&[
        "plugin",
        "grant",
        "fetch",
        "--add",
        "--grant",
        &format!("net:{}", server.origin()),
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    assert!(
        g.stderr.contains(&format!("net    {}", server.origin())),
        "{}",
        g.stderr
    );
    let r = w.run(&["call", "fetch.get", "--input", &input]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["final_url"], url);
    assert_eq!(
        v["text"],
        format!("# Docs\n\nRead [more]({}/more).", server.origin())
    );

    // A grant the manifest does not cover is refused.
    let g = w.run(&[
        "plugin",
        "grant",
        "fs",
        "--add",
        "--grant",
        "net:https://example.com",
    ]);
    assert_eq!(g.code, 2, "{}", g.stderr);
    assert!(
        g.stderr.contains(
            "plugin `fs` does not request network access, so `net:https://example.com:443` would grant nothing"
        ),
        "{}",
        g.stderr
    );
}

fn json_input(url: &str) -> String {
    serde_json::json!({ "url": url }).to_string()
}

/// Issue 17: Python's and JavaScript's runtimes import `wasi:sockets`
/// whether or not a plugin opens a socket, so it is linked deny-all (never
/// granted): the component installs, `audit` says how it is linked, and a
/// raw connection fails in the guest with nothing reaching the server.
#[test]
fn raw_sockets_are_linked_deny_all_and_audit_says_so() {
    let w = Warden::new();
    let server = super::netserver::Server::html("never");
    let path = component("socketeer");
    let r = w.run(&["plugin", "install", path.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = w.run(&["plugin", "audit", "socketeer"]).stdout;
    assert!(
        text.contains("wasi:sockets/tcp@0.2.") && text.contains("deny-all (never granted)"),
        "{text}"
    );
    assert!(
        text.contains("sockets (wasi:sockets): linked deny-all: every socket, connection and name lookup fails with access-denied; raw sockets are never granted"),
        "{text}"
    );
    let input = serde_json::json!({ "addr": server.authority() }).to_string();
    let r = w.run(&["call", "socketeer.dial", "--input", &input]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("socketeer.dial failed: connect: Permission denied"),
        "{}",
        r.stderr
    );
    assert!(server.heads().is_empty(), "nothing reached the server");
    // The host still answers.
    let r = w.run(&["call", "socketeer.dial", "--input", &input]);
    assert_eq!(r.code, 1, "{}", r.stderr);

    let text = w.run(&["plugin", "audit", "fetch"]).stdout;
    assert!(text.contains("import check: ok"), "{text}");
    assert!(text.contains("net    https://*:*"), "{text}");
    assert!(
        text.contains(
            "Can send HTTP(S) requests to the origins you grant within: https://*:*, http://*:*."
        ),
        "{text}"
    );
}

#[test]
fn the_demo_fixes_its_project_through_real_tools() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let r = w.run(&["demo", "--dir", root.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("built-in replay"), "{}", r.stderr);
    assert!(r.stderr.contains("→ edit__replace"), "{}", r.stderr);
    let project = root.join("project");
    let calc = std::fs::read_to_string(project.join("calc.sh")).unwrap();
    assert!(calc.contains("echo $(($1 + $2))"), "{calc}");
    // The project's own test passes, run here, outside warden.
    let test = Command::new("sh")
        .arg("test.sh")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(test.status.success());
    assert_eq!(
        String::from_utf8_lossy(&test.stdout),
        "1 passed, 0 failed\n"
    );
    // The user's own grants were not touched.
    assert!(
        !w.home
            .path()
            .join("config/warden/grants/exec.toml")
            .exists()
    );
    // Every call of the agent is in the demo's audit log, approved by the
    // `auto` mode, and the edit can be undone.
    let in_demo = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .current_dir(&project)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, log, _) = in_demo(&["log", "--json"]);
    assert_eq!(code, Some(0));
    let parsed: Value = serde_json::from_str(&log).unwrap_or_else(|e| panic!("{e}: {log}"));
    assert_eq!(parsed["intact"], true);
    let records: Vec<Value> = parsed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"].clone())
        .collect();
    let calls: Vec<&Value> = records.iter().filter(|r| r["kind"] == "call").collect();
    let tools: Vec<String> = calls
        .iter()
        .map(|r| {
            format!(
                "{}.{}",
                r["plugin"].as_str().unwrap_or("?"),
                r["tool"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        tools,
        ["exec.run", "fs.read", "edit.replace", "exec.run"],
        "{log}"
    );
    assert!(
        calls
            .iter()
            .all(|r| r["approved_by"] == "auto" || r["approved_by"] == "read"),
        "{log}"
    );
    let outcomes: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "result")
        .map(|r| r["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "ok"], "{log}");
    assert_eq!(in_demo(&["log", "verify"]).0, Some(0));
    let (code, _, err) = in_demo(&["undo"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("restored 1 path(s)"), "{err}");
    let calc = std::fs::read_to_string(project.join("calc.sh")).unwrap();
    assert!(calc.contains("echo $(($1 - $2))"), "{calc}");
    // A directory that is not empty is refused.
    let r = w.run(&["demo", "--dir", root.to_str().unwrap()]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
}

/// `warden demo ARGS` in a user and mount namespace of its own
/// (`unshare -Urm`), after `setup` (shell, run as that namespace's root)
/// changed what the demo can see; nothing outside the namespace changes.
fn demo_in_namespace(w: &Warden, setup: &str, root: &Path) -> Run {
    let base = w.command(&[]);
    let out = Command::new("unshare")
        .args(["-Urm", "sh", "-ec", &format!("{setup}\nexec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_warden"))
        .args(["demo", "--dir"])
        .arg(root)
        .current_dir(w.home.path())
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) runs");
    out.into()
}

/// Issue 17: the demo on a machine that cannot confine children. Without
/// bubblewrap it refuses before doing anything, exit 2, saying what to
/// install; with a bubblewrap that fails at run time, the agent's test run
/// is refused, the replay stops, nothing is patched, and the demo exits 1
/// naming what happened instead of reporting success.
#[test]
fn issue17_the_demo_fails_loudly_when_children_cannot_be_confined() {
    let w = Warden::new();
    let dir = tempfile::tempdir().unwrap();
    // No bubblewrap at all: an empty /usr/bin (and /bin, its symlink on
    // merged-/usr systems; /usr/local/bin has none).
    let root = dir.path().join("absent");
    let r = demo_in_namespace(&w, "mount -t tmpfs none /usr/bin", &root);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("warden demo: refused: bubblewrap (bwrap) is not installed")
            && r.stderr.contains("apt install bubblewrap"),
        "{}",
        r.stderr
    );
    assert!(
        !root.join("project").exists(),
        "nothing is written on refusal"
    );

    // A bubblewrap that is there but cannot confine (as in a container that
    // forbids namespaces).
    let fake = dir.path().join("bwrap");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = dir.path().join("broken");
    let r = demo_in_namespace(
        &w,
        &format!("mount --bind '{}' /usr/bin/bwrap", fake.display()),
        &root,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("warden demo: failed: the recorded fix did not play to its end")
            && r.stderr
                .contains("The run did not fail the way the recording expects"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("No permissions to create new namespace"),
        "{}",
        r.stderr
    );
    let calc = std::fs::read_to_string(root.join("project/calc.sh")).unwrap();
    assert!(calc.contains("echo $(($1 - $2))"), "not patched: {calc}");
    // The refused run is in the demo's audit log.
    let log = std::fs::read_to_string(root.join("data/warden/audit.log")).unwrap();
    assert!(log.contains("\"tool\":\"run\""), "{log}");
}

/// Issue 11: the env capability had no module and nothing said what a
/// plugin was denied of it. A guest reads its environment whole, so there
/// is no access to refuse; `plugin audit` names each requested variable
/// that is not granted, with the grant that would add it.
#[test]
fn audit_names_requested_variables_that_are_not_granted() {
    let w = Warden::new();
    let path = component("hostile");
    let r = w.run(&[
        "plugin",
        "install",
        path.to_str().unwrap(),
        "--grant",
        "file:.:write",
        "--grant",
        "env:WARDEN_TEST_VAR",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = w.run(&["plugin", "audit", "hostile"]).stdout;
    assert!(text.contains("  env    WARDEN_TEST_VAR\n"), "{text}");
    assert!(
        text.contains("  not granted: env WARDEN_OTHER_VAR (absent from its environment; to add it: --grant env:WARDEN_OTHER_VAR)"),
        "{text}"
    );
    assert!(!text.contains("not granted: env WARDEN_TEST_VAR"), "{text}");
}

/// Issue 16, item 16, for every other file warden reads at start: a grant
/// file, `config.toml`, the audit key, its anchor and the log itself, each
/// replaced by a FIFO. warden must fail at once (never wait for a writer)
/// with an error naming the file, leave the FIFO as it was, and work again
/// once the file is back.
#[test]
fn issue16_config_files_that_are_fifos_fail_closed_at_once() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let read = [
        "call",
        "fs.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ];
    // The audit key and anchor exist once a call was recorded.
    let r = w.run(&read);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let config = w.home.path().join("config/warden");
    let data = w.data();
    let grant = config.join("grants/fs.toml");
    std::fs::create_dir_all(grant.parent().unwrap()).unwrap();
    let cases: [(&Path, &[&str]); 5] = [
        (&grant, &read),
        (&config.join("config.toml"), &["exec", "say hello"]),
        (&data.join("audit.key"), &read),
        (&data.join("audit.head"), &read),
        (&data.join("audit.log"), &read),
    ];
    for (path, args) in cases {
        let saved = std::fs::read(path).ok();
        let _ = std::fs::remove_file(path);
        let made = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let h = w.home.path().to_path_buf();
        std::thread::spawn(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_warden"))
                .args(&args)
                .current_dir(&h)
                .env("HOME", &h)
                .env("XDG_CONFIG_HOME", h.join("config"))
                .env("XDG_DATA_HOME", h.join("data"))
                .env(
                    "XDG_CACHE_HOME",
                    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
                )
                .env_remove("WARDEN_LOG")
                .env_remove("WARDEN_PROFILE")
                .env_remove("WARDEN_MODEL")
                .env_remove("OPENAI_API_KEY")
                .env_remove("ANTHROPIC_API_KEY")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let _ = tx.send(out);
        });
        let out = rx
            .recv_timeout(std::time::Duration::from_secs(15))
            .unwrap_or_else(|_| {
                // Open the FIFO for writing so the hung warden can finish.
                let _ = std::fs::OpenOptions::new().write(true).open(path);
                panic!("warden hung on a FIFO at {}", path.display())
            });
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", path.display());
        assert!(
            stderr.contains(&path.display().to_string()),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains("FIFO") || stderr.contains("not a regular file"),
            "{}: {stderr}",
            path.display()
        );
        use std::os::unix::fs::FileTypeExt as _;
        assert!(
            std::fs::symlink_metadata(path)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        std::fs::remove_file(path).unwrap();
        if let Some(bytes) = saved {
            std::fs::write(path, bytes).unwrap();
        }
        // Served again.
        let r = w.run(&read);
        assert_eq!(r.code, 0, "after {}: {}", path.display(), r.stderr);
        assert!(r.stdout.contains("hi"), "{}", r.stdout);
    }
    assert_eq!(fx.read("a.txt"), "hi");
}

/// Issue 16, item 17: `warden plugin audit` describes what a plugin AND the
/// programs it runs can reach. exec imports no wasi:filesystem, but its
/// programs run with its file grant of the whole workspace (writable), and
/// some get extra paths and environment variables; the summary must say so
/// instead of "Cannot touch any file". A plugin that neither opens files
/// nor runs programs still says it cannot touch any file. Auditing changes
/// nothing, and the plugin is still callable afterwards.
#[test]
fn issue16_plugin_audit_describes_what_its_programs_can_reach() {
    let w = Warden::new();
    let r = w.run(&["plugin", "audit", "exec"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let risks: Vec<&str> = r
        .stdout
        .split_once("risk summary:\n")
        .unwrap()
        .1
        .lines()
        .collect();
    assert!(
        !risks.iter().any(|l| l.contains("Cannot touch any file")),
        "{risks:#?}"
    );
    for want in [
        "  - Does not open files itself (it does not import wasi:filesystem), but the programs it runs can:",
        "  - Its programs can create, change and delete files under: . (.git and warden's own files stay read-only unless granted by name).",
        "  - Can run these programs once you grant them: cargo, npm, pytest, make, go. Each runs with the plugin's file grants (what it can read and write, above), without network, with matching arguments only.",
        "  - Program cargo also reads ~/.rustup, ~/.cargo/bin, ~/.cargo/registry, ~/.cargo/git, ~/.cargo/config.toml; may be given the environment variables RUST_BACKTRACE, RUST_LOG, CARGO_TERM_COLOR.",
        "  - Program npm also reads ~/.nvm; also writes ~/.npm; may be given the environment variables CI.",
        "  - Cannot reach the network (it does not import wasi:http).",
    ] {
        assert!(risks.contains(&want), "missing {want:?} in {risks:#?}");
    }
    let v = w.run(&["plugin", "audit", "exec", "--json"]).json();
    let json_risks: Vec<&str> = v["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        json_risks
            .iter()
            .any(|r| r.starts_with("Its programs can create, change and delete files under: .")),
        "{json_risks:?}"
    );
    // git's programs read the tree and write .git.
    let text = w.run(&["plugin", "audit", "git"]).stdout;
    assert!(
        text.contains("  - Its programs can create, change and delete files under: .git ("),
        "{text}"
    );
    assert!(
        text.contains(
            "  - Its programs can read, but not change, files under: . (read-only grants).\n"
        ),
        "{text}"
    );
    // fetch neither opens files nor runs programs.
    let text = w.run(&["plugin", "audit", "fetch"]).stdout;
    assert!(
        text.contains("Cannot touch any file (it does not import wasi:filesystem, and no program it runs is given a path)."),
        "{text}"
    );
    // Nothing was installed or granted by auditing; fs still answers.
    assert!(!w.home.path().join("config/warden/grants").exists());
    let root = repo_root();
    let r = w.run_in(
        &root,
        &["call", "fs.read", "--input", r#"{"path":"Cargo.toml"}"#],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn issue17_completions_for_every_shell_and_man_pages() {
    let w = Warden::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = w.ok(&["completions", shell]);
        assert!(r.stdout.contains("warden"), "{shell}: {}", r.stdout);
        // Subcommands two levels down are completed too.
        assert!(r.stdout.contains("install"), "{shell}: {}", r.stdout);
    }
    let r = w.run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    let r = w.ok(&["man"]);
    assert!(r.stdout.contains(".TH warden 1"), "{}", r.stdout);
    assert!(r.stdout.contains("completions"), "{}", r.stdout);

    let dir = w.home.path().join("man/man1");
    let r = w.ok(&["man", "--dir", dir.to_str().unwrap()]);
    for page in ["warden.1", "warden-call.1", "warden-plugin-install.1"] {
        let text = std::fs::read_to_string(dir.join(page)).expect(page);
        assert!(text.starts_with(".ie"), "{page}: {text}");
        assert!(r.stdout.contains(page), "{}", r.stdout);
    }
    let call = std::fs::read_to_string(dir.join("warden-call.1")).unwrap();
    assert!(call.contains("workspace"), "{call}");
}

#[test]
fn issue17_failures_under_json_are_one_json_object_with_the_same_exit_code() {
    let w = Warden::new();
    let cases: &[(&[&str], &str, i32)] = &[
        (&["call", "fs.raed"], "tool_not_found", 2),
        (&["call", "nosuch.read"], "plugin_not_found", 2),
        (
            &["call", "fs.read", "--workspace", "/no/such/dir"],
            "usage",
            2,
        ),
        (&["plugin", "remove", "fs"], "bundled", 2),
        (&["call"], "usage", 2),
        (
            &["plugin", "grant", "fs", "--grant", "file:.:rread"],
            "invalid_grant",
            2,
        ),
    ];
    for (args, kind, code) in cases {
        let text = w.run(args);
        assert_eq!(text.code, *code, "{args:?}: {}", text.stderr);
        assert!(
            text.stderr.starts_with("error: "),
            "{args:?}: {}",
            text.stderr
        );
        assert!(text.stdout.is_empty(), "{args:?}: {}", text.stdout);

        let mut with_json = args.to_vec();
        with_json.push("--json");
        let r = w.run(&with_json);
        assert_eq!(r.code, *code, "{args:?} --json: {}", r.stderr);
        assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
        let v = r.json();
        assert_eq!(v["error"]["kind"], *kind, "{v}");
        assert_eq!(v["exit"], *code, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{v}");
        assert!(!r.stderr.contains("error: "), "{}", r.stderr);
    }
    let v = w.run(&["call", "fs.raed", "--json"]).json();
    assert_eq!(
        v["error"]["hint"],
        "did you mean `read`? (see `warden tools`)"
    );
}

/// `warden log | head -1`: the reader stops reading, and warden exits
/// quietly instead of panicking (exit 101) on the broken pipe.
#[test]
fn issue17_a_closed_stdout_ends_quietly() {
    let w = Warden::new();
    // Something to show in the log.
    w.run(&["call", "fs.raed"]);
    w.ok(&["call", "fs.list", "--input", r#"{"path":"."}"#]);
    for args in [
        &["log"][..],
        &["log", "--json"],
        &["plugin", "list"],
        &["plugin", "list", "--json"],
        &["plugin", "audit", "fs"],
        &["tools"],
        &["completions", "bash"],
        &["man"],
    ] {
        let mut child = w
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before warden writes a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn issue17_missing_workspace_input_file_and_component_are_usage_errors() {
    let w = Warden::new();
    let missing = w.home.path().join("missing");
    let m = missing.to_str().unwrap();
    let wasm = format!("{m}.wasm");
    let at = format!("@{m}.json");
    for (args, says) in [
        (
            vec!["call", "fs.read", "--workspace", m],
            "name an existing directory with --workspace",
        ),
        (vec!["undo", "--workspace", m], "is not usable"),
        (
            vec!["call", "fs.read", "--input", &at],
            "cannot read input file",
        ),
        (vec!["plugin", "install", &wasm, "--yes"], "no component at"),
        (vec!["plugin", "diff", "fs", &wasm], "no component at"),
        (vec!["plugin", "audit", &wasm], "no component at"),
        (
            vec!["plugin", "publish", &wasm, "oci://127.0.0.1:1/x:1"],
            "no component at",
        ),
    ] {
        let r = w.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn issue17_unknown_plugin_and_tool_names_get_a_did_you_mean() {
    let w = Warden::new();
    let r = w.run(&["call", "fs.raed"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("plugin `fs` has no tool `raed`; did you mean `read`? (see `warden tools`)"),
        "{}",
        r.stderr
    );
    let r = w.run(&["call", "fss.read"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no plugin named `fss`; did you mean `fs`? (see `warden plugin list`)"),
        "{}",
        r.stderr
    );
    // Nothing close: no guess.
    let r = w.run(&["call", "fs.zzzzzz"]);
    assert!(!r.stderr.contains("did you mean"), "{}", r.stderr);
    let r = w.run(&["plugin", "audit", "exce"]);
    assert!(r.stderr.contains("did you mean `exec`?"), "{}", r.stderr);
}

#[test]
fn issue17_call_accepts_the_mcp_style_name() {
    let w = Warden::new();
    std::fs::write(w.home.path().join("a.txt"), "hello\n").unwrap();
    let dotted = w.ok(&["call", "fs.read", "--input", r#"{"path":"a.txt"}"#]);
    let mcp = w.ok(&["call", "fs__read", "--input", r#"{"path":"a.txt"}"#]);
    assert_eq!(dotted.stdout, mcp.stdout);
    assert!(mcp.stdout.contains("hello"), "{}", mcp.stdout);
    let r = w.run(&["call", "fs__raed"]);
    assert!(r.stderr.contains("did you mean `read`?"), "{}", r.stderr);
    let r = w.run(&["call", "fsread"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("PLUGIN.TOOL or PLUGIN__TOOL"),
        "{}",
        r.stderr
    );
}

#[test]
fn issue17_install_without_a_terminal_says_to_use_yes_or_grant_and_does_not_wait() {
    let w = Warden::new();
    let path = component("hostile");
    let path = path.to_str().unwrap();
    // stdin is a pipe that stays open: a prompt would wait forever.
    let mut child = w
        .command(&["plugin", "install", path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("standard input is not a terminal"),
        "{stderr}"
    );
    assert!(stderr.contains("add --yes"), "{stderr}");
    assert!(stderr.contains("--grant SPEC"), "{stderr}");
    assert!(!w.run(&["plugin", "list"]).stdout.contains("hostile"));
    // The host still answers, and --yes installs.
    w.ok(&["plugin", "install", path, "--yes"]);
    assert!(w.ok(&["plugin", "list"]).stdout.contains("hostile"));
}
