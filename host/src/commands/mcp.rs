//! `warden mcp`: warden's granted, sandboxed tools for other agents, over
//! the Model Context Protocol (stdio, or streamable HTTP with `--http`).
//!
//! The server exposes exactly the tools of plugins whose grants let them
//! run in the workspace, as `plugin__tool` (names MCP clients and the model
//! APIs behind them accept). Every call goes through the same grant checks,
//! limits and fresh instance as `warden call`. There is no tool that changes
//! grants: an MCP client cannot widen what it may do. A denial or a tool
//! failure is a tool error (`isError: true`) whose text says what was refused
//! and how a person can allow it. Cancelling a request drops the call, which
//! discards its instance and kills any child process tree. Every call is
//! in the audit log before it runs, and a call of a plugin that can change
//! files is captured as a turn of the session [`MCP_SESSION`].

use super::App;
use super::call::{lasting, writes};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use warden::audit::Durability;
use warden::escape::escape;
use warden::runtime::{CallOutput, Prepared, ToolFailure};

/// What rmcp's HTTP service answers with.
type HttpResponse =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

/// Separates plugin and tool in MCP tool names.
const SEPARATOR: &str = "__";

/// One exposed tool.
struct Exposed {
    plugin: Arc<Prepared>,
    plugin_name: String,
    tool: String,
    qualified: String,
}

/// The MCP server: tools fixed at start-up, calls through the host.
#[derive(Clone)]
pub struct WardenMcp {
    tools: Arc<Vec<Tool>>,
    index: Arc<HashMap<String, Exposed>>,
    audit: warden::audit::Log,
    workspace: Arc<std::path::PathBuf>,
    journal: warden::journal::Journal,
}

/// The session of calls made over MCP; each call of a plugin that can
/// change files is its next turn (`warden undo`, `warden rollback mcp`).
pub const MCP_SESSION: &str = "mcp";

impl App {
    /// Prepare every plugin that may run in `workspace` and list its tools.
    /// Plugins whose grants do not let them run are left out, with a note
    /// on stderr saying why.
    pub async fn mcp_server(&self, workspace: &Path) -> anyhow::Result<WardenMcp> {
        let ctx = self.context(workspace)?;
        let mut tools = Vec::new();
        let mut index = HashMap::new();
        for name in self.registry.names()? {
            let (specs, prepared) = self.prepare(&name, &ctx).await?;
            let prepared = match prepared {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    eprintln!("warden mcp: not offering plugin `{name}`: {e}");
                    continue;
                }
            };
            for spec in specs {
                let exposed = format!("{name}{SEPARATOR}{}", spec.name);
                // MCP requires an object schema; one bad tool must not make
                // clients reject the whole list.
                let schema = match spec.input_schema {
                    serde_json::Value::Object(map)
                        if map.get("type") == Some(&serde_json::json!("object")) =>
                    {
                        map
                    }
                    _ => {
                        eprintln!(
                            "warden mcp: not offering `{name}.{}`: its input schema is not a JSON object schema",
                            escape(&spec.name)
                        );
                        continue;
                    }
                };
                let description = format!("[{name}] {}", spec.description);
                tools.push(Tool::new(exposed.clone(), description, Arc::new(schema)));
                index.insert(
                    exposed,
                    Exposed {
                        plugin: prepared.clone(),
                        plugin_name: name.clone(),
                        tool: spec.name.clone(),
                        qualified: format!("{name}.{}", spec.name),
                    },
                );
            }
        }
        Ok(WardenMcp {
            tools: Arc::new(tools),
            index: Arc::new(index),
            audit: self.audit_log()?,
            journal: warden::journal::Journal::open(self.registry.dirs(), &ctx.workspace)?,
            workspace: Arc::new(ctx.workspace),
        })
    }

    /// Serve MCP on stdio until the client closes it.
    pub async fn mcp_stdio(&self, workspace: &Path) -> anyhow::Result<ExitCode> {
        let server = self.mcp_server(workspace).await?;
        // Non-blocking pipes when the client spawned us with pipes (it does): no
        // thread hand-off per message.
        let running = server.serve(rmcp::transport::stdio_pipes()).await?;
        running.waiting().await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Serve MCP over streamable HTTP on `addr` until interrupted. A bearer
/// token is required for any address that is not loopback; on loopback it is
/// enforced when given.
///
/// A browser page of any site can send requests to a loopback server (and,
/// by DNS rebinding, under a name of its own), so two headers are checked
/// on every request before anything else: `Host` must name this server
/// (rmcp's `allowed_hosts`: loopback names and the bound address), and an
/// `Origin`, when present, must be one of the server's own loopback origins
/// or one given with `--allow-origin`; otherwise the answer is 403 and the
/// refusal is in the audit log. Clients that are not browsers send no
/// `Origin` and are not affected.
pub async fn serve_http(
    server: WardenMcp,
    addr: std::net::SocketAddr,
    token: Option<String>,
    allow_origins: &[String],
) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    anyhow::ensure!(
        addr.ip().is_loopback() || token.is_some(),
        "refusing to serve MCP on {addr} without a bearer token: anyone who can reach it could use your grants; pass --token (or WARDEN_MCP_TOKEN), or bind to 127.0.0.1"
    );
    let extra = allow_origins
        .iter()
        .map(|o| {
            origin::Origin::parse(o).map_err(|why| anyhow::anyhow!("--allow-origin {o:?}: {why}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let origins = Arc::new(origin::Allowed::new(local, extra));
    let mut config = StreamableHttpServerConfig::default();
    config.allowed_hosts.push(addr.ip().to_string());
    config.allowed_hosts.push(local.to_string());
    // rmcp checks the same list again (exact ports) behind warden's check.
    config.allowed_origins = origins.list();
    let audit = server.audit.clone();
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    eprintln!("warden mcp: serving streamable HTTP on http://{local}/");
    let expected = token.map(|t| format!("Bearer {t}"));
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        let expected = expected.clone();
        let origins = origins.clone();
        let audit = audit.clone();
        tokio::spawn(async move {
            let handler =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut service = service.clone();
                    let refused = origins.check(req.headers()).err();
                    let origins = origins.clone();
                    let audit = audit.clone();
                    let authorized = match &expected {
                        None => true,
                        Some(want) => req
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|got| constant_time_eq(got.as_bytes(), want.as_bytes())),
                    };
                    let deleting = req.method() == hyper::Method::DELETE;
                    async move {
                        use tower_service::Service;
                        if let Some(refusal) = refused {
                            if origins.first_time(&refusal.origin) {
                                let record = refusal.record();
                                let written =
                                    tokio::task::spawn_blocking(move || audit.append(record)).await;
                                if !matches!(written, Ok(Ok(_))) {
                                    tracing::warn!(
                                        "cannot record a refused MCP origin in the audit log"
                                    );
                                }
                            }
                            return Ok(origin::forbidden(&refusal.message));
                        }
                        if !authorized {
                            return Ok(unauthorized());
                        }
                        let mut response = service.call(req).await?;
                        // rmcp acknowledges the end of a session with 202; clients
                        // (the Python SDK among them) expect 200 for a DELETE.
                        if deleting && response.status() == hyper::StatusCode::ACCEPTED {
                            *response.status_mut() = hyper::StatusCode::OK;
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, handler)
                .await
            {
                tracing::debug!("MCP HTTP connection ended: {e}");
            }
        });
    }
}

mod origin;

/// 401 with a body that says what is missing.
fn unauthorized() -> HttpResponse {
    use http_body_util::BodyExt;
    let body = http_body_util::Full::new(bytes::Bytes::from_static(
        b"warden mcp: a bearer token is required (Authorization: Bearer <token>)\n",
    ))
    .map_err(|never| match never {})
    .boxed();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
    response
}

/// Compare secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The text of a call that did not succeed, for a person or a model.
fn failure_text(qualified: &str, out: &CallOutput, failure: &ToolFailure) -> String {
    out.failure_text(qualified, failure, |plugin, spec| {
        format!(
            "a person can allow it with: warden plugin grant {plugin} --add --grant {spec} (this client cannot)"
        )
    })
}

fn tool_error(text: String) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::error(vec![ContentBlock::text(text)]))
}

impl ServerHandler for WardenMcp {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("warden", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "warden's tools run as sandboxed WebAssembly plugins with only the access a person granted. \
                 A refusal explains what was refused; grants cannot be changed from here.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(exposed) = self.index.get(request.name.as_ref()) else {
            return Ok(tool_error(format!(
                "no tool named {:?}; tools/list shows the tools this server offers",
                escape(&request.name)
            )));
        };
        let input = serde_json::Value::Object(request.arguments.unwrap_or_default()).to_string();
        let (plugin, tool) = (exposed.plugin_name.as_str(), exposed.tool.as_str());
        // Nothing runs, and no outcome is reported, that is not in the log.
        let unrecorded = |e: warden::audit::Error| {
            tool_error(format!(
                "{}: refused: it could not be recorded in the audit log: {e}",
                exposed.qualified
            ))
        };
        // A call that can change files is a captured turn. Capture blocks
        // (file lock, workspace scan), so it runs off the async thread;
        // writable calls in one workspace take turns.
        let turn = if writes(&exposed.plugin) {
            let journal = self.journal.clone();
            match tokio::task::spawn_blocking(move || journal.begin_next(MCP_SESSION)).await {
                Ok(Ok(t)) => Some(t),
                Ok(Err(e)) => {
                    return Ok(tool_error(format!(
                        "{}: not run: its file changes could not be captured for undo: {e}",
                        exposed.qualified
                    )));
                }
                Err(e) => return Err(ErrorData::internal_error(e.to_string(), None)),
            }
        } else {
            None
        };
        let turn_no = turn.as_ref().map(|t| t.id().1);
        let stamp = |r: warden::audit::Record| r.in_turn(MCP_SESSION, turn_no);
        let finish = |turn: Option<warden::journal::Turn>| async move {
            match turn {
                Some(t) => tokio::task::spawn_blocking(move || t.finish())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .map(Some),
                None => Ok(None),
            }
        };
        let record = warden::audit::Record::call(
            plugin,
            tool,
            &self.workspace,
            super::report::effective(exposed.plugin.effective()),
            &input,
        );
        // Forced to the disk before anything with a lasting effect runs; a
        // call that can only read is written, not synced (see Durability).
        let durability = if lasting(&exposed.plugin) {
            Durability::Synced
        } else {
            Durability::Written
        };
        if let Err(e) = self.audit.append_with(stamp(record), durability) {
            return Ok(unrecorded(e));
        }
        let call = exposed.plugin.call(tool, &input);
        let out = tokio::select! {
            out = call => out,
            () = context.ct.cancelled() => {
                // A turn that cannot be finished now is finished by the next
                // journal operation in the workspace.
                let _ = finish(turn).await;
                let stopped = warden::Error::Trap { tool: exposed.qualified.clone(), message: "cancelled by the client".into() };
                if let Err(e) = self.audit.append_with(stamp(warden::audit::Record::result(plugin, tool, Err(&stopped))), Durability::Written) {
                    return Ok(unrecorded(e));
                }
                return Err(ErrorData::internal_error(format!("{} was cancelled", exposed.qualified), None));
            }
        };
        let captured = finish(turn).await;
        let mut result = stamp(warden::audit::Record::result(plugin, tool, out.as_ref()));
        if let Ok(Some(t)) = &captured {
            result.detail = Some(serde_json::json!({
                "changed": t.changes.iter().map(|c| &c.path).collect::<Vec<_>>()
            }));
        }
        let recorded = match &out {
            Ok(o) => o
                .denials
                .iter()
                .map(|d| stamp(warden::audit::Record::denial(plugin, tool, d)))
                .chain([result])
                .try_for_each(|r| self.audit.append_with(r, Durability::Written).map(drop)),
            Err(_) => self
                .audit
                .append_with(result, Durability::Written)
                .map(drop),
        };
        if let Err(e) = captured {
            return Ok(tool_error(format!(
                "{} ran, but its file changes could not be journaled: {e}; the next `warden undo` in this workspace will capture them",
                exposed.qualified
            )));
        }
        if let Err(e) = recorded {
            return Ok(unrecorded(e));
        }
        Ok(match out {
            Ok(out) => match &out.result {
                Ok(serde_json::Value::String(text)) => CallToolResponse::Complete(
                    CallToolResult::success(vec![ContentBlock::text(text.clone())]),
                ),
                Ok(value) => {
                    CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(
                        value.to_string(),
                    )]))
                }
                Err(failure) => tool_error(failure_text(&exposed.qualified, &out, failure)),
            },
            Err(e) => tool_error(e.to_string()),
        })
    }
}
