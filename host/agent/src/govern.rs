//! What the agent records of calls it refuses itself. A call that passes
//! approval goes through the session's recorded call path
//! ([`warden_core::session`]), as with `warden call` and `warden mcp`: an audit
//! record before it runs (with the grant that allows it and who approved
//! it) and after it (each denial and the outcome), and, for a plugin that
//! can change files, a journal turn around it so `warden undo` and `warden
//! rollback SESSION` can take its changes back — changes by programs it
//! ran included. A call the model makes that never reaches the session (an
//! unknown tool, arguments that are not an object, approval withheld, a
//! plugin that cannot run any more) is recorded here.

use serde_json::json;
use std::sync::Arc;
use warden_core::session::{Note, Session};

/// The agent's hook for calls it refuses. [`Governance`] is the real one.
pub trait Guard {
    /// A call was refused before running.
    fn refused(&mut self, turn: u32, tool: &str, reason: &str);
}

/// What every record of one agent call carries: who approved it and the
/// agent's turn, which is also its journal turn.
pub fn note(turn: u32, approved_by: Option<&str>) -> Note {
    let mut detail = serde_json::Map::new();
    detail.insert("agent_turn".into(), json!(turn));
    Note {
        approved_by: approved_by.map(str::to_string),
        detail,
        turn: Some(u64::from(turn)),
    }
}

/// Refusals go to the session's audit log.
pub struct Governance {
    session: Arc<Session>,
}

impl Governance {
    pub fn new(session: Arc<Session>) -> Self {
        Governance { session }
    }
}

impl Guard for Governance {
    fn refused(&mut self, turn: u32, tool: &str, reason: &str) {
        let (plugin, name) = tool.split_once('.').unwrap_or((tool, ""));
        let name = (!name.is_empty()).then_some(name);
        if let Err(e) = self.session.refuse(plugin, name, reason, &note(turn, None)) {
            tracing::warn!("a refused call could not be recorded in the audit log: {e}");
        }
    }
}
