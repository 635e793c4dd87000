//! `warden chat` in a real terminal: tmux runs the real binary against the
//! scripted model server, keys are typed with `send-keys` and the screen is
//! read with `capture-pane`, as a person would use it.

use super::llm::{Server, Step, Turn};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the screen may take to show what a step waits for; a bound
/// that stops a broken test, not a measurement.
const PATIENCE: Duration = Duration::from_secs(90);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A home with warden's directories and a copy of the fixture project
/// whose test fails, with `make` granted to the exec plugin.
struct Home {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    project: PathBuf,
}

impl Home {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let project = root.join("project");
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::create_dir_all(project.join(".git")).unwrap();
        std::fs::write(project.join(".git/config"), "[core]\n").unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/agent-calc");
        for entry in std::fs::read_dir(fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), project.join(entry.file_name())).unwrap();
        }
        let home = Home {
            _tmp: tmp,
            root,
            project,
        };
        let out = home
            .warden()
            .args([
                "plugin",
                "grant",
                "exec",
                "--add",
                "--grant",
                "program:make",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The plugins are compiled once into the shared cache here, without
        // a bound, so the chat's first prompt is not waiting on that.
        let out = home.warden().arg("tools").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        home
    }

    fn env(&self) -> Vec<(&str, String)> {
        let r = &self.root;
        vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", r.join("home").display().to_string()),
            ("XDG_CONFIG_HOME", r.join("config").display().to_string()),
            ("XDG_DATA_HOME", r.join("data").display().to_string()),
            ("XDG_STATE_HOME", r.join("state").display().to_string()),
            (
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .join("cli-cache")
                    .display()
                    .to_string(),
            ),
        ]
    }

    fn warden(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.current_dir(&self.project).env_clear().envs(self.env());
        cmd
    }

    /// The events of every transcript, in file order.
    fn transcript_events(&self) -> Vec<Value> {
        let dir = self.root.join("state/warden/sessions");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut events = Vec::new();
        for f in files {
            for line in std::fs::read_to_string(&f).unwrap().lines() {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", f.display()));
                if let Some(e) = v.get("event") {
                    events.push(e.clone());
                }
            }
        }
        events
    }
}

/// warden in a tmux pane of its own server (socket), stopped when dropped.
struct Pane {
    socket: String,
}

impl Pane {
    /// Run `warden ARGS` in a new pane, talking to `server`.
    fn start(home: &Home, server: &Server, args: &[&str]) -> Self {
        Self::start_with(home, server, args, &[])
    }

    /// [`Pane::start`] with more environment variables.
    fn start_with(home: &Home, server: &Server, args: &[&str], extra: &[(&str, &str)]) -> Self {
        let socket = format!(
            "warden-chat-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut script = format!("cd {}\n", quote(&home.project.display().to_string()));
        let mut env = home.env();
        env.push(("OPENAI_BASE_URL", server.base_url()));
        env.push(("WARDEN_MODEL", "scripted".into()));
        for &(k, v) in extra {
            env.push((k, v.to_string()));
        }
        for (k, v) in env {
            script.push_str(&format!("export {k}={}\n", quote(&v)));
        }
        let mut line = quote(env!("CARGO_BIN_EXE_warden"));
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        // The pane stays after warden exits, so the test can read how.
        script.push_str(&format!(
            "{line}\necho \"[warden exited $?]\"\nexec sleep 600\n"
        ));
        let path = home.root.join(format!("{socket}.sh"));
        std::fs::write(&path, script).unwrap();
        let conf = home.root.join(format!("{socket}.conf"));
        std::fs::write(&conf, "set -g history-limit 100000\n").unwrap();
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f"])
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-s",
                "chat",
                "sh",
            ])
            .arg(&path)
            .status()
            .expect("tmux runs (bash .ci/setup installs it)");
        assert!(ok.success());
        Pane { socket }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// Press keys by tmux name (`Enter`, `Escape`, `C-c`).
    fn press(&self, key: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", "chat", key])
                .status
                .success()
        );
    }

    /// Type `text` literally, then Enter.
    fn line(&self, text: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", "chat", "-l", text])
                .status
                .success()
        );
        self.press("Enter");
    }

    /// Everything the pane showed, scrollback included, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "chat"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `needle` is on the screen `n` times; returns the screen.
    fn wait_n(&self, needle: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= n {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{needle:?} did not appear {n} times:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait(&self, needle: &str) -> String {
        self.wait_n(needle, 1)
    }

    /// Wait for the `n`th prompt (each comes after its status line, the
    /// only place that counts tokens like this).
    fn prompt(&self, n: usize) -> String {
        self.wait_n(" tokens (", n)
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn pgrep(pattern: &str) -> bool {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// Wait until `f` holds, within [`PATIENCE`].
fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn user_texts(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Issue 15: `warden` alone on a terminal opens the chat. Four prompts in
/// one session: a failing test run shows as failing (✗ exit 2), approvals
/// are answered y, a and n inline, Esc interrupts a running program (its
/// process is gone, the next prompt works and the model is told), and the
/// turns are numbered on across prompts.
#[test]
fn a_chat_asks_inline_and_an_interrupt_stops_the_tool_but_not_the_session() {
    let home = Home::new();
    let server = Server::start(vec![
        Step::turn(
            Turn::call("exec__run", json!({"cmd": ["make", "test"]})).saying("Running the tests."),
        ),
        Step::turn(Turn::text("The test fails: expected 5, got -1.")),
        Step::turn(Turn::call("exec__run", json!({"cmd": ["make", "test"]}))),
        Step::turn(Turn::text("Still failing.")),
        Step::turn(Turn::call("exec__run", json!({"cmd": ["make", "slow"]}))),
        Step::turn(
            Turn::call("exec__run", json!({"cmd": ["make", "test"]})).and_call(
                "edit__write",
                json!({"path": "notes.txt", "content": "x\n"}),
            ),
        ),
        Step::with(|req| {
            let users = user_texts(req);
            Turn::text(&format!("I have heard {} prompts.", users.len()))
        }),
    ]);
    let pane = Pane::start(&home, &server, &[]);
    pane.prompt(1);
    pane.line("run the tests");
    pane.wait("Run it?");
    pane.press("y");
    let screen = pane.prompt(2);
    assert!(
        screen.contains("exec wants to run exec.run\n  $ make test"),
        "{screen}"
    );
    assert!(screen.contains("Running the tests."), "{screen}");
    // make exits 2 when the test fails: shown as failing, with why.
    assert!(screen.contains("✗ exit 2"), "{screen}");
    assert!(!screen.contains("✓ exit"), "{screen}");
    assert!(
        screen.contains("The test fails: expected 5, got -1."),
        "{screen}"
    );

    pane.line("again, and always allow it");
    pane.wait_n("Run it?", 2);
    pane.press("a");
    pane.prompt(3);

    pane.line("now the slow target");
    pane.wait_n("Run it?", 3);
    pane.press("y");
    until("the program starts", || pgrep("sleep 31"));
    pane.press("Escape");
    let screen = pane.wait("interrupted; the conversation goes on");
    assert!(screen.contains("cancelled by the user"), "{screen}");
    until("the program's process tree is gone", || !pgrep("sleep 31"));
    pane.prompt(4);

    pane.line("write notes");
    // The remembered `make test` runs without asking; the edit asks.
    pane.wait("approved (remembered)");
    pane.wait_n("Run it?", 4);
    pane.press("n");
    let screen = pane.prompt(5);
    assert!(
        screen.contains("not run: the user declined edit.write"),
        "{screen}"
    );
    assert!(screen.contains("I have heard 4 prompts."), "{screen}");
    assert!(!home.project.join("notes.txt").exists());

    // The model saw the interrupted call's result and every prompt.
    let seen = server.seen();
    assert_eq!(seen.len(), 7);
    let last = &seen[6].body;
    assert_eq!(
        user_texts(last),
        [
            "run the tests",
            "again, and always allow it",
            "now the slow target",
            "write notes"
        ]
    );
    assert!(last.to_string().contains("cancelled by the user"), "{last}");

    pane.line("/quit");
    pane.wait("[warden exited 0]");
    // One session, its turns numbered on across prompts.
    let events = home.transcript_events();
    let turns: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "turn_started")
        .map(|e| e["turn"].as_u64().unwrap())
        .collect();
    assert_eq!(turns, [1, 2, 3, 4, 5, 6, 7]);
    let finished: Vec<bool> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_finished")
        .map(|e| e["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(finished, [false, false, false, false], "{events:?}");
    assert_eq!(events.last().unwrap()["type"], "session_completed");
}

/// Issue 15: each slash command, in one chat: the fix is shown by /diff,
/// recorded in /log and taken back by /undo; /approval and /model change
/// the next turn; /grants lists and (after a refusal at the confirmation)
/// changes nothing; /sessions, /new and /resume move between sessions with
/// the conversation kept.
#[test]
fn slash_commands_look_at_undo_and_steer_the_session() {
    let home = Home::new();
    let server = Server::start(vec![
        Step::turn(Turn::call(
            "edit__replace",
            json!({"path": "calc.sh", "old": "echo $(($1 - $2))", "new": "echo $(($1 + $2))"}),
        )),
        Step::turn(Turn::text("Fixed add().")),
        Step::turn(Turn::call(
            "edit__write",
            json!({"path": "notes.txt", "content": "x\n"}),
        )),
        Step::turn(Turn::text("I may not write.")),
        Step::with(|req| {
            let users = user_texts(req);
            Turn::text(&format!(
                "Resumed; the prompts were: {}.",
                users.join(" | ")
            ))
        }),
    ]);
    let pane = Pane::start(&home, &server, &["chat", "--approval", "auto"]);
    let screen = pane.prompt(1);
    let first = screen
        .split("warden: session ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    pane.line("fix add");
    pane.wait("Fixed add().");
    pane.prompt(2);
    assert!(home.project.join("calc.sh").exists());
    let fixed = std::fs::read_to_string(home.project.join("calc.sh")).unwrap();
    assert!(fixed.contains("$1 + $2"), "{fixed}");

    pane.line("/diff");
    let screen = pane.wait("+  echo $(($1 + $2))");
    assert!(screen.contains("-  echo $(($1 - $2))"), "{screen}");
    assert!(
        screen.contains(&format!("turn 1 of session {first}")),
        "{screen}"
    );
    pane.prompt(3);

    pane.line("/log");
    pane.wait("edit.replace");
    pane.prompt(4);

    pane.line("/undo");
    pane.wait("undid turn");
    pane.prompt(5);
    let back = std::fs::read_to_string(home.project.join("calc.sh")).unwrap();
    assert!(back.contains("$1 - $2"), "{back}");

    pane.line("/approval read-only");
    pane.wait("approval: read-only");
    pane.line("/model other-model");
    pane.wait("model: other-model");
    pane.prompt(7);
    pane.line("write notes");
    let screen = pane.wait("I may not write.");
    assert!(screen.contains("read-only mode"), "{screen}");
    assert!(!home.project.join("notes.txt").exists());
    assert_eq!(server.seen()[2].body["model"], "other-model");
    pane.prompt(8);

    pane.line("/grants");
    let screen = pane.wait("exec:");
    assert!(screen.contains("run    make"), "{screen}");
    pane.prompt(9);
    let grants_before = std::fs::read_to_string(home.root.join("config/warden/grants/exec.toml"))
        .unwrap_or_default();
    // Granting shows what would be granted and asks, as installing does.
    pane.line("/grants exec program:cargo");
    let screen = pane.wait("[y/N]");
    assert!(screen.contains("exec would be granted"), "{screen}");
    pane.line("n");
    pane.wait("nothing was granted");
    pane.prompt(10);
    let grants_after = std::fs::read_to_string(home.root.join("config/warden/grants/exec.toml"))
        .unwrap_or_default();
    assert_eq!(grants_before, grants_after);
    pane.line("/grants exec program:cargo");
    pane.wait_n("[y/N]", 2);
    pane.line("y");
    pane.wait("exec is now granted");
    pane.prompt(11);
    let granted =
        std::fs::read_to_string(home.root.join("config/warden/grants/exec.toml")).unwrap();
    assert!(granted.contains("cargo"), "{granted}");
    let log = home
        .warden()
        .args(["log", "--plugin", "exec"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("approved by: /grants in `warden chat`"),
        "{log}"
    );

    pane.line("/sessions");
    pane.wait(&format!(
        "{first}  {}  chat/scripted  fix add",
        home.project.display()
    ));
    pane.prompt(12);
    pane.line("/new");
    let screen = pane.wait_n("warden: session ", 2);
    let second = screen
        .split("warden: session ")
        .nth(2)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    pane.prompt(13);
    pane.line(&format!("/resume {first}"));
    pane.wait("resumed (");
    pane.prompt(14);
    pane.line("what now");
    let screen = pane.wait("Resumed; the prompts were: fix add | write notes | what now.");
    pane.prompt(15);
    let _ = screen;

    pane.line("/help");
    pane.wait("/approval ask|auto|read-only");
    pane.line("/bogus");
    pane.wait("unknown command /bogus; /help lists them");
    pane.line("/quit");
    pane.wait("[warden exited 0]");
}

/// The session id from the banner of the `n`th session shown (1-based).
fn session_id(screen: &str, n: usize) -> String {
    screen
        .split("warden: session ")
        .nth(n)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string()
}

/// Issue 15: in one chat, the model keeps a plan that is shown (and
/// updated) above the prompt; a turn whose several calls changed two files
/// is undone as one turn by /undo (after issue 13's journal); when the
/// context nears the window the older turns are summarised, announced with
/// the summary, and the conversation goes on from it; and `warden chat
/// --resume` starts from the summary with the plan restored.
#[test]
fn a_chat_keeps_a_plan_undoes_a_turn_of_several_calls_and_summarises_when_full() {
    let home = Home::new();
    let line = "the quick brown fox jumps over the lazy dog, again and again\n";
    std::fs::write(home.project.join("big.txt"), line.repeat(300)).unwrap();
    let calc = std::fs::read_to_string(home.project.join("calc.sh")).unwrap();
    let mut marked = Turn::call(
        "update_plan",
        json!({"plan": [
            {"step": "fix add()", "status": "completed"},
            {"step": "run the tests", "status": "completed"}
        ]}),
    );
    // The provider counts this request near the 12 000-token window.
    marked.input_tokens = 11_000;
    let server = Server::start(vec![
        Step::turn(
            Turn::call(
                "update_plan",
                json!({"plan": [
                    {"step": "fix add()", "status": "in_progress"},
                    {"step": "run the tests", "status": "pending"}
                ]}),
            )
            .and_call(
                "edit__replace",
                json!({"path": "calc.sh", "old": "echo $(($1 - $2))", "new": "echo $(($1 + $2))"}),
            )
            .and_call(
                "edit__write",
                json!({"path": "notes.txt", "content": "fixed add\n"}),
            )
            .and_call("fs__read", json!({"path": "big.txt"})),
        ),
        Step::turn(Turn::text("Fixed add() and wrote notes.")),
        Step::turn(marked),
        Step::with(|req| {
            let summarising = req["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("summarising the earlier part")
                && req.get("tools").is_none();
            Turn::text(if summarising {
                "SUMMARY-CHAT: add() was fixed, then undone by the user."
            } else {
                "not a summary request"
            })
        }),
        Step::turn(Turn::text("Done, from the summary.")),
    ]);
    let pane = Pane::start_with(
        &home,
        &server,
        &["chat", "--approval", "auto"],
        &[("WARDEN_CONTEXT_WINDOW", "12000")],
    );
    let screen = pane.prompt(1);
    let id = session_id(&screen, 1);
    assert!(screen.contains(" of 12.0k ("), "{screen}");
    pane.line("plan, fix and take notes");
    pane.wait("Fixed add() and wrote notes.");
    let screen = pane.prompt(2);
    assert!(
        screen.contains("plan:\n  → fix add()\n  · run the tests"),
        "{screen}"
    );
    // Shown as a plan, not as a call.
    assert!(!screen.contains("→ update_plan"), "{screen}");
    assert!(home.project.join("notes.txt").exists());
    assert!(
        std::fs::read_to_string(home.project.join("calc.sh"))
            .unwrap()
            .contains("$1 + $2")
    );

    // Both files of the turn come back with one /undo.
    pane.line("/undo");
    let screen = pane.wait("undid turn");
    assert!(
        screen.contains(&format!("undid turn {id}/1: restored 2 path(s)")),
        "{screen}"
    );
    pane.prompt(3);
    assert_eq!(
        std::fs::read_to_string(home.project.join("calc.sh")).unwrap(),
        calc
    );
    assert!(!home.project.join("notes.txt").exists());

    pane.line("mark the plan done");
    let screen = pane.wait("Done, from the summary.");
    assert!(
        screen.contains("the model summarised the 6 oldest messages (kept 4)"),
        "{screen}"
    );
    assert!(
        screen.contains("│ SUMMARY-CHAT: add() was fixed, then undone by the user."),
        "{screen}"
    );
    let screen = pane.prompt(4);
    let above = screen.rsplit("Done, from the summary.").next().unwrap();
    assert!(
        above.contains("plan:\n  ✓ fix add()\n  ✓ run the tests"),
        "{screen}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    let after = seen[4].body.to_string();
    assert!(after.contains("SUMMARY-CHAT"), "{after}");
    assert!(!after.contains("plan, fix and take notes"), "{after}");
    pane.line("/quit");
    pane.wait("[warden exited 0]");
    let events = home.transcript_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "context_compacted")
            .count(),
        1
    );

    // Resumed: the plan is back above the prompt, and the model reads the
    // summary, not the summarised prompt.
    let server = Server::start(vec![Step::with(|req| {
        let text = req.to_string();
        Turn::text(
            if text.contains("SUMMARY-CHAT") && !text.contains("plan, fix and take notes") {
                "Resumed from the summary."
            } else {
                "Resumed from the whole conversation."
            },
        )
    })]);
    let pane = Pane::start(&home, &server, &["chat", "--resume", &id]);
    let screen = pane.prompt(1);
    assert!(
        screen.contains(&format!("session {id} resumed")),
        "{screen}"
    );
    assert!(
        screen.contains("plan:\n  ✓ fix add()\n  ✓ run the tests"),
        "{screen}"
    );
    pane.line("what next");
    pane.wait("Resumed from the summary.");
    pane.prompt(2);
    pane.line("/quit");
    pane.wait("[warden exited 0]");
}
