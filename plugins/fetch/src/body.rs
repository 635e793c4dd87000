//! What a response body is (HTML, other text, or binary) and how to turn
//! its bytes into text.

/// Bytes looked at to guess what an unlabelled body is.
const SNIFF_BYTES: usize = 8 * 1024;

/// What the `Content-Type` header says about a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// HTML: converted to Markdown.
    Html,
    /// Other text: returned as it is.
    Text,
    /// No header or `application/octet-stream`: decided by looking at the
    /// first bytes ([`sniff`]).
    Unknown,
    /// Binary (images, archives, PDF, ...): refused before the body is read.
    Binary(String),
}

/// Classify a `Content-Type` value.
pub fn media(content_type: Option<&str>) -> Media {
    let Some(ct) = content_type else {
        return Media::Unknown;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (top, sub) {
        ("", _) | ("application", "octet-stream") => Media::Unknown,
        ("text", "html") | ("application", "xhtml+xml") => Media::Html,
        ("text", _) => Media::Text,
        (_, s) if s.ends_with("+json") || s.ends_with("+xml") || s.ends_with("+yaml") => {
            Media::Text
        }
        (
            "application",
            "json"
            | "xml"
            | "javascript"
            | "ecmascript"
            | "x-javascript"
            | "x-sh"
            | "yaml"
            | "x-yaml"
            | "toml"
            | "x-toml"
            | "graphql"
            | "sql"
            | "x-ndjson"
            | "ndjson"
            | "x-www-form-urlencoded"
            | "x-tex"
            | "x-httpd-php"
            | "x-python",
        ) => Media::Text,
        _ => Media::Binary(format!(
            "the response is {essence}, a binary content type; fetch returns text only"
        )),
    }
}

/// Decide what an unlabelled body is from its first bytes: a NUL byte
/// means binary; a document that opens like HTML is HTML; anything else is
/// text.
pub fn sniff(body: &[u8]) -> Media {
    let head = &body[..body.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return Media::Binary(
            "the response has no text content type and looks binary; fetch returns text only"
                .into(),
        );
    }
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = &start[start
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(start.len())..];
    let opens_with =
        |tag: &[u8]| start.len() >= tag.len() && start[..tag.len()].eq_ignore_ascii_case(tag);
    if [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<body",
        b"<!--",
    ]
    .iter()
    .any(|t| opens_with(t))
    {
        Media::Html
    } else {
        Media::Text
    }
}

/// The body as text: Latin-1 and Windows-1252 byte for byte, everything else
/// as UTF-8 with invalid sequences replaced (a byte-order mark dropped).
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let charset = content_type.and_then(|ct| {
        ct.split(';').skip(1).find_map(|param| {
            let (k, v) = param.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
        })
    });
    match charset.as_deref() {
        Some("iso-8859-1" | "latin1" | "l1" | "windows-1252" | "cp1252" | "us-ascii" | "ascii") => {
            body.iter().map(|&b| char::from(b)).collect()
        }
        _ => {
            let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
            String::from_utf8_lossy(body).into_owned()
        }
    }
}

/// Remove control characters other than newline and tab (and turn `\r\n`
/// and lone `\r` into `\n`), so the text is safe to show and to embed.
pub fn clean_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    s.chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_classified() {
        let cases = [
            (Some("text/html; charset=utf-8"), Media::Html),
            (Some("TEXT/HTML"), Media::Html),
            (Some("application/xhtml+xml"), Media::Html),
            (Some("text/plain"), Media::Text),
            (Some("text/markdown; charset=UTF-8"), Media::Text),
            (Some("text/csv"), Media::Text),
            (Some("application/json"), Media::Text),
            (Some("application/ld+json"), Media::Text),
            (Some("application/rss+xml"), Media::Text),
            (Some("image/svg+xml"), Media::Text),
            (Some("application/javascript"), Media::Text),
            (Some("application/toml"), Media::Text),
            (None, Media::Unknown),
            (Some(""), Media::Unknown),
            (Some("application/octet-stream"), Media::Unknown),
        ];
        for (ct, want) in cases {
            assert_eq!(media(ct), want, "{ct:?}");
        }
        for binary in [
            "image/png",
            "application/pdf",
            "application/zip",
            "video/mp4",
            "font/woff2",
            "audio/mpeg",
        ] {
            let Media::Binary(msg) = media(Some(binary)) else {
                panic!("{binary} should be binary");
            };
            assert!(msg.contains(binary) && msg.contains("text only"), "{msg}");
        }
    }

    #[test]
    fn unlabelled_bodies_are_sniffed() {
        assert_eq!(sniff(b"<!DOCTYPE html><p>x"), Media::Html);
        assert_eq!(sniff(b"\xEF\xBB\xBF\n  <html lang=en>"), Media::Html);
        assert_eq!(sniff(b"<!-- c --><div>"), Media::Html);
        assert_eq!(sniff(b"just text <b>not</b> a document"), Media::Text);
        assert_eq!(sniff(b""), Media::Text);
        assert!(matches!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Media::Binary(_)
        ));
    }

    #[test]
    fn bodies_decode_by_charset() {
        assert_eq!(
            decode("héllo".as_bytes(), Some("text/plain; charset=utf-8")),
            "héllo"
        );
        assert_eq!(
            decode(b"h\xe9llo", Some("text/plain; charset=ISO-8859-1")),
            "héllo"
        );
        assert_eq!(
            decode(b"h\xe9llo", Some("text/html;charset=\"windows-1252\"")),
            "héllo"
        );
        assert_eq!(decode(b"h\xe9llo", None), "h\u{FFFD}llo");
        assert_eq!(decode(b"\xEF\xBB\xBFbom", None), "bom");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(
            clean_text("a\r\nb\rc\u{1b}[31md\u{0}\te\u{85}"),
            "a\nb\nc[31md\te"
        );
    }
}
