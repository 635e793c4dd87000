//! The agent: a model that works on a project only through the tools of
//! granted plugins.
//!
//! - [`provider`]: the model APIs (OpenAI Responses, Chat Completions,
//!   Anthropic Messages) over HTTP with streaming;
//! - [`sse`]: the event-stream decoder they share;
//! - [`config`]: which provider and model, from `config.toml` or the
//!   environment.

pub mod config;
pub mod provider;
pub mod sse;
