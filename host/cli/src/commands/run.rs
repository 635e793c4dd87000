//! `warden run`, `warden exec`, `warden sessions` and `warden resume`: the
//! agent loop on the command line. [`Opened`] is what they and `warden
//! chat` share: a session's tools, approvals, model and transcript.

use super::App;
use anyhow::Context as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;
use warden_agent::approval::{Answer, Approvals, Asker, Mode};
use warden_agent::context::Context;
use warden_agent::event::Event;
use warden_agent::govern::Governance;
use warden_agent::plan::{self, Plan};
use warden_agent::provider::{Endpoint, Item, Provider, Retry};
use warden_agent::session::{self, Transcript};
use warden_agent::tools::Toolbox;
use warden_agent::turns::{Agent, Ended, Limits, Sink};
use warden_agent::{config, instructions};
use warden_core::escape::escape;
use warden_core::session::Session;

/// What `run`, `exec`, `resume` and `chat` share.
pub struct AgentArgs {
    pub workspace: PathBuf,
    pub profile: Option<String>,
    pub model: Option<String>,
    pub approval: Option<Mode>,
    pub max_turns: u32,
    pub token_budget: Option<u64>,
}

/// Exit code when the user cancelled (as a shell reports SIGINT).
pub(super) const CANCELLED: u8 = 130;

/// An agent session, open: everything a turn needs but the model's
/// conversation driver.
pub(super) struct Opened {
    pub id: String,
    pub workspace: PathBuf,
    pub sessions: PathBuf,
    pub calls: Arc<Session>,
    pub tools: Toolbox,
    pub instructions: String,
    pub approvals: Approvals,
    pub provider: Provider,
    pub kind: String,
    pub governance: Governance,
    /// The conversation so far (a resumed session's included).
    pub items: Vec<Item>,
    /// The last turn taken; the next is one more, across prompts and
    /// resumes.
    pub turns: u32,
    /// The model's plan.
    pub plan: Plan,
    /// How full the model's window is.
    pub context: Context,
}

impl Opened {
    pub fn model(&self) -> &str {
        &self.provider.endpoint().model
    }

    /// The transcript, started with `task` when it is new.
    pub fn transcript(&self, task: &str) -> anyhow::Result<Transcript> {
        Transcript::create(
            &self.sessions,
            &self.id,
            &self.workspace,
            &self.kind,
            self.model(),
            task,
        )
        .map_err(anyhow::Error::msg)
        .context("cannot keep the session's transcript")
    }

    /// The event that opens a run of turns.
    pub fn started(&self) -> Event {
        Event::SessionStarted {
            session: self.id.clone(),
            workspace: self.workspace.display().to_string(),
            provider: self.kind.clone(),
            model: self.model().to_string(),
            approval: self.approvals.mode().name().to_string(),
            tools: self
                .tools
                .tools()
                .iter()
                .map(|t| t.qualified.clone())
                .collect(),
        }
    }

    /// The model driver for one prompt, asking `asker` when approval is
    /// needed.
    pub fn agent<'a>(&'a mut self, asker: Option<&'a mut dyn Asker>, limits: Limits) -> Agent<'a> {
        Agent {
            provider: &self.provider,
            tools: &self.tools,
            approvals: &mut self.approvals,
            asker,
            workspace: &self.workspace,
            instructions: &self.instructions,
            limits,
            guard: Some(&mut self.governance),
            turn: self.turns,
            plan: &mut self.plan,
            context: &mut self.context,
        }
    }

    /// The tokens the next request would hold (an estimate).
    pub fn context_used(&self) -> u64 {
        let mut defs = self.tools.defs().to_vec();
        defs.push(warden_agent::plan::def());
        self.context
            .estimate(&self.instructions, &defs, &self.items)
    }
}

impl App {
    /// The model, from the profile, the environment and `--model`.
    pub(super) fn endpoint(
        &self,
        profile: Option<&str>,
        model: Option<&str>,
    ) -> Result<Endpoint, config::ConfigError> {
        config::resolve(
            &self.registry.dirs().config.join("config.toml"),
            profile,
            model,
            &|k| std::env::var(k).ok(),
        )
    }

    /// Open an agent session in `workspace` (or continue session `resume`,
    /// in its own workspace) talking to `endpoint`.
    pub(super) async fn open_agent(
        &self,
        workspace: &Path,
        endpoint: Endpoint,
        mode: Mode,
        resume: Option<&str>,
    ) -> anyhow::Result<Opened> {
        let dirs = self.registry.dirs();
        let sessions = dirs.state.join("sessions");
        let loaded = match resume {
            Some(id) => Some(session::load(&sessions, id).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let workspace = match &loaded {
            Some(l) => l.header.workspace.clone(),
            None => workspace.to_path_buf(),
        };
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
        let calls = Arc::new(calls);
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
        let approvals = Approvals::new(mode, Some(&dirs.config.join("approvals")), &ctx.workspace)
            .map_err(anyhow::Error::msg)?;
        let kind = endpoint.kind.name().to_string();
        let context = Context::new(endpoint.window());
        let provider = Provider::new(endpoint, Retry::default())?;
        let (items, turns, plan) = loaded
            .map(|l| (l.items, l.turns, l.plan))
            .unwrap_or_default();
        Ok(Opened {
            id,
            workspace: ctx.workspace,
            sessions,
            governance: Governance::new(calls.clone()),
            calls,
            tools,
            instructions,
            approvals,
            provider,
            kind,
            items,
            turns,
            plan,
            context,
        })
    }

    /// Run `task` (or continue session `resume`) to its end.
    pub async fn agent(
        &self,
        task: &str,
        args: AgentArgs,
        interactive: bool,
        resume: Option<&str>,
    ) -> anyhow::Result<ExitCode> {
        let endpoint = match self.endpoint(args.profile.as_deref(), args.model.as_deref()) {
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
        let mut opened = self
            .open_agent(&args.workspace, endpoint, mode, resume)
            .await?;
        let transcript = opened.transcript(task)?;
        let mut sink = Output::new(self.json, transcript);
        let user = Item::User {
            text: task.to_string(),
        };
        sink.item(&user);
        opened.items.push(user);
        sink.event(&opened.started());
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
        let limits = Limits {
            max_turns: args.max_turns,
            token_budget: args.token_budget,
        };
        let mut items = std::mem::take(&mut opened.items);
        let id = opened.id.clone();
        let asker = if can_ask {
            Some(&mut terminal as &mut dyn Asker)
        } else {
            None
        };
        let ended = opened
            .agent(asker, limits)
            .run(&mut items, &mut sink, &mut cancel)
            .await;
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
            outln!("no sessions yet (they are kept in {})", dir.display());
        }
        for h in all {
            let task: String = h.task.chars().take(60).collect();
            outln!(
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
pub(super) struct Output {
    json: bool,
    transcript: Transcript,
    /// Model text was streamed since the last newline.
    streamed: bool,
    /// The live line on stderr while the model thinks or a tool runs (drawn
    /// only when stderr is a terminal).
    progress: Option<indicatif::ProgressBar>,
}

impl Output {
    pub fn new(json: bool, transcript: Transcript) -> Self {
        Output {
            json,
            transcript,
            streamed: false,
            progress: None,
        }
    }

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

    pub fn stop_progress(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
    }

    /// Keep `event` in the transcript without showing it (the chat shows
    /// the session in its own words).
    pub fn record(&mut self, event: &Event) {
        self.transcript.event(event);
    }

    /// End a line of streamed text, if one is open.
    pub fn end_text(&mut self) {
        if self.streamed {
            outln!();
            self.streamed = false;
        }
    }
}

/// How a finished call is shown: the exit status for a program's run,
/// else the first line of what the model saw.
fn finished_line(ok: bool, output: &str) -> String {
    let mark = if ok { "✓" } else { "✗" };
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(output)
        && o.contains_key("exit_code")
    {
        let how = match (&o["exit_code"], o["timed_out"].as_bool(), &o["signal"]) {
            (_, Some(true), _) => "timed out".to_string(),
            (serde_json::Value::Number(n), _, _) => format!("exit {n}"),
            (_, _, serde_json::Value::Number(s)) => format!("killed by signal {s}"),
            _ => "ended".to_string(),
        };
        // The last line of stderr (or stdout) says why, usually.
        let last = ["stderr", "stdout"]
            .iter()
            .filter_map(|k| o[*k].as_str())
            .filter_map(|s| s.lines().rev().find(|l| !l.trim().is_empty()))
            .next()
            .unwrap_or_default();
        let last: String = last.chars().take(140).collect();
        return format!(
            "{mark} {how}{}",
            if last.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&last))
            }
        );
    }
    let first = output.lines().next().unwrap_or_default();
    let first: String = first.chars().take(160).collect();
    format!("{mark} {}", escape(&first))
}

impl Sink for Output {
    fn event(&mut self, event: &Event) {
        self.transcript.event(event);
        self.stop_progress();
        if self.json {
            if let Ok(line) = serde_json::to_string(event) {
                outln!("{line}");
            }
            return;
        }
        if !matches!(event, Event::Message { .. }) {
            self.end_text();
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
            // The plan is shown as a plan, not as a call.
            Event::ToolCallRequested { tool, .. } | Event::ToolCallFinished { tool, .. }
                if tool == plan::TOOL => {}
            Event::PlanUpdated { plan, .. } => {
                eprintln!("plan:");
                for line in plan.lines() {
                    eprintln!("  {line}");
                }
            }
            Event::ContextCompacted {
                reason,
                tokens_before,
                tokens_after,
                window,
                summarised,
                kept,
                summary,
                ..
            } => {
                let why = if reason == "overflow" {
                    "the provider found the conversation too long for the model's window"
                        .to_string()
                } else {
                    format!(
                        "the context reached ~{} of the model's {} tokens",
                        tokens_before, window
                    )
                };
                eprintln!(
                    "warden: {why}; the model summarised the {summarised} oldest messages (kept {kept}), now ~{tokens_after} tokens. The summary:"
                );
                for line in summary.lines().take(40) {
                    eprintln!("  │ {}", escape(line));
                }
            }
            Event::CompactionFailed { error, .. } => {
                eprintln!(
                    "warden: the older turns could not be summarised: {}",
                    escape(error)
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
                let cut = if *cut > 0 {
                    format!(" ({cut} bytes cut)")
                } else {
                    String::new()
                };
                eprintln!("  {}{cut}", finished_line(*ok, output));
            }
            Event::FileChanged { path, .. } => eprintln!("  changed {}", escape(path)),
            _ => {}
        }
    }

    fn item(&mut self, item: &Item) {
        self.transcript.item(item);
    }

    fn compacted(&mut self, items: &[Item]) {
        self.transcript.compacted(items);
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
        out!("{safe}");
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
