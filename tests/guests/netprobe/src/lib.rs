//! A guest that sends raw `wasi:http` requests exactly as told, so the
//! tests can check what warden lets out and what comes back.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// `http` or `https`.
    pub scheme: String,
    /// Authority as the guest sets it (any spelling).
    pub authority: String,
    /// Path with query.
    #[serde(default = "root")]
    pub path: String,
    /// Method; GET by default.
    #[serde(default)]
    pub method: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Send the request this many times (at most 10 000) and report the
    /// last answer: a flood of refused requests in one call.
    #[serde(default = "once")]
    pub repeat: u32,
}

fn once() -> u32 {
    1
}

fn root() -> String {
    "/".into()
}

/// What came back.
#[derive(Serialize, Default)]
pub struct Answer {
    /// Status, when a response arrived.
    pub status: Option<u16>,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes read.
    pub body_bytes: u64,
    /// The first 64 KiB of the body.
    pub body: String,
    /// The wasi-http error code of the request, if it failed.
    pub error: Option<String>,
    /// The wasi-http error code that ended reading the body, if any.
    pub body_error: Option<String>,
}

#[cfg(target_arch = "wasm32")]
mod component {
    use super::{Answer, Probe};
    use warden_sdk::ToolError;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
    };
    use wasip2::io::streams::StreamError;

    const KEEP: usize = 64 * 1024;

    /// `HttpRequestDenied`, `HttpResponseBodySize(Some(8))`, ...
    fn code(e: &ErrorCode) -> String {
        let debug = format!("{e:?}");
        debug.trim_start_matches("ErrorCode::").to_string()
    }

    fn request(p: Probe) -> Result<Answer, ToolError> {
        let mut answer = send(&p)?;
        for _ in 1..p.repeat.min(10_000) {
            answer = send(&p)?;
        }
        Ok(answer)
    }

    fn send(p: &Probe) -> Result<Answer, ToolError> {
        let list: Vec<(String, Vec<u8>)> = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
            .collect();
        let fields = Fields::from_list(&list)
            .map_err(|e| ToolError::invalid(format!("headers refused: {e:?}")))?;
        let req = OutgoingRequest::new(fields);
        let method = match p.method.as_deref().unwrap_or("GET") {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let scheme = match p.scheme.as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_string()),
        };
        req.set_method(&method)
            .and_then(|()| req.set_scheme(Some(&scheme)))
            .and_then(|()| req.set_authority(Some(&p.authority)))
            .and_then(|()| req.set_path_with_query(Some(&p.path)))
            .map_err(|()| ToolError::invalid("request parts refused"))?;
        // A body only when there is one, as a real client does: warden
        // cannot tell an empty streamed body from one still to come.
        let out_body = match &p.body {
            Some(_) => Some(
                req.body()
                    .map_err(|()| ToolError::failed("no request body"))?,
            ),
            None => None,
        };
        let pending = match outgoing_handler::handle(req, None) {
            Ok(f) => f,
            Err(e) => {
                return Ok(Answer {
                    error: Some(code(&e)),
                    ..Answer::default()
                });
            }
        };
        if let (Some(out_body), Some(body)) = (out_body, &p.body) {
            {
                let stream = out_body
                    .write()
                    .map_err(|()| ToolError::failed("no body stream"))?;
                for chunk in body.as_bytes().chunks(4096) {
                    if stream.blocking_write_and_flush(chunk).is_err() {
                        break;
                    }
                }
            }
            let _ = OutgoingBody::finish(out_body, None);
        }
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => {
                return Ok(Answer {
                    error: Some(code(&e)),
                    ..Answer::default()
                });
            }
            _ => return Err(ToolError::failed("no response")),
        };
        let mut answer = Answer {
            status: Some(response.status()),
            ..Answer::default()
        };
        {
            let headers = response.headers();
            answer.headers = headers
                .entries()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
        }
        let incoming = response
            .consume()
            .map_err(|()| ToolError::failed("no response body"))?;
        let mut kept = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| ToolError::failed("no body stream"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        answer.body_bytes += chunk.len() as u64;
                        let room = KEEP.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    }
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        answer.body_error = Some(match http_error_code(&e) {
                            Some(c) => code(&c),
                            None => e.to_debug_string(),
                        });
                        break;
                    }
                }
            }
        }
        drop(incoming);
        answer.body = String::from_utf8_lossy(&kept).into_owned();
        Ok(answer)
    }

    warden_sdk::plugin! {
        request: request => "Send one raw wasi:http request and report what came back.",
    }
}
