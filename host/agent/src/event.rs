//! What happens during a session, as events: printed for people, streamed
//! as JSON lines by `warden exec --json`, and kept in the transcript.

use super::plan::Plan;
use super::provider::Usage;
use super::tools::Class;
use serde::{Deserialize, Serialize};

/// One event. Serialized with a `type` field, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SessionStarted {
        session: String,
        workspace: String,
        provider: String,
        model: String,
        approval: String,
        tools: Vec<String>,
    },
    /// A request to the model begins.
    TurnStarted {
        turn: u32,
    },
    /// The model's text for this turn.
    Message {
        turn: u32,
        text: String,
    },
    /// A request failed and is retried.
    Retrying {
        turn: u32,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    ToolCallRequested {
        turn: u32,
        call_id: String,
        /// The name the model used (may not be a tool at all).
        tool: String,
        /// The model's arguments, verbatim.
        arguments: String,
    },
    ToolCallApproved {
        call_id: String,
        tool: String,
        class: Class,
        /// `read`, `auto`, `user` or `remembered`.
        by: String,
    },
    ToolCallDenied {
        call_id: String,
        tool: String,
        reason: String,
    },
    ToolCallFinished {
        call_id: String,
        tool: String,
        /// False when the call failed or the tool said what it did failed
        /// (`"ok": false` in its result, as `exec.run` for a non-zero exit).
        ok: bool,
        /// What the model sees (capped).
        output: String,
        /// Bytes cut from the output before the model saw it.
        cut: usize,
        denials: Vec<DenialNote>,
    },
    FileChanged {
        call_id: String,
        path: String,
    },
    /// The model replaced its plan (the `update_plan` tool).
    PlanUpdated {
        turn: u32,
        plan: Plan,
    },
    /// The older part of the conversation was replaced by the model's
    /// summary of it: `reason` is `near_window` (the estimate reached
    /// [`crate::context::COMPACT_AT_PERCENT`] of the window) or `overflow`
    /// (the provider refused the conversation as too long).
    ContextCompacted {
        turn: u32,
        reason: String,
        /// Estimated tokens of the conversation before and after.
        tokens_before: u64,
        tokens_after: u64,
        window: u64,
        /// Items summarised, and items kept word for word.
        summarised: usize,
        kept: usize,
        summary: String,
    },
    /// Summarising was needed but could not be done; the request is sent
    /// as it is.
    CompactionFailed {
        turn: u32,
        reason: String,
        error: String,
    },
    TurnCompleted {
        turn: u32,
        usage: Usage,
        total: Usage,
    },
    /// The session ended: `done`, `max_turns`, `budget`, `cancelled` or
    /// `error`.
    SessionCompleted {
        reason: String,
        turns: u32,
        usage: Usage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// A refusal recorded during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialNote {
    pub capability: String,
    pub operation: String,
    pub resource: String,
    pub reason: String,
}
