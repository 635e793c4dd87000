//! What a call produced: the tool's result or typed failure, the host's
//! refusals, and the plugin's log, each cut to the output limit.

use crate::bindings::exports::warden::plugin::tool::ToolError as WitToolError;
use crate::capability::Denial;
use serde::Serialize;

/// Why a tool reported failure (the plugin's own typed error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ToolFailure {
    /// The input was not usable.
    InvalidInput { message: String },
    /// The plugin says it was denied something.
    Denied {
        capability: String,
        resource: String,
        reason: String,
    },
    /// Something did not exist.
    NotFound { message: String },
    /// The tool failed.
    Failed { message: String },
}

/// Marks text cut to the output limit.
pub const TRUNCATED_MARK: &str =
    "… [truncated to the output limit; raise `limits.output_kib` in the plugin's manifest]";

/// Cut `text` to at most `limit` bytes (on a character boundary), marked.
fn cap_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut cut = limit.saturating_sub(TRUNCATED_MARK.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(TRUNCATED_MARK);
}

/// The log messages that fit in `limit` bytes together, then a mark: the
/// log is returned to the caller too, so it is no way around
/// `limits.output_kib` either.
pub(super) fn capped_log(messages: impl Iterator<Item = String>, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0usize;
    for m in messages {
        if used + m.len() > limit {
            out.push(format!("[log{}]", TRUNCATED_MARK.trim_start_matches('…')));
            break;
        }
        used += m.len();
        out.push(m);
    }
    out
}

impl ToolFailure {
    /// The failure with every text the plugin chose cut so that together
    /// they stay within `limit` bytes, like a result must: a failure is no
    /// way around `limits.output_kib`.
    pub fn capped(mut self, limit: usize) -> Self {
        match &mut self {
            ToolFailure::InvalidInput { message }
            | ToolFailure::NotFound { message }
            | ToolFailure::Failed { message } => cap_text(message, limit),
            ToolFailure::Denied {
                capability,
                resource,
                reason,
            } => {
                let third = limit / 3;
                cap_text(capability, third);
                cap_text(resource, third);
                cap_text(reason, third);
            }
        }
        self
    }
}

impl From<WitToolError> for ToolFailure {
    fn from(e: WitToolError) -> Self {
        match e {
            WitToolError::InvalidInput(message) => Self::InvalidInput { message },
            WitToolError::Denied(d) => Self::Denied {
                capability: d.capability,
                resource: d.resource,
                reason: d.reason,
            },
            WitToolError::NotFound(message) => Self::NotFound { message },
            WitToolError::Failed(message) => Self::Failed { message },
        }
    }
}

/// What one call produced.
#[derive(Debug, Serialize)]
pub struct CallOutput {
    /// The tool's JSON result, or its typed failure.
    pub result: std::result::Result<serde_json::Value, ToolFailure>,
    /// Accesses the host refused during the call, at most
    /// [`crate::capability::MAX_DENIALS`].
    pub denials: Vec<Denial>,
    /// Refused accesses beyond those kept in `denials`.
    pub denials_dropped: usize,
    /// The plugin's log messages and captured output, escaped.
    pub log: Vec<String>,
    /// The level of each message of `log`, in order (captured output is
    /// `debug`; the mark of a cut log is `warn`), for callers that pass
    /// the log on at a client's level (`warden mcp`).
    #[serde(skip)]
    pub log_levels: Vec<crate::capability::log::Level>,
}

impl CallOutput {
    /// A failed call in words, for a person or a model: the tool's own
    /// failure, then each refusal with the grant that would allow it, as
    /// `allow(plugin, spec)` phrases it for the reader (who usually cannot
    /// grant it). Everything from the plugin is escaped.
    pub fn failure_text(
        &self,
        qualified: &str,
        failure: &ToolFailure,
        allow: impl Fn(&str, &str) -> String,
    ) -> String {
        use crate::escape::escape;
        let mut text = match failure {
            ToolFailure::InvalidInput { message } => {
                format!("{qualified}: invalid input: {}", escape(message))
            }
            ToolFailure::Denied {
                capability,
                resource,
                reason,
            } => format!(
                "{qualified}: denied {} {}: {}",
                escape(capability),
                escape(resource),
                escape(reason)
            ),
            ToolFailure::NotFound { message } => {
                format!("{qualified}: not found: {}", escape(message))
            }
            ToolFailure::Failed { message } => format!("{qualified} failed: {}", escape(message)),
        };
        let plugin = qualified.split('.').next().unwrap_or_default();
        for d in &self.denials {
            text.push_str(&format!(
                "\nrefused by warden: {} {} {}: {}",
                d.capability,
                d.operation,
                escape(&d.resource),
                d.reason
            ));
            match &d.allow {
                Some(spec) => {
                    text.push_str("\n  ");
                    text.push_str(&allow(plugin, &escape(spec)));
                }
                None => text.push_str("\n  no grant allows this"),
            }
        }
        text
    }
}
