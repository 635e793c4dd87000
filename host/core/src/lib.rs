//! warden's plugin host: load WASI components, link only what was granted,
//! and run one tool call per fresh instance under limits.
//!
//! The pieces, each in its own module:
//! - [`manifest`]: what a plugin asks for, parsed once into typed data;
//! - [`grant`]: what the user granted, and the meeting of the two;
//! - [`limits`]: every default and maximum a call runs under;
//! - [`imports`]: a component's real imports checked against its manifest;
//! - [`component`]: reading and validating a component binary;
//! - [`capability`]: each capability's whole story in one folder: files,
//!   process (with argument rules and OS confinement), network, log;
//! - [`runtime`]: engine, compile cache, linking and calls under limits;
//! - [`registry`]: installed and bundled plugins on disk;
//! - [`policy`]: the organisation's Cedar policy above every grant.
//! - [`audit`]: the tamper-evident log of every decision;
//! - [`journal`]: per-turn capture of file changes, and undo;
//! - [`session`]: one recorded call, the sequence every caller runs a tool
//!   through.

pub mod audit;
pub mod bindings;
pub mod bundled;
pub mod capability;
pub mod component;
pub mod configfile;
pub mod dirs;
pub mod error;
pub mod escape;
pub mod grant;
pub mod imports;
pub mod journal;
pub mod limits;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod runtime;
pub mod session;
pub mod suggest;

pub use error::{Error, Result};

/// The test guests built beside the bundled plugins, for the integration
/// tests (every guest there must have a host test).
#[doc(hidden)]
pub mod test_programs {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));

    /// The component file of the test guest `name`.
    pub fn path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(DIR).join(format!("{name}.wasm"))
    }
}
