//! The capabilities a plugin can be granted, each in its own module with its
//! whole story (request, grant, linking, host state, denial):
//! - [`files`]: directories and files, through wasmtime's WASI filesystem
//!   behind warden's guard;
//! - [`process`]: programs the plugin may run, their argument rules and the
//!   OS confinement of the children;
//! - [`network`]: origins the plugin may reach over `wasi:http`;
//! - [`log`]: the plugin's log lines.
//!
//! What is refused is a [`Denial`]: what was asked, why it was refused, and
//! the grant that would allow it.

pub mod files;
pub mod log;
pub mod network;
pub mod process;

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
            capability: "network",
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
