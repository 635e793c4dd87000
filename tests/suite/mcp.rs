//! `warden mcp` driven by a real MCP client: the official Python SDK
//! (tests/mcp/client.py) over stdio and over streamable HTTP.

use super::common::{Fixture, component};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// warden's state for one test: the hostile and spawner guests installed,
/// spawner granted `sh`.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        let hostile = component("hostile");
        let spawner = component("spawner");
        home.warden(&["plugin", "install", hostile.to_str().unwrap(), "--yes"]);
        home.warden(&[
            "plugin",
            "install",
            spawner.to_str().unwrap(),
            "--yes",
            "--grant",
            "file:.:write",
            "--grant",
            "program:sh",
        ]);
        home
    }

    fn env(&self, cmd: &mut Command) {
        let h = self.dir.path();
        cmd.env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env_remove("WARDEN_MCP_TOKEN");
    }

    fn warden(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(args);
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `warden log --json` of one plugin's records.
    fn records(&self, plugin: &str) -> Vec<Value> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(["log", "--json", "--plugin", plugin]);
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["intact"], true, "{v}");
        v["records"].as_array().unwrap().clone()
    }

    /// Run the Python client; its JSON report.
    fn client(&self, ws: &Path, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/client.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).args(args).current_dir(ws);
        self.env(&mut cmd);
        let out = cmd.output().expect("python3");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(2), "{stderr}");
        assert!(out.status.success(), "client failed: {stderr}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

fn assert_report(v: &Value, ws: &Path) {
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for want in [
        "fs__read",
        "edit__write",
        "search__search",
        "hostile__spin",
        "spawner__run",
    ] {
        assert!(tools.contains(&want), "{want} missing from {tools:?}");
    }
    // Plugins whose programs nobody granted are offered too (issue 17: a
    // plugin runs with any part of what it requests); running one of their
    // programs is refused when called.
    for want in ["exec__run", "git__status", "fetch__get"] {
        assert!(tools.contains(&want), "{want} missing from {tools:?}");
    }
    assert_eq!(v["read_schema"]["properties"]["path"]["type"], "string");
    assert_eq!(v["read"]["is_error"], false);
    assert!(
        v["read"]["text"]
            .as_str()
            .unwrap()
            .contains(r#""content":"hi""#),
        "{}",
        v["read"]
    );
    assert_eq!(v["denied"]["is_error"], true);
    let denied = v["denied"]["text"].as_str().unwrap();
    assert!(
        denied.contains(&format!(
            "{}/.git is protected: it stays read-only unless granted by name",
            ws.display()
        )),
        "{denied}"
    );
    assert!(denied.contains("a person can allow it with: warden plugin grant edit --add --grant file:.git:write (this client cannot)"), "{denied}");
    assert_eq!(v["shout"]["is_error"], true);
    assert!(
        v["shout"]["text"]
            .as_str()
            .unwrap()
            .contains("hostile.shout crashed"),
        "{}",
        v["shout"]
    );
    assert_eq!(v["unknown"]["is_error"], true);
    // issue 17: a mistyped tool name gets the closest offered one.
    assert_eq!(v["mistyped"]["is_error"], true);
    assert!(
        v["mistyped"]["text"]
            .as_str()
            .unwrap()
            .contains("no tool named \"fs__raed\"; did you mean `fs__read`?"),
        "{}",
        v["mistyped"]
    );
    assert_eq!(v["cancel"], "MCPError");
    assert_eq!(v["child_started"], true, "the cancelled command never ran");
    assert_eq!(
        v["child_gone_after_cancel"], true,
        "cancelling did not stop the child"
    );
    assert_eq!(v["spin"]["is_error"], true, "{}", v["spin"]);
    assert!(
        v["spin"]["text"]
            .as_str()
            .unwrap()
            .contains("hostile.spin was stopped after its time limit of 2000 ms"),
        "{}",
        v["spin"]
    );
    assert_eq!(v["reads_during_spin_ok"], true);
    // Calls are answered while the loop runs: all ten normally, in well
    // under a second. (When each waited ~300 ms for the I/O driver, four
    // were; a loaded machine may delay one or two.)
    let before = v["reads_finished_before_spin"].as_u64().unwrap();
    assert!(
        before >= 8,
        "only {before} of 10 calls were answered while a tool looped"
    );
    assert_eq!(v["concurrent_ok"], 100);
    assert_eq!(
        v["after"]["is_error"], false,
        "the server stopped answering"
    );
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

#[test]
fn the_python_sdk_lists_calls_is_denied_and_cancels_over_stdio() {
    let home = Home::new();
    let fx = Fixture::new();
    let warden = env!("CARGO_BIN_EXE_warden");
    let v = home.client(
        &fx.ws,
        &["stdio", fx.ws.to_str().unwrap(), "--", warden, "mcp"],
    );
    assert_report(&v, &fx.ws);
    assert_eq!(fx.read(".git/config"), "cfg");
}

/// Issue 16 item 13: a running `warden mcp` kept using a grant that was
/// revoked (`warden plugin grant X --none`) and a plugin that was removed.
/// The server checks the plugin's grant file and install record (a few
/// `stat`s) before every call, so both take effect on the next call: the
/// revoked plugin's program is refused with a tool error that says how to
/// grant it, the removed plugin leaves tools/list, both are recorded, and
/// other plugins keep answering.
#[test]
fn revoked_grants_and_removed_plugins_take_effect_on_the_next_mcp_call() {
    let home = Home::new();
    let fx = Fixture::new();
    let warden = env!("CARGO_BIN_EXE_warden");
    let v = home.client(
        &fx.ws,
        &["revoke", fx.ws.to_str().unwrap(), "--", warden, "mcp"],
    );
    let tools = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let ok = |key: &str| {
        assert_eq!(v[key]["is_error"], false, "{key}: {}", v[key]);
    };
    for step in ["revoke", "regrant", "remove"] {
        assert_eq!(v[step]["code"], 0, "{step}: {}", v[step]);
    }
    assert!(tools("tools_before").contains(&"spawner__run".into()));
    ok("before");
    assert!(v["before"]["text"].as_str().unwrap().contains("granted"));

    // Revoked: the plugin still runs (issue 17: any part of its request,
    // nothing included), and the program is refused, saying how to grant it.
    assert_eq!(v["revoked"]["is_error"], true, "{}", v["revoked"]);
    let revoked = v["revoked"]["text"].as_str().unwrap();
    assert!(
        revoked.contains("the program `sh` is not granted to plugin `spawner`"),
        "{revoked}"
    );
    assert!(revoked.contains("--grant program:sh"), "{revoked}");
    assert!(tools("tools_revoked").contains(&"spawner__run".into()));
    ok("read_after_revoke");
    assert!(
        v["read_after_revoke"]["text"]
            .as_str()
            .unwrap()
            .contains(r#""content":"hi""#)
    );

    // Granted again: it runs again, from the next call.
    assert!(tools("tools_regranted").contains(&"spawner__run".into()));
    ok("regranted");

    // Removed: refused and gone from the list.
    assert_eq!(v["removed"]["is_error"], true, "{}", v["removed"]);
    let removed = v["removed"]["text"].as_str().unwrap();
    assert_eq!(
        removed,
        "spawner.run: refused: plugin `spawner` cannot be opened any more: no plugin named `spawner` (see `warden plugin list`)"
    );
    assert!(!tools("tools_removed").contains(&"spawner__run".into()));
    ok("read_after_remove");

    // Only the two granted calls ran.
    assert_eq!(fx.read("calls.txt"), "ran\nran\n");

    // The revoked call's program is a recorded denial; the call of the
    // removed plugin is a refused call of the session.
    let records = home.records("spawner");
    let denied: Vec<&Value> = records
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["kind"] == "denial")
        .collect();
    assert_eq!(denied.len(), 1, "{records:#?}");
    assert_eq!(denied[0]["capability"], "process");
    assert_eq!(denied[0]["allow"], "program:sh");
    assert_eq!(denied[0]["session"], "mcp");
    let refused: Vec<&Value> = records
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["kind"] == "call" && r["decision"] == "deny")
        .collect();
    assert_eq!(refused.len(), 1, "{records:#?}");
    assert_eq!(refused[0]["tool"], "run");
    assert_eq!(refused[0]["session"], "mcp");
    assert_eq!(refused[0]["resource"], fx.ws.display().to_string());
    assert_eq!(
        refused[0]["reason"],
        "no plugin named `spawner` (see `warden plugin list`)"
    );
    // The two calls that ran: each recorded before it ran, and its outcome.
    let ran = records
        .iter()
        .filter(|e| e["record"]["kind"] == "result" && e["record"]["outcome"] == "ok")
        .count();
    assert_eq!(ran, 2, "{records:#?}");
}

/// `warden mcp --http`, stopped when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(home: &Home, ws: &Path, token: &str) -> Self {
        Self::start_with(home, ws, token, &[])
    }

    fn start_with(home: &Home, ws: &Path, token: &str, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(["mcp", "--http", "127.0.0.1:0"]).args(extra);
        if !token.is_empty() {
            cmd.args(["--token", token]);
        }
        cmd.current_dir(ws)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        home.env(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("server exited early").unwrap();
            if let Some(rest) =
                line.strip_prefix("warden mcp: serving streamable HTTP on http://127.0.0.1:")
            {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_python_sdk_works_over_streamable_http_with_a_token() {
    let home = Home::new();
    let fx = Fixture::new();
    let server = HttpServer::start(&home, &fx.ws, "s3cret-token");
    let url = format!("http://127.0.0.1:{}/mcp", server.port);

    // Without the token: refused before any MCP handling.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(tcp, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("a bearer token is required"), "{answer}");

    let v = home.client(
        &fx.ws,
        &["http", fx.ws.to_str().unwrap(), &url, "s3cret-token"],
    );
    assert_report(&v, &fx.ws);
    // 100 concurrent calls and a looping one later, memory stayed bounded.
    let peak = peak_rss_mib(server.child.id());
    assert!(peak < 96.0, "warden mcp --http peaked at {peak:.1} MiB");
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let home = Home::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(["mcp", "--http", "0.0.0.0:0"]);
    home.env(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve MCP on 0.0.0.0:0 without a bearer token"),
        "{stderr}"
    );
}

/// The MCP conformance suite's server scenarios for what warden offers:
/// tools, resources and logging. (The suite's other scenarios call its
/// reference server's own fixture tools, resources and prompts by name,
/// or need prompts, completion or sampling, which warden does not offer;
/// README.md lists them.)
const CONFORMANCE_SCENARIOS: &[&str] = &[
    "server-initialize",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "resources-list",
    "logging-set-level",
];

#[test]
fn the_conformance_suite_passes_the_scenarios_for_what_warden_offers() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/conformance/node_modules/.bin/conformance");
    assert!(
        suite.exists(),
        "the MCP conformance suite is not installed; run: bash .ci/setup (or npm install --prefix target/conformance @modelcontextprotocol/conformance@0.1.8)"
    );
    let home = Home::new();
    let fx = Fixture::new();
    let server = HttpServer::start(&home, &fx.ws, "");
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    for scenario in CONFORMANCE_SCENARIOS {
        let out = Command::new(&suite)
            .args(["server", "--url", &url, "--scenario", scenario])
            // It writes a results/ directory where it runs.
            .current_dir(fx.tmp.path())
            .output()
            .expect("run the conformance suite");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{scenario} failed:\n{text}");
        assert!(text.contains("0 failed"), "{scenario}:\n{text}");
    }
}

/// One HTTP/1.1 POST of `body` to `/mcp` with `headers`: the status code,
/// the response's headers and its body, read to the end.
fn post(port: u16, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    request(port, "POST", headers, body)
}

/// One HTTP/1.1 request to `/mcp`, as [`post`].
fn request(port: u16, method: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut req = format!(
        "{method} /mcp HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len(),
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, head.to_string(), body.to_string())
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"origin-test","version":"0"}}}"#;

/// Issue 16, item 12: a browser page (any site, or a rebound DNS name) must
/// not be able to drive a loopback `warden mcp --http`. Every `Origin` that
/// is not the server's own or given with --allow-origin gets 403 before any
/// MCP handling, also with a valid session id; so does a `Host` that is not
/// the server's. The refusal is in the audit log, nothing is written, and
/// clients that send no Origin (and the allowed origins) keep working.
#[test]
fn issue16_mcp_http_refuses_foreign_origins_and_hosts() {
    let home = Home::new();
    let fx = Fixture::new();
    let server = HttpServer::start_with(
        &home,
        &fx.ws,
        "",
        &["--allow-origin", "https://app.example"],
    );
    let port = server.port;
    let own = format!("http://127.0.0.1:{port}");
    let own_localhost = format!("http://localhost:{port}");
    let wrong_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let tricked = format!("http://localhost:{port}@evil.example");

    // A session opened by a legitimate client (no Origin).
    let (status, head, body) = post(port, &[], INITIALIZE);
    assert_eq!(status, 200, "{head}\n{body}");
    let session = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no session id in {head}"));
    let s = [("Mcp-Session-Id", session.as_str())];
    let (status, _, _) = post(
        port,
        &s,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);

    let write = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"edit__write","arguments":{"path":"pwned.txt","content":"from a web page"}}}"#;
    for origin in [
        "https://evil.example",
        "null",
        wrong_port.as_str(),
        "https://127.0.0.1",
        tricked.as_str(),
        "http://app.example",
    ] {
        let (status, head, body) = post(
            port,
            &[("Origin", origin), ("Mcp-Session-Id", session.as_str())],
            write,
        );
        assert_eq!(status, 403, "{origin}: {head}\n{body}");
        assert!(
            body.starts_with(&format!(
                "warden mcp: refusing a request from origin `{origin}`: "
            )),
            "{origin}: {body}"
        );
        assert!(
            body.contains("start `warden mcp --http` with --allow-origin"),
            "{body}"
        );
    }
    // Two Origin headers, one of them allowed: refused too.
    let (status, _, body) = post(
        port,
        &[
            ("Origin", own.as_str()),
            ("Origin", "https://evil.example"),
            ("Mcp-Session-Id", session.as_str()),
        ],
        write,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("more than one Origin header"), "{body}");
    // DNS rebinding: the page's own name in Host, no Origin sent.
    let evil_host = format!("evil.example:{port}");
    let (status, _, body) = post(
        port,
        &[
            ("Host", evil_host.as_str()),
            ("Mcp-Session-Id", session.as_str()),
        ],
        write,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Host header is not allowed"), "{body}");
    assert!(!fx.ws.join("pwned.txt").exists(), "a refused request wrote");

    // The refusal is recorded, once per origin.
    let log: Value =
        serde_json::from_str(&home.warden(&["log", "--decision", "deny", "--json"])).unwrap();
    let refused: Vec<&Value> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["capability"] == "mcp-http")
        .collect();
    let evil: Vec<&&Value> = refused
        .iter()
        .filter(|r| r["resource"] == "https://evil.example")
        .collect();
    assert_eq!(evil.len(), 1, "{refused:?}");
    assert_eq!(evil[0]["kind"], "denial");
    assert!(
        evil[0]["reason"]
            .as_str()
            .unwrap()
            .contains("it is not an allowed origin"),
        "{:?}",
        evil[0]
    );

    // The server's own origins, the allowed one, and no Origin: answered.
    for origin in [own.as_str(), own_localhost.as_str(), "https://app.example"] {
        let (status, head, body) = post(port, &[("Origin", origin)], INITIALIZE);
        assert_eq!(status, 200, "{origin}: {head}\n{body}");
    }
    let (status, _, body) = post(port, &s, write);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("bytes"), "{body}");
    assert_eq!(fx.read("pwned.txt"), "from a web page");
}

#[test]
fn an_unusable_allow_origin_is_refused_at_start() {
    let home = Home::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args([
        "mcp",
        "--http",
        "127.0.0.1:0",
        "--allow-origin",
        "https://app.example/path",
    ]);
    home.env(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--allow-origin \"https://app.example/path\": an origin has no path"),
        "{stderr}"
    );
}

/// The MCP tool-name rule (2025-11-25): 1-128 of `A-Za-z0-9_-.`.
fn follows_the_naming_rule(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Issue 14, structured results, annotations and resources, seen by the
/// official Python SDK:
/// - every tool whose plugin describes its result has an `outputSchema`
///   (derived by the SDK from the output type) and returns
///   `structuredContent` that validates against it, with the JSON text
///   block kept; a plugin that describes none (spawner) has none;
/// - the annotations come from the effective grant, per capability (read
///   files; write files; programs; network; nothing granted, said in the
///   description too), and change on the next `tools/list` when the grant
///   changes, which the server announces with
///   `notifications/tools/list_changed`;
/// - the resources show this server's audit records (not the ones from
///   before it started) and each turn's diff, and nothing else.
#[test]
fn issue14_structured_results_grant_annotations_and_resources() {
    let home = Home::new();
    let fx = Fixture::new();
    // A record from before the server started: not one of its session's.
    home.warden(&[
        "call",
        "fs.read",
        "--workspace",
        fx.ws.to_str().unwrap(),
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    let warden = env!("CARGO_BIN_EXE_warden");
    let v = home.client(
        &fx.ws,
        &["features", fx.ws.to_str().unwrap(), "--", warden, "mcp"],
    );
    let names: Vec<&str> = v["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| follows_the_naming_rule(n)),
        "{names:?}"
    );
    assert_eq!(v["titles"]["fs__read"], "fs.read");

    // Output schemas, from the plugins' output types.
    let read_schema = &v["output_schemas"]["fs__read"];
    assert_eq!(read_schema["type"], "object", "{read_schema}");
    assert_eq!(read_schema["properties"]["content"]["type"], "string");
    assert!(
        read_schema["required"]
            .as_array()
            .unwrap()
            .contains(&"content".into())
    );
    for tool in ["fs__list", "fs__glob", "search__search", "edit__write"] {
        assert_eq!(v["output_schemas"][tool]["type"], "object", "{tool}");
    }
    assert!(v["output_schemas"]["spawner__run"].is_null());
    // ... which is not part of the input schema clients see.
    assert!(!v.to_string().contains("x-warden-output-schema"));

    // Structured results, validated against the schema (by the SDK, which
    // raises otherwise, and by the client again).
    for tool in [
        "fs__read",
        "fs__list",
        "fs__glob",
        "search__search",
        "edit__write",
    ] {
        let r = &v["results"][tool];
        assert_eq!(r["is_error"], false, "{tool}: {r}");
        assert_eq!(r["validated"], true, "{tool}: {r}");
        // The text block is the same JSON, for older clients.
        let text: Value = serde_json::from_str(r["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, r["structured"], "{tool}");
    }
    assert_eq!(v["results"]["fs__read"]["structured"]["content"], "hi");
    assert_eq!(v["results"]["edit__write"]["structured"]["created"], true);
    // An object result without a schema is still structured.
    assert_eq!(v["results"]["spawner__run"]["is_error"], false);
    assert!(v["results"]["spawner__run"]["structured"].is_object());

    // Annotations, per capability, from the grants Home::new gave.
    let hints = |key: &str, tool: &str| v[key][tool].clone();
    let read_only = serde_json::json!({"readOnly": true, "destructive": false, "idempotent": true, "openWorld": false});
    let writer = serde_json::json!({"readOnly": false, "destructive": true, "idempotent": null, "openWorld": false});
    let networked = serde_json::json!({"readOnly": false, "destructive": true, "idempotent": null, "openWorld": true});
    assert_eq!(hints("hints", "fs__read"), read_only);
    assert_eq!(hints("hints", "search__search"), read_only);
    assert_eq!(hints("hints", "edit__write"), writer);
    assert_eq!(hints("hints", "spawner__run"), writer);
    // fetch asks for the network and has nothing granted yet. It is
    // offered (it runs, and each request it tries is refused naming the
    // grant, as `warden call` and the agent do), its hints say what it can
    // do now, which is nothing beyond reading its input, and its
    // description says why.
    assert_eq!(hints("hints", "fetch__get"), read_only);
    let nothing = "(Nothing is granted to `fetch` in this workspace yet: each file, program or network use it tries is refused until a person grants it; `warden plugin audit fetch` shows what it asks for.)";
    let fetch_text = v["descriptions"]["fetch__get"].as_str().unwrap();
    assert!(
        fetch_text.starts_with(&format!("[fetch] {nothing} Fetch")),
        "{fetch_text}"
    );
    for granted in ["fs__read", "edit__write", "spawner__run"] {
        let text = v["descriptions"][granted].as_str().unwrap();
        assert!(!text.contains("Nothing is granted"), "{granted}: {text}");
    }
    // The grant changed while the server ran, and the server told the
    // client so (it had not before: calls do not change the list).
    for step in ["narrow_edit", "spawner_reads", "grant_fetch"] {
        assert_eq!(v[step]["code"], 0, "{step}: {}", v[step]);
    }
    assert_eq!(v["list_changed_before_grants"], 0);
    assert!(
        v["list_changed"].as_u64().unwrap() >= 1,
        "{}",
        v["list_changed"]
    );
    let fetch_after = v["descriptions_after"]["fetch__get"].as_str().unwrap();
    assert!(fetch_after.starts_with("[fetch] Fetch"), "{fetch_after}");
    assert_eq!(hints("hints_after", "edit__write"), read_only);
    // A program alone (its files read-only) is not a read.
    assert_eq!(hints("hints_after", "spawner__run"), writer);
    assert_eq!(hints("hints_after", "fetch__get"), networked);
    assert_eq!(hints("hints_after", "fs__read"), read_only);
    assert_eq!(v["after"]["is_error"], false);

    // Resources: this session's records and each turn's diff (edit's
    // write, and spawner's run, which changed nothing).
    let uris: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "warden://session/audit",
            "warden://session/turns/1",
            "warden://session/turns/2"
        ],
        "{uris:?}"
    );
    assert_eq!(
        v["diffs"]["warden://session/turns/2"],
        "turn 2 of session mcp: 0 change(s)\n"
    );
    let diff = v["diffs"]["warden://session/turns/1"].as_str().unwrap();
    assert!(diff.starts_with("turn 1 of session mcp: "), "{diff}");
    assert!(diff.contains("created from-mcp.txt"), "{diff}");
    assert!(diff.contains("+from mcp"), "{diff}");
    assert!(
        v["missing_resource"]
            .as_str()
            .unwrap()
            .contains("no resource \"warden://session/turns/999\""),
        "{}",
        v["missing_resource"]
    );
    let audit = v["audit"].as_array().unwrap();
    assert!(audit.iter().all(|e| e["record"]["session"] == "mcp"));
    let calls: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e["record"]["kind"] == "call")
        .map(|e| {
            (
                e["record"]["tool"].as_str().unwrap(),
                e["record"]["approved_by"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("read", "read"),
            ("list", "read"),
            ("glob", "read"),
            ("search", "read"),
            ("write", "auto"),
            ("run", "auto"),
        ]
    );
    // The `warden call` from before the server is in the log, not here.
    let log: Value = serde_json::from_str(&home.warden(&["log", "--json"])).unwrap();
    assert!(
        log["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["record"]["session"] == "cli")
    );
    assert_eq!(fx.read("from-mcp.txt"), "from mcp\n");
}

/// Issue 14, approvals through the client: with `--approval ask`, each
/// call that writes, runs a program or reaches the network is shown to
/// the person through MCP elicitation, as the agent's `ask` mode shows it
/// (the diff of an edit, the exact argv, the URL), and runs only on their
/// yes; decline, cancel and "no" leave nothing changed; "always" is
/// remembered for the project, also by the next server; reads are not
/// asked about. Each refusal is in the audit log, and the server keeps
/// answering.
#[test]
fn issue14_approval_ask_goes_through_mcp_elicitation() {
    let home = Home::new();
    let fx = Fixture::new();
    home.warden(&[
        "plugin",
        "grant",
        "exec",
        "--add",
        "--grant",
        "program:make",
    ]);
    home.warden(&[
        "plugin",
        "grant",
        "fetch",
        "--add",
        "--grant",
        "net:https://docs.rs",
    ]);
    let warden = env!("CARGO_BIN_EXE_warden");
    let v = home.client(
        &fx.ws,
        &[
            "approve",
            fx.ws.to_str().unwrap(),
            "--",
            warden,
            "mcp",
            "--approval",
            "ask",
        ],
    );
    let asked = |key: &str| -> Vec<String> {
        v[key]["asked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    // Reads run without asking.
    assert_eq!(v["read"]["is_error"], false);
    assert!(asked("read").is_empty());

    // Yes: the edit is shown as a diff, then runs.
    assert_eq!(v["yes"]["is_error"], false, "{}", v["yes"]);
    let shown = &asked("yes")[0];
    assert!(
        shown.starts_with("warden: edit wants to run edit.write\n  edit yes.txt"),
        "{shown}"
    );
    assert!(shown.contains("\n+approved"), "{shown}");
    assert_eq!(fx.read("yes.txt"), "approved\n");

    // Decline, cancel and an accepted "no": refused, nothing written.
    assert_eq!(
        v["decline"]["text"],
        "edit.write: refused: the user declined edit.write; it did not run"
    );
    assert_eq!(
        v["cancel"]["text"],
        "edit.write: refused: the person dismissed the approval of edit.write without answering; it did not run"
    );
    assert_eq!(
        v["no"]["text"],
        "edit.write: refused: the user declined edit.write; it did not run"
    );
    for (key, file) in [
        ("decline", "declined.txt"),
        ("cancel", "cancelled.txt"),
        ("no", "no.txt"),
    ] {
        assert_eq!(v[key]["is_error"], true, "{key}");
        assert_eq!(asked(key).len(), 1, "{key}");
        assert!(!fx.ws.join(file).exists(), "{key} wrote {file}");
    }

    // Always: asked once, remembered in this server and the next one.
    assert_eq!(v["always"]["is_error"], false, "{}", v["always"]);
    assert_eq!(asked("always").len(), 1);
    assert_eq!(v["remembered"]["is_error"], false, "{}", v["remembered"]);
    assert!(asked("remembered").is_empty());
    assert_eq!(v["next_server"]["is_error"], false, "{}", v["next_server"]);
    assert!(asked("next_server").is_empty());
    assert_eq!(fx.read("always.txt"), "always\n");

    // A program's exact argv and a request's URL, declined.
    let argv = &asked("argv")[0];
    assert!(
        argv.starts_with("warden: exec wants to run exec.run\n  $ make --version"),
        "{argv}"
    );
    assert_eq!(v["argv"]["is_error"], true);
    let url = &asked("url")[0];
    assert!(
        url.contains("fetch wants to run fetch.get\n  GET https://docs.rs/warden-test"),
        "{url}"
    );
    assert_eq!(v["url"]["is_error"], true);
    assert_eq!(v["after"]["is_error"], false);
    assert_eq!(v["unused_answers"], serde_json::json!([]));
    assert_eq!(v["schema"]["required"][0], "answer");

    // Who approved each call, and each refusal, in the audit log.
    let records = home.records("edit");
    let calls: Vec<(&str, &str)> = records
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["kind"] == "call")
        .map(|r| {
            (
                r["decision"].as_str().unwrap(),
                r["approved_by"]
                    .as_str()
                    .or(r["reason"].as_str())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("allow", "user"),
            ("deny", "the user declined edit.write; it did not run"),
            (
                "deny",
                "the person dismissed the approval of edit.write without answering; it did not run"
            ),
            ("deny", "the user declined edit.write; it did not run"),
            ("allow", "user"),
            ("allow", "remembered"),
            ("allow", "remembered"),
        ],
        "{records:#?}"
    );
}

/// Issue 14: in `ask`, a client that cannot elicit gets a refusal saying
/// why and what to do, recorded, and nothing runs; reads still work. In
/// `read-only`, the same calls are refused without asking.
#[test]
fn issue14_approval_without_elicitation_is_refused_clearly() {
    let home = Home::new();
    let fx = Fixture::new();
    let warden = env!("CARGO_BIN_EXE_warden");
    let ws = fx.ws.to_str().unwrap();
    let v = home.client(
        &fx.ws,
        &["unasked", ws, "--", warden, "mcp", "--approval", "ask"],
    );
    for key in ["write", "run"] {
        assert_eq!(v[key]["is_error"], true, "{key}: {}", v[key]);
        let text = v[key]["text"].as_str().unwrap();
        assert!(
            text.contains("needs a person's approval (warden mcp --approval ask) and this client cannot ask for it: it did not declare MCP elicitation"),
            "{text}"
        );
        assert!(text.contains("warden mcp --approval auto"), "{text}");
    }
    assert!(!fx.ws.join("unasked.txt").exists());
    assert!(!fx.ws.join("ran.txt").exists());
    assert_eq!(v["read"]["is_error"], false, "{}", v["read"]);
    let refused: Vec<Value> = home
        .records("spawner")
        .into_iter()
        .filter(|e| e["record"]["kind"] == "call")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["record"]["decision"], "deny");
    assert_eq!(refused[0]["record"]["session"], "mcp");

    let v = home.client(
        &fx.ws,
        &[
            "unasked",
            ws,
            "--",
            warden,
            "mcp",
            "--approval",
            "read-only",
        ],
    );
    assert_eq!(
        v["write"]["text"],
        "edit.write: refused: edit.write may write files and warden runs in read-only mode; the user can rerun with --approval ask or auto"
    );
    assert_eq!(
        v["run"]["text"],
        "spawner.run: refused: spawner.run may run programs and warden runs in read-only mode; the user can rerun with --approval ask or auto"
    );
    assert!(!fx.ws.join("unasked.txt").exists());
    assert_eq!(v["read"]["is_error"], false);
}

/// Issue 14: a plugin's `log` messages become MCP log notifications at the
/// level the client chose (none below `warning` before it chooses), escaped
/// and named after the plugin; a request with a progress token gets
/// progress notifications from the start to the end of the call.
#[test]
fn issue14_plugin_logs_and_progress_reach_the_client() {
    let home = Home::new();
    let fx = Fixture::new();
    let warden = env!("CARGO_BIN_EXE_warden");
    let v = home.client(
        &fx.ws,
        &["notify", fx.ws.to_str().unwrap(), "--", warden, "mcp"],
    );
    for key in ["default_level", "info", "error"] {
        assert_eq!(v[key]["is_error"], false, "{key}: {}", v[key]);
    }
    assert_eq!(v["default_level"]["logs"], serde_json::json!([]));
    let logs = v["info"]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 3, "{logs:?}");
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log["level"], "info");
        assert_eq!(log["logger"], "hostile");
        // Escaped: the newline and the escape sequence cannot forge lines.
        assert_eq!(
            log["data"],
            format!("message {i}\\u{{a}}\\u{{1b}}[31mforged line")
        );
    }
    assert_eq!(v["error"]["logs"], serde_json::json!([]));

    assert_eq!(v["progress_call"]["is_error"], false);
    let progress = v["progress"].as_array().unwrap();
    assert!(progress.len() >= 2, "{progress:?}");
    assert_eq!(progress[0]["message"], "spawner.run started");
    assert_eq!(progress.last().unwrap()["message"], "spawner.run finished");
    let values: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    assert_eq!(v["unasked_progress"]["is_error"], false);
}

/// Whether a process with exactly this command line runs.
fn running(cmdline: &str) -> bool {
    Command::new("pgrep")
        .args(["-fx", cmdline])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty())
}

/// Issue 14, graceful shutdown: SIGTERM to a `warden mcp` serving stdio
/// with a call running a long program. A call sent after the signal is not
/// run; the running one gets its grace period, is then stopped (its
/// process tree killed) and answered with a tool error saying why; its end
/// is in the audit log; the server exits 0.
#[test]
fn issue14_sigterm_stops_running_calls_records_them_and_exits() {
    let home = Home::new();
    let fx = Fixture::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(["mcp", "--workspace", fx.ws.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    home.env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, answers) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v.get("id").is_some()
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    let send = |stdin: &mut std::process::ChildStdin, v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "shutdown-test", "version": "0"}}}),
    );
    let wait = std::time::Duration::from_secs(60);
    assert_eq!(answers.recv_timeout(wait).unwrap()["id"], 1);
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "spawner__run",
            "arguments": {"program": "sh", "args": ["-c", "exec sleep 4713"]}}}),
    );
    let started = (0..400).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        running("sleep 4713")
    });
    assert!(started, "the long call never started its program");
    let pid = child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    // Sent once the signal is in: refused, not run.
    std::thread::sleep(std::time::Duration::from_millis(300));
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "fs__read", "arguments": {"path": "a.txt"}}}),
    );
    let mut got = std::collections::BTreeMap::new();
    while got.len() < 2 {
        let Ok(v) = answers.recv_timeout(wait) else {
            break;
        };
        got.insert(v["id"].as_u64().unwrap(), v);
    }
    let text = |id: u64| {
        got.get(&id).map_or(String::new(), |v| {
            v["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    };
    assert_eq!(got[&3]["result"]["isError"], true, "{:?}", got.get(&3));
    assert_eq!(text(3), "fs__read: not run: warden mcp is shutting down");
    assert_eq!(got[&2]["result"]["isError"], true, "{:?}", got.get(&2));
    assert_eq!(
        text(2),
        "spawner.run was stopped: warden mcp shut down before it finished"
    );
    let exited = (0..600).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        child.try_wait().unwrap()
    });
    let Some(status) = exited else {
        let _ = child.kill();
        panic!("warden mcp did not exit after SIGTERM");
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        !running("sleep 4713"),
        "the stopped call's program still runs"
    );
    // The stopped call is recorded with how it ended.
    let records = home.records("spawner");
    let ends: Vec<&Value> = records
        .iter()
        .map(|e| &e["record"])
        .filter(|r| r["kind"] == "result")
        .collect();
    assert_eq!(ends.len(), 1, "{records:#?}");
    assert_eq!(ends[0]["outcome"], "stopped", "{records:#?}");
    assert_eq!(ends[0]["session"], "mcp");
    drop(stdin);
}

/// The `Mcp-Session-Id` a response's headers give.
fn session_id(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no session id in {head}"))
}

/// Issue 14, protocol hygiene on HTTP: an `MCP-Protocol-Version` the server
/// does not speak is refused with 400 saying so, a known one and none
/// (2025-03-26 assumed, as the specification says) are served, and a
/// session the client ended answers 404, which tells a client to start a
/// new one.
#[test]
fn issue14_http_protocol_version_and_ended_sessions() {
    let home = Home::new();
    let fx = Fixture::new();
    let server = HttpServer::start(&home, &fx.ws, "");
    let port = server.port;
    let (status, head, body) = post(port, &[], INITIALIZE);
    assert_eq!(status, 200, "{head}\n{body}");
    let session = session_id(&head);
    let v = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let (status, _, _) = post(
        port,
        &v,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (status, _, body) = post(
        port,
        &[
            ("Mcp-Session-Id", session.as_str()),
            ("MCP-Protocol-Version", "1999-01-01"),
        ],
        list,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Unsupported MCP-Protocol-Version: 1999-01-01"),
        "{body}"
    );
    let (status, _, body) = post(port, &v, list);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("fs__read"), "{body}");
    let (status, _, body) = post(port, &[("Mcp-Session-Id", session.as_str())], list);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("fs__read"), "{body}");
    // The client ends its session; the id is no longer served.
    let (status, _, _) = request(port, "DELETE", &v, "");
    assert_eq!(status, 200);
    let (status, _, body) = post(port, &v, list);
    assert_eq!(status, 404, "{body}");
    // A new session works.
    let (status, head, _) = post(port, &[], INITIALIZE);
    assert_eq!(status, 200);
    assert_ne!(session_id(&head), session);
}

/// Issue 14, a third-party client: the MCP Inspector's CLI mode (installed
/// by `.ci/setup`) starts `warden mcp` itself, lists the tools with their
/// annotations and output schemas, gets a structured result, and gets a
/// denial as a tool error.
#[test]
fn issue14_the_mcp_inspector_cli_lists_and_calls_tools() {
    let inspector = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/inspector/node_modules/.bin/mcp-inspector");
    assert!(
        inspector.exists(),
        "the MCP Inspector is not installed; run: bash .ci/setup (or npm install --prefix target/inspector @modelcontextprotocol/inspector@2.12.0)"
    );
    let home = Home::new();
    let fx = Fixture::new();
    let h = home.dir.path();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    // The Inspector gives the server only the environment it is told.
    let env = [
        format!("XDG_CONFIG_HOME={}", h.join("config").display()),
        format!("XDG_DATA_HOME={}", h.join("data").display()),
        format!("XDG_CACHE_HOME={}", cache.display()),
        format!("HOME={}", h.display()),
    ];
    let inspect = |method: &[&str]| -> Value {
        let mut cmd = Command::new(&inspector);
        cmd.arg("--cli");
        for e in &env {
            cmd.args(["-e", e]);
        }
        cmd.args(["--connect-timeout", "120000", env!("CARGO_BIN_EXE_warden")])
            .args(["mcp", "--workspace", fx.ws.to_str().unwrap()])
            .args(method)
            .current_dir(fx.tmp.path());
        let out = cmd.output().expect("run the MCP Inspector");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{method:?}: {e}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        // It exits non-zero exactly when the result is a tool error.
        assert_eq!(
            out.status.success(),
            v["isError"] != true,
            "{method:?}: {v}"
        );
        v
    };
    let listed = inspect(&["--method", "tools/list"]);
    let tools = listed["tools"].as_array().unwrap();
    let read = tools.iter().find(|t| t["name"] == "fs__read").unwrap();
    assert_eq!(read["annotations"]["readOnlyHint"], true, "{read}");
    assert_eq!(read["outputSchema"]["type"], "object", "{read}");
    let write = tools.iter().find(|t| t["name"] == "edit__write").unwrap();
    assert_eq!(write["annotations"]["readOnlyHint"], false, "{write}");

    let r = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "fs__read",
        "--tool-arg",
        "path=a.txt",
    ]);
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["content"], "hi", "{r}");

    let r = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "edit__write",
        "--tool-arg",
        "path=.git/config",
        "--tool-arg",
        "content=pwned",
    ]);
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"].as_str().unwrap().contains(".git"),
        "{r}"
    );
    assert_eq!(fx.read(".git/config"), "cfg");
}
