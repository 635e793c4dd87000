//! `warden mcp`: warden's granted, sandboxed tools for other agents, over
//! the Model Context Protocol (stdio, or streamable HTTP with `--http`).
//!
//! The server exposes exactly the tools of plugins whose grants let them
//! run in the workspace, as `plugin__tool` (names within the MCP rule for
//! tool names), each with its output schema when the plugin describes one
//! and annotations computed from the grant ([`tools`]). Every call goes
//! through the same grant checks, limits and fresh instance as `warden
//! call`, after the approval mode ([`approve`]) lets it. There is no tool
//! that changes grants: an MCP client cannot widen what it may do. A denial
//! or a tool failure is a tool error (`isError: true`) whose text says what
//! was refused and how a person can allow it. Cancelling a request drops
//! the call, which discards its instance and kills any child process tree.
//! Every call is in the audit log before it runs, and a call of a plugin
//! that can change files is captured as a turn of the session
//! [`MCP_SESSION`]; both can be read back as resources ([`resources`]).
//! SIGTERM and SIGINT end the server once its running calls have finished
//! or been stopped ([`shutdown`]).

use super::App;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, InitializeResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use warden_agent::approval::Mode;
use warden_core::escape::escape;
use warden_core::runtime::{CallOutput, ToolFailure, ToolSpec};
use warden_core::session::{Note, Refused, Request, Session};

mod approve;
mod http;
mod notify;
mod origin;
mod resources;
mod shutdown;
mod tools;

pub use http::serve_http;
use tools::{SEPARATOR, error as tool_error};

/// The MCP server: every call through the session, which checks the
/// plugin's grant and installed state again before each call.
#[derive(Clone)]
pub struct WardenMcp {
    session: Arc<Session>,
    approver: Arc<approve::Approver>,
    shown: Arc<resources::Shown>,
    /// The level this client chose for log notifications.
    level: Arc<notify::LogLevel>,
    /// The tools this client was last told about, to tell it when they
    /// change ([`LIST_CHECK_INTERVAL`]).
    listed: Arc<std::sync::Mutex<Option<Vec<rmcp::model::Tool>>>>,
    /// Running calls, and whether the server is stopping (all clients).
    shutdown: Arc<shutdown::Shutdown>,
}

/// How often a server compares the tools it would list now (a few `stat`s
/// per plugin while nothing changed) with those it last listed to a client,
/// and sends `notifications/tools/list_changed` when they differ: a grant
/// given, narrowed or revoked, a plugin installed, updated or removed. A
/// client that keeps its list (and the annotations in it) re-reads it then,
/// rather than holding hints the grant no longer supports.
pub const LIST_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The session of calls made over MCP; each call of a plugin that can
/// change files is its next turn (`warden undo`, `warden rollback mcp`).
pub const MCP_SESSION: &str = "mcp";

impl App {
    /// The server for `workspace`, deciding calls in `mode`. Plugins whose
    /// grants do not let them run are not offered, with a note on stderr
    /// saying why.
    pub async fn mcp_server(&self, workspace: &Path, mode: Mode) -> anyhow::Result<WardenMcp> {
        let ctx = self.context(workspace)?;
        let approvals_dir = self.registry.dirs().config.join("approvals");
        let approver = approve::Approver::new(mode, &approvals_dir, &ctx.workspace)?;
        let session = self.session(ctx, MCP_SESSION, self.audit_log()?);
        // A journal that cannot be used stops the server now, not its first
        // writing call.
        session.journal()?;
        for name in self.registry.names()? {
            let plugin = session.plugin(&name).await?;
            if let Err(e) = plugin.allowed() {
                eprintln!("warden mcp: not offering plugin `{name}`: {e}");
                continue;
            }
            for note in plugin
                .tools
                .iter()
                .filter_map(|s| tools::left_out(&name, s))
            {
                eprintln!("warden mcp: {note}");
            }
        }
        let shown = resources::Shown::new(&session);
        Ok(WardenMcp {
            session: Arc::new(session),
            approver: Arc::new(approver),
            shown: Arc::new(shown),
            level: Arc::default(),
            listed: Arc::default(),
            shutdown: Arc::default(),
        })
    }

    /// Serve MCP on stdio until the client closes it, or until SIGTERM or
    /// SIGINT ([`shutdown`]). Either way the process ends only after its
    /// running calls have ended and been recorded.
    pub async fn mcp_stdio(&self, workspace: &Path, mode: Mode) -> anyhow::Result<ExitCode> {
        let server = self.mcp_server(workspace, mode).await?;
        let calls = server.shutdown.clone();
        // Non-blocking pipes when the client spawned us with pipes (it does): no
        // thread hand-off per message.
        let running = server.serve(rmcp::transport::stdio_pipes()).await?;
        let transport = running.cancellation_token();
        let waiting = running.waiting();
        tokio::pin!(waiting);
        tokio::select! {
            ended = &mut waiting => {
                ended?;
                // The client is gone; its calls were cancelled with it and
                // record how they ended.
                calls.stop().await;
                return Ok(ExitCode::SUCCESS);
            }
            signal = shutdown::signalled() => {
                eprintln!("warden mcp: {signal}: no new calls; finishing the running ones");
            }
        }
        calls.stop().await;
        transport.cancel();
        let _ = waiting.await;
        Ok(ExitCode::SUCCESS)
    }
}

/// The text of a call that did not succeed, for a person or a model.
fn failure_text(qualified: &str, out: &CallOutput, failure: &ToolFailure) -> String {
    out.failure_text(qualified, failure, |plugin, spec| {
        format!(
            "a person can allow it with: warden plugin grant {plugin} --add --grant {spec} (this client cannot)"
        )
    })
}

impl WardenMcp {
    /// The server for one more client (an HTTP session): the same session
    /// and approvals, its own log level.
    pub fn for_client(&self) -> Self {
        WardenMcp {
            level: Arc::default(),
            listed: Arc::default(),
            ..self.clone()
        }
    }

    /// The tools offered now: those of plugins whose grants, as they are on
    /// disk now, let them run in the workspace.
    async fn offered(&self) -> Vec<rmcp::model::Tool> {
        let names = match self.session.registry().names() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot list plugins: {e}");
                return vec![];
            }
        };
        let mut offered = Vec::new();
        for name in names {
            let plugin = match self.session.plugin(&name).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!("not offering plugin `{name}`: {e}");
                    continue;
                }
            };
            let Ok(prepared) = plugin.allowed() else {
                continue;
            };
            let nothing = plugin.nothing_granted();
            offered.extend(
                plugin
                    .tools
                    .iter()
                    .filter_map(|spec| tools::describe(&name, spec, prepared.effective(), nothing)),
            );
        }
        offered
    }

    /// Tell the client on `peer` when the tools it was given change, until
    /// it goes away.
    async fn watch_list(self, peer: rmcp::service::Peer<RoleServer>) {
        loop {
            tokio::time::sleep(LIST_CHECK_INTERVAL).await;
            if peer.is_transport_closed() {
                return;
            }
            if self.lock_listed().is_none() {
                continue;
            }
            let now = self.offered().await;
            let changed = {
                let mut listed = self.lock_listed();
                let changed = listed.as_ref().is_some_and(|l| *l != now);
                if changed {
                    *listed = Some(now);
                }
                changed
            };
            if changed && peer.notify_tool_list_changed().await.is_err() {
                return;
            }
        }
    }

    fn lock_listed(&self) -> std::sync::MutexGuard<'_, Option<Vec<rmcp::model::Tool>>> {
        self.listed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The plugin and tool an MCP tool name stands for: a plugin installed
    /// now, or one offered earlier in this session (whose calls are then
    /// refused, and recorded, if it cannot run any more). Plugin names may
    /// hold `_`, so every split is tried.
    async fn resolve(&self, exposed: &str) -> Option<(String, ToolSpec)> {
        let mut names = self.session.registry().names().unwrap_or_default();
        names.extend(self.session.opened());
        for name in names {
            let Some(tool) = exposed
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix(SEPARATOR))
            else {
                continue;
            };
            let specs = match self.session.plugin(&name).await {
                Ok(p) => p.tools.clone(),
                Err(_) => self.session.last_tools(&name).unwrap_or_default(),
            };
            if let Some(spec) = specs
                .into_iter()
                .find(|t| t.name == tool && tools::object_schema(t).is_some())
            {
                return Some((name, spec));
            }
        }
        None
    }
}

// MCP logging is deprecated from protocol 2026-07-28 (SEP-2577); clients of
// 2025-06-18 and 2025-11-25 still choose their level with it.
#[allow(deprecated)]
impl ServerHandler for WardenMcp {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("warden", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "warden's tools run as sandboxed WebAssembly plugins with only the access a person granted. \
             A refusal explains what was refused; grants cannot be changed from here. \
             Resources show this session's audit records and each turn's changes.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let offered = self.offered().await;
        *self.lock_listed() = Some(offered.clone());
        Ok(ListToolsResult::with_all_items(offered))
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        tokio::spawn(self.clone().watch_list(context.peer));
    }

    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.level.set(request.level);
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(self.shown.list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.shown
            .read(&self.session, &request.uri)
            .map(ReadResourceResponse::Complete)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(_running) = self.shutdown.start() else {
            return Ok(tool_error(format!(
                "{}: not run: warden mcp is shutting down",
                escape(&request.name)
            )));
        };
        let Some((plugin, spec)) = self.resolve(request.name.as_ref()).await else {
            let offered = self.offered().await;
            let names = offered.iter().map(|t| t.name.as_ref());
            let suggestion = warden_core::suggest::Suggestion::closest(&request.name, names);
            return Ok(tool_error(format!(
                "no tool named {:?}{suggestion}; tools/list shows the tools this server offers",
                escape(&request.name)
            )));
        };
        let tool = spec.name.clone();
        let qualified = format!("{plugin}.{tool}");
        self.shown.before_call(&self.session);
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let input = arguments.to_string();
        let verdict = tokio::select! {
            v = self.approver.approve(&self.session, &plugin, &tool, &arguments, &context) => v,
            () = self.shutdown.stopping() => {
                return Ok(tool_error(format!(
                    "{qualified}: not run: warden mcp shut down while the call waited for approval"
                )));
            }
        };
        let (note, expect) = match verdict {
            approve::Verdict::Run { by, plugin } => (
                Note {
                    approved_by: Some(by.to_string()),
                    ..Note::default()
                },
                Some(plugin),
            ),
            approve::Verdict::Refused(text) => return Ok(tool_error(text)),
            approve::Verdict::Unopened => (Note::default(), None),
        };
        // Nothing runs, and no outcome is reported, that is not in the log.
        let unrecorded = |e: warden_core::audit::Error| {
            tool_error(format!(
                "{qualified}: refused: it could not be recorded in the audit log: {e}"
            ))
        };
        let call = Request {
            plugin: &plugin,
            tool: &tool,
            input: &input,
            note,
            expect,
        };
        let cancelled = async {
            tokio::select! {
                () = context.ct.cancelled() => "cancelled by the client".to_string(),
                () = self.shutdown.stopping() => "stopped: warden mcp was shutting down".to_string(),
            }
        };
        let running = self.session.call(call, cancelled);
        let recorded = match notify::with_progress(&context, &qualified, running).await {
            Ok(r) => r,
            Err(Refused::Unrecorded(e)) => return Ok(unrecorded(e)),
            Err(Refused::Capture(e)) => {
                return Ok(tool_error(format!(
                    "{qualified}: not run: its file changes could not be captured for undo: {e}"
                )));
            }
            Err(Refused::NotAllowed(e)) => {
                return Ok(tool_error(format!(
                    "{qualified}: refused: {e} (this client cannot change grants)"
                )));
            }
            Err(Refused::Gone(e)) => {
                return Ok(tool_error(format!(
                    "{qualified}: refused: plugin `{plugin}` cannot be opened any more: {e}"
                )));
            }
            Err(Refused::Unknown(e)) => return Ok(tool_error(e.to_string())),
            Err(Refused::Changed { .. }) => {
                return Ok(tool_error(format!(
                    "{qualified}: refused: its grant changed while the call waited for approval; call it again"
                )));
            }
        };
        if let Ok(Some(turn)) = &recorded.captured {
            self.shown.turn(turn.turn);
        }
        if recorded.cancelled {
            if let Some((_, e)) = recorded.unrecorded {
                return Ok(unrecorded(e));
            }
            if self.shutdown.is_stopping() {
                return Ok(tool_error(format!(
                    "{qualified} was stopped: warden mcp shut down before it finished"
                )));
            }
            return Err(ErrorData::internal_error(
                format!("{qualified} was cancelled"),
                None,
            ));
        }
        if let Err(e) = recorded.captured {
            return Ok(tool_error(format!(
                "{qualified} ran, but its file changes could not be journaled: {e}; the next `warden undo` in this workspace will capture them"
            )));
        }
        if let Some((_, e)) = recorded.unrecorded {
            return Ok(unrecorded(e));
        }
        if let Ok(out) = &recorded.out {
            self.level.send(&context.peer, &plugin, out).await;
        }
        Ok(match recorded.out {
            Ok(out) => match out.result {
                Ok(value) => tools::success(&qualified, Some(&spec), value),
                Err(ref failure) => tool_error(failure_text(&qualified, &out, failure)),
            },
            Err(e) => tool_error(e.to_string()),
        })
    }
}
