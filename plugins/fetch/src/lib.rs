//! First-party `fetch` plugin: GET a URL from a granted origin and return
//! it as readable text.
//!
//! The request goes out through `wasi:http/outgoing-handler` and nothing
//! else: the host decides whether the origin is granted and which addresses
//! it may connect to, follows redirects (checking each hop again) and bounds
//! time and size. The plugin never follows a redirect itself and never sees
//! a socket. What it adds is turning the answer into text a model can read.

// Natively only the tests use the tool logic; see `component` below.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod body;
mod entity;
mod html;
#[cfg(target_arch = "wasm32")]
mod http;
mod url;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::body::Media;
use crate::url::Url;

/// Most bytes of `text` one call returns; also the default `max_bytes`.
/// The text has no control characters but newline and tab, so even fully
/// escaped the JSON answer stays under the host's default 1 MiB limit.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Most bytes of a response body read; the rest is not downloaded.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes kept of a header value echoed in the answer.
pub const MAX_HEADER_ECHO: usize = 1024;
/// Response header in which warden tells the URL it finally fetched after
/// following redirects (warden's `netpolicy::FINAL_URL_HEADER`).
pub const FINAL_URL_HEADER: &str = "warden-final-url";

/// Fetch a URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Most bytes of `text` to return. Defaults to, and is capped at, 262144.
    #[schemars(range(min = 1))]
    pub max_bytes: Option<u32>,
}

/// The fetched resource as text.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct GetOutput {
    /// The URL asked for, normalised.
    pub url: String,
    /// The URL the answer came from, after any redirects warden followed.
    pub final_url: String,
    /// HTTP status code.
    pub status: u16,
    /// The response's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// The body as text: HTML converted to Markdown, other text as sent.
    pub text: String,
    /// `text` is incomplete: the body was larger than 4 MiB or the text
    /// longer than `max_bytes`.
    pub truncated: bool,
    /// Bytes of response body read.
    pub bytes: u64,
    /// For a redirect warden did not follow (a request body it would have to
    /// send again): where it points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// What came back from the network, before it becomes text.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// [`FINAL_URL_HEADER`].
    pub final_url: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
    /// The body was cut at [`MAX_BODY_BYTES`].
    pub body_truncated: bool,
}

/// Check the input: the URL to request and the text cap.
fn prepare(input: &GetInput) -> Result<(Url, usize), ToolError> {
    let url = Url::parse(&input.url).map_err(ToolError::InvalidInput)?;
    let max = match input.max_bytes {
        Some(0) => return Err(ToolError::invalid("max_bytes must be at least 1")),
        Some(n) => usize::try_from(n)
            .unwrap_or(MAX_TEXT_BYTES)
            .min(MAX_TEXT_BYTES),
        None => MAX_TEXT_BYTES,
    };
    Ok((url, max))
}

/// Turn a response into the tool's answer.
fn answer(url: &Url, max_text: usize, response: Response) -> Result<GetOutput, ToolError> {
    let ct = response.content_type.as_deref();
    let final_url = response
        .final_url
        .as_deref()
        .and_then(|f| Url::parse(f).ok())
        .unwrap_or_else(|| url.clone());
    let media = match body::media(ct) {
        Media::Unknown => body::sniff(&response.body),
        known => known,
    };
    let decoded = body::decode(&response.body, ct);
    let (text, cut) = match media {
        Media::Binary(why) => return Err(ToolError::Failed(format!("{url}: {why}"))),
        Media::Html => {
            let c = html::to_markdown(&decoded, &final_url, max_text);
            (c.text, c.truncated)
        }
        Media::Text | Media::Unknown => truncate(body::clean_text(&decoded), max_text),
    };
    let location = response
        .location
        .filter(|_| (300..400).contains(&response.status))
        .map(|l| echo(&l));
    Ok(GetOutput {
        url: url.to_string(),
        final_url: final_url.to_string(),
        status: response.status,
        content_type: response.content_type.as_deref().map(echo),
        text,
        truncated: cut || response.body_truncated,
        bytes: response.body.len() as u64,
        location,
    })
}

/// A header value safe and short enough to put in the answer.
fn echo(value: &str) -> String {
    truncate(
        body::clean_text(value).replace(['\n', '\t'], " "),
        MAX_HEADER_ECHO,
    )
    .0
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s, true)
}

/// The component's exports. Built for wasm only: natively, `cargo test`
/// also links the cdylib, and the linker rejects the `:` in the export names
/// that wit-bindgen generates.
#[cfg(target_arch = "wasm32")]
mod component {
    use warden_sdk::ToolError;

    use crate::{GetInput, GetOutput, answer, http, prepare};

    fn get(input: GetInput) -> Result<GetOutput, ToolError> {
        let (url, max_text) = prepare(&input)?;
        let response = http::get(&url)?;
        answer(&url, max_text, response)
    }

    warden_sdk::plugin! {
        get: get => "Fetch a URL with HTTP GET and return its content as readable text: HTML is converted to Markdown (headings, paragraphs, lists, links as [text](url), code blocks; scripts and styles dropped), other text is returned as sent, binary content (images, PDF, archives) is refused. Only origins granted to this plugin can be reached; warden follows redirects and checks each hop. Returns `status`, `content_type`, `final_url` (after redirects), `text` (at most `max_bytes`, default and cap 262144) and `truncated` when a cap cut the text or the 4 MiB body short.",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(url: &str, max_bytes: Option<u32>) -> GetInput {
        GetInput {
            url: url.into(),
            max_bytes,
        }
    }

    fn response(status: u16, ct: Option<&str>, body: &[u8]) -> Response {
        Response {
            status,
            content_type: ct.map(str::to_string),
            body: body.to_vec(),
            ..Response::default()
        }
    }

    #[test]
    fn inputs_are_checked() {
        let (url, max) = prepare(&input("https://Example.com/a#b", None)).unwrap();
        assert_eq!(
            (url.to_string(), max),
            ("https://example.com/a".to_string(), MAX_TEXT_BYTES)
        );
        assert_eq!(prepare(&input("https://e.com", Some(10))).unwrap().1, 10);
        assert_eq!(
            prepare(&input("https://e.com", Some(u32::MAX))).unwrap().1,
            MAX_TEXT_BYTES
        );
        for (url, max) in [
            ("https://e.com", Some(0)),
            ("ftp://e.com", None),
            ("e.com", None),
            ("https://u@e.com", None),
        ] {
            assert!(
                matches!(prepare(&input(url, max)), Err(ToolError::InvalidInput(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn html_answers_are_converted() {
        let url = Url::parse("https://example.com/start").unwrap();
        let mut r = response(
            200,
            Some("text/html; charset=utf-8"),
            b"<h1>Hi</h1><a href=\"next\">n</a>",
        );
        r.final_url = Some("https://example.com/docs/moved".into());
        let out = answer(&url, MAX_TEXT_BYTES, r).unwrap();
        assert_eq!(out.url, "https://example.com/start");
        assert_eq!(out.final_url, "https://example.com/docs/moved");
        assert_eq!(out.text, "# Hi\n\n[n](https://example.com/docs/next)");
        assert_eq!((out.status, out.bytes, out.truncated), (200, 31, false));
        assert_eq!(
            out.content_type.as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(out.location, None);
    }

    #[test]
    fn text_answers_are_returned_as_sent_and_capped() {
        let url = Url::parse("https://example.com/x.json").unwrap();
        let out = answer(
            &url,
            8,
            response(200, Some("application/json"), b"{\"a\":\r\n1, \"b\": 2}"),
        )
        .unwrap();
        assert_eq!((out.text.as_str(), out.truncated), ("{\"a\":\n1,", true));
        let out = answer(&url, 100, response(200, None, b"plain <b>text</b>")).unwrap();
        assert_eq!(out.text, "plain <b>text</b>");
        let out = answer(
            &url,
            100,
            response(404, None, b"<!doctype html><p>Not found"),
        )
        .unwrap();
        assert_eq!((out.status, out.text.as_str()), (404, "Not found"));
        let mut big = response(200, Some("text/plain"), b"abc");
        big.body_truncated = true;
        assert!(answer(&url, 100, big).unwrap().truncated);
    }

    #[test]
    fn binary_answers_are_refused() {
        let url = Url::parse("https://example.com/logo.png").unwrap();
        for r in [
            response(200, Some("image/png"), b"\x89PNG"),
            response(200, Some("application/octet-stream"), b"PK\x03\x04\0\0"),
            response(200, None, b"\0\0\0\x18ftypmp42"),
        ] {
            let err = answer(&url, 100, r).unwrap_err();
            assert!(
                matches!(&err, ToolError::Failed(m) if m.contains("text only")),
                "{err}"
            );
        }
    }

    #[test]
    fn unfollowed_redirects_show_where_they_point() {
        let url = Url::parse("https://example.com/form").unwrap();
        let mut r = response(307, Some("text/plain"), b"");
        r.location = Some("/elsewhere\r\nX-Injected: 1".into());
        let out = answer(&url, 100, r).unwrap();
        assert_eq!(out.location.as_deref(), Some("/elsewhere X-Injected: 1"));
        let mut ok = response(200, Some("text/plain"), b"x");
        ok.location = Some("/ignored".into());
        assert_eq!(answer(&url, 100, ok).unwrap().location, None);
    }
}
