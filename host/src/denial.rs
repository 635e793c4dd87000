//! A refused capability use, as recorded by the host.

use serde::Serialize;

/// One refusal: what was asked, why it was refused, and what grant would
/// allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The capability: `files` or `process`.
    pub capability: &'static str,
    /// The operation, e.g. `write`, `unlink`, `run`.
    pub operation: &'static str,
    /// The host path or command line that was refused.
    pub resource: String,
    /// Why it was refused.
    pub reason: String,
    /// The grant spec that would allow it (`file:PATH:ACCESS`, relative to
    /// the workspace where possible, or `program:NAME`), or `None` when no
    /// grant can.
    pub allow: Option<String>,
}
