//! The records of a tool call, built the same way wherever a call runs
//! (`warden call`, MCP, the agent loop): before it runs, each refused
//! capability use, and how it ended.

use super::{Decision, Kind, Record};
use crate::capability::Denial;
use crate::runtime::{CallOutput, ToolFailure};
use std::path::Path;

/// Bytes of a call's input kept in its record (the digest covers all).
pub const AUDITED_INPUT_BYTES: usize = 1024;

impl Record {
    /// Before a call runs: the plugin, tool, workspace, the effective grant
    /// it runs under as `rule` lines (the CLI passes what it shows, e.g.
    /// `files  write /w/proj`) and its input (the first
    /// [`AUDITED_INPUT_BYTES`], with size and SHA-256).
    pub fn call(
        plugin: &str,
        tool: &str,
        workspace: &Path,
        rule: Vec<String>,
        input: &str,
    ) -> Self {
        use sha2::Digest as _;
        let mut shown = input.to_string();
        if shown.len() > AUDITED_INPUT_BYTES {
            let mut at = AUDITED_INPUT_BYTES;
            while !shown.is_char_boundary(at) {
                at -= 1;
            }
            shown.truncate(at);
            shown.push_str("…(cut)");
        }
        Record {
            kind: Kind::Call,
            decision: Decision::Allow,
            plugin: Some(plugin.into()),
            tool: Some(tool.into()),
            resource: Some(workspace.display().to_string()),
            rule,
            detail: Some(serde_json::json!({
                "input": shown,
                "input_bytes": input.len(),
                "input_sha256": hex::encode(sha2::Sha256::digest(input.as_bytes())),
            })),
            ..Record::default()
        }
    }

    /// A call refused before it ran, and why.
    pub fn refused_call(plugin: &str, tool: &str, workspace: &Path, why: &crate::Error) -> Self {
        let capability = match why {
            crate::Error::NotGranted { capability, .. } => Some(capability.to_string()),
            _ => None,
        };
        Record {
            kind: Kind::Call,
            decision: Decision::Deny,
            plugin: Some(plugin.into()),
            tool: Some(tool.into()),
            capability,
            resource: Some(workspace.display().to_string()),
            reason: Some(why.to_string()),
            ..Record::default()
        }
    }

    /// One capability use the host refused during a call, with the grant
    /// that would allow it.
    pub fn denial(plugin: &str, tool: &str, d: &Denial) -> Self {
        Record {
            kind: Kind::Denial,
            decision: Decision::Deny,
            plugin: Some(plugin.into()),
            tool: Some(tool.into()),
            capability: Some(d.capability.to_string()),
            operation: Some(d.operation.into()),
            resource: Some(d.resource.clone()),
            reason: Some(d.reason.clone()),
            allow: d.allow.clone(),
            ..Record::default()
        }
    }

    /// How a call ended: `ok`, `ok with denials`, `denied`, `failed`,
    /// `failed after a denial`, `refused by policy` or `stopped` (time,
    /// memory, crash, cancel).
    pub fn result(plugin: &str, tool: &str, out: Result<&CallOutput, &crate::Error>) -> Self {
        let (decision, outcome, reason) = match out {
            Ok(o) => match &o.result {
                Ok(_) if o.denials.is_empty() => (Decision::Allow, "ok", None),
                Ok(_) => (Decision::Deny, "ok with denials", None),
                Err(f @ ToolFailure::Denied { .. }) => {
                    (Decision::Deny, "denied", Some(failure_text(f)))
                }
                Err(f) if !o.denials.is_empty() => (
                    Decision::Deny,
                    "failed after a denial",
                    Some(failure_text(f)),
                ),
                Err(f) => (Decision::Allow, "failed", Some(failure_text(f))),
            },
            // The organisation's policy, asked again as the call began,
            // refused it: nothing ran.
            // (An unusable policy refuses what it governs just the same.)
            Err(e @ (crate::Error::PolicyDenied { .. } | crate::Error::Policy { .. })) => {
                (Decision::Deny, "refused by policy", Some(e.to_string()))
            }
            Err(e) => (Decision::Allow, "stopped", Some(e.to_string())),
        };
        Record {
            kind: Kind::Result,
            decision,
            plugin: Some(plugin.into()),
            tool: Some(tool.into()),
            outcome: Some(outcome.into()),
            reason,
            ..Record::default()
        }
    }

    /// The same record, as part of turn `turn` of `session`.
    pub fn in_turn(mut self, session: &str, turn: Option<u64>) -> Self {
        self.session = Some(session.into());
        self.turn = turn;
        self
    }
}

/// A tool's own failure in words (not escaped: the log's JSON escapes it,
/// and `warden log` escapes it for the terminal).
pub fn failure_text(f: &ToolFailure) -> String {
    match f {
        ToolFailure::InvalidInput { message } => format!("invalid input: {message}"),
        ToolFailure::Denied {
            capability,
            resource,
            reason,
        } if resource.is_empty() => format!("denied {capability}: {reason}"),
        ToolFailure::Denied {
            capability,
            resource,
            reason,
        } => format!("denied {capability} {resource}: {reason}"),
        ToolFailure::NotFound { message } => format!("not found: {message}"),
        ToolFailure::Failed { message } => message.clone(),
    }
}
