//! `warden mcp --http`: streamable HTTP, with the checks a local server
//! needs against web pages and other users.

use super::{WardenMcp, origin};
use std::sync::Arc;

/// What rmcp's HTTP service answers with.
pub type HttpResponse =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

/// Serve MCP over streamable HTTP on `addr` until SIGTERM or SIGINT, which
/// stop it once its running calls have ended (`shutdown`). A bearer
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
        StreamableHttpServerConfig, StreamableHttpService,
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
    let calls = server.shutdown.clone();
    let sessions = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(server.for_client()),
        Arc::new(sessions_manager()),
        config,
    );
    eprintln!("warden mcp: serving streamable HTTP on http://{local}/");
    let expected = token.map(|t| format!("Bearer {t}"));
    let signal = super::shutdown::signalled();
    tokio::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted?.0,
            signal = &mut signal => {
                eprintln!("warden mcp: {signal}: no new calls; finishing the running ones");
                drop(listener);
                calls.stop().await;
                sessions.cancel();
                return Ok(());
            }
        };
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

/// How long an HTTP session may go without a request before it ends (its
/// client then gets 404 and, as the specification says, starts a new one).
/// Longer than rmcp's five minutes: a person reviewing a change in their
/// client can easily be away that long, and a session costs little.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

fn sessions_manager() -> rmcp::transport::streamable_http_server::session::local::LocalSessionManager
{
    let mut manager =
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default();
    manager.session_config.keep_alive = Some(SESSION_IDLE);
    manager
}

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
