//! `warden undo`, `warden rollback` and `warden diff`: the file changes
//! captured per turn (see [`warden_core::journal`]).

use super::App;
use serde_json::json;
use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use warden_core::audit::{Decision, Kind, Record};
use warden_core::escape::escape;
use warden_core::journal::diff::{Line, unified};
use warden_core::journal::{Change, Journal, State, TurnRecord};

impl App {
    fn journal(&self, workspace: &Path) -> anyhow::Result<Journal> {
        let ctx = self.context(workspace)?;
        let journal = Journal::open(self.registry.dirs(), &ctx.workspace)?;
        journal.recover()?;
        Ok(journal)
    }

    /// Undo the newest turn not undone yet.
    pub fn undo(&self, workspace: &Path, force: bool) -> anyhow::Result<ExitCode> {
        let journal = self.journal(workspace)?;
        let turns = journal.turns()?;
        // The last turn that changed something: a test run after an edit
        // is captured too, but undoing "nothing" is not what anyone means.
        let Some(last) = turns
            .iter()
            .rev()
            .find(|t| !t.undone && !t.changes.is_empty())
        else {
            anyhow::bail!(
                "nothing to undo in {}: no captured change is left (changes are captured around every call of a plugin that can change files, from `warden call`, `warden run` and `warden mcp`)",
                journal.workspace().display()
            );
        };
        // All of it: an agent's turn captures each call that can change
        // files as a part of the turn.
        let (session, turn) = (last.session.clone(), last.turn);
        let whole = turns
            .into_iter()
            .filter(|t| !t.undone && t.session == session && t.turn == turn)
            .collect();
        self.restore(&journal, whole, force)
    }

    /// Undo the turns of `session` after `to` (all of them without it).
    pub fn rollback(
        &self,
        session: &str,
        to: Option<u64>,
        workspace: &Path,
        force: bool,
    ) -> anyhow::Result<ExitCode> {
        let journal = self.journal(workspace)?;
        let all = session_turns(&journal, session)?;
        let undo: Vec<TurnRecord> = all
            .into_iter()
            .filter(|t| !t.undone && to.is_none_or(|n| t.turn > n))
            .collect();
        if undo.is_empty() {
            anyhow::bail!(
                "nothing to roll back: session `{session}` has no turn{} that is not undone already",
                to.map(|n| format!(" after {n}")).unwrap_or_default()
            );
        }
        self.restore(&journal, undo, force)
    }

    fn restore(
        &self,
        journal: &Journal,
        turns: Vec<TurnRecord>,
        force: bool,
    ) -> anyhow::Result<ExitCode> {
        let mut ids: Vec<String> = Vec::new();
        for t in &turns {
            let id = format!("{}/{}", t.session, t.turn);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut paths: Vec<&str> = turns
            .iter()
            .flat_map(|t| t.changes.iter().map(|c| c.path.as_str()))
            .collect();
        paths.sort_unstable();
        paths.dedup();
        let record = |decision, reason: Option<String>| Record {
            kind: Kind::Rollback,
            decision,
            resource: Some(journal.workspace().display().to_string()),
            session: turns.first().map(|t| t.session.clone()),
            turn: turns.iter().map(|t| t.turn).min(),
            reason,
            approved_by: Some(
                if force {
                    "--force on the command line"
                } else {
                    "the command line"
                }
                .into(),
            ),
            detail: Some(json!({"turns": ids, "paths": paths})),
            ..Record::default()
        };
        self.record(record(Decision::Allow, None))?;
        let restored = match journal.undo(&turns, force) {
            Ok(r) => r,
            Err(e) => {
                self.record(record(Decision::Deny, Some(e.to_string())))?;
                return Err(e.into());
            }
        };
        if self.json {
            self.print_json(&json!({"undone": ids, "restored": restored}))?;
        } else {
            eprintln!(
                "undid turn{} {}: restored {} path(s) in {}",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", "),
                restored.len(),
                journal.workspace().display()
            );
            for p in &restored {
                eprintln!("  {}", escape(p));
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Show a session's changes.
    pub fn diff(
        &self,
        session: &str,
        turn: Option<u64>,
        workspace: &Path,
        color: &str,
    ) -> anyhow::Result<ExitCode> {
        let journal = self.journal(workspace)?;
        let turns: Vec<TurnRecord> = session_turns(&journal, session)?
            .into_iter()
            .filter(|t| turn.is_none_or(|n| t.turn == n))
            .collect();
        if let (Some(n), true) = (turn, turns.is_empty()) {
            anyhow::bail!("session `{session}` has no turn {n}");
        }
        if self.json {
            return self.print_json(&turns).map(|()| ExitCode::SUCCESS);
        }
        let paint = match color {
            "always" => true,
            "never" => false,
            _ => std::io::stdout().is_terminal(),
        };
        let c = |code: &str, text: String| {
            if paint {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text
            }
        };
        for (i, t) in turns.iter().enumerate() {
            // The parts of one turn are shown under one heading.
            let same_turn = i > 0 && turns[i - 1].turn == t.turn;
            let status = match (t.undone, t.status) {
                (true, _) => " (undone)",
                (false, warden_core::journal::Status::Interrupted) => {
                    " (interrupted: warden stopped mid-turn)"
                }
                _ => "",
            };
            if !same_turn {
                let changes: usize = turns
                    .iter()
                    .filter(|u| u.turn == t.turn)
                    .map(|u| u.changes.len())
                    .sum();
                outln!(
                    "{}",
                    c(
                        "1",
                        format!(
                            "turn {} of session {}{status}: {changes} change(s)",
                            t.turn,
                            escape(&t.session),
                        )
                    )
                );
            }
            for change in &t.changes {
                for line in describe(&journal, change) {
                    let line = match line {
                        Out::Head(s) => c("1", s),
                        Out::Line(Line::Hunk(h)) => c("36", h),
                        Out::Line(Line::Same(s)) => format!(" {}", escape(&s)),
                        Out::Line(Line::Removed(s)) => c("31", format!("-{}", escape(&s))),
                        Out::Line(Line::Added(s)) => c("32", format!("+{}", escape(&s))),
                    };
                    outln!("{line}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn session_turns(journal: &Journal, session: &str) -> anyhow::Result<Vec<TurnRecord>> {
    let all = journal.turns()?;
    let mut sessions: Vec<&str> = all.iter().map(|t| t.session.as_str()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    if !sessions.contains(&session) {
        anyhow::bail!(
            "no session `{session}` in {}; sessions with captured turns here: {}",
            journal.workspace().display(),
            if sessions.is_empty() {
                "none".into()
            } else {
                sessions.join(", ")
            }
        );
    }
    Ok(all.into_iter().filter(|t| t.session == session).collect())
}

enum Out {
    Head(String),
    Line(Line),
}

/// A turn's changes as plain text, as `warden diff --color never` shows
/// them (the MCP server's turn resources).
pub(super) fn turn_text(journal: &Journal, t: &TurnRecord) -> String {
    let mut text = String::new();
    for change in &t.changes {
        for line in describe(journal, change) {
            let line = match line {
                Out::Head(s) | Out::Line(Line::Hunk(s)) => s,
                Out::Line(Line::Same(s)) => format!(" {}", escape(&s)),
                Out::Line(Line::Removed(s)) => format!("-{}", escape(&s)),
                Out::Line(Line::Added(s)) => format!("+{}", escape(&s)),
            };
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// One change: a header, then a line diff for text files.
fn describe(journal: &Journal, c: &Change) -> Vec<Out> {
    let path = escape(&c.path);
    let text = |s: &Option<State>| -> Option<Option<String>> {
        match s {
            None => Some(Some(String::new())),
            Some(State::File { sha256, .. }) => {
                let bytes = journal.content(sha256).ok()?;
                Some(String::from_utf8(bytes).ok().filter(|t| !t.contains('\0')))
            }
            _ => None,
        }
    };
    let kind = |s: &Option<State>| match s {
        None => "nothing".to_string(),
        Some(State::File { mode, .. }) => format!("file (mode {mode:o})"),
        Some(State::Dir { mode }) => format!("directory (mode {mode:o})"),
        Some(State::Symlink { target }) => format!("symlink to {}", escape(target)),
    };
    let verb = match (&c.before, &c.after) {
        (None, _) => "created",
        (_, None) => "deleted",
        _ => "changed",
    };
    let mut out = vec![Out::Head(format!(
        "{verb} {path}: {} -> {}",
        kind(&c.before),
        kind(&c.after)
    ))];
    let is_file = |s: &Option<State>| s.is_none() || matches!(s, Some(State::File { .. }));
    if is_file(&c.before) && is_file(&c.after) && !(c.before.is_none() && c.after.is_none()) {
        match (text(&c.before), text(&c.after)) {
            (Some(Some(a)), Some(Some(b))) => {
                out.push(Out::Head(format!("--- a/{path}\n+++ b/{path}")));
                out.extend(unified(&a, &b).into_iter().map(Out::Line));
            }
            (Some(None), _) | (_, Some(None)) => {
                out.push(Out::Head(format!("binary file {path} differs")))
            }
            _ => out.push(Out::Head(format!(
                "content of {path} is missing from the journal"
            ))),
        }
    }
    out
}
