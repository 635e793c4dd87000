//! The agent: a model that works on a project only through the tools of
//! granted plugins.
//!
//! - [`provider`]: the model APIs (OpenAI Responses, Chat Completions,
//!   Anthropic Messages) over HTTP with streaming;
//! - [`sse`]: the event-stream decoder they share;
//! - [`config`]: which provider and model, from `config.toml` or the
//!   environment;
//! - [`tools`]: the granted plugins' tools as the model sees them;
//! - [`approval`]: which calls run without asking a person;
//! - [`turns`]: the loop itself, reporting [`event`]s;
//! - [`instructions`]: warden's instructions plus the project's `AGENTS.md`;
//! - [`session`]: transcripts, for `warden sessions` and `warden resume`;
//! - [`plan`]: the plan the model keeps with the built-in `update_plan`;
//! - [`context`]: summarising older turns as the model's window fills.

pub mod approval;
pub mod config;
pub mod context;
pub mod event;
pub mod govern;
pub mod instructions;
pub mod plan;
pub mod provider;
pub mod replay;
pub mod session;
pub mod sse;
pub mod tools;
pub mod turns;
