//! The request itself, through `wasi:http/outgoing-handler`: one GET, no
//! redirects followed here (warden follows them, checking each hop), the
//! body read up to [`MAX_BODY_BYTES`].

use warden_sdk::ToolError;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingRequest, Scheme, http_error_code,
};
use wasip2::io::streams::StreamError;

use crate::body::{self, Media};
use crate::url::{self, Url};
use crate::{FINAL_URL_HEADER, MAX_BODY_BYTES, Response};

/// Bytes asked of the body stream per read.
const READ_CHUNK: usize = 64 * 1024;

/// What the plugin accepts, most wanted first.
const ACCEPT: &[u8] = b"text/html, text/*;q=0.9, application/json;q=0.8, */*;q=0.1";

/// Send a GET for `url` and read the answer.
pub fn get(url: &Url) -> Result<Response, ToolError> {
    let headers = Fields::from_list(&[
        ("accept".to_string(), ACCEPT.to_vec()),
        ("user-agent".to_string(), b"warden-fetch/0.1".to_vec()),
    ])
    .map_err(|e| ToolError::failed(format!("cannot build the request headers: {e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let scheme = match url.scheme {
        url::Scheme::Http => Scheme::Http,
        url::Scheme::Https => Scheme::Https,
    };
    request
        .set_method(&Method::Get)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(&url.authority)))
        .and_then(|()| request.set_path_with_query(Some(&url.path_with_query)))
        .map_err(|()| ToolError::invalid(format!("{url} is not a valid request URL")))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| network_error(url, &e))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(network_error(url, &e)),
        Some(Err(())) | None => {
            return Err(ToolError::failed(format!("{url}: no response arrived")));
        }
    };
    read(url, response)
}

/// Read status, the headers the answer needs and the body. A binary content
/// type is refused before any of the body is downloaded.
fn read(url: &Url, response: IncomingResponse) -> Result<Response, ToolError> {
    let status = response.status();
    let (content_type, final_url, location) = {
        // `headers` is a child of `response`: dropped at the end of this block.
        let headers = response.headers();
        let first = |name: &str| {
            headers
                .get(name)
                .into_iter()
                .next()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        (
            first("content-type"),
            first(FINAL_URL_HEADER),
            first("location"),
        )
    };
    if let Media::Binary(why) = body::media(content_type.as_deref()) {
        return Err(ToolError::Failed(format!("{url}: {why}")));
    }
    let incoming = response
        .consume()
        .map_err(|()| ToolError::failed(format!("{url}: the response body is unavailable")))?;
    let mut bytes = Vec::new();
    let mut truncated = false;
    {
        // `stream` is a child of `incoming`: dropped at the end of this block.
        let stream = incoming
            .stream()
            .map_err(|()| ToolError::failed(format!("{url}: the response body is unavailable")))?;
        loop {
            let room = MAX_BODY_BYTES - bytes.len();
            // At the cap, one more byte tells a full body from a longer one.
            let want = if room == 0 { 1 } else { room.min(READ_CHUNK) };
            match stream.blocking_read(want as u64) {
                Ok(chunk) if room == 0 => {
                    truncated = !chunk.is_empty();
                    break;
                }
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http_error_code(&e) {
                        Some(code) => network_error(url, &code),
                        None => ToolError::failed(format!(
                            "{url}: reading the body failed: {}",
                            e.to_debug_string()
                        )),
                    });
                }
            }
        }
    }
    drop(incoming);
    Ok(Response {
        status,
        content_type,
        final_url,
        location,
        body: bytes,
        body_truncated: truncated,
    })
}

/// What a wasi-http error means for the caller. Warden refuses an ungranted
/// origin with `HTTP-request-denied` and a name that resolves to an
/// ungranted non-public address with `destination-IP-prohibited`; both are
/// denials of the network capability, everything else is a failure.
fn network_error(url: &Url, e: &ErrorCode) -> ToolError {
    let denied = |reason: &str| ToolError::Denied {
        capability: "network".into(),
        resource: url.to_string(),
        reason: reason.into(),
    };
    let failed = |what: &str| ToolError::failed(format!("{url}: {what}"));
    match e {
        ErrorCode::HttpRequestDenied => denied(
            "warden refused the request: its origin (scheme, host and port), or that of a redirect it led to, is not granted to the fetch plugin",
        ),
        ErrorCode::DestinationIpProhibited => denied(
            "warden refused the request: the host name resolved to a non-public address (loopback, private, link-local or cloud metadata), which needs a grant of that address",
        ),
        ErrorCode::HttpRequestUriInvalid => {
            ToolError::invalid(format!("{url}: warden refused the URL as invalid"))
        }
        ErrorCode::DnsError(p) => failed(&format!(
            "DNS lookup failed ({})",
            p.rcode.as_deref().unwrap_or("no detail")
        )),
        ErrorCode::DnsTimeout => failed("DNS lookup timed out"),
        ErrorCode::ConnectionRefused => failed("connection refused"),
        ErrorCode::ConnectionTimeout => failed("connecting timed out"),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            failed("the server took too long to answer")
        }
        ErrorCode::TlsCertificateError => failed("the server's TLS certificate is not valid"),
        ErrorCode::HttpResponseBodySize(_) => failed("the response is larger than warden allows"),
        ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
            failed("the response headers are larger than warden allows")
        }
        ErrorCode::LoopDetected => failed("too many redirects"),
        ErrorCode::InternalError(Some(m)) => failed(m),
        other => failed(&format!("{other:?}")),
    }
}
