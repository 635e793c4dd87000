//! `warden chat`, and `warden` alone on a terminal: one agent session kept
//! open. The model's text streams; tool calls show as they start and how
//! they ended; approvals are asked inline; Esc or Ctrl-C interrupts the
//! running turn and the conversation goes on at the next prompt. Slash
//! commands look at and take back what happened ([`slash`]).

mod keys;
mod slash;

use super::App;
use super::run::{AgentArgs, Opened, Output};
use keys::TurnKeys;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult};
use rustyline::{Cmd, Editor, EventHandler, KeyCode, KeyEvent, Modifiers};
use slash::Slash;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use tokio::sync::watch;
use warden_agent::approval::{Asker, Mode};
use warden_agent::context::Context;
use warden_agent::event::Event;
use warden_agent::provider::{Item, Provider, Retry, Usage};
use warden_agent::turns::{Limits, Sink};
use warden_core::escape::escape;

/// Most prompts kept in the history file.
const MAX_HISTORY: usize = 1000;

/// The prompt.
const PROMPT: &str = "› ";

/// The open session and what the chat keeps beside it.
struct Chat {
    opened: Opened,
    /// Prints events and keeps the transcript, from the first prompt on (a
    /// session nobody spoke in leaves no transcript).
    out: Option<Output>,
    /// Tokens used in this chat's session.
    usage: Usage,
    profile: Option<String>,
    max_turns: u32,
    token_budget: Option<u64>,
}

/// The line editor's helper: a line ending in `\` goes on, and `/` starts
/// a command that Tab completes.
struct Lines;

impl rustyline::completion::Completer for Lines {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let typed = &line[..pos];
        if !typed.starts_with('/') || typed.contains(' ') {
            return Ok((pos, vec![]));
        }
        let names = slash::NAMES
            .iter()
            .filter(|n| n.starts_with(typed))
            .map(|n| n.to_string())
            .collect();
        Ok((0, names))
    }
}

impl rustyline::hint::Hinter for Lines {
    type Hint = String;
}

impl rustyline::highlight::Highlighter for Lines {}

impl rustyline::validate::Validator for Lines {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if ctx.input().ends_with('\\') {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl rustyline::Helper for Lines {}

/// A count of tokens, short: `950`, `12.3k`, `400k`.
fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..100_000 => format!("{:.1}k", n as f64 / 1000.0),
        _ => format!("{}k", n / 1000),
    }
}

/// What the person typed, without the `\` that continued a line.
fn typed(input: &str) -> String {
    input.replace("\\\n", "\n")
}

impl App {
    /// The interactive session.
    pub async fn chat(&self, args: AgentArgs, resume: Option<&str>) -> anyhow::Result<ExitCode> {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "error: `warden chat` needs a terminal on standard input; scripts use `warden exec TASK --json`"
            );
            return Ok(ExitCode::from(2));
        }
        let endpoint = match self.endpoint(args.profile.as_deref(), args.model.as_deref()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let mode = args.approval.unwrap_or(Mode::Ask);
        let opened = self
            .open_agent(&args.workspace, endpoint, mode, resume)
            .await?;
        let mut chat = Chat {
            opened,
            out: None,
            usage: Usage::default(),
            profile: args.profile.clone(),
            max_turns: args.max_turns,
            token_budget: args.token_budget,
        };
        chat.banner(resume.is_some());

        let history = self.registry.dirs().state.join("chat-history");
        let config = rustyline::Config::builder()
            .max_history_size(MAX_HISTORY)?
            .auto_add_history(false)
            // The line above the prompt always ends in a newline; asking
            // the terminal where the cursor is would eat keys typed ahead.
            .check_cursor_position(false)
            .build();
        let mut editor: Editor<Lines, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(Lines));
        editor.bind_sequence(
            KeyEvent(KeyCode::Enter, Modifiers::ALT),
            EventHandler::Simple(Cmd::Newline),
        );
        // A missing history file is a first chat.
        let _ = editor.load_history(&history);

        // Ctrl-C in a turn is a key (see keys.rs); SIGINT from elsewhere
        // interrupts the turn the same way.
        let (cancel_tx, mut cancel) = watch::channel(false);
        let signalled = cancel_tx.clone();
        let ctrl_c = tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let _ = signalled.send(true);
            }
        });
        loop {
            chat.status();
            let (back, line) = tokio::task::spawn_blocking(move || {
                let line = editor.readline(PROMPT);
                (editor, line)
            })
            .await?;
            editor = back;
            let text = match line {
                Ok(text) => typed(&text),
                Err(ReadlineError::Interrupted) => {
                    eprintln!("(nothing is running; /quit or Ctrl-D leaves)");
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    ctrl_c.abort();
                    return Err(e.into());
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(text.as_str());
            if text.trim_start().starts_with('/') {
                match slash::parse(text.trim()) {
                    Ok(Slash::Quit) => break,
                    Ok(cmd) => {
                        if let Err(e) = self.slash(&mut chat, cmd).await {
                            eprintln!("error: {e:#}");
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                }
                continue;
            }
            chat.prompt(text, &cancel_tx, &mut cancel).await?;
        }
        ctrl_c.abort();
        chat.close();
        if let Err(e) = editor.save_history(&history) {
            tracing::warn!("cannot keep the chat history in {}: {e}", history.display());
        }
        let id = &chat.opened.id;
        eprintln!("warden: session {id} (`warden chat --resume {id}`)");
        Ok(ExitCode::SUCCESS)
    }

    async fn slash(&self, chat: &mut Chat, cmd: Slash) -> anyhow::Result<()> {
        let workspace = chat.opened.workspace.clone();
        let id = chat.opened.id.clone();
        match cmd {
            Slash::Help => outln!("{}", slash::HELP),
            // Handled by the loop.
            Slash::Quit => {}
            Slash::Diff(turn) => {
                self.diff(&id, turn, &workspace, "auto")?;
            }
            Slash::Undo => {
                self.undo(&workspace, false)?;
            }
            Slash::Log => {
                self.log(&super::Filter {
                    session: Some(id),
                    plugin: None,
                    decision: None,
                    since: None,
                })?;
            }
            Slash::Sessions => {
                self.sessions()?;
            }
            Slash::Grants => {
                for name in self.registry.names()? {
                    let plugin = chat.opened.calls.plugin(&name).await?;
                    match plugin.allowed() {
                        Ok(p) => {
                            outln!("{name}:");
                            for line in warden_core::session::rule(p.effective()) {
                                outln!("  {line}");
                            }
                        }
                        Err(e) => outln!("{name}: not offered: {e}"),
                    }
                }
            }
            Slash::Grant { plugin, specs } => {
                self.grant_confirmed(&plugin, &specs, "/grants in `warden chat`")?;
                let offered = chat.opened.tools.tools().iter().any(|t| t.plugin == plugin);
                if !offered {
                    outln!("(the model is offered `{plugin}`'s tools from the next session: /new)");
                }
            }
            Slash::Approval(mode) => {
                chat.opened.approvals.set_mode(mode);
                outln!("approval: {}", mode.name());
            }
            Slash::Model(None) => outln!(
                "model: {} ({})",
                escape(chat.opened.model()),
                chat.opened.kind
            ),
            Slash::Model(Some(name)) => {
                let endpoint = self.endpoint(chat.profile.as_deref(), Some(&name))?;
                // Another model may have another window.
                chat.opened.context = Context::new(endpoint.window());
                chat.opened.provider = Provider::new(endpoint, Retry::default())?;
                outln!("model: {}", escape(chat.opened.model()));
            }
            Slash::New => {
                let endpoint = chat.opened.provider.endpoint().clone();
                let mode = chat.opened.approvals.mode();
                let opened = self.open_agent(&workspace, endpoint, mode, None).await?;
                chat.switch(opened);
                chat.banner(false);
            }
            Slash::Resume(id) => {
                let endpoint = chat.opened.provider.endpoint().clone();
                let mode = chat.opened.approvals.mode();
                let opened = self
                    .open_agent(&workspace, endpoint, mode, Some(&id))
                    .await?;
                chat.switch(opened);
                chat.banner(true);
            }
        }
        Ok(())
    }
}

impl Chat {
    fn banner(&self, resumed: bool) {
        let o = &self.opened;
        eprintln!(
            "warden: session {}{} in {}: {} with {} tools, approval {}",
            o.id,
            if resumed {
                format!(" resumed ({} turns, {} messages)", o.turns, o.items.len())
            } else {
                String::new()
            },
            o.workspace.display(),
            escape(o.model()),
            o.tools.tools().len(),
            o.approvals.mode().name()
        );
        if resumed
            && let Some(Item::Assistant { text, .. }) = o
                .items
                .iter()
                .rev()
                .find(|i| matches!(i, Item::Assistant { text, .. } if !text.is_empty()))
        {
            let last: String = text.chars().take(400).collect();
            eprintln!("last answer: {}", escape(&last));
        }
        eprintln!("Esc or Ctrl-C interrupts a turn; /help lists commands; Ctrl-D leaves.");
    }

    /// Above the prompt: the plan, when the model keeps one, and a line
    /// with the session, its last turn, its tokens and how full the model's
    /// window is.
    fn status(&self) {
        let plan = &self.opened.plan;
        if !plan.is_empty() {
            eprintln!("plan:");
            for line in plan.lines() {
                eprintln!("  {line}");
            }
        }
        let used = self.opened.context_used();
        let window = self.opened.context.window;
        let u = self.usage;
        let budget = self
            .token_budget
            .map(|b| format!(" of {b}"))
            .unwrap_or_default();
        eprintln!(
            "\x1b[2m[session {} · turn {} · {} tokens{budget} ({} in, {} out) · context ~{} of {} ({}%) · approval {}]\x1b[0m",
            self.opened.id,
            self.opened.turns,
            u.total(),
            u.input_tokens,
            u.output_tokens,
            short(used),
            short(window),
            used.saturating_mul(100) / window.max(1),
            self.opened.approvals.mode().name()
        );
    }

    /// Give the model `text` and run turns until it answers, a limit stops
    /// it, or the person interrupts.
    async fn prompt(
        &mut self,
        text: String,
        cancel_tx: &watch::Sender<bool>,
        cancel: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let out = match &mut self.out {
            Some(out) => out,
            None => {
                let mut out = Output::new(false, self.opened.transcript(&text)?);
                out.record(&self.opened.started());
                self.out.insert(out)
            }
        };
        let user = Item::User { text };
        out.item(&user);
        self.opened.items.push(user);
        // An interrupt that came while nobody was working stops nothing.
        cancel_tx.send_replace(false);
        let limits = Limits {
            max_turns: self.max_turns,
            token_budget: self
                .token_budget
                .map(|b| b.saturating_sub(self.usage.total())),
        };
        let mut items = std::mem::take(&mut self.opened.items);
        let mut keys = TurnKeys::start(cancel_tx.clone());
        let asker = if keys.active() {
            Some(&mut keys as &mut dyn Asker)
        } else {
            None
        };
        let ended = self
            .opened
            .agent(asker, limits)
            .converse(&mut items, out, cancel)
            .await;
        drop(keys);
        out.stop_progress();
        out.end_text();
        self.opened.items = items;
        self.opened.turns = ended.turns;
        self.usage.add(ended.usage);
        match ended.reason {
            "done" => {}
            "cancelled" => eprintln!("warden: interrupted; the conversation goes on"),
            _ => eprintln!(
                "warden: stopped: {}",
                escape(ended.error.as_deref().unwrap_or(ended.reason))
            ),
        }
        Ok(())
    }

    /// The session ends: its transcript says so.
    fn close(&mut self) {
        if let Some(mut out) = self.out.take() {
            out.record(&Event::SessionCompleted {
                reason: "done".into(),
                turns: self.opened.turns,
                usage: self.usage,
                error: None,
            });
        }
    }

    fn switch(&mut self, opened: Opened) {
        self.close();
        self.opened = opened;
        self.usage = Usage::default();
    }
}
