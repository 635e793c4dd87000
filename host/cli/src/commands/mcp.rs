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
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use warden_core::escape::escape;
use warden_core::runtime::{CallOutput, ToolFailure, ToolSpec};
use warden_core::session::{Note, Refused, Request, Session};

/// What rmcp's HTTP service answers with.
type HttpResponse =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

/// Separates plugin and tool in MCP tool names: the same as in the names
/// the agent's model sees.
use warden_agent::tools::SEPARATOR;

/// The MCP server: every call through the session, which checks the
/// plugin's grant and installed state again before each call.
#[derive(Clone)]
pub struct WardenMcp {
    session: Arc<Session>,
}

/// The session of calls made over MCP; each call of a plugin that can
/// change files is its next turn (`warden undo`, `warden rollback mcp`).
pub const MCP_SESSION: &str = "mcp";

/// A tool's input schema, when MCP clients accept it: one bad tool must
/// not make clients reject the whole list.
fn object_schema(spec: &ToolSpec) -> Option<&serde_json::Map<String, serde_json::Value>> {
    spec.input_schema
        .as_object()
        .filter(|map| map.get("type") == Some(&serde_json::json!("object")))
}

impl App {
    /// The server for `workspace`. Plugins whose grants do not let them run
    /// are not offered, with a note on stderr saying why.
    pub async fn mcp_server(&self, workspace: &Path) -> anyhow::Result<WardenMcp> {
        let ctx = self.context(workspace)?;
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
            for spec in plugin.tools.iter().filter(|s| object_schema(s).is_none()) {
                eprintln!(
                    "warden mcp: not offering `{name}.{}`: its input schema is not a JSON object schema",
                    escape(&spec.name)
                );
            }
        }
        Ok(WardenMcp {
            session: Arc::new(session),
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
    let audit = server.session.audit().clone();
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

impl WardenMcp {
    /// The tools offered now: those of plugins whose grants, as they are on
    /// disk now, let them run in the workspace.
    async fn offered(&self) -> Vec<Tool> {
        let names = match self.session.registry().names() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot list plugins: {e}");
                return vec![];
            }
        };
        let mut tools = Vec::new();
        for name in names {
            let plugin = match self.session.plugin(&name).await {
                Ok(p) if p.allowed().is_ok() => p,
                Ok(_) => continue,
                Err(e) => {
                    tracing::info!("not offering plugin `{name}`: {e}");
                    continue;
                }
            };
            for spec in &plugin.tools {
                if let Some(schema) = object_schema(spec) {
                    tools.push(Tool::new(
                        format!("{name}{SEPARATOR}{}", spec.name),
                        format!("[{name}] {}", spec.description),
                        Arc::new(schema.clone()),
                    ));
                }
            }
        }
        tools
    }

    /// The plugin and tool an MCP tool name stands for: a plugin installed
    /// now, or one offered earlier in this session (whose calls are then
    /// refused, and recorded, if it cannot run any more). Plugin names may
    /// hold `_`, so every split is tried.
    async fn resolve(&self, exposed: &str) -> Option<(String, String)> {
        let mut names = self.session.registry().names().unwrap_or_default();
        names.extend(self.session.opened());
        for name in names {
            let Some(tool) = exposed
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix(SEPARATOR))
            else {
                continue;
            };
            let tools = match self.session.plugin(&name).await {
                Ok(p) => p.tools.clone(),
                Err(_) => self.session.last_tools(&name).unwrap_or_default(),
            };
            if tools
                .iter()
                .any(|t| t.name == tool && object_schema(t).is_some())
            {
                return Some((name, tool.to_string()));
            }
        }
        None
    }
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
        Ok(ListToolsResult::with_all_items(self.offered().await))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some((plugin, tool)) = self.resolve(request.name.as_ref()).await else {
            return Ok(tool_error(format!(
                "no tool named {:?}; tools/list shows the tools this server offers",
                escape(&request.name)
            )));
        };
        let qualified = format!("{plugin}.{tool}");
        let input = serde_json::Value::Object(request.arguments.unwrap_or_default()).to_string();
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
            note: Note::default(),
            expect: None,
        };
        let cancelled = async {
            context.ct.cancelled().await;
            "cancelled by the client".to_string()
        };
        let recorded = match self.session.call(call, cancelled).await {
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
                    "{qualified}: refused: its grant changed while the call began; call it again"
                )));
            }
        };
        if recorded.cancelled {
            if let Some((_, e)) = recorded.unrecorded {
                return Ok(unrecorded(e));
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
        Ok(match recorded.out {
            Ok(out) => match &out.result {
                Ok(serde_json::Value::String(text)) => CallToolResponse::Complete(
                    CallToolResult::success(vec![ContentBlock::text(text.clone())]),
                ),
                Ok(value) => {
                    CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(
                        value.to_string(),
                    )]))
                }
                Err(failure) => tool_error(failure_text(&qualified, &out, failure)),
            },
            Err(e) => tool_error(e.to_string()),
        })
    }
}
