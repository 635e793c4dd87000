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
    assert!(r.stderr.contains("which is not granted"), "{}", r.stderr);
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
