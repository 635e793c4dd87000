//! Outgoing HTTP for plugins: warden's implementation of the hook behind
//! `wasi:http/outgoing-handler`.
//!
//! wasmtime-wasi-http turns the guest's request into an `http::Request` and
//! hands it to [`NetHooks::send_request`]. Nothing else can send a byte for
//! a plugin: its default sender is not compiled in (the
//! `default-send-request` feature is off) and `wasi:sockets` is never
//! linked. For each request this module:
//!
//! 1. parses the target once from the scheme, authority and path the guest
//!    set ([`Target::from_parts`]); the guest's `Host` header is forbidden
//!    by wasi-http and the one sent is written from the parsed authority;
//! 2. checks the origin against the plugin's grants before any DNS query,
//!    resolves names off the async runtime, checks every address, and
//!    connects only to the addresses it checked ([`NetPolicy::resolve`]);
//! 3. speaks HTTP/1.1 itself (TLS by rustls with the Mozilla roots for
//!    `https`), with hyper's header limits set to warden's;
//! 4. follows redirects itself, each hop checked again
//!    ([`NetPolicy::redirect`]), credentials dropped once the origin changes,
//!    at most [`crate::capability::network::MAX_REDIRECTS`] hops;
//! 5. bounds the whole exchange: connect time per hop, a total deadline that
//!    also covers reading the body, and the body size.
//!
//! Every refusal is recorded as a [`Denial`] for the call's result and the
//! guest gets `HTTP-request-denied` (origin not granted) or
//! `destination-IP-prohibited` (a granted name resolved to an address that
//! needs its own grant).

use crate::capability::Denials;
use crate::capability::network::{
    CONNECT_TIMEOUT, FINAL_URL_HEADER, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_BODY_BYTES,
    MAX_RESPONSE_BYTES, NetError, NetPolicy, Scheme, SystemResolver, TOTAL_TIMEOUT, Target,
    TargetHost, forward_header_on_redirect, redirect_method,
};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Asked with every `scheme://host:port` a request is about to reach (the
/// organisation's policy, see [`crate::policy::access`]); `Err` says which
/// rule refuses it.
pub type OriginCheck =
    Arc<dyn Fn(&str) -> Result<(), crate::policy::access::Refused> + Send + Sync>;

/// Time kept back from a call's deadline so the guest sees a network
/// timeout and can report it, rather than being stopped.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// The network side of one call: the plugin's grants, where refusals go,
/// and when the call must be over.
pub struct NetHooks {
    policy: Arc<NetPolicy>,
    denials: Arc<Mutex<Denials>>,
    deadline: std::time::Instant,
    org: Option<OriginCheck>,
}

impl NetHooks {
    /// Hooks for a call that ends at `deadline`.
    pub fn new(policy: Arc<NetPolicy>, deadline: std::time::Instant) -> Self {
        NetHooks {
            policy,
            denials: Arc::default(),
            deadline,
            org: None,
        }
    }

    /// Ask `check` about every origin (and resolved address) a request of
    /// this call reaches, whatever grant let it through.
    pub fn with_policy(mut self, check: Option<OriginCheck>) -> Self {
        self.org = check;
        self
    }

    /// The requests refused so far in this call (bounded).
    pub fn denials(&self) -> Denials {
        self.denials.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

type ResponseFuture =
    Box<dyn Future<Output = Result<(Response<WasiBody>, IoFuture), Error>> + Send>;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for NetHooks {
    fn set_host_header(&mut self) -> bool {
        // Written by `send` from the parsed target instead.
        false
    }

    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        // A request must say whether it wants TLS.
        None
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: IoFuture,
    ) -> ResponseFuture {
        let exchange = Exchange {
            policy: self.policy.clone(),
            denials: self.denials.clone(),
            options,
            org: self.org.clone(),
        };
        // The total time: warden's limit, and never past the call's own
        // deadline (less a margin, so the guest can report the timeout).
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now())
            .saturating_sub(DEADLINE_MARGIN);
        let deadline = Instant::now() + left.min(TOTAL_TIMEOUT);
        Box::new(async move {
            match tokio::time::timeout_at(deadline, exchange.send(request, deadline)).await {
                Ok(result) => result,
                Err(_) => Err(Error::ConnectionTimeout),
            }
        })
    }
}

/// One request and its redirects.
struct Exchange {
    policy: Arc<NetPolicy>,
    denials: Arc<Mutex<Denials>>,
    options: Option<RequestOptions>,
    org: Option<OriginCheck>,
}

impl Exchange {
    fn refuse(&self, refusal: crate::capability::network::Refusal) -> Error {
        let prohibited = refusal.address.is_some() && refusal.operation == "connect";
        tracing::info!(%refusal, "network request refused");
        if let Ok(mut d) = self.denials.lock() {
            d.push(refusal.into());
        }
        if prohibited {
            Error::DestinationIpProhibited
        } else {
            Error::HttpRequestDenied
        }
    }

    fn net_error(&self, e: NetError) -> Error {
        match e {
            NetError::Refused(r) => self.refuse(r),
            NetError::Invalid(_) => Error::HttpRequestUriInvalid,
            NetError::Resolve { reason, .. } => Error::DnsError {
                rcode: Some(reason),
                info_code: None,
            },
            NetError::TooManyRedirects => Error::LoopDetected,
        }
    }

    async fn send(
        self,
        request: Request<WasiBody>,
        deadline: Instant,
    ) -> Result<(Response<WasiBody>, IoFuture), Error> {
        let (parts, body) = request.into_parts();
        let uri = &parts.uri;
        let mut target = Target::from_parts(
            uri.scheme_str().unwrap_or(""),
            uri.authority().map(|a| a.as_str()).unwrap_or(""),
            uri.path_and_query().map(|p| p.as_str()).unwrap_or(""),
        )
        .map_err(|e| {
            tracing::info!(reason = %e, "request URL refused");
            Error::HttpRequestUriInvalid
        })?;
        let mut method = parts.method;
        let mut headers = parts.headers;
        headers.remove(header::HOST);
        let has_body = !(body.is_end_stream() || body.size_hint().exact() == Some(0));
        let mut body = Some(
            Limited::new(body, MAX_REQUEST_BODY_BYTES as usize)
                .map_err(|_| Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES)))
                .boxed_unsync(),
        );
        let mut hop = 0u32;
        loop {
            let addrs = self.resolve(&target).await?;
            let stream = connect(&addrs, self.connect_timeout()).await?;
            let io: Box<dyn Stream> = match target.scheme() {
                Scheme::Http => Box::new(stream),
                Scheme::Https => {
                    Box::new(tls(stream, target.host(), self.connect_timeout()).await?)
                }
            };
            let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
                .max_headers(MAX_HEADERS)
                .max_header_size(MAX_HEADER_BYTES)
                .handshake(TokioIo::new(io))
                .await?;
            let mut request = Request::builder()
                .method(method.clone())
                .uri(target.path())
                .body(body.take().unwrap_or_else(empty))
                .map_err(|e| Error::InternalError(Some(e.to_string())))?;
            *request.headers_mut() = headers.clone();
            let host = HeaderValue::from_str(&target.authority())
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            request.headers_mut().insert(header::HOST, host);
            // The connection runs beside the request, bounded by the
            // deadline; for a followed redirect it is aborted.
            let task = tokio::spawn(async move {
                match tokio::time::timeout_at(deadline, conn).await {
                    Ok(r) => r.map_err(Error::from),
                    Err(_) => Err(Error::ConnectionTimeout),
                }
            });
            let response = match self.first_byte(sender.send_request(request)).await {
                Ok(r) => r,
                Err(e) => {
                    task.abort();
                    return Err(e);
                }
            };
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let next_method = redirect_method(status, method.as_str(), hop == 0 && has_body)
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
            if let (Some(location), Some(next_method)) = (location, next_method) {
                hop += 1;
                match self.policy.redirect(&target, &location, hop) {
                    Ok(next) => {
                        drop(response);
                        drop(sender);
                        task.abort();
                        if next_method != method {
                            for h in [
                                header::CONTENT_TYPE,
                                header::CONTENT_LENGTH,
                                header::CONTENT_ENCODING,
                            ] {
                                headers.remove(h);
                            }
                        }
                        if !next.same_origin {
                            let names: Vec<HeaderName> = headers.keys().cloned().collect();
                            for name in names {
                                if !forward_header_on_redirect(name.as_str(), false) {
                                    headers.remove(name);
                                }
                            }
                        }
                        method = next_method;
                        target = next.target;
                        continue;
                    }
                    // An unusable `Location` goes back to the guest as is.
                    Err(NetError::Invalid(_)) => {}
                    Err(e) => {
                        task.abort();
                        return Err(self.net_error(e));
                    }
                }
            }
            let mut response = response.map(|incoming| {
                BoundedBody::new(incoming, MAX_RESPONSE_BYTES, deadline).boxed_unsync()
            });
            response.headers_mut().remove(FINAL_URL_HEADER);
            if let Ok(v) = HeaderValue::from_str(&target.to_string()) {
                response.headers_mut().insert(FINAL_URL_HEADER, v);
            }
            let io: IoFuture = Box::new(async move {
                match task.await {
                    Ok(r) => r,
                    Err(e) => Err(Error::InternalError(Some(e.to_string()))),
                }
            });
            return Ok((response, io));
        }
    }

    fn connect_timeout(&self) -> Duration {
        self.options
            .and_then(|o| o.connect_timeout)
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT))
    }

    /// Wait for the response head, within the guest's first-byte timeout
    /// if it set one (the total deadline applies regardless).
    async fn first_byte<F>(&self, f: F) -> Result<Response<hyper::body::Incoming>, Error>
    where
        F: Future<Output = hyper::Result<Response<hyper::body::Incoming>>>,
    {
        let result = match self.options.and_then(|o| o.first_byte_timeout) {
            Some(t) => tokio::time::timeout(t, f)
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?,
            None => f.await,
        };
        result.map_err(|e| {
            if e.is_parse_too_large() {
                Error::HttpResponseHeaderSectionSize(Some(MAX_HEADER_BYTES as u32))
            } else {
                Error::from(e)
            }
        })
    }

    /// Check, resolve and check again, off the async runtime (the system
    /// resolver blocks).
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Error> {
        // Refuse an ungranted origin before spending a thread on it.
        if let Err(r) = self.policy.check_target(target) {
            return Err(self.refuse(r));
        }
        // The organisation's policy on the origin itself, before any DNS
        // query, whatever grant (a wildcard, a CIDR block) matched it.
        self.ask_org(&target.origin(), None)?;
        let policy = self.policy.clone();
        let t = target.clone();
        let lookup = tokio::task::spawn_blocking(move || policy.resolve(&t, &SystemResolver));
        let addrs = match tokio::time::timeout(CONNECT_TIMEOUT, lookup).await {
            Err(_) => return Err(Error::DnsTimeout),
            Ok(Err(e)) => return Err(Error::InternalError(Some(e.to_string()))),
            Ok(Ok(Err(e))) => return Err(self.net_error(e)),
            Ok(Ok(Ok(addrs))) => addrs,
        };
        // And on every address a name led to: a forbid written for an
        // address holds when a name that resolves to it is used.
        if matches!(target.host(), TargetHost::Name(_)) {
            for a in &addrs {
                let ip = a.ip().to_canonical();
                let host = match ip {
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                };
                let origin = format!("{}://{host}:{}", target.scheme(), target.port());
                self.ask_org(&origin, Some(ip))?;
            }
        }
        Ok(addrs)
    }

    /// The organisation's policy on `origin` (reached through `address`
    /// when it is a resolved address): a refusal is recorded and the guest
    /// gets `HTTP-request-denied` (`destination-IP-prohibited` for an
    /// address).
    fn ask_org(&self, origin: &str, address: Option<std::net::IpAddr>) -> Result<(), Error> {
        let Some(check) = &self.org else {
            return Ok(());
        };
        match check(origin) {
            Ok(()) => Ok(()),
            Err(refused) => Err(self.refuse(crate::capability::network::Refusal {
                operation: "connect",
                resource: origin.to_string(),
                reason: refused.reason(),
                allow: None,
                address,
            })),
        }
    }
}

fn empty() -> WasiBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A byte stream hyper can run HTTP over.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Connect to the first of `addrs` that answers: only addresses the policy
/// checked, never a name.
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Error::ConnectionRefused;
            }
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

/// The TLS client configuration: the Mozilla root store, HTTP/1.1 only.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(format!("TLS setup: {e}"))))
}

async fn tls(
    stream: TcpStream,
    host: &TargetHost,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    use rustls::pki_types::ServerName;
    let name = match host {
        TargetHost::Name(n) => {
            ServerName::try_from(n.clone()).map_err(|_| Error::HttpRequestUriInvalid)?
        }
        TargetHost::Ip(ip) => ServerName::IpAddress((*ip).into()),
    };
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            let certificate = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            if certificate {
                Err(Error::TlsCertificateError)
            } else {
                Err(Error::Tls(e))
            }
        }
        Err(_) => Err(Error::ConnectionTimeout),
    }
}

/// A response body that ends with an error once it passes `limit` bytes or
/// the exchange's deadline, whichever comes first.
struct BoundedBody {
    inner: hyper::body::Incoming,
    read: u64,
    limit: u64,
    deadline: Pin<Box<Sleep>>,
}

impl BoundedBody {
    fn new(inner: hyper::body::Incoming, limit: u64, deadline: Instant) -> Self {
        BoundedBody {
            inner,
            read: 0,
            limit,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.read > self.limit {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.read = self.limit + 1;
            return Poll::Ready(Some(Err(Error::HttpResponseTimeout)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.read += data.len() as u64;
                    if self.read > self.limit {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                            self.limit,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.read = self.limit + 1;
                Poll::Ready(Some(Err(Error::from(e))))
            }
            other => other.map(|o| o.map(|r| r.map_err(Error::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read > self.limit || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
