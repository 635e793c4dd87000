//! Which browser origins may call `warden mcp --http` (the MCP transport's
//! defence against web pages driving a local server).
//!
//! An origin is compared as RFC 6454 says: scheme, host and port, with the
//! scheme's default port filled in; nothing is a prefix or pattern, so
//! `http://localhost:7357.evil.example` is not `http://localhost:7357`.

use std::collections::HashSet;
use std::sync::Mutex;
use warden_core::audit::{Decision, Kind, Record};

/// How many distinct refused origins one server records in the audit log;
/// a page that loops on requests must not fill the disk. Every refusal is
/// still answered with 403.
pub const MAX_RECORDED_ORIGINS: usize = 64;

/// Longest `Origin` value looked at; anything longer is refused as is.
const MAX_ORIGIN_BYTES: usize = 512;

/// One origin: `scheme://host:port`, or the opaque `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `Origin: null` (sandboxed frames, `file:` pages).
    Null,
    /// A tuple origin.
    Tuple {
        scheme: String,
        host: String,
        port: u16,
    },
}

impl Origin {
    /// Parse an `Origin` value or an `--allow-origin` argument.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > MAX_ORIGIN_BYTES {
            return Err(format!("longer than {MAX_ORIGIN_BYTES} bytes"));
        }
        if s == "null" {
            return Ok(Origin::Null);
        }
        let uri: http::Uri = s
            .parse()
            .map_err(|_| "not an origin (write scheme://host[:port])".to_string())?;
        let scheme = uri
            .scheme_str()
            .ok_or("it has no scheme (write scheme://host[:port])")?
            .to_ascii_lowercase();
        let authority = uri
            .authority()
            .ok_or("it has no host (write scheme://host[:port])")?;
        if authority.as_str().contains('@') {
            return Err("an origin has no user part".into());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() || s.ends_with('/') {
            return Err("an origin has no path (write scheme://host[:port])".into());
        }
        let port = match (authority.port_u16(), scheme.as_str()) {
            (Some(p), _) => p,
            (None, "http") => 80,
            (None, "https") => 443,
            (None, _) => return Err(format!("give the port of scheme `{scheme}`")),
        };
        Ok(Origin::Tuple {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Null => f.write_str("null"),
            Origin::Tuple { scheme, host, port } => write!(f, "{scheme}://{host}:{port}"),
        }
    }
}

/// The origins one server accepts, and the refused ones already recorded.
pub struct Allowed {
    origins: Vec<Origin>,
    recorded: Mutex<HashSet<String>>,
}

/// A refused request.
pub struct Refusal {
    /// The `Origin` as sent (escaped for display), or why it was unusable.
    pub origin: String,
    /// What the 403 says.
    pub message: String,
}

impl Allowed {
    /// The server's own loopback origins on `local`'s port, `local` itself,
    /// and `extra`.
    pub fn new(local: std::net::SocketAddr, extra: Vec<Origin>) -> Self {
        let port = local.port();
        let own = |host: &str| Origin::Tuple {
            scheme: "http".into(),
            host: host.into(),
            port,
        };
        let mut origins = vec![own("127.0.0.1"), own("localhost"), own("[::1]")];
        let bound = match local.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        origins.push(own(&bound));
        origins.extend(extra);
        let mut unique = Vec::new();
        for o in origins {
            if !unique.contains(&o) {
                unique.push(o);
            }
        }
        Allowed {
            origins: unique,
            recorded: Mutex::new(HashSet::new()),
        }
    }

    /// The accepted origins, spelt for rmcp's own check.
    pub fn list(&self) -> Vec<String> {
        self.origins.iter().map(ToString::to_string).collect()
    }

    /// Accept a request with no `Origin` (not a browser) or an allowed one.
    pub fn check(&self, headers: &http::HeaderMap) -> Result<(), Refusal> {
        let mut values = headers.get_all(http::header::ORIGIN).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        let shown = warden_core::escape::escape(&String::from_utf8_lossy(
            &value.as_bytes()[..value.len().min(MAX_ORIGIN_BYTES)],
        ));
        let refuse = |why: String| Refusal {
            origin: shown.clone(),
            message: format!(
                "warden mcp: refusing a request from origin `{shown}`: {why}; only the server's own origins ({}) may call it. To let a web client call it, start `warden mcp --http` with --allow-origin <scheme://host:port>\n",
                self.list().join(", ")
            ),
        };
        if values.next().is_some() {
            return Err(refuse("it sent more than one Origin header".into()));
        }
        let text = value
            .to_str()
            .map_err(|_| refuse("the Origin header is not text".into()))?;
        let origin =
            Origin::parse(text).map_err(|why| refuse(format!("it is unusable ({why})")))?;
        if self.origins.contains(&origin) {
            Ok(())
        } else {
            Err(refuse("it is not an allowed origin".into()))
        }
    }

    /// Whether `origin` is refused for the first time (and may be recorded).
    pub fn first_time(&self, origin: &str) -> bool {
        let Ok(mut seen) = self.recorded.lock() else {
            return false;
        };
        seen.len() < MAX_RECORDED_ORIGINS && seen.insert(origin.to_string())
    }
}

impl Refusal {
    /// The audit record of this refusal.
    pub fn record(&self) -> Record {
        Record {
            kind: Kind::Denial,
            decision: Decision::Deny,
            capability: Some("mcp-http".into()),
            operation: Some("request".into()),
            resource: Some(self.origin.clone()),
            reason: Some(self.message.trim_end().to_string()),
            allow: Some(format!(
                "warden mcp --http ... --allow-origin {}",
                self.origin
            )),
            ..Record::default()
        }
    }
}

/// 403 with a body that says what was refused and how to allow it.
pub fn forbidden(message: &str) -> super::http::HttpResponse {
    use http_body_util::BodyExt;
    let body = http_body_util::Full::new(bytes::Bytes::from(message.to_string()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(origins: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for o in origins {
            h.append(http::header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_own_and_listed_origins_pass() {
        let a = Allowed::new(
            "127.0.0.1:7357".parse().unwrap(),
            vec![Origin::parse("https://app.example").unwrap()],
        );
        for ok in [
            "http://127.0.0.1:7357",
            "http://localhost:7357",
            "HTTP://LOCALHOST:7357",
            "http://[::1]:7357",
            "https://app.example",
            "https://app.example:443",
        ] {
            assert!(a.check(&headers(&[ok])).is_ok(), "{ok}");
        }
        assert!(a.check(&headers(&[])).is_ok());
        for bad in [
            "http://127.0.0.1:7358",
            "https://127.0.0.1:7357",
            "http://localhost:7357.evil.example",
            "http://evil.example",
            "http://app.example",
            "https://app.example:8443",
            "null",
            "http://127.0.0.1:7357/",
            "http://user@127.0.0.1:7357",
            "",
            "garbage",
        ] {
            assert!(a.check(&headers(&[bad])).is_err(), "{bad}");
        }
        assert!(
            a.check(&headers(&["http://127.0.0.1:7357", "http://evil.example"]))
                .is_err()
        );
    }
}
