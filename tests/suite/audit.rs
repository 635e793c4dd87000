//! The audit log through the real `warden` binary (issue 6): every decision
//! recorded before it takes effect, `warden log` answering "what did this
//! plugin do and who allowed it", `warden log verify` catching tampering,
//! and actions refused when they cannot be recorded.

use super::common::{Fixture, component};
use super::harness::{Ran, Warden};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

fn write_input(path: &str, content: &str) -> String {
    serde_json::json!({"path": path, "content": content}).to_string()
}

#[test]
fn every_decision_is_recorded_with_the_rule_that_decided() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    w.install("hostile", &[]);
    w.ok(&[
        "call",
        "edit.write",
        "--workspace",
        ws,
        "--input",
        &write_input("b.txt", "b"),
    ]);
    // A capability use the host refuses.
    let r = w.run(&[
        "call",
        "hostile.write",
        "--workspace",
        ws,
        "--input",
        &write_input(".git/config", "pwned"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // A grant taken away, and the write it now refuses.
    w.ok(&["plugin", "grant", "edit", "--none"]);
    let r = w.run(&[
        "call",
        "edit.write",
        "--workspace",
        ws,
        "--input",
        &write_input("c.txt", "c"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!fx.ws.join("c.txt").exists());

    let all = w.records(&[]);
    let summary: Vec<String> = all
        .iter()
        .map(|e| {
            let r = &e["record"];
            format!(
                "{} {} {}{}",
                r["kind"].as_str().unwrap(),
                r["decision"].as_str().unwrap(),
                r["plugin"].as_str().unwrap_or("-"),
                r["tool"]
                    .as_str()
                    .map(|t| format!(".{t}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "install allow hostile",
            "call allow edit.write",
            "result allow edit.write",
            "call allow hostile.write",
            "denial deny hostile.write",
            "result deny hostile.write",
            "grant allow edit",
            // Issue 17: with nothing granted the call runs, and the write
            // is the denial.
            "call allow edit.write",
            "denial deny edit.write",
            "result deny edit.write",
        ]
    );
    let install = &all[0]["record"];
    assert_eq!(install["approved_by"], "--yes on the command line");
    assert!(
        install["detail"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let call = &all[1]["record"];
    assert_eq!(call["session"], "cli");
    assert_eq!(call["turn"], 1);
    assert_eq!(call["rule"][0], format!("files  write {ws}"));
    let denial = &all[4]["record"];
    assert_eq!(denial["capability"], "files");
    assert_eq!(denial["operation"], "write");
    assert_eq!(denial["resource"], format!("{ws}/.git/config"));
    assert_eq!(denial["allow"], "file:.git:write");
    assert_eq!(all[6]["record"]["rule"][0], "nothing");
    assert_eq!(all[6]["record"]["detail"]["before"][0], "files  write .");
    assert_eq!(all[7]["record"]["rule"][0], "nothing");
    let refused = &all[8]["record"];
    assert_eq!(refused["capability"], "files");
    assert_eq!(refused["resource"], format!("{ws}/c.txt"));
    assert_eq!(refused["reason"], "no grant covers this path");
    assert_eq!(refused["allow"], "file:c.txt:write");
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], i + 1);
        assert!(e["user"].as_str().unwrap().starts_with("uid "));
    }

    // What a reviewer reads: the denials, why, and what would allow them.
    let text = w
        .ok(&["log", "--decision", "deny", "--plugin", "hostile"])
        .stdout;
    assert!(
        text.contains("denial DENY hostile.write [session cli turn 2]"),
        "{text}"
    );
    assert!(
        text.contains(&format!("    what: files write {ws}/.git/config")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "    why: {ws}/.git is protected: it stays read-only unless granted by name"
        )),
        "{text}"
    );
    assert!(
        text.contains("    to allow: warden plugin grant hostile --add --grant file:.git:write"),
        "{text}"
    );
    assert!(!text.contains("edit"), "{text}");
    // edit: a call and its result, the grant, then (issue 17: the call
    // runs with nothing granted) a call, its one denial and its result.
    assert_eq!(w.records(&["--plugin", "edit"]).len(), 6);
    assert_eq!(
        w.records(&["--session", "cli", "--decision", "allow"])
            .len(),
        4
    );
    assert_eq!(w.records(&["--since", "1h"]).len(), all.len());
    assert!(w.records(&["--since", "2999-01-01"]).is_empty());
    let r = w.run(&["log", "--since", "last tuesday"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`last tuesday` is not a time"),
        "{}",
        r.stderr
    );

    let r = w.ok(&["log", "verify"]);
    assert!(
        r.stdout
            .contains(&format!("is intact: {} records", all.len())),
        "{}",
        r.stdout
    );
}

/// Records for the tampering cases: one call and its result each.
fn with_records(calls: usize) -> (Warden, Fixture) {
    let w = Warden::new();
    let fx = Fixture::new();
    for _ in 0..calls {
        w.ok(&[
            "call",
            "fs.read",
            "--workspace",
            fx.ws.to_str().unwrap(),
            "--input",
            r#"{"path":"a.txt"}"#,
        ]);
    }
    (w, fx)
}

fn lines(w: &Warden) -> Vec<String> {
    std::fs::read_to_string(w.log_path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn put(w: &Warden, lines: &[String]) {
    std::fs::write(w.log_path(), lines.join("\n") + "\n").unwrap();
}

/// How the log's end relates to its anchor after tampering.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// The end no longer matches the anchor: nothing more is recorded, so
    /// nothing more runs.
    Broken,
    /// The end still matches: calls go on, and verify keeps reporting the
    /// damage further up.
    Intact,
}

/// Tamper with the log's lines, check that `warden log verify` fails with
/// exit 6 naming where and what, check whether calls still run, then put
/// the log and its anchor back and check that warden works again.
fn case(
    w: &Warden,
    fx: &Fixture,
    tamper: impl FnOnce(&mut Vec<String>),
    end: End,
    at: &str,
    what: &str,
) {
    let head = w.data().join("audit.head");
    let log = std::fs::read(w.log_path()).unwrap();
    let anchor = std::fs::read(&head).unwrap();
    let mut l = lines(w);
    tamper(&mut l);
    put(w, &l);
    assert_detected(w, fx, end, at, what);
    std::fs::write(w.log_path(), log).unwrap();
    std::fs::write(&head, anchor).unwrap();
    w.ok(&["log", "verify"]);
    let ws = fx.ws.to_str().unwrap();
    w.ok(&[
        "call",
        "fs.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
}

fn assert_detected(w: &Warden, fx: &Fixture, end: End, at: &str, what: &str) {
    let verify = || {
        let r = w.run(&["log", "verify"]);
        assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("is NOT intact"), "{}", r.stdout);
        assert!(r.stdout.contains(&format!("  at {at}: ")), "{}", r.stdout);
        assert!(r.stdout.contains(what), "{}", r.stdout);
    };
    verify();
    let r = w.run(&["log", "verify", "--json"]);
    assert_eq!(r.code, 6);
    assert_eq!(r.json()["intact"], false);
    let ws = fx.ws.to_str().unwrap();
    let r = w.run(&[
        "call",
        "fs.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    match end {
        End::Broken => {
            assert_eq!(r.code, 5, "{}", r.stderr);
            assert!(
                r.stderr.contains(
                    "error: refused the call fs.read: it could not be recorded in the audit log: audit log"
                ),
                "{}",
                r.stderr
            );
            assert!(
                r.stderr
                    .contains("nothing more is appended until this is resolved"),
                "{}",
                r.stderr
            );
            assert!(!r.stdout.contains("\"hi\""), "the call ran: {}", r.stdout);
        }
        End::Intact => {
            assert_eq!(r.code, 0, "{}", r.stderr);
            verify();
        }
    }
}

/// What a forger who knows the format but not the key can do: edit
/// record 3, then recompute `prev` and a plain SHA-256 `mac` for it and
/// every later record.
fn forge_from_record_3(l: &mut [String]) {
    use sha2::Digest;
    let mac_of = |line: &str| line[line.len() - 66..line.len() - 2].to_string();
    let mut prev = mac_of(&l[1]);
    for line in l.iter_mut().skip(2) {
        let old_prev = serde_json::from_str::<Value>(line).unwrap()["prev"]
            .as_str()
            .unwrap()
            .to_string();
        let mut body = line[..line.len() - 74].replace(&old_prev, &prev);
        if body.contains("\"seq\":3,") {
            body = body.replace("\"plugin\":\"fs\"", "\"plugin\":\"innocent\"");
        }
        let mac = hex::encode(sha2::Sha256::digest(format!("{body}}}")));
        *line = format!("{body},\"mac\":\"{mac}\"}}");
        prev = mac;
    }
}

#[test]
fn log_verify_detects_every_kind_of_tampering() {
    let (w, fx) = with_records(3);
    assert_eq!(lines(&w).len(), 6);
    let mac_mismatch =
        "its MAC does not match: the record was edited, or written without warden's key";
    let edit = |l: &mut Vec<String>| l[2] = l[2].replace("\"fs\"", "\"xx\"");
    case(
        &w,
        &fx,
        edit,
        End::Intact,
        "record 3 (line 3)",
        mac_mismatch,
    );
    case(
        &w,
        &fx,
        |l| forge_from_record_3(l),
        End::Broken,
        "record 3 (line 3)",
        mac_mismatch,
    );
    for n in [1, 2, 5] {
        let n_before = lines(&w).len();
        case(
            &w,
            &fx,
            |l| l.truncate(l.len() - n),
            End::Broken,
            "the end of the log",
            &format!(
                "the log has {} records but its anchor records {n_before}: records were cut from the end, or an older copy of the log was put back",
                n_before - n
            ),
        );
    }
    let reordered =
        "sequence number 3 where 2 was expected: records were removed, inserted or reordered";
    case(
        &w,
        &fx,
        |l| l.swap(1, 2),
        End::Intact,
        "record 2 (line 2)",
        reordered,
    );
    let removed = "sequence number 5 where 4 was expected";
    case(
        &w,
        &fx,
        |l| drop(l.remove(3)),
        End::Intact,
        "record 4 (line 4)",
        removed,
    );
    let inserted = "sequence number 2 where 3 was expected";
    case(
        &w,
        &fx,
        |l| l.insert(2, l[1].clone()),
        End::Intact,
        "record 3 (line 3)",
        inserted,
    );
    let n = lines(&w).len() + 1;
    case(
        &w,
        &fx,
        |l| l.push(r#"{"seq":99,"forged":true}"#.into()),
        End::Broken,
        &format!("record {n} (line {n})"),
        "not a record (too short to hold a MAC)",
    );

    // Replaying an older copy of the whole log.
    let old = std::fs::read(w.log_path()).unwrap();
    let n = lines(&w).len();
    let ws = fx.ws.to_str().unwrap();
    w.ok(&[
        "call",
        "fs.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    std::fs::write(w.log_path(), &old).unwrap();
    assert_detected(
        &w,
        &fx,
        End::Broken,
        "the end of the log",
        &format!(
            "the log has {n} records but its anchor records {}: records were cut from the end, or an older copy of the log was put back",
            n + 2
        ),
    );
}

#[test]
fn a_forged_newline_in_a_path_stays_inside_its_record() {
    let w = Warden::new();
    let fx = Fixture::new();
    let evil = "x\n{\"seq\":3,\"record\":{\"kind\":\"call\"}}\r\u{1b}[2J";
    let input = serde_json::json!({"path": evil}).to_string();
    let r = w.run(&[
        "call",
        "fs.read",
        "--workspace",
        fx.ws.to_str().unwrap(),
        "--input",
        &input,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(lines(&w).len(), 2);
    w.ok(&["log", "verify"]);
    let all = w.records(&[]);
    assert_eq!(all[0]["record"]["detail"]["input"], input);
    // The text view escapes it: no raw newline or escape sequence.
    let text = w.ok(&["log"]).stdout;
    assert!(!text.contains('\u{1b}'), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with('#')).count(),
        2,
        "{text}"
    );
}

#[test]
fn concurrent_warden_processes_keep_the_chain_valid() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap().to_string();
    let children: Vec<_> = (0..8)
        .map(|_| {
            w.command(&[
                "call",
                "fs.read",
                "--workspace",
                &ws,
                "--input",
                r#"{"path":"a.txt"}"#,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = w.ok(&["log", "verify"]);
    assert!(r.stdout.contains("is intact: 16 records"), "{}", r.stdout);
    let all = w.records(&[]);
    let calls = all.iter().filter(|e| e["record"]["kind"] == "call").count();
    assert_eq!(calls, 8);
}

#[test]
fn an_action_that_cannot_be_recorded_is_refused() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let write = write_input("new.txt", "x");
    std::fs::create_dir_all(w.data()).unwrap();
    // The disk is full.
    std::os::unix::fs::symlink("/dev/full", w.log_path()).unwrap();
    let r = w.run(&["call", "edit.write", "--workspace", ws, "--input", &write]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("error: refused the call edit.write: it could not be recorded in the audit log: cannot append to"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(!fx.ws.join("new.txt").exists());
    // Grants and installs are refused alike.
    let r = w.run(&["plugin", "grant", "edit", "--none"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused changing the grant of edit"),
        "{}",
        r.stderr
    );
    assert!(
        !w.home
            .path()
            .join("config/warden/grants/edit.toml")
            .exists()
    );
    let hostile = component("hostile");
    let r = w.run(&["plugin", "install", hostile.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused installing hostile"),
        "{}",
        r.stderr
    );
    assert!(!w.data().join("plugins/hostile").exists());
    // The log cannot be opened (a directory in its place; as root,
    // permissions alone would not stop the write).
    std::fs::remove_file(w.log_path()).unwrap();
    std::fs::create_dir(w.log_path()).unwrap();
    let r = w.run(&["call", "edit.write", "--workspace", ws, "--input", &write]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("cannot open"), "{}", r.stderr);
    assert!(r.stderr.contains("Is a directory"), "{}", r.stderr);
    assert!(!fx.ws.join("new.txt").exists());
    // Once the log is writable again, the same call works.
    std::fs::remove_dir(w.log_path()).unwrap();
    w.ok(&["call", "edit.write", "--workspace", ws, "--input", &write]);
    assert_eq!(std::fs::read_to_string(fx.ws.join("new.txt")).unwrap(), "x");
    w.ok(&["log", "verify"]);
}

/// Send JSON-RPC lines to `warden mcp` on stdio; the answer to the
/// `tools/call` (id 2).
pub fn mcp_call(w: &Warden, ws: &str, tool: &str, arguments: Value) -> Value {
    let call = serde_json::json!({"name": tool, "arguments": arguments});
    mcp_requests(w, ws, &[("tools/call", call)]).remove(0)
}

/// Initialize `warden mcp` on stdio, then send each `(method, params)`
/// request in turn (ids 2, 3, …); their answers, in order.
pub fn mcp_requests(w: &Warden, ws: &str, requests: &[(&str, Value)]) -> Vec<Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = w
        .command(&["mcp", "--workspace", ws])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut messages = vec![
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "audit-test", "version": "0"}}}),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ];
    for (i, (method, params)) in requests.iter().enumerate() {
        messages.push(
            serde_json::json!({"jsonrpc": "2.0", "id": i + 2, "method": method, "params": params}),
        );
    }
    for m in &messages {
        writeln!(stdin, "{m}").unwrap();
    }
    let mut answers = vec![Value::Null; requests.len()];
    let mut left = requests.len();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let Some(i) = v["id"].as_u64().and_then(|id| id.checked_sub(2)) {
            answers[i as usize] = v;
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
    drop(stdin);
    child.wait().unwrap();
    answers
}

#[test]
fn mcp_calls_are_recorded_and_refused_when_they_cannot_be() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let v = mcp_call(&w, ws, "fs__read", serde_json::json!({"path": "a.txt"}));
    assert_eq!(v["result"]["isError"], false, "{v}");
    let all = w.records(&["--plugin", "fs"]);
    let kinds: Vec<&str> = all
        .iter()
        .filter_map(|e| e["record"]["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["call", "result"]);
    assert_eq!(all[0]["record"]["rule"][0], format!("files  read {ws}"));
    assert_eq!(all[1]["record"]["outcome"], "ok");

    std::fs::remove_file(w.log_path()).unwrap();
    std::fs::remove_file(w.data().join("audit.head")).unwrap();
    std::os::unix::fs::symlink("/dev/full", w.log_path()).unwrap();
    // The server starts (it cannot read the log, and says so on stderr),
    // refuses each call it cannot record as a tool error, keeps answering,
    // and says why it cannot show its audit records.
    let write = serde_json::json!({"name": "edit__write",
        "arguments": {"path": "new.txt", "content": "x"}});
    let read = serde_json::json!({"name": "fs__read", "arguments": {"path": "a.txt"}});
    let audit = serde_json::json!({"uri": "warden://session/audit"});
    let answers = mcp_requests(
        &w,
        ws,
        &[
            ("tools/call", write),
            ("tools/call", read),
            ("resources/read", audit),
            ("tools/list", serde_json::json!({})),
        ],
    );
    for (v, qualified) in answers.iter().zip(["edit.write", "fs.read"]) {
        assert_eq!(v["result"]["isError"], true, "{v}");
        let text = v["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!(
                "{qualified}: refused: it could not be recorded in the audit log: cannot append to"
            )),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
    }
    let why = answers[2]["error"]["message"].as_str().unwrap();
    assert!(
        why.starts_with(
            "the audit log could not be read when this server's calls began (cannot read"
        ),
        "{}",
        answers[2]
    );
    assert!(why.contains("warden log --session mcp"), "{why}");
    assert!(answers[3]["result"]["tools"].as_array().unwrap().len() > 1);
    assert!(!fx.ws.join("new.txt").exists());
}

#[test]
fn each_program_run_is_recorded_before_it_starts() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    w.install("spawner", &["file:.:write", "program:sh"]);
    let input = serde_json::json!({"program": "sh", "args": ["-c", "echo ran > ran.txt"]});
    w.ok(&[
        "call",
        "spawner.run",
        "--workspace",
        ws,
        "--input",
        &input.to_string(),
    ]);
    let denied = serde_json::json!({"program": "cat", "args": ["a.txt"]});
    let r = w.run(&[
        "call",
        "spawner.run",
        "--workspace",
        ws,
        "--input",
        &denied.to_string(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let all = w.records(&["--plugin", "spawner"]);
    let kinds: Vec<String> = all
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["record"]["kind"].as_str().unwrap(),
                e["record"]["decision"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "install allow",
            "call allow",
            "use allow",
            "result allow",
            "call allow",
            "denial deny",
            "result deny"
        ]
    );
    let run = &all[2]["record"];
    assert_eq!(run["capability"], "process");
    assert_eq!(run["operation"], "run");
    assert_eq!(run["resource"], "sh -c echo ran > ran.txt");
    assert!(
        run["rule"][0]
            .as_str()
            .unwrap()
            .starts_with("program sh as /"),
        "{run}"
    );
    assert_eq!(run["detail"]["cwd"], ws);
    assert_eq!(all[5]["record"]["resource"], "cat a.txt");
    assert_eq!(all[5]["record"]["allow"], "program:cat");
    // The result says what the run changed in the workspace.
    assert_eq!(
        all[3]["record"]["detail"]["changed"],
        serde_json::json!(["ran.txt"])
    );
}

/// A stand-in OTLP/HTTP collector on 127.0.0.1: answers 200 to every POST
/// and hands over each request's head and body.
fn collector() -> (u16, std::sync::mpsc::Receiver<(String, Value)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            let _ = tx.send((head, serde_json::from_slice(&body).unwrap()));
        }
    });
    (port, rx)
}

/// The attributes of an exported OTLP/JSON log record, by key.
fn attributes(request: &Value) -> std::collections::BTreeMap<String, Value> {
    let record = &request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    record["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let v = &a["value"];
            let value = v
                .get("stringValue")
                .or_else(|| v.get("intValue"))
                .cloned()
                .unwrap();
            (a["key"].as_str().unwrap().to_string(), value)
        })
        .collect()
}

#[test]
fn records_are_exported_to_an_otlp_collector() {
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().unwrap();
    let (port, requests) = collector();
    let r: Ran = w
        .command(&[
            "call",
            "hostile.write",
            "--workspace",
            ws,
            "--input",
            &write_input(".git/config", "x"),
        ])
        .env("WARDEN_OTLP_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2, "hostile is not installed yet: {}", r.stderr);
    w.install("hostile", &[]);
    let r: Ran = w
        .command(&[
            "call",
            "hostile.write",
            "--workspace",
            ws,
            "--input",
            &write_input(".git/config", "x"),
        ])
        .env("WARDEN_OTLP_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let got: Vec<(String, Value)> = (0..3)
        .map(|_| {
            requests
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap()
        })
        .collect();
    let local = w.records(&[]);
    assert_eq!(local.len(), 4, "install, call, denial, result");
    for ((head, body), entry) in got.iter().zip(&local[1..]) {
        assert!(head.starts_with("POST /v1/logs HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let a = attributes(body);
        assert_eq!(a["warden.seq"], entry["seq"].to_string(), "{body}");
        assert_eq!(a["warden.mac"], entry["mac"], "{body}");
        assert_eq!(a["warden.kind"], entry["record"]["kind"]);
        assert_eq!(a["warden.plugin"], "hostile");
        let resource = body["resourceLogs"][0]["resource"]["attributes"]
            .as_array()
            .unwrap();
        let service = resource
            .iter()
            .find(|a| a["key"] == "service.name")
            .unwrap();
        assert_eq!(service["value"]["stringValue"], "warden");
    }
    let denial = attributes(&got[1].1);
    assert_eq!(denial["warden.decision"], "deny");
    assert_eq!(denial["warden.allow"], "file:.git:write");
    assert_eq!(denial["warden.resource"], format!("{ws}/.git/config"));
    assert_eq!(
        got[1].1["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"],
        "WARN"
    );

    // A collector that is down refuses nothing: the local log is the record.
    drop(requests);
    let r: Ran = w
        .command(&[
            "call",
            "fs.read",
            "--workspace",
            ws,
            "--input",
            r#"{"path":"a.txt"}"#,
        ])
        .env("WARDEN_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("audit record 5 was not exported to http://127.0.0.1:9: Connection refused"),
        "{}",
        r.stderr
    );
    assert_eq!(w.records(&[]).len(), 6);
    let r: Ran = w
        .command(&[
            "call",
            "fs.read",
            "--workspace",
            ws,
            "--input",
            r#"{"path":"a.txt"}"#,
        ])
        .env("WARDEN_OTLP_ENDPOINT", "https://collector.example")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 5);
    assert!(
        r.stderr
            .contains("WARDEN_OTLP_ENDPOINT `https://collector.example` is not usable"),
        "{}",
        r.stderr
    );
}

/// Issue 16, classes 4 and 9, as a user meets them through `warden call`:
/// warden's own directories inside the workspace (here the workspace is
/// the home holding them) are invisible, and a FIFO is refused at once
/// instead of hanging the call. Each refusal is exit 3 with the denial in
/// the audit log, nothing on disk changes, and the host answers a benign
/// call afterwards.
#[test]
fn issue16_hidden_dirs_and_fifos_are_refused_audited_and_the_host_answers() {
    let w = Warden::new();
    w.install("hostile", &[]);
    let ws = w.home.path().to_path_buf();
    let ws_arg = ws.to_str().unwrap();
    std::fs::write(ws.join("note.txt"), "hello").unwrap();
    let fifo = ws.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let key = w.data().join("audit.key");
    let key_before = std::fs::read(&key).unwrap();
    let read = |path: &str| {
        w.run(&[
            "call",
            "hostile.read",
            "--workspace",
            ws_arg,
            "--input",
            &serde_json::json!({ "path": path }).to_string(),
        ])
    };
    for path in ["data/warden/audit.key", "config/warden", "pipe"] {
        let r = read(path);
        assert_eq!(r.code, 3, "{path}: {}{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains(&hex_of(&key_before)), "{path}");
    }
    let denials: Vec<Value> = w
        .records(&["--decision", "deny"])
        .into_iter()
        .map(|e| e["record"].clone())
        .filter(|r| r["kind"] == "denial")
        .collect();
    let reason_of = |resource: &Path| {
        denials
            .iter()
            .find(|d| d["resource"] == resource.display().to_string())
            .map(|d| d["reason"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no denial of {} in {denials:?}", resource.display()))
    };
    let hidden = w.data();
    assert!(
        reason_of(&key).starts_with(&format!(
            "{} is warden's own directory: no plugin may see or change it",
            hidden.display()
        )),
        "{denials:?}"
    );
    assert!(
        reason_of(&fifo).starts_with("it is not a regular file or directory"),
        "{denials:?}"
    );
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    let ok = read("note.txt");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("hello"), "{}", ok.stdout);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
