//! Optional export of audit records as OpenTelemetry log records, over
//! OTLP/HTTP with JSON bodies, to a collector a person configures
//! (`WARDEN_OTLP_ENDPOINT=http://collector:4318`).
//!
//! The local log stays the record that counts: a record is exported only
//! after it is in the log, and an export that fails is reported (as a
//! warning) but refuses nothing. Each exported record carries its sequence
//! number and MAC, so a collector's copy can be checked against the log,
//! and a copy kept elsewhere is what catches the one rollback the local
//! anchor cannot (an older log put back together with its older anchor).
//!
//! Records are sent one by one as they are written (a simple processor):
//! warden's commands are short-lived and must not lose the last records on
//! exit. The HTTP client is a plain HTTP/1.1 POST over a TCP stream with a
//! timeout; `https` endpoints are refused rather than sent in the clear.

use super::{Decision, Entry};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use std::io::{Read as _, Write as _};
use std::time::Duration;

/// How long one export may take (connect, send, answer).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest collector answer read.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Sends records to one OTLP/HTTP endpoint.
pub struct Exporter {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
    base: String,
    /// Why the last send failed, set by the client (the SDK drops it).
    failure: Failure,
}

type Failure = std::sync::Arc<std::sync::Mutex<Option<String>>>;

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter(..)")
    }
}

/// A `WARDEN_OTLP_ENDPOINT` warden cannot send to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not `http://…`.
    #[error(
        "WARDEN_OTLP_ENDPOINT `{0}` is not usable: give an http:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (https is not supported)"
    )]
    NotHttp(String),
    /// The exporter refused it; its words.
    #[error("cannot export audit records to {base}: {reason}")]
    Build { base: String, reason: String },
}

impl Exporter {
    /// An exporter to `base` (`http://host:port`; records go to
    /// `base/v1/logs`).
    pub fn new(base: &str) -> Result<Self, EndpointError> {
        let base = base.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(EndpointError::NotHttp(base.to_string()));
        }
        let failure = Failure::default();
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_http_client(PlainHttp {
                failure: failure.clone(),
            })
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{base}/v1/logs"))
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| EndpointError::Build {
                base: base.to_string(),
                reason: e.to_string(),
            })?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("warden")
            .build();
        let provider = SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_simple_exporter(exporter)
            .build();
        let logger = provider.logger("warden.audit");
        Ok(Exporter {
            provider,
            logger,
            base: base.to_string(),
            failure,
        })
    }

    /// Send one record (blocks until the collector answers or the timeout).
    pub fn export(&self, e: &Entry) {
        let r = &e.record;
        let mut rec = self.logger.create_log_record();
        let (severity, text) = match r.decision {
            Decision::Allow => (Severity::Info, "INFO"),
            Decision::Deny => (Severity::Warn, "WARN"),
        };
        rec.set_severity_number(severity);
        rec.set_severity_text(text);
        rec.set_event_name("warden.audit");
        rec.set_body(AnyValue::String(summary(e).into()));
        let kind = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        let decision = serde_json::to_value(r.decision)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        rec.add_attribute("warden.seq", e.seq as i64);
        rec.add_attribute("warden.time", e.time.clone());
        rec.add_attribute("warden.user", e.user.clone());
        rec.add_attribute("warden.mac", e.mac.clone());
        rec.add_attribute("warden.prev", e.prev.clone());
        let optional = [
            ("warden.kind", kind),
            ("warden.decision", decision),
            ("warden.plugin", r.plugin.clone()),
            ("warden.tool", r.tool.clone()),
            ("warden.capability", r.capability.clone()),
            ("warden.operation", r.operation.clone()),
            ("warden.resource", r.resource.clone()),
            ("warden.reason", r.reason.clone()),
            ("warden.allow", r.allow.clone()),
            ("warden.approved_by", r.approved_by.clone()),
            ("warden.outcome", r.outcome.clone()),
            ("warden.session", r.session.clone()),
            ("warden.detail", r.detail.as_ref().map(ToString::to_string)),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                rec.add_attribute(key, v);
            }
        }
        if let Some(t) = r.turn {
            rec.add_attribute("warden.turn", t as i64);
        }
        if !r.rule.is_empty() {
            rec.add_attribute("warden.rule", r.rule.join("\n"));
        }
        self.logger.emit(rec);
        let failed = self.failure.lock().ok().and_then(|mut f| f.take());
        if let Some(why) = failed {
            tracing::warn!(
                "audit record {} was not exported to {}: {why} (it is in the local log)",
                e.seq,
                self.base
            );
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

fn summary(e: &Entry) -> String {
    let r = &e.record;
    let target = match (&r.plugin, &r.tool) {
        (Some(p), Some(t)) => format!(" {p}.{t}"),
        (Some(p), None) => format!(" {p}"),
        _ => String::new(),
    };
    let kind = serde_json::to_value(r.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let decision = serde_json::to_value(r.decision)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    format!("#{} {kind} {decision}{target}", e.seq)
}

/// HTTP/1.1 POST over a plain TCP stream: all an OTLP/HTTP export needs,
/// without an HTTP client stack. A failed export is an error for the SDK
/// to report.
#[derive(Debug)]
struct PlainHttp {
    failure: Failure,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for PlainHttp {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let answer = post(request);
        let why = match &answer {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the collector answered {}", r.status())),
            Err(e) => Some(e.to_string()),
        };
        if let (Some(why), Ok(mut slot)) = (why, self.failure.lock()) {
            *slot = Some(why);
        }
        answer
    }
}

fn post(
    request: http::Request<bytes::Bytes>,
) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
    let uri = request.uri();
    let host = uri.host().ok_or("the OTLP endpoint has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .ok_or("the OTLP endpoint's host does not resolve")?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, EXPORT_TIMEOUT)?;
    stream.set_read_timeout(Some(EXPORT_TIMEOUT))?;
    stream.set_write_timeout(Some(EXPORT_TIMEOUT))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        request.body().len()
    );
    for (name, value) in request.headers() {
        if let Ok(v) = value.to_str() {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(request.body())?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER_BYTES).read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the OTLP endpoint did not answer with HTTP")?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| bytes::Bytes::copy_from_slice(&answer[i + 4..]))
        .unwrap_or_default();
    Ok(http::Response::builder().status(status).body(body)?)
}
