//! Model providers: one HTTP client speaking three streaming wire formats,
//! with retries on rate limits and server errors.
//!
//! The conversation is kept in a provider-neutral form ([`Item`]); each wire
//! module turns it into its request body and folds its stream events into a
//! [`Reply`]. Nothing a provider sends is trusted: sizes are bounded, and a
//! malformed stream is an error that names what was wrong.

mod anthropic;
mod chat;
mod responses;

use super::sse;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use warden_core::escape::escape;

/// Most bytes read from one streamed response.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Most bytes of an error body read to explain a refusal.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest silence tolerated inside a stream (local models can be slow to
/// produce the first token on a cold start).
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Time allowed to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most tool calls accepted in one reply.
pub const MAX_CALLS_PER_REPLY: usize = 64;
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// OpenAI-compatible Chat Completions (`/chat/completions`): OpenAI,
    /// Ollama, llama.cpp server, vLLM, LM Studio, …
    Chat,
    /// OpenAI Responses API (`/responses`).
    Responses,
    /// Anthropic Messages API (`/messages`).
    Anthropic,
}

impl Kind {
    /// Parse a name as written in config and `WARDEN_PROVIDER`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "chat" | "openai-chat" | "ollama" => Some(Kind::Chat),
            "responses" | "openai" => Some(Kind::Responses),
            "anthropic" => Some(Kind::Anthropic),
            _ => None,
        }
    }

    /// The name as written in config.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Responses => "responses",
            Kind::Anthropic => "anthropic",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Chat => "chat/completions",
            Kind::Responses => "responses",
            Kind::Anthropic => "messages",
        }
    }
}

/// Where and how to reach a model.
#[derive(Clone)]
pub struct Endpoint {
    pub kind: Kind,
    /// Base URL up to and including the API version, e.g.
    /// `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Where the key came from, for error messages (`OPENAI_API_KEY`, …).
    pub key_source: String,
    /// Cap on tokens the model may produce per reply (required by Anthropic).
    pub max_output_tokens: Option<u32>,
    /// The model's context window in tokens, when configured; else it is
    /// known from the model's name or assumed (see [`crate::context`]).
    pub context_window: Option<u64>,
}

impl Endpoint {
    /// The model's context window in tokens.
    pub fn window(&self) -> u64 {
        self.context_window
            .unwrap_or_else(|| crate::context::window_of(&self.model))
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// First delay; doubled for each further retry.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// One entry of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Item {
    /// What the person asked.
    User { text: String },
    /// What the model said and the tools it called.
    Assistant {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        calls: Vec<ToolCall>,
    },
    /// The answer to one tool call.
    Tool {
        call_id: String,
        name: String,
        output: String,
        is_error: bool,
    },
    /// The model's summary of the older turns it replaced (see
    /// [`crate::context`]); sent as a user message that says what it is.
    Summary { text: String },
}

impl Item {
    /// The text a summary is sent as.
    pub fn summary_text(text: &str) -> String {
        format!("{}\n{text}", crate::context::SUMMARY_HEADER)
    }
}

/// A tool call as the model wrote it. `arguments` is the model's raw text,
/// which may not even be JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Tokens used by one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// What the model answered in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub usage: Usage,
}

/// One request: the system instructions, the conversation and the tools.
pub struct Request<'a> {
    pub instructions: &'a str,
    pub items: &'a [Item],
    pub tools: &'a [ToolDef],
}

/// Why a request to the model failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an error status.
    #[error("{url} answered {status}: {message}; {hint}")]
    Status {
        url: String,
        status: u16,
        message: String,
        hint: String,
    },
    /// No connection, or it broke.
    #[error("cannot reach {url}: {reason}; {hint}")]
    Connect {
        url: String,
        reason: String,
        hint: String,
    },
    /// The stream broke the wire format or its limits.
    #[error("malformed response from {url}: {reason}")]
    Stream { url: String, reason: String },
    /// The provider reported an error inside the stream.
    #[error("{url} reported an error mid-stream: {message}")]
    Remote { url: String, message: String },
}

impl ProviderError {
    /// Whether the provider refused the conversation as too long for the
    /// model's window.
    pub fn is_overflow(&self) -> bool {
        match self {
            ProviderError::Status {
                status, message, ..
            } => crate::context::is_overflow(Some(*status), message),
            ProviderError::Remote { message, .. } => crate::context::is_overflow(None, message),
            _ => false,
        }
    }
}

/// Progress a caller may want to show while a request runs.
pub trait Observer {
    /// A piece of the model's text arrived.
    fn text(&mut self, _delta: &str) {}
    /// A request failed and will be retried after `delay`.
    fn retry(&mut self, _attempt: u32, _delay: Duration, _why: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// A client for one endpoint.
pub struct Provider {
    endpoint: Endpoint,
    retry: Retry,
    http: reqwest::Client,
}

/// Folds one wire format's events into a reply.
enum Parser {
    Chat(chat::Parser),
    Responses(responses::Parser),
    Anthropic(anthropic::Parser),
}

impl Parser {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Chat => Parser::Chat(chat::Parser::default()),
            Kind::Responses => Parser::Responses(responses::Parser::default()),
            Kind::Anthropic => Parser::Anthropic(anthropic::Parser::default()),
        }
    }

    /// Handle one event; `Ok(true)` once the response is complete.
    fn event(&mut self, ev: &sse::Event, obs: &mut dyn Observer) -> Result<bool, WireError> {
        match self {
            Parser::Chat(p) => p.event(ev, obs),
            Parser::Responses(p) => p.event(ev, obs),
            Parser::Anthropic(p) => p.event(ev, obs),
        }
    }

    /// Whether a stream that ended without its end marker still holds a
    /// whole reply.
    fn whole_without_marker(&self) -> bool {
        matches!(self, Parser::Chat(p) if p.finished())
    }

    fn finish(self) -> Result<Reply, WireError> {
        match self {
            Parser::Chat(p) => p.finish(),
            Parser::Responses(p) => p.finish(),
            Parser::Anthropic(p) => p.finish(),
        }
    }
}

/// What went wrong while parsing a stream.
#[derive(Debug)]
enum WireError {
    /// Not the wire format.
    Malformed(String),
    /// A well-formed error event from the provider.
    Remote(String),
}

fn malformed(what: impl Into<String>) -> WireError {
    WireError::Malformed(what.into())
}

/// Parse an event's data as JSON.
fn json(ev: &sse::Event) -> Result<serde_json::Value, WireError> {
    serde_json::from_str(&ev.data).map_err(|e| {
        malformed(format!(
            "event data is not JSON ({e}): {}",
            preview(&ev.data)
        ))
    })
}

/// Check a size the provider controls.
fn bounded(text: &str, what: &str) -> Result<(), WireError> {
    if text.len() > MAX_RESPONSE_BYTES {
        return Err(malformed(format!(
            "{what} is longer than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Untrusted text, shortened and escaped for an error message.
fn preview(text: &str) -> String {
    const MAX: usize = 300;
    let cut: String = text.chars().take(MAX).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{more}", escape(&cut))
}

impl Provider {
    /// A client for `endpoint`.
    pub fn new(endpoint: Endpoint, retry: Retry) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Connect {
                url: endpoint.base_url.clone(),
                reason: e.to_string(),
                hint: "the HTTP client could not be set up".into(),
            })?;
        Ok(Provider {
            endpoint,
            retry,
            http,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn url(&self) -> String {
        format!(
            "{}/{}",
            self.endpoint.base_url.trim_end_matches('/'),
            self.endpoint.kind.path()
        )
    }

    fn body(&self, req: &Request<'_>) -> serde_json::Value {
        match self.endpoint.kind {
            Kind::Chat => chat::body(&self.endpoint, req),
            Kind::Responses => responses::body(&self.endpoint, req),
            Kind::Anthropic => anthropic::body(&self.endpoint, req),
        }
    }

    /// Send one request and stream the reply, retrying on 429, 5xx and
    /// connection failures before any of the reply was read.
    pub async fn complete(
        &self,
        req: &Request<'_>,
        obs: &mut dyn Observer,
    ) -> Result<Reply, ProviderError> {
        let url = self.url();
        let body = self.body(req);
        let mut attempt = 0;
        loop {
            let (why, retry_after) = match self.send(&url, &body).await {
                Ok(resp) if resp.status().is_success() => {
                    return self.stream(&url, resp, obs).await;
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = retry_after(&resp);
                    let message = error_message(resp).await;
                    if !(status == 429 || status >= 500) || attempt >= self.retry.attempts {
                        return Err(ProviderError::Status {
                            hint: self.hint(status),
                            url,
                            status,
                            message,
                        });
                    }
                    (format!("{status}: {message}"), retry_after)
                }
                Err(e) => {
                    if attempt >= self.retry.attempts {
                        return Err(ProviderError::Connect {
                            url,
                            reason: error_chain(&e),
                            hint: format!(
                                "check that the server is running and that the base URL `{}` is right",
                                self.endpoint.base_url
                            ),
                        });
                    }
                    (error_chain(&e), None)
                }
            };
            let backoff = self
                .retry
                .base_delay
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(self.retry.max_delay);
            let delay = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
            attempt += 1;
            obs.retry(attempt, delay, &why);
            tracing::info!(attempt, ?delay, "retrying model request: {why}");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(body.to_string());
        if let Some(key) = &self.endpoint.api_key {
            req = match self.endpoint.kind {
                Kind::Anthropic => req.header("x-api-key", key),
                Kind::Chat | Kind::Responses => req.bearer_auth(key),
            };
        }
        if self.endpoint.kind == Kind::Anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        req.send().await
    }

    async fn stream(
        &self,
        url: &str,
        mut resp: reqwest::Response,
        obs: &mut dyn Observer,
    ) -> Result<Reply, ProviderError> {
        let stream_err = |reason: String| ProviderError::Stream {
            url: url.to_string(),
            reason,
        };
        let wire = |e: WireError| match e {
            WireError::Malformed(reason) => ProviderError::Stream {
                url: url.to_string(),
                reason,
            },
            WireError::Remote(message) => ProviderError::Remote {
                url: url.to_string(),
                message,
            },
        };
        let mut decoder = sse::Decoder::default();
        let mut parser = Parser::new(self.endpoint.kind);
        let mut read = 0usize;
        loop {
            let chunk = match tokio::time::timeout(STREAM_IDLE_TIMEOUT, resp.chunk()).await {
                Err(_) => {
                    return Err(stream_err(format!(
                        "no data for {} s",
                        STREAM_IDLE_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => {
                    return Err(stream_err(format!(
                        "the connection broke mid-stream: {}",
                        error_chain(&e)
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            read += chunk.len();
            if read > MAX_RESPONSE_BYTES {
                return Err(stream_err(format!(
                    "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            for ev in decoder.feed(&chunk).map_err(stream_err)? {
                if parser.event(&ev, obs).map_err(wire)? {
                    return parser.finish().map_err(wire);
                }
            }
        }
        // An event the stream did not close with a blank line is dropped, as
        // the event-stream rules say.
        if parser.whole_without_marker() {
            return parser.finish().map_err(wire);
        }
        Err(stream_err(
            "the stream ended before the response was complete".into(),
        ))
    }

    /// What a person can do about an error status.
    fn hint(&self, status: u16) -> String {
        let e = &self.endpoint;
        match status {
            401 | 403 => match &e.api_key {
                Some(_) => format!(
                    "the provider refused the API key from {}: check that it is valid and allowed to use model `{}`",
                    e.key_source, e.model
                ),
                None => format!(
                    "no API key was sent: set {} (or `api_key_env` in the profile in ~/.config/warden/config.toml)",
                    e.key_source
                ),
            },
            404 => format!(
                "check the base URL `{}` and the model name `{}`",
                e.base_url, e.model
            ),
            413 => "the conversation is too large for this provider".into(),
            429 => "rate limited, and still after retrying; wait and try again".into(),
            s if s >= 500 => {
                "the provider failed, and still after retrying; try again later".into()
            }
            _ => "the provider refused the request".into(),
        }
    }
}

/// `Retry-After` in seconds, when the provider sent one.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let value = resp.headers().get("retry-after")?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(3600.0))))
}

/// The message of an error body: `error.message` in both OpenAI's and
/// Anthropic's formats, else the start of the body.
async fn error_message(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY_BYTES {
            body.truncate(MAX_ERROR_BODY_BYTES);
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let msg = v["error"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
            .or_else(|| v["message"].as_str());
        if let Some(msg) = msg {
            return preview(msg);
        }
    }
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        preview(text.trim())
    }
}

/// An error with its causes, which is where reqwest says what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
