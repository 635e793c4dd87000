//! `warden run`, `warden exec`, `warden sessions` and `warden resume`: the
//! agent loop on the command line.

use super::App;
use anyhow::Context as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::watch;
use warden_agent::approval::{Answer, Approvals, Asker, Mode};
use warden_agent::event::Event;
use warden_agent::govern::Governance;
use warden_agent::provider::{Item, Provider, Retry};
use warden_agent::session::{self, Transcript};
use warden_agent::tools::Toolbox;
use warden_agent::turns::{Agent, Ended, Limits, Sink};
use warden_agent::{config, instructions};
use warden_core::escape::escape;

/// What `run`, `exec` and `resume` share.
pub struct AgentArgs {
    pub workspace: PathBuf,
    pub profile: Option<String>,
    pub model: Option<String>,
    pub approval: Option<Mode>,
    pub max_turns: u32,
    pub token_budget: Option<u64>,
}

/// Exit code when the user cancelled (as a shell reports SIGINT).
const CANCELLED: u8 = 130;

impl App {
    /// Run `task` (or continue session `resume`) to its end.
    pub async fn agent(
        &self,
        task: &str,
        args: AgentArgs,
        interactive: bool,
        resume: Option<&str>,
    ) -> anyhow::Result<ExitCode> {
        let dirs = self.registry.dirs();
        let sessions = dirs.state.join("sessions");
        let loaded = match resume {
            Some(id) => Some(session::load(&sessions, id).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let workspace = match &loaded {
            Some(l) => l.header.workspace.clone(),
            None => args.workspace.clone(),
        };
        let endpoint = match config::resolve(
            &dirs.config.join("config.toml"),
            args.profile.as_deref(),
            args.model.as_deref(),
            &|k| std::env::var(k).ok(),
        ) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let mode = args.approval.unwrap_or(if interactive {
            Mode::Ask
        } else {
            Mode::ReadOnly
        });
        let can_ask = interactive && std::io::stdin().is_terminal();
        if mode == Mode::Ask && !interactive {
            eprintln!(
                "error: `warden exec` runs without a person to ask: use --approval read-only (the default) or --approval auto"
            );
            return Ok(ExitCode::from(2));
        }
        let ctx = self.context(&workspace)?;
        let id = loaded
            .as_ref()
            .map_or_else(session::new_id, |l| l.header.id.clone());
        // Every call is recorded before it runs and every call that can
        // change files is captured for undo, as with `warden call`: without
        // the log and the journal, nothing runs.
        let calls = self.session(
            ctx.clone(),
            &id,
            self.audit_log()
                .context("the agent cannot run without the audit log")?,
        );
        calls
            .journal()
            .context("the agent cannot run without the undo journal")?;
        let calls = std::sync::Arc::new(calls);
        let mut tools = Toolbox::new(calls.clone());
        for name in self.registry.names()? {
            let plugin = calls.plugin(&name).await?;
            match plugin.allowed() {
                Ok(_) => {
                    for note in tools.add(&plugin) {
                        eprintln!("warden: {note}");
                    }
                }
                Err(e) => tracing::info!("not offering plugin `{name}`: {e}"),
            }
        }
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .unwrap_or_else(|_| ctx.workspace.clone());
        let instructions = instructions::build(&ctx.workspace, &cwd);
        let mut approvals =
            Approvals::new(mode, Some(&dirs.config.join("approvals")), &ctx.workspace)
                .map_err(anyhow::Error::msg)?;
        let kind = endpoint.kind.name().to_string();
        let model = endpoint.model.clone();
        let provider = Provider::new(endpoint, Retry::default())?;

        let mut governance = Governance::new(calls.clone());
        let mut transcript =
            Transcript::create(&sessions, &id, &ctx.workspace, &kind, &model, task)
                .map_err(anyhow::Error::msg)
                .context("cannot keep the session's transcript")?;
        let mut items = loaded.map(|l| l.items).unwrap_or_default();
        let user = Item::User {
            text: task.to_string(),
        };
        transcript.item(&user);
        items.push(user);

        let mut sink = Output {
            json: self.json,
            transcript,
            streamed: false,
            progress: None,
        };
        sink.event(&Event::SessionStarted {
            session: id.clone(),
            workspace: ctx.workspace.display().to_string(),
            provider: kind,
            model,
            approval: mode.name().to_string(),
            tools: tools.tools().iter().map(|t| t.qualified.clone()).collect(),
        });
        let (cancel_tx, mut cancel) = watch::channel(false);
        let ctrl_c = tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if *cancel_tx.borrow() {
                    // A second Ctrl-C while the first is being handled.
                    std::process::exit(i32::from(CANCELLED));
                }
                let _ = cancel_tx.send(true);
            }
        });
        let mut terminal = Terminal;
        let mut agent = Agent {
            provider: &provider,
            tools: &tools,
            approvals: &mut approvals,
            asker: if can_ask {
                Some(&mut terminal as &mut dyn Asker)
            } else {
                None
            },
            workspace: &ctx.workspace,
            instructions: &instructions,
            limits: Limits {
                max_turns: args.max_turns,
                token_budget: args.token_budget,
            },
            guard: Some(&mut governance),
        };
        let ended = agent.run(&mut items, &mut sink, &mut cancel).await;
        sink.stop_progress();
        ctrl_c.abort();
        if !self.json {
            summary(&ended, &id);
        }
        Ok(ExitCode::from(match ended.reason {
            "done" => 0,
            "cancelled" => CANCELLED,
            "max_turns" | "budget" => 4,
            _ => 5,
        }))
    }

    /// `warden sessions`.
    pub fn sessions(&self) -> anyhow::Result<ExitCode> {
        let dir = self.registry.dirs().state.join("sessions");
        let all = session::list(&dir).map_err(anyhow::Error::msg)?;
        if self.json {
            self.print_json(&all)?;
            return Ok(ExitCode::SUCCESS);
        }
        if all.is_empty() {
            println!("no sessions yet (they are kept in {})", dir.display());
        }
        for h in all {
            let task: String = h.task.chars().take(60).collect();
            println!(
                "{}  {}  {}/{}  {}",
                h.id,
                h.workspace.display(),
                h.provider,
                escape(&h.model),
                escape(&task)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn summary(ended: &Ended, id: &str) {
    let u = ended.usage;
    let what = match ended.reason {
        "done" => "done".to_string(),
        _ => format!(
            "stopped: {}",
            ended.error.as_deref().unwrap_or(ended.reason)
        ),
    };
    eprintln!(
        "\nwarden: {what} ({} turns, {} input + {} output tokens); session {id} (`warden resume {id}`)",
        ended.turns, u.input_tokens, u.output_tokens
    );
}

/// Prints events (JSON lines on stdout with `--json`, else text) and keeps
/// the transcript.
struct Output {
    json: bool,
    transcript: Transcript,
    /// Model text was streamed since the last newline.
    streamed: bool,
    /// The live line on stderr while the model thinks or a tool runs (drawn
    /// only when stderr is a terminal).
    progress: Option<indicatif::ProgressBar>,
}

impl Output {
    fn start_progress(&mut self, what: String) {
        self.stop_progress();
        if self.json || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(what);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        self.progress = Some(bar);
    }

    fn stop_progress(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
    }
}

impl Sink for Output {
    fn event(&mut self, event: &Event) {
        self.transcript.event(event);
        self.stop_progress();
        if self.json {
            if let Ok(line) = serde_json::to_string(event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        if self.streamed && !matches!(event, Event::Message { .. }) {
            println!();
            self.streamed = false;
        }
        match event {
            Event::SessionStarted {
                model,
                tools,
                approval,
                ..
            } => eprintln!(
                "warden: {} with {} tools, approval {approval}",
                escape(model),
                tools.len()
            ),
            Event::Retrying {
                attempt,
                delay_ms,
                reason,
                ..
            } => {
                eprintln!(
                    "warden: retry {attempt} in {delay_ms} ms: {}",
                    escape(reason)
                );
            }
            Event::ToolCallRequested {
                tool, arguments, ..
            } => {
                let args: String = arguments.chars().take(200).collect();
                eprintln!("→ {} {}", escape(tool), escape(&args));
            }
            Event::TurnStarted { .. } => self.start_progress("waiting for the model".into()),
            Event::ToolCallApproved { by, tool, .. } => {
                if by == "user" || by == "remembered" {
                    eprintln!("  approved ({by})");
                }
                self.start_progress(format!("running {}", escape(tool)));
            }
            Event::ToolCallDenied { reason, .. } => eprintln!("  ✗ not run: {}", escape(reason)),
            Event::ToolCallFinished {
                ok, output, cut, ..
            } => {
                let first = output.lines().next().unwrap_or_default();
                let first: String = first.chars().take(160).collect();
                let mark = if *ok { "✓" } else { "✗" };
                let cut = if *cut > 0 {
                    format!(" ({cut} bytes cut)")
                } else {
                    String::new()
                };
                eprintln!("  {mark} {}{cut}", escape(&first));
            }
            Event::FileChanged { path, .. } => eprintln!("  changed {}", escape(path)),
            _ => {}
        }
    }

    fn item(&mut self, item: &Item) {
        self.transcript.item(item);
    }

    fn text(&mut self, delta: &str) {
        if self.json {
            return;
        }
        self.stop_progress();
        let safe: String = delta
            .split('\n')
            .map(|l| escape(l).replace("\\u{9}", "\t"))
            .collect::<Vec<_>>()
            .join("\n");
        print!("{safe}");
        let _ = std::io::stdout().flush();
        self.streamed = true;
    }
}

/// Asks on the terminal: the preview on stderr, the answer from stdin.
struct Terminal;

impl Asker for Terminal {
    fn color(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    fn ask(&mut self, prompt: &str) -> Answer {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\n{prompt}\nRun it? [y]es / [a]lways (this exact request, this project) / [N]o: "
        );
        let _ = err.flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return Answer::No;
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Answer::Yes,
            "a" | "always" => Answer::Always,
            _ => Answer::No,
        }
    }
}
