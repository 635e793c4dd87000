//! Issue 6, organisation policy: the real `warden` binary under a Cedar
//! policy named by `WARDEN_POLICY`, with roles beside it. Every refusal is
//! asserted word for word, and a permitted command still works afterwards.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EXAMPLE: &str = include_str!("../../host/core/policies/example.cedar");
const EXAMPLE_REQUESTS: &str = include_str!("../../host/core/policies/example-requests.toml");

struct Org {
    dir: tempfile::TempDir,
    ws: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Org {
    /// A home for warden's state, a workspace with one file, and the
    /// example policy with carol as a contractor.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("a.txt"), "hello\n").unwrap();
        let org = Org {
            ws: ws.canonicalize().unwrap(),
            dir,
        };
        org.write_policy(EXAMPLE);
        std::fs::write(
            org.dir.path().join("org/roles.toml"),
            "[users]\ncarol = [\"contractor\"]\n",
        )
        .unwrap();
        org
    }

    fn policy(&self) -> PathBuf {
        self.dir.path().join("org/policy.cedar")
    }

    fn write_policy(&self, text: &str) {
        std::fs::create_dir_all(self.dir.path().join("org")).unwrap();
        std::fs::write(self.policy(), text).unwrap();
    }

    /// Run warden as `user`, under the policy if `policy` is set.
    fn run_as(&self, user: &str, policy: bool, args: &[&str]) -> Run {
        let h = self.dir.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(args)
            .current_dir(&self.ws)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env("USER", user)
            .env_remove("LOGNAME")
            .env_remove("WARDEN_ROLES")
            .env_remove("WARDEN_LOG")
            .stdin(Stdio::null());
        if policy {
            cmd.env("WARDEN_POLICY", self.policy());
        } else {
            cmd.env_remove("WARDEN_POLICY");
        }
        let out = cmd.output().expect("run warden");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, user: &str, args: &[&str]) -> Run {
        self.run_as(user, true, args)
    }

    /// `fs.read` of a.txt: the benign call that must keep working.
    fn read_works(&self, user: &str) {
        let r = self.run(user, &["call", "fs.read", "--input", r#"{"path":"a.txt"}"#]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("hello"), "{}", r.stdout);
    }

    fn denied(&self, action: &str, resource: &str, subject: &str, rule: &str) -> String {
        format!(
            "error: denied by organisation policy: {subject} may not {action} `{resource}` (rule `{rule}` in {}); the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file",
            self.policy().display()
        )
    }

    fn granted_network(&self, plugin: &str) -> Value {
        let r = self.run_as("alice", false, &["plugin", "audit", plugin, "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["effective"]["network"].clone()
    }
}

#[test]
fn issue6_a_contractor_may_not_grant_network_and_others_may() {
    let org = Org::new();
    let grant = [
        "plugin",
        "grant",
        "fetch",
        "--add",
        "--grant",
        "net:https://docs.rs",
    ];
    let r = org.run("carol", &grant);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        org.denied(
            "net_connect",
            "https://docs.rs:443",
            "plugin `fetch`",
            "contractors-no-network"
        )
    );
    assert_eq!(
        org.granted_network("fetch"),
        Value::Null,
        "nothing was stored"
    );
    org.read_works("carol");

    let r = org.run("alice", &grant);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        org.granted_network("fetch"),
        serde_json::json!(["https://docs.rs:443"])
    );

    // The grant alice made does not carry carol past the policy at call time.
    let r = org.run(
        "carol",
        &[
            "call",
            "fetch.get",
            "--input",
            r#"{"url":"https://docs.rs/"}"#,
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        org.denied(
            "net_connect",
            "https://docs.rs:443",
            "plugin `fetch`",
            "contractors-no-network"
        )
    );
    org.read_works("carol");

    // Both refusals are in the audit log, with the rule that decided.
    let r = org.run("alice", &["log", "--decision", "deny", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log: Value = serde_json::from_str(&r.stdout).unwrap();
    let refusals: Vec<(String, String)> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let rec = &e["record"];
            (
                rec["kind"].as_str().unwrap_or_default().to_string(),
                rec["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let kinds: Vec<&str> = refusals.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["grant", "call"], "{}", r.stdout);
    assert!(
        refusals
            .iter()
            .all(|(_, why)| why.contains("rule `contractors-no-network`")),
        "{refusals:?}"
    );
}

#[test]
fn issue6_only_plugins_from_publisher_acme_may_exec() {
    let org = Org::new();
    let grant = [
        "plugin",
        "grant",
        "exec",
        "--add",
        "--grant",
        "program:cargo",
    ];
    let r = org.run("alice", &grant);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        org.denied("exec", "cargo", "plugin `exec`", "exec-only-acme")
    );
    org.read_works("alice");

    // The same rule naming warden's publisher lets the grant through.
    org.write_policy(&EXAMPLE.replace(
        "unless { principal in Warden::Publisher::\"acme\" };",
        "unless { principal in Warden::Publisher::\"warden\" };",
    ));
    let r = org.run("alice", &grant);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn issue6_a_policy_tightened_after_a_grant_refuses_the_next_call() {
    let org = Org::new();
    // Granted while no policy was in force.
    let r = org.run_as(
        "alice",
        false,
        &[
            "plugin",
            "grant",
            "exec",
            "--add",
            "--grant",
            "program:cargo",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Under the policy the call is refused before the plugin is prepared.
    let call = [
        "call",
        "exec.run",
        "--input",
        r#"{"cmd":["cargo","check"]}"#,
    ];
    let r = org.run("alice", &call);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        org.denied("exec", "cargo", "plugin `exec`", "exec-only-acme")
    );
    org.read_works("alice");
    // Taking the program back out of the grant is allowed (narrowing).
    let r = org.run(
        "alice",
        &["plugin", "grant", "exec", "--grant", "file:.:write"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn issue6_no_plugin_may_write_outside_the_workspace() {
    let org = Org::new();
    let ws = org.ws.to_str().unwrap();
    let explain = |resource: &str| {
        org.run(
            "alice",
            &[
                "policy",
                "explain",
                "--action",
                "fs_write",
                "--plugin",
                "edit",
                "--resource",
                resource,
                "--workspace",
                ws,
            ],
        )
    };
    let r = explain("/etc/hosts");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "deny: user `alice`, plugin `edit` (publisher warden): fs_write `/etc/hosts`\n  decided by `no-writes-outside-workspace` in {}\n",
            org.policy().display()
        )
    );
    // A sibling whose name starts like the workspace is outside it.
    let r = explain(&format!("{ws}-evil/x"));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let r = explain(&format!("{ws}/src/lib.rs"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "allow: user `alice`, plugin `edit` (publisher warden): fs_write `{ws}/src/lib.rs`\n  decided by warden-base-permit: no rule forbids it\n"
        )
    );
    // The bundled edit plugin writes only inside the workspace: it still works.
    let r = org.run(
        "alice",
        &[
            "call",
            "edit.write",
            "--input",
            r#"{"path":"b.txt","content":"written"}"#,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(org.ws.join("b.txt")).unwrap(),
        "written"
    );
}

#[test]
fn issue6_policy_check_runs_examples_and_reports_each_mismatch() {
    let org = Org::new();
    let examples = org.dir.path().join("examples.toml");
    std::fs::write(&examples, EXAMPLE_REQUESTS).unwrap();
    let policy = org.policy();
    let p = policy.to_str().unwrap();
    let e = examples.to_str().unwrap();
    let r = org.run_as("alice", false, &["policy", "check", p, "--examples", e]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "policy {p}: valid (5 rules, plus warden's base permit)\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("examples: 9 passed, 0 failed\n"),
        "{}",
        r.stdout
    );

    // One wrong expectation: reported, and the exit code says so.
    let wrong = EXAMPLE_REQUESTS.replacen(
        "name = \"an employee can\"\nexpect = \"allow\"",
        "name = \"an employee can\"\nexpect = \"deny\"",
        1,
    );
    assert_ne!(wrong, EXAMPLE_REQUESTS);
    std::fs::write(&examples, wrong).unwrap();
    let r = org.run_as("alice", false, &["policy", "check", p, "--examples", e]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "  FAIL an employee can: expected deny, got allow (warden-base-permit: no rule forbids it)\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("examples: 8 passed, 1 failed\n"),
        "{}",
        r.stdout
    );

    // Without FILE it checks the policy in force.
    let r = org.run("alice", &["policy", "check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("policy {p}: valid (5 rules, plus warden's base permit)\n")
    );
    let r = org.run_as("alice", false, &["policy", "check", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"ok": true, "policy": null}));
}

#[test]
fn issue6_an_unusable_policy_refuses_everything_until_fixed() {
    let org = Org::new();
    org.write_policy(
        "@id(\"x\")\nforbid (principal, action == Warden::Action::\"net-connect\", resource);\n",
    );
    let p = org.policy().display().to_string();
    let r = org.run(
        "alice",
        &["call", "fs.read", "--input", r#"{"path":"a.txt"}"#],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let expected_start = format!(
        "error: organisation policy {p} is unusable, so warden refuses what it governs: it does not validate against warden's schema: rule `x`: "
    );
    assert!(r.stderr.starts_with(&expected_start), "{}", r.stderr);
    assert!(r.stderr.contains("net-connect"), "{}", r.stderr);
    assert!(
        r.stderr
            .trim_end()
            .ends_with(&format!("(see `warden policy check {p}`)")),
        "{}",
        r.stderr
    );
    let r = org.run("alice", &["plugin", "grant", "fs", "--requested"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.starts_with(&expected_start), "{}", r.stderr);
    let r = org.run("alice", &["policy", "check"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(&expected_start), "{}", r.stderr);

    // A syntax error names the line.
    org.write_policy("forbid (principal, action, resource)\nwhen { context. };\n");
    let r = org.run("alice", &["policy", "check"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("(line 2, column "), "{}", r.stderr);

    // A WARDEN_POLICY naming nothing is refused, not ignored.
    std::fs::remove_file(org.policy()).unwrap();
    let r = org.run(
        "alice",
        &["call", "fs.read", "--input", r#"{"path":"a.txt"}"#],
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        format!(
            "error: organisation policy {p} is unusable, so warden refuses what it governs: it does not exist (unset WARDEN_POLICY or point it at a policy file) (see `warden policy check {p}`)"
        )
    );

    org.write_policy(EXAMPLE);
    org.read_works("alice");
}

#[test]
fn issue6_project_config_in_the_workspace_cannot_widen_anything() {
    let org = Org::new();
    // A project that tries to grant itself network and lift the policy.
    let dot = org.ws.join(".warden");
    std::fs::create_dir_all(dot.join("grants")).unwrap();
    std::fs::write(
        dot.join("grants/fetch.toml"),
        "network = [\"https://docs.rs:443\"]\n",
    )
    .unwrap();
    std::fs::write(
        dot.join("policy.cedar"),
        "permit (principal, action, resource);\n",
    )
    .unwrap();
    std::fs::write(dot.join("roles.toml"), "[users]\n").unwrap();
    std::fs::write(
        dot.join("config.toml"),
        "[grants.fetch]\nnetwork = [\"https://docs.rs\"]\n",
    )
    .unwrap();

    assert_eq!(org.granted_network("fetch"), Value::Null);
    // carol is still a contractor, and fetch still has no grant.
    let r = org.run(
        "carol",
        &[
            "call",
            "fetch.get",
            "--input",
            r#"{"url":"https://docs.rs/"}"#,
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no network grant covers this origin"),
        "{}",
        r.stderr
    );
    let r = org.run(
        "carol",
        &[
            "policy",
            "explain",
            "--action",
            "net_connect",
            "--plugin",
            "fetch",
            "--resource",
            "https://docs.rs",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains("decided by `contractors-no-network`"),
        "{}",
        r.stdout
    );
    org.read_works("carol");
}

/// One `warden mcp` over stdio, spoken to line by line.
struct Mcp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl Mcp {
    fn start(org: &Org) -> Self {
        let h = org.dir.path();
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["mcp", "--workspace", org.ws.to_str().unwrap()])
            .current_dir(&org.ws)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env("USER", "alice")
            .env("WARDEN_POLICY", org.policy())
            .env_remove("WARDEN_ROLES")
            .env_remove("WARDEN_MCP_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut mcp = Mcp {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        mcp.request(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "policy-test", "version": "0"}
            }),
        );
        mcp.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, v: Value) {
        use std::io::Write as _;
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        use std::io::BufRead as _;
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let mut line = String::new();
            assert_ne!(
                self.stdout.read_line(&mut line).unwrap(),
                0,
                "warden mcp exited"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == serde_json::json!(id) {
                return v["result"].clone();
            }
        }
    }

    /// Call fs.read of a.txt: (is_error, text).
    fn read(&mut self) -> (bool, String) {
        let r = self.request(
            "tools/call",
            serde_json::json!({"name": "fs__read", "arguments": {"path": "a.txt"}}),
        );
        (
            r["isError"].as_bool().unwrap_or(false),
            r["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn issue6_a_running_mcp_server_asks_the_policy_again_on_every_call() {
    let org = Org::new();
    let mut mcp = Mcp::start(&org);
    let (is_error, text) = mcp.read();
    assert!(!is_error, "{text}");
    assert!(text.contains("hello"), "{text}");

    // Tightened while the server runs: the next call is refused.
    org.write_policy(&format!(
        "{EXAMPLE}\n@id(\"no-reads\")\nforbid (principal, action == Warden::Action::\"fs_read\", resource);\n"
    ));
    let (is_error, text) = mcp.read();
    assert!(is_error, "{text}");
    assert_eq!(
        text,
        format!(
            "denied by organisation policy: plugin `fs` may not fs_read `{}` (rule `no-reads` in {}); the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file",
            org.ws.display(),
            org.policy().display()
        )
    );

    // Broken: refused too (fail closed); fixed: served again.
    org.write_policy("forbid (");
    let (is_error, text) = mcp.read();
    assert!(is_error, "{text}");
    assert!(
        text.starts_with(&format!(
            "organisation policy {} is unusable",
            org.policy().display()
        )),
        "{text}"
    );
    org.write_policy(EXAMPLE);
    let (is_error, text) = mcp.read();
    assert!(!is_error, "{text}");
    assert!(text.contains("hello"), "{text}");
}

/// The rules of the issue 16 cases: SSH keys, and one local service.
fn forbid_ssh_and(origin: &str) -> String {
    format!(
        "@id(\"no-ssh-keys\")\nforbid (principal, action in [Warden::Action::\"fs_read\", Warden::Action::\"fs_write\"], resource)\nwhen {{ context.path like \"*/.ssh\" || context.path like \"*/.ssh/*\" }};\n@id(\"no-internal-service\")\nforbid (principal, action == Warden::Action::\"net_connect\", resource == Warden::Origin::\"{origin}\");\n"
    )
}

impl Org {
    /// The audit log's refusals: (kind, resource, reason).
    fn refusals(&self) -> Vec<(String, String, String)> {
        let r = self.run_as("alice", false, &["log", "--decision", "deny", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let log: Value = serde_json::from_str(&r.stdout).unwrap();
        log["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let rec = &e["record"];
                let s = |k: &str| rec[k].as_str().unwrap_or_default().to_string();
                (s("kind"), s("resource"), s("reason"))
            })
            .collect()
    }

    fn install(&self, guest: &str, grants: &[&str]) {
        let path = super::common::component(guest);
        let mut args = vec!["plugin", "install", path.to_str().unwrap(), "--yes"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let r = self.run_as("alice", false, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

/// Issue 16, item 15 (files): a `forbid` on `.ssh/…` holds whatever grant
/// reaches the file. A grant of `.` passes the policy as a grant, but every
/// path a call opens, lists, stats or writes is asked about again with its
/// real host path: directly, through a symlink planted beside it, through
/// a search of the whole tree, and for writes too. Each refusal names the
/// rule and is in the audit log; the keys are untouched; ordinary files
/// still work.
#[test]
fn issue16_a_policy_forbid_holds_for_files_reached_through_a_broad_grant() {
    let org = Org::new();
    org.write_policy(&forbid_ssh_and("http://127.0.0.1:1"));
    let ssh = org.ws.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_rsa"), "PRIVATE KEY\n").unwrap();
    std::fs::write(ssh.join("authorized_keys"), "ssh-ed25519 mine\n").unwrap();
    std::os::unix::fs::symlink(".ssh/id_rsa", org.ws.join("innocent.txt")).unwrap();
    std::os::unix::fs::symlink(".ssh", org.ws.join("keys")).unwrap();
    let key = ssh.join("id_rsa").display().to_string();
    let reason = format!(
        "denied by organisation policy: fs_read of it is forbidden by rule `no-ssh-keys` in {}; the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file",
        org.policy().display()
    );

    for path in [
        ".ssh/id_rsa",
        "innocent.txt",
        "keys/id_rsa",
        "./.ssh/id_rsa",
    ] {
        let input = serde_json::json!({ "path": path }).to_string();
        let r = org.run("alice", &["call", "fs.read", "--input", &input]);
        assert_eq!(r.code, 3, "{path}: {}", r.stderr);
        assert!(!r.stdout.contains("PRIVATE"), "{path}: {}", r.stdout);
        // fs.read looks at the file first (stat), then opens it: the
        // first use is the one refused.
        assert!(
            r.stderr.contains(&format!(" {key}: {reason}")) && r.stderr.contains("denied: files "),
            "{path}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("no grant can allow this: the organisation's policy forbids it"),
            "{}",
            r.stderr
        );
    }
    // Listing the directory, and searching the whole tree for the key.
    let r = org.run(
        "alice",
        &["call", "fs.list", "--input", r#"{"path":".ssh"}"#],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stdout.contains("id_rsa"), "{}", r.stdout);
    let r = org.run(
        "alice",
        &[
            "call",
            "search.search",
            "--input",
            r#"{"pattern":"PRIVATE"}"#,
        ],
    );
    assert!(!r.stdout.contains("PRIVATE"), "{}", r.stdout);
    // Writes: directly and through the symlinked directory.
    for path in [".ssh/authorized_keys", "keys/authorized_keys", ".ssh/new"] {
        let input =
            serde_json::json!({ "path": path, "content": "ssh-ed25519 attacker\n" }).to_string();
        let r = org.run("alice", &["call", "edit.write", "--input", &input]);
        assert_eq!(r.code, 3, "{path}: {}", r.stderr);
        assert!(
            r.stderr.contains("rule `no-ssh-keys`"),
            "{path}: {}",
            r.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(ssh.join("authorized_keys")).unwrap(),
        "ssh-ed25519 mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(ssh.join("id_rsa")).unwrap(),
        "PRIVATE KEY\n"
    );
    assert!(!ssh.join("new").exists());

    let refusals = org.refusals();
    let key_denials = refusals
        .iter()
        .filter(|(k, res, why)| k == "denial" && res == &key && why == &reason)
        .count();
    assert!(key_denials >= 4, "{refusals:?}");
    assert!(
        refusals.iter().any(|(k, res, why)| k == "denial"
            && res == &ssh.join("authorized_keys").display().to_string()
            && why.contains("rule `no-ssh-keys`")),
        "{refusals:?}"
    );
    org.read_works("alice");
    // Without the policy the same grant reads the file: the refusal above
    // was the policy's, not the grant's.
    let r = org.run_as(
        "alice",
        false,
        &["call", "fs.read", "--input", r#"{"path":".ssh/id_rsa"}"#],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("PRIVATE"), "{}", r.stdout);
}

/// Issue 16, item 15 (programs): a child's file access is mediated by the
/// kernel, not by warden's guard, so a plugin that runs programs is refused
/// before the call while a path its programs would see is one the policy
/// forbids; nothing runs. Once the forbidden file is out of view, the same
/// program runs.
#[test]
fn issue16_a_policy_forbid_holds_for_files_a_program_would_see() {
    let org = Org::new();
    org.write_policy(&forbid_ssh_and("http://127.0.0.1:1"));
    org.install("spawner", &["file:.:write", "program:sh"]);
    let ssh = org.ws.join("deep/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_rsa"), "PRIVATE KEY\n").unwrap();
    let input = serde_json::json!({
        "program": "sh",
        "args": ["-c", "cat deep/.ssh/id_rsa; echo ran > ran.txt"],
    })
    .to_string();
    let r = org.run("alice", &["call", "spawner.run", "--input", &input]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("PRIVATE"), "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "denied by organisation policy: plugin `spawner` (whose programs would see it) may not fs_read `{}`",
            ssh.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("rule `no-ssh-keys`"), "{}", r.stderr);
    assert!(!org.ws.join("ran.txt").exists(), "the program ran");
    assert!(
        org.refusals()
            .iter()
            .any(|(_, _, why)| why.contains("(whose programs would see it)")),
        "{:?}",
        org.refusals()
    );
    org.read_works("alice");

    std::fs::remove_dir_all(org.ws.join("deep")).unwrap();
    let input =
        serde_json::json!({"program": "sh", "args": ["-c", "echo ran > ran.txt"]}).to_string();
    let r = org.run("alice", &["call", "spawner.run", "--input", &input]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(org.ws.join("ran.txt")).unwrap(),
        "ran\n"
    );
}

/// Issue 16, item 15 (network): a `forbid` on one origin holds when the
/// grant is a port wildcard, a CIDR block, or a name that resolves to the
/// forbidden address. The request is refused before anything is sent (the
/// server sees nothing), the refusal names the rule and is in the audit
/// log, and another origin of the same grant is still reached.
#[test]
fn issue16_a_policy_forbid_on_an_origin_holds_for_wildcard_and_cidr_grants() {
    use super::netserver::Server;
    let forbidden = Server::html("internal");
    let other = Server::html("public");
    let org = Org::new();
    let origin = forbidden.origin();
    org.write_policy(&forbid_ssh_and(&format!(
        "http://127.0.0.1:{}",
        forbidden.addr.port()
    )));
    org.install(
        "netprobe",
        &[
            "net:http://127.0.0.1:*",
            "net:http://127.0.0.0/8:*",
            "net:http://[::1]:*",
            "net:http://localhost:*",
        ],
    );
    let probe = |authority: &str| {
        let input =
            serde_json::json!({"scheme": "http", "authority": authority, "path": "/"}).to_string();
        org.run("alice", &["call", "netprobe.request", "--input", &input])
    };
    let port = forbidden.addr.port();
    for authority in [
        format!("127.0.0.1:{port}"),
        format!("2130706433:{port}"),
        format!("localhost:{port}"),
    ] {
        let r = probe(&authority);
        // The guest sees the refusal (a name's resolved address as a
        // prohibited destination) and reports it; the host adds the denial.
        let answer: Value = serde_json::from_str(&r.stdout).unwrap();
        let error = if authority.starts_with("localhost") {
            "DestinationIpProhibited"
        } else {
            "HttpRequestDenied"
        };
        assert_eq!(answer["error"], error, "{authority}: {}", r.stdout);
        assert_eq!(answer["status"], Value::Null);
        assert!(
            r.stderr.contains(&format!(
                "denied: network connect {origin}: denied by organisation policy: net_connect of it is forbidden by rule `no-internal-service` in {}",
                org.policy().display()
            )),
            "{authority}: {}",
            r.stderr
        );
    }
    assert!(forbidden.heads().is_empty(), "{:?}", forbidden.heads());
    assert!(
        org.refusals().iter().any(|(k, res, why)| k == "denial"
            && res == &origin
            && why.contains("rule `no-internal-service`")),
        "{:?}",
        org.refusals()
    );
    let r = probe(&other.authority());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("public"), "{}", r.stdout);
    org.read_works("alice");
}

/// Run `cmd`, failing the test if it has not ended within `secs`.
fn within(mut cmd: Command, secs: u64) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("warden hung for more than {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success());
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Issue 16, item 16: a policy or roles file that is a FIFO (or another
/// file that is not a regular file) fails closed at once, naming the file
/// and what it is, instead of waiting for a writer; the refused call is in
/// the audit log, nothing is read from or written to the FIFO, and once the
/// file is a regular file again calls are served.
#[test]
fn issue16_a_policy_or_roles_file_that_is_a_fifo_fails_closed_at_once() {
    let org = Org::new();
    let roles = org.dir.path().join("org/roles.toml");
    let roles_text = std::fs::read_to_string(&roles).unwrap();
    let read = |org: &Org| {
        let h = org.dir.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(["call", "fs.read", "--input", r#"{"path":"a.txt"}"#])
            .current_dir(&org.ws)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env("USER", "alice")
            .env("WARDEN_POLICY", org.policy())
            .env_remove("WARDEN_ROLES")
            .stdin(Stdio::null());
        within(cmd, 10)
    };
    let p = org.policy().display().to_string();
    // Compiled once before the clock runs (a cold cache compiles for long).
    let r = org.run_as(
        "alice",
        false,
        &["call", "fs.read", "--input", r#"{"path":"a.txt"}"#],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    mkfifo(&org.policy());
    let r = read(&org);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        format!(
            "error: organisation policy {p} is unusable, so warden refuses what it governs: it is a FIFO (named pipe), not a regular file (replace it with a regular file) (see `warden policy check {p}`)"
        )
    );
    assert!(is_fifo(&org.policy()));
    std::fs::remove_file(org.policy()).unwrap();
    org.write_policy(EXAMPLE);

    mkfifo(&roles);
    let r = read(&org);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "its roles file {}: it is a FIFO (named pipe), not a regular file",
            roles.display()
        )),
        "{}",
        r.stderr
    );
    assert!(is_fifo(&roles));
    // A directory in the policy's place is refused the same way.
    std::fs::remove_file(&roles).unwrap();
    std::fs::create_dir(&roles).unwrap();
    let r = read(&org);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("it is a directory, not a regular file"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir(&roles).unwrap();
    std::fs::write(&roles, roles_text).unwrap();

    let refused: Vec<String> = org
        .refusals()
        .into_iter()
        .filter(|(k, _, _)| k == "call")
        .map(|(_, _, why)| why)
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused[0].contains("it is a FIFO (named pipe)"),
        "{refused:?}"
    );
    let r = read(&org);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hello"), "{}", r.stdout);
}
