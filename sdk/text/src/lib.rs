//! Text rules that warden's host and its plugins must apply alike, in one
//! place: the host checks a request's path the way the `fetch` plugin
//! builds it, and an approval prompt shows a command line the way the
//! `exec` plugin reports it. No dependencies, so it builds for the host and
//! for `wasm32-wasip2` plugins alike.

pub mod argv;
pub mod url;
