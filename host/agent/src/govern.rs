//! What the agent records and captures around each tool call, as `warden
//! call` and `warden mcp` do: an audit record before the call runs (with
//! the grant that allows it and who approved it) and after it (each denial
//! and the outcome), and, for a plugin that can change files, a journal turn
//! around the call so `warden undo` and `warden rollback SESSION` can take
//! its changes back — changes by programs it ran included.
//!
//! Everything fails closed: a call whose record or capture cannot be
//! written does not run, and the model is told why.

use super::tools::{Outcome, Tool};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use warden_core::audit::{Decision, Durability, Kind, Log, Record};
use warden_core::journal::{Journal, Turn};

/// The agent's hooks around a call. [`Governance`] is the real one.
pub trait Guard {
    /// The call was approved (`approved_by`) and is about to run. An error
    /// refuses it, with the reason for the model.
    fn before(
        &mut self,
        turn: u32,
        tool: &Tool,
        input: &str,
        approved_by: &str,
    ) -> Result<(), String>;
    /// The call ended. The paths it changed, when it was captured.
    fn after(&mut self, turn: u32, tool: &Tool, outcome: &Outcome) -> Option<Vec<String>>;
    /// A call was refused before running (unknown tool, arguments that are
    /// not an object, approval withheld).
    fn refused(&mut self, turn: u32, tool: &str, reason: &str);
}

/// What the guard knows of one plugin.
#[derive(Debug, Clone)]
pub struct PluginFacts {
    /// Its effective grant in words, recorded as the rule that allows a call.
    pub rule: Vec<String>,
    /// Whether its calls can change files (writable paths or programs), so
    /// they are captured for undo.
    pub captures: bool,
    /// Whether its calls can have an effect that outlives them (files,
    /// programs, network requests), so their record is forced to the disk
    /// before they run.
    pub lasting: bool,
}

/// The audit log and the journal, for one agent session.
pub struct Governance {
    log: Log,
    journal: Journal,
    session: String,
    workspace: PathBuf,
    plugins: HashMap<String, PluginFacts>,
    open: Option<Turn>,
}

impl Governance {
    /// Records go to `log` and captures to `journal`, as session `session`.
    pub fn new(
        log: Log,
        journal: Journal,
        session: &str,
        workspace: &Path,
        plugins: HashMap<String, PluginFacts>,
    ) -> Self {
        Governance {
            log,
            journal,
            session: session.to_string(),
            workspace: workspace.to_path_buf(),
            plugins,
            open: None,
        }
    }

    fn stamp(&self, record: Record, turn: u32, captured: Option<u64>) -> Record {
        let mut r = record.in_turn(&self.session, captured);
        let mut detail = r.detail.take().unwrap_or_else(|| json!({}));
        if let Some(map) = detail.as_object_mut() {
            map.insert("agent_turn".into(), json!(turn));
        }
        r.detail = Some(detail);
        r
    }
}

impl Guard for Governance {
    fn before(
        &mut self,
        turn: u32,
        tool: &Tool,
        input: &str,
        approved_by: &str,
    ) -> Result<(), String> {
        let facts = self
            .plugins
            .get(&tool.plugin)
            .cloned()
            .unwrap_or(PluginFacts {
                rule: vec![],
                captures: true,
                lasting: true,
            });
        let captured = if facts.captures {
            match self.journal.begin_next(&self.session) {
                Ok(t) => Some(t),
                Err(e) => {
                    let reason = format!(
                        "{} was not run: its file changes could not be captured for undo: {e}",
                        tool.qualified
                    );
                    self.refused(turn, &tool.qualified, &reason);
                    return Err(reason);
                }
            }
        } else {
            None
        };
        let number = captured.as_ref().map(|t| t.id().1);
        let mut record = Record::call(&tool.plugin, &tool.tool, &self.workspace, facts.rule, input);
        record.approved_by = Some(approved_by.to_string());
        let record = self.stamp(record, turn, number);
        let durability = if facts.lasting {
            Durability::Synced
        } else {
            Durability::Written
        };
        if let Err(e) = self.log.append_with(record, durability) {
            // Nothing ran: close the capture, which finds no change.
            if let Some(t) = captured {
                let _ = t.finish();
            }
            return Err(format!(
                "{} was not run: it could not be recorded in the audit log: {e}",
                tool.qualified
            ));
        }
        self.open = captured;
        Ok(())
    }

    fn after(&mut self, turn: u32, tool: &Tool, outcome: &Outcome) -> Option<Vec<String>> {
        let captured = self.open.take().map(|t| (t.id().1, t.finish()));
        let number = captured.as_ref().map(|(n, _)| *n);
        for d in &outcome.denials {
            let r = self.stamp(Record::denial(&tool.plugin, &tool.tool, d), turn, number);
            if let Err(e) = self.log.append_with(r, Durability::Written) {
                tracing::warn!("a denial could not be recorded in the audit log: {e}");
            }
        }
        let changed: Option<Vec<String>> = match &captured {
            Some((_, Ok(t))) => Some(t.changes.iter().map(|c| c.path.clone()).collect()),
            Some((_, Err(e))) => {
                tracing::warn!(
                    "{}'s changes could not be journaled ({e}); the next `warden undo` here captures them",
                    tool.qualified
                );
                None
            }
            None => None,
        };
        // The same record `warden call` and `warden mcp` write; a call that
        // never reached the plugin (cancelled first) ended as stopped.
        let mut result = outcome.ended.clone().unwrap_or_else(|| {
            let stopped = warden_core::Error::Trap {
                tool: tool.qualified.clone(),
                message: outcome.text.clone(),
            };
            Record::result(&tool.plugin, &tool.tool, Err(&stopped))
        });
        result.detail = changed.as_ref().map(|c| json!({"changed": c}));
        if let Err(e) = self
            .log
            .append_with(self.stamp(result, turn, number), Durability::Written)
        {
            tracing::warn!("a call's outcome could not be recorded in the audit log: {e}");
        }
        changed
    }

    fn refused(&mut self, turn: u32, tool: &str, reason: &str) {
        let (plugin, name) = tool.split_once('.').unwrap_or((tool, ""));
        let record = Record {
            kind: Kind::Call,
            decision: Decision::Deny,
            plugin: Some(plugin.to_string()),
            tool: (!name.is_empty()).then(|| name.to_string()),
            resource: Some(self.workspace.display().to_string()),
            reason: Some(reason.to_string()),
            ..Record::default()
        };
        if let Err(e) = self.log.append(self.stamp(record, turn, None)) {
            tracing::warn!("a refused call could not be recorded in the audit log: {e}");
        }
    }
}
