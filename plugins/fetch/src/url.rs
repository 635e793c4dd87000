//! The URL the tool is asked for, split into the parts a wasi-http request
//! takes, and the links of a fetched page made absolute.
//!
//! This is not where access is decided: the host parses the request's parts
//! itself and checks them against the plugin's network grants. Here a URL
//! that cannot be a request is refused early, so the model hears "invalid
//! input" rather than a network error.

use std::fmt;
use warden_text::url::{percent_encode, remove_dot_segments};

/// Longest URL accepted (the host's own bound).
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An absolute `http`/`https` URL as the parts of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The scheme.
    pub scheme: Scheme,
    /// `host[:port]`, lowercase.
    pub authority: String,
    /// Origin-form path and query, starting with `/`; no fragment.
    pub path_with_query: String,
}

impl Url {
    /// Parse an absolute URL. The scheme and host are lowercased, the
    /// fragment dropped, and bytes outside printable ASCII in the path
    /// percent-encoded. Refused: other schemes, user info (`user@host`),
    /// a missing host, a bad port, and spaces or control characters in the
    /// host.
    pub fn parse(input: &str) -> Result<Url, String> {
        if input.len() > MAX_URL_BYTES {
            return Err(format!("the URL is longer than {MAX_URL_BYTES} bytes"));
        }
        let s = input.trim();
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("{s:?} is not an absolute URL; write http://... or https://...")
        })?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => {
                return Err(format!(
                    "unsupported scheme {scheme:?}: only http and https"
                ));
            }
        };
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        check_authority(authority)?;
        if let Some(c) = tail.chars().find(|c| c.is_control()) {
            return Err(format!("the URL contains the control character {c:?}"));
        }
        let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
        // As browsers do for http(s), `\` in the path is `/`.
        let (path, query) = tail.split_at(tail.find('?').unwrap_or(tail.len()));
        let path = path.replace('\\', "/");
        let path = if path.starts_with('/') {
            format!("{path}{query}")
        } else {
            format!("/{path}{query}")
        };
        Ok(Url {
            scheme,
            authority: authority.to_ascii_lowercase(),
            path_with_query: percent_encode(&path),
        })
    }

    /// Make a link found on this page absolute. `None` for links that lead
    /// nowhere useful to a reader of the text: in-page anchors and other
    /// schemes (`javascript:`, `mailto:`, `data:`).
    pub fn resolve_href(&self, href: &str) -> Option<String> {
        let href: String = href
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let href = href.trim();
        if href.is_empty() || href.starts_with('#') {
            return None;
        }
        let scheme_end = href.find(':').filter(|&i| {
            href[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        });
        if let Some(i) = scheme_end {
            let scheme = href[..i].to_ascii_lowercase();
            return matches!(scheme.as_str(), "http" | "https").then(|| percent_encode(href));
        }
        let origin = format!("{}://{}", self.scheme.as_str(), self.authority);
        let base = self
            .path_with_query
            .split_once('?')
            .map_or(self.path_with_query.as_str(), |(p, _)| p);
        let absolute = if let Some(rest) = href.strip_prefix("//") {
            format!("{}://{rest}", self.scheme.as_str())
        } else if href.starts_with('/') {
            format!("{origin}{}", remove_dot_segments(href))
        } else if href.starts_with('?') {
            format!("{origin}{base}{href}")
        } else {
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{origin}{}", remove_dot_segments(&format!("{dir}{href}")))
        };
        Some(percent_encode(&absolute))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.path_with_query
        )
    }
}

fn check_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    if authority.contains('@') {
        return Err("user info (`user@host`) in URLs is not supported".into());
    }
    if let Some(c) = authority.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "the host contains {c:?}; write internationalised names in punycode (xn--...)"
        ));
    }
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (_, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host needs its closing `]`")?;
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("unexpected text after `]`")?),
        }
    } else {
        match authority.split_once(':') {
            Some(("", _)) => return Err("the URL has no host".into()),
            Some((_, p)) => Some(p),
            None => None,
        }
    };
    match port {
        Some(p) if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{p:?} is not a port number"))
        }
        Some(p) if !matches!(p.parse::<u32>(), Ok(1..=65535)) => {
            Err(format!("port {p} is out of range 1-65535"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_request_parts() {
        let cases = [
            ("https://example.com", "https", "example.com", "/"),
            (
                "HTTPS://Example.COM:8443/A?b=1#frag",
                "https",
                "example.com:8443",
                "/A?b=1",
            ),
            ("http://example.com?q", "http", "example.com", "/?q"),
            ("  http://[::1]:8080/x  ", "http", "[::1]:8080", "/x"),
            (
                "https://example.com/a b/é",
                "https",
                "example.com",
                "/a%20b/%C3%A9",
            ),
            (
                "https://example.com\\a\\b?c\\d",
                "https",
                "example.com",
                "/a/b?c\\d",
            ),
        ];
        for (input, scheme, authority, path) in cases {
            let u = Url::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (
                    u.scheme.as_str(),
                    u.authority.as_str(),
                    u.path_with_query.as_str()
                ),
                (scheme, authority, path),
                "{input}"
            );
        }
        assert_eq!(
            Url::parse("https://example.com/x?y").unwrap().to_string(),
            "https://example.com/x?y"
        );
    }

    #[test]
    fn unusable_urls_are_refused() {
        let cases = [
            ("example.com", "not an absolute URL"),
            ("ftp://example.com/", "unsupported scheme"),
            ("file:///etc/passwd", "unsupported scheme"),
            ("https://", "no host"),
            ("https:///path", "no host"),
            ("https://:443/", "no host"),
            ("https://user:pw@example.com/", "user info"),
            ("https://good.com@evil.com/", "user info"),
            ("https://exa mple.com/", "contains ' '"),
            ("https://bücher.de/", "punycode"),
            ("https://example.com:0/", "out of range"),
            ("https://example.com:70000/", "out of range"),
            ("https://example.com:x/", "not a port"),
            ("https://example.com:/", "not a port"),
            ("https://[::1/", "closing"),
            ("https://[::1]x/", "unexpected"),
            ("https://example.com/\r\nX: y", "control character"),
        ];
        for (input, want) in cases {
            let err = Url::parse(input).expect_err(input);
            assert!(
                err.contains(want),
                "{input}: {err:?} should mention {want:?}"
            );
        }
        assert!(Url::parse(&format!("https://e.com/{}", "a".repeat(MAX_URL_BYTES))).is_err());
    }

    #[test]
    fn links_resolve_against_the_page() {
        let base = Url::parse("https://example.com/docs/guide/intro.html?x=1").unwrap();
        let cases = [
            (
                "next.html",
                Some("https://example.com/docs/guide/next.html"),
            ),
            (
                "./next.html",
                Some("https://example.com/docs/guide/next.html"),
            ),
            ("../api/", Some("https://example.com/docs/api/")),
            ("../../../../up", Some("https://example.com/up")),
            ("/root?a=b", Some("https://example.com/root?a=b")),
            (
                "?page=2",
                Some("https://example.com/docs/guide/intro.html?page=2"),
            ),
            ("//cdn.example.com/x", Some("https://cdn.example.com/x")),
            ("http://other.org/a b", Some("http://other.org/a%20b")),
            ("HTTPS://Other.org/", Some("HTTPS://Other.org/")),
            (
                "  spaced.html\n",
                Some("https://example.com/docs/guide/spaced.html"),
            ),
            ("#section", None),
            ("", None),
            ("javascript:alert(1)", None),
            ("mailto:someone@example.com", None),
            ("data:text/html,hi", None),
        ];
        for (href, want) in cases {
            assert_eq!(base.resolve_href(href).as_deref(), want, "{href:?}");
        }
    }
}
