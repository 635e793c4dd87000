//! What the server tells a client while a call runs: progress, for a
//! request that asks for it, and the plugin's log at the client's level.
//!
//! The plugin's log reaches the host when the call ends (the `log`
//! interface is not streamed back while the instance runs), so the log
//! notifications of a call come just before its result, in the order the
//! plugin logged them, each escaped and bounded as the host keeps them.
//! Progress is a heartbeat: one notification as the call starts, one every
//! [`PROGRESS_INTERVAL`] while it runs (a client that resets its timeout on
//! progress keeps waiting for a long `cargo test`), and one as it ends.
// MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but is how
// clients of 2025-06-18 and 2025-11-25 receive a server's messages.
#![allow(deprecated)]

use rmcp::RoleServer;
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{Peer, RequestContext};
use std::sync::Mutex;
use std::time::Duration;
use warden_core::capability::log::Level;
use warden_core::runtime::CallOutput;

/// How often a running call reports that it still runs.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// The least severe level sent before the client chooses one
/// (`logging/setLevel`): a plugin's warnings and errors.
pub const DEFAULT_LEVEL: LoggingLevel = LoggingLevel::Warning;

/// Severity, for comparing levels.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A plugin's level as MCP names it.
fn mcp_level(level: Level) -> LoggingLevel {
    match level {
        Level::Trace | Level::Debug => LoggingLevel::Debug,
        Level::Info => LoggingLevel::Info,
        Level::Warn => LoggingLevel::Warning,
        Level::Error => LoggingLevel::Error,
    }
}

/// The level one client chose.
pub struct LogLevel(Mutex<LoggingLevel>);

impl Default for LogLevel {
    fn default() -> Self {
        LogLevel(Mutex::new(DEFAULT_LEVEL))
    }
}

impl LogLevel {
    pub fn set(&self, level: LoggingLevel) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = level;
    }

    fn get(&self) -> LoggingLevel {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send the call's log messages at or above the client's level.
    pub async fn send(&self, peer: &Peer<RoleServer>, plugin: &str, out: &CallOutput) {
        let least = rank(self.get());
        for (text, level) in out.log.iter().zip(&out.log_levels) {
            let level = mcp_level(*level);
            if rank(level) < least {
                continue;
            }
            let mut param =
                LoggingMessageNotificationParam::new(level, serde_json::Value::from(text.as_str()));
            param.logger = Some(plugin.to_string());
            if let Err(e) = peer.notify_logging_message(param).await {
                tracing::debug!("cannot send a log notification: {e}");
                return;
            }
        }
    }
}

/// Report progress of the request in `context` until `work` ends, when the
/// request carries a progress token; otherwise just `work`.
pub async fn with_progress<T>(
    context: &RequestContext<RoleServer>,
    qualified: &str,
    work: impl Future<Output = T>,
) -> T {
    let Some(token) = context.meta.get_progress_token() else {
        return work.await;
    };
    let peer = &context.peer;
    let send = |token: &ProgressToken, step: u32, message: String| {
        let param =
            ProgressNotificationParam::new(token.clone(), f64::from(step)).with_message(message);
        async move {
            if let Err(e) = peer.notify_progress(param).await {
                tracing::debug!("cannot send a progress notification: {e}");
            }
        }
    };
    send(&token, 0, format!("{qualified} started")).await;
    let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
    ticks.tick().await;
    let mut step = 0u32;
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = ticks.tick() => {
                step = step.saturating_add(1);
                let secs = u64::from(step) * PROGRESS_INTERVAL.as_secs();
                send(&token, step, format!("{qualified} is running ({secs} s)")).await;
            }
        }
    };
    send(
        &token,
        step.saturating_add(1),
        format!("{qualified} finished"),
    )
    .await;
    out
}
