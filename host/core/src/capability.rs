//! The capabilities a plugin can be granted, each in its own module with its
//! whole story (request, grant, linking, host state, denial):
//! - [`files`]: directories and files, through wasmtime's WASI filesystem
//!   behind warden's guard;
//! - [`process`]: programs the plugin may run, their argument rules and the
//!   OS confinement of the children;
//! - [`network`]: origins the plugin may reach over `wasi:http`;
//! - [`env`]: environment variables the plugin may read;
//! - [`log`]: the plugin's log lines;
//! - [`sockets`]: raw sockets, never granted, linked deny-all for the
//!   guest languages that import them.
//!
//! What is refused is a [`Denial`]: what was asked, why it was refused, and
//! the grant that would allow it.

pub mod env;
pub mod files;
pub mod log;
pub mod network;
pub mod process;
pub mod sockets;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A capability warden can grant, by its one name. Denials, grants, hints,
/// policy requests and audit records all name capabilities with this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityKind {
    /// Directories and files (`wasi:filesystem`).
    Files,
    /// Host programs (`warden:plugin/process`).
    Process,
    /// Origins over `wasi:http`.
    Network,
    /// Environment variables (`wasi:cli/environment`).
    Env,
}

impl CapabilityKind {
    /// Every capability, in the order warden shows them.
    pub const ALL: [CapabilityKind; 4] = [Self::Files, Self::Process, Self::Network, Self::Env];

    /// The name in denials, audit records and JSON: `files`, `process`,
    /// `network`, `env`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Process => "process",
            Self::Network => "network",
            Self::Env => "env",
        }
    }

    /// How a `--grant` spec of this capability starts: `file:`, `program:`,
    /// `net:`, `env:`.
    pub fn grant_prefix(self) -> &'static str {
        match self {
            Self::Files => "file:",
            Self::Process => "program:",
            Self::Network => "net:",
            Self::Env => "env:",
        }
    }

    /// What a plugin needs of it, for messages: "files", "programs",
    /// "network", "environment variables".
    pub fn granted_things(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Process => "programs",
            Self::Network => "network",
            Self::Env => "environment variables",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refusal: what was asked, why it was refused, and what grant would
/// allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The capability.
    pub capability: CapabilityKind,
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

/// Most denials kept per call, over all capabilities: a guest that makes
/// thousands of refused attempts is still refused every time, but only
/// this many are reported and recorded (with a count of the rest).
pub const MAX_DENIALS: usize = 64;

/// The denials of one call, bounded by [`MAX_DENIALS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Denials {
    kept: Vec<Denial>,
    dropped: usize,
}

impl Denials {
    /// Keep `denial` if there is room; count it otherwise.
    pub fn push(&mut self, denial: Denial) {
        if self.kept.len() < MAX_DENIALS {
            self.kept.push(denial);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// The denials kept.
    pub fn as_slice(&self) -> &[Denial] {
        &self.kept
    }

    /// How many denials were refused but not kept.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Everything of `other`, within the bound.
    pub fn extend(&mut self, other: &Denials) {
        for d in &other.kept {
            self.push(d.clone());
        }
        self.dropped = self.dropped.saturating_add(other.dropped);
    }

    /// The denials kept, as a list.
    pub fn into_vec(self) -> Vec<Denial> {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::{Denial, Denials, MAX_DENIALS};

    fn denial(n: usize) -> Denial {
        Denial {
            capability: super::CapabilityKind::Network,
            operation: "connect",
            resource: format!("http://127.0.0.1:{n}"),
            reason: "not granted".into(),
            allow: None,
        }
    }

    #[test]
    fn denials_are_bounded_and_the_rest_counted() {
        let mut all = Denials::default();
        for n in 0..MAX_DENIALS + 10 {
            all.push(denial(n));
        }
        assert_eq!(all.as_slice().len(), MAX_DENIALS);
        assert_eq!(all.dropped(), 10);
        let mut merged = Denials::default();
        merged.extend(&all);
        merged.extend(&all);
        assert_eq!(merged.as_slice().len(), MAX_DENIALS);
        assert_eq!(merged.dropped(), 10 + 10 + MAX_DENIALS);
    }
}
