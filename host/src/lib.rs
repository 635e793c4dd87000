//! warden's plugin host: load WASI components, link only what was granted,
//! and run one tool call per fresh instance under limits.
//!
//! The pieces, each in its own module:
//! - [`manifest`]: what a plugin asks for, parsed once into typed data;
//! - [`grant`]: what the user granted, and the meeting of the two;
//! - [`imports`]: a component's real imports checked against its manifest;
//! - [`component`]: reading and validating a component binary;
//! - [`fsguard`]: the file capability, wasmtime's WASI filesystem behind a guard;
//! - [`process`], [`argv`], [`confine`]: the process capability, its
//!   argument rules and the OS confinement of children;
//! - [`runtime`]: engine, compile cache, linking and calls under limits;
//! - [`registry`]: installed and bundled plugins on disk;
//! - [`policy`]: the organisation's Cedar policy above every grant.
//! - [`audit`]: the tamper-evident log of every decision;
//! - [`journal`]: per-turn capture of file changes, and undo.

pub mod agent;
pub mod argv;
pub mod audit;
pub mod bundled;
pub mod component;
pub mod configfile;
pub mod confine;
pub mod denial;
pub mod dirs;
pub mod error;
pub mod escape;
pub mod fsguard;
pub mod grant;
pub mod imports;
pub mod journal;
pub mod logcap;
pub mod manifest;
pub mod netpolicy;
pub mod outgoing;
pub mod policy;
pub mod process;
pub mod registry;
pub mod runtime;

pub use error::{Error, Result};
