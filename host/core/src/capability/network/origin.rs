//! Granted origins: `scheme://host[:port]` patterns, parsed strictly into
//! typed parts.

use super::ranges::ip_bits;
use super::target::{
    GrantProblem, UrlError, ends_in_number, parse_ipv6, parse_name, parse_port, parse_target_host,
    split_authority,
};
use super::{Cidr, Scheme, Target, TargetHost};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// Which hosts a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `*`: any name or address. Non-public addresses still need a grant by
    /// address.
    Any,
    /// `example.com`: exactly this name (lowercase, no trailing dot).
    Name(String),
    /// `*.example.com`, stored as `example.com`: any name below it, at any
    /// depth, but not `example.com` itself.
    Wildcard(String),
    /// `127.0.0.1`, `[::1]`: exactly this address.
    Ip(IpAddr),
    /// `10.0.0.0/8`, `[fc00::/7]`: any address in the block.
    Cidr(Cidr),
}

impl HostPattern {
    pub(super) fn matches(&self, host: &TargetHost) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Name(n), TargetHost::Name(m)) => n == m,
            (HostPattern::Wildcard(suffix), TargetHost::Name(m)) => m
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Ip(_) | HostPattern::Cidr(_), TargetHost::Ip(ip)) => {
                self.names_address(*ip)
            }
            _ => false,
        }
    }

    /// Whether this pattern names `ip` by address, which is what a
    /// non-public address needs.
    fn names_address(&self, ip: IpAddr) -> bool {
        match self {
            HostPattern::Ip(a) => *a == ip,
            HostPattern::Cidr(c) => c.contains(ip),
            _ => false,
        }
    }

    fn covers(&self, other: &HostPattern) -> bool {
        use HostPattern as H;
        match (self, other) {
            (H::Any, _) => true,
            (H::Name(a), H::Name(b)) => a == b,
            (H::Wildcard(_), H::Name(b)) => self.matches(&TargetHost::Name(b.clone())),
            (H::Wildcard(a), H::Wildcard(b)) => {
                a == b || self.matches(&TargetHost::Name(b.clone()))
            }
            (H::Ip(a), H::Ip(b)) => a == b,
            (H::Cidr(a), H::Ip(b)) => a.contains(*b),
            (H::Cidr(a), H::Cidr(b)) => a.covers(b),
            _ => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
            HostPattern::Ip(ip) => write!(f, "{}", TargetHost::Ip(*ip)),
            HostPattern::Cidr(c) if c.net.is_ipv6() => write!(f, "[{c}]"),
            HostPattern::Cidr(c) => write!(f, "{c}"),
        }
    }
}

/// Which ports a grant covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortPattern {
    /// One port; a grant without a port means the scheme's default.
    Exact(u16),
    /// `*`: every port.
    Any,
}

impl PortPattern {
    fn matches(self, port: u16) -> bool {
        match self {
            PortPattern::Exact(p) => p == port,
            PortPattern::Any => true,
        }
    }
}

impl fmt::Display for PortPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortPattern::Exact(p) => write!(f, "{p}"),
            PortPattern::Any => f.write_str("*"),
        }
    }
}

/// One granted origin pattern: `scheme://host[:port]`, e.g.
/// `https://*.example.com`, `http://127.0.0.1:8080`, `https://10.0.0.0/8:*`,
/// `https://[fc00::/7]:443`, `https://*:*`.
///
/// Parsed strictly: the scheme is `http` or `https` in lowercase; the host
/// is `*`, a name, `*.` and a name, an IP address (IPv6 in brackets) or a
/// CIDR block; the port is a number or `*` and defaults to the scheme's. No
/// user info, path, query or fragment. Names are ASCII (punycode for IDNs)
/// and are lowercased; every IPv4 spelling is normalised, so the canonical
/// form shown by `Display` is what is granted. Stored as that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OriginGrant {
    pub(super) scheme: Scheme,
    pub(super) host: HostPattern,
    port: PortPattern,
}

/// Why a `net:` grant or a manifest's origin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network grant {spec:?}: {why}")]
pub struct OriginError {
    /// The grant as written.
    pub spec: String,
    /// What is wrong with it.
    pub why: UrlError,
}

impl OriginGrant {
    /// Parse a grant spec.
    pub fn parse(spec: &str) -> Result<Self, OriginError> {
        parse_grant(spec).map_err(|why| OriginError {
            spec: spec.to_string(),
            why,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host pattern.
    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    /// The port pattern.
    pub fn port(&self) -> PortPattern {
        self.port
    }

    /// Whether this grant covers the target's origin.
    pub fn matches(&self, t: &Target) -> bool {
        self.scheme == t.scheme && self.port.matches(t.port) && self.host.matches(&t.host)
    }

    /// Whether everything `other` allows, this allows too: how a user's
    /// grant is checked against what a manifest requested.
    pub fn covers(&self, other: &OriginGrant) -> bool {
        let port = match (self.port, other.port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Exact(a), PortPattern::Exact(b)) => a == b,
            (PortPattern::Exact(_), PortPattern::Any) => false,
        };
        self.scheme == other.scheme && port && self.host.covers(&other.host)
    }

    /// Whether this grant admits the non-public address `ip` for the target:
    /// same scheme and port, and the host pattern names the address.
    pub(super) fn admits_address(&self, t: &Target, ip: IpAddr) -> bool {
        self.scheme == t.scheme && self.port.matches(t.port) && self.host.names_address(ip)
    }
}

fn parse_grant(spec: &str) -> Result<OriginGrant, UrlError> {
    let (scheme, rest) = spec
        .split_once("://")
        .ok_or(UrlError::Grant(GrantProblem::Shape))?;
    let scheme = Scheme::parse(scheme).ok_or_else(|| {
        if Scheme::parse(&scheme.to_ascii_lowercase()).is_some() {
            UrlError::SchemeCase(scheme.to_ascii_lowercase())
        } else {
            UrlError::Scheme(scheme.to_string())
        }
    })?;
    if rest.contains('@') {
        return Err(UrlError::Grant(GrantProblem::UserInfo));
    }
    if rest.contains(['?', '#']) {
        return Err(UrlError::Grant(GrantProblem::Query));
    }
    let (host, port) = split_authority(rest)?;
    let host = parse_host_pattern(host)?;
    let port = match port {
        None => PortPattern::Exact(scheme.default_port()),
        Some("*") => PortPattern::Any,
        Some(p) => PortPattern::Exact(parse_port(p)?),
    };
    Ok(OriginGrant { scheme, host, port })
}

fn parse_host_pattern(host: &str) -> Result<HostPattern, UrlError> {
    let bad = |p: GrantProblem| Err(UrlError::Grant(p));
    if host.is_empty() {
        return bad(GrantProblem::NoHost);
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.contains('*') {
            return bad(GrantProblem::TwoWildcards);
        }
        if ends_in_number(suffix) {
            return bad(GrantProblem::WildcardAddress);
        }
        return parse_name(suffix).map(HostPattern::Wildcard);
    }
    if host.contains('*') {
        return bad(GrantProblem::WildcardPlace);
    }
    let (inner, bracketed) = match host.strip_prefix('[') {
        Some(rest) => (
            rest.strip_suffix(']')
                .ok_or_else(|| UrlError::Unclosed(host.to_string()))?,
            true,
        ),
        None => (host, false),
    };
    if let Some((addr, prefix)) = inner.split_once('/') {
        let addr = if bracketed {
            parse_ipv6(addr)?
        } else {
            IpAddr::V4(
                Ipv4Addr::from_str(addr)
                    .map_err(|_| UrlError::Grant(GrantProblem::BlockAddress(addr.to_string())))?,
            )
        };
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|_| prefix.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| UrlError::Grant(GrantProblem::Prefix(prefix.to_string())))?;
        let block = Cidr::new(addr, prefix)?;
        let (_, width) = ip_bits(block.net);
        return Ok(if block.prefix == width {
            HostPattern::Ip(block.net)
        } else {
            HostPattern::Cidr(block)
        });
    }
    if host.contains('/') {
        return bad(GrantProblem::Path);
    }
    match parse_target_host(host)? {
        TargetHost::Name(n) => Ok(HostPattern::Name(n)),
        TargetHost::Ip(ip) => Ok(HostPattern::Ip(ip)),
    }
}

impl FromStr for OriginGrant {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for OriginGrant {
    type Error = OriginError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<OriginGrant> for String {
    fn from(g: OriginGrant) -> Self {
        g.to_string()
    }
}

impl fmt::Display for OriginGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn grants_parse_to_canonical_form() {
        let cases = [
            ("https://example.com", "https://example.com:443"),
            ("http://example.com", "http://example.com:80"),
            ("https://Example.COM.:8443", "https://example.com:8443"),
            ("https://*.example.com:443", "https://*.example.com:443"),
            ("https://*.example.com:*", "https://*.example.com:*"),
            ("https://*", "https://*:443"),
            ("http://*:*", "http://*:*"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://2130706433:80", "http://127.0.0.1:80"),
            ("https://10.0.0.0/8:*", "https://10.0.0.0/8:*"),
            ("https://10.1.2.3/32", "https://10.1.2.3:443"),
            ("https://0.0.0.0/0:*", "https://0.0.0.0/0:*"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[FC00::/7]", "https://[fc00::/7]:443"),
            ("https://[::ffff:127.0.0.1]", "https://127.0.0.1:443"),
            ("https://[::ffff:10.0.0.0/104]:*", "https://10.0.0.0/8:*"),
            ("https://my_host.internal", "https://my_host.internal:443"),
            ("https://xn--bcher-kva.de", "https://xn--bcher-kva.de:443"),
        ];
        for (spec, canonical) in cases {
            let g = OriginGrant::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(g.to_string(), canonical, "{spec}");
            assert_eq!(
                OriginGrant::parse(canonical).unwrap(),
                g,
                "round trip of {spec}"
            );
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(json, format!("{canonical:?}"));
            assert_eq!(serde_json::from_str::<OriginGrant>(&json).unwrap(), g);
        }
    }

    #[test]
    fn grant_parts_are_typed() {
        let g = OriginGrant::parse("https://*.example.com:*").unwrap();
        assert_eq!(g.scheme(), Scheme::Https);
        assert_eq!(g.host(), &HostPattern::Wildcard("example.com".into()));
        assert_eq!(g.port(), PortPattern::Any);
        let g = OriginGrant::parse("http://192.168.0.0/16:8080").unwrap();
        assert_eq!(
            g.host(),
            &HostPattern::Cidr(Cidr::new(ip("192.168.0.0"), 16).unwrap())
        );
        assert_eq!(g.port(), PortPattern::Exact(8080));
    }

    #[test]
    fn bad_grants_are_refused_with_a_reason() {
        let cases = [
            ("", "expected scheme://host"),
            ("example.com", "expected scheme://host"),
            ("ftp://example.com", "unsupported scheme"),
            ("HTTPS://example.com", "lowercase"),
            ("https://", "no host"),
            ("https://:443", "no host"),
            ("https://user@example.com", "user info"),
            ("https://example.com/path", "no path"),
            ("https://example.com:443/", "not a port"),
            ("https://example.com?q", "no query"),
            ("https://example.com#f", "no query"),
            ("https://example.com:0", "out of range"),
            ("https://example.com:65536", "out of range"),
            ("https://example.com:http", "not a port"),
            ("https://example.com:", "not a port"),
            ("https://a.*.com", "whole leftmost label"),
            ("https://*example.com", "whole leftmost label"),
            ("https://*.*.example.com", "only one wildcard"),
            ("https://*.10.0.0.1", "CIDR"),
            ("https://bücher.de", "punycode"),
            ("https://exa mple.com", "not allowed"),
            ("https://-x.example.com", "start or end"),
            ("https://a..b", "1 to 63"),
            (
                "https://10.0.0.1/8",
                "host bits set; the block is 10.0.0.0/8",
            ),
            ("https://10.0.0.0/33", "longer than 32"),
            ("https://10.0.0.0/x", "not a prefix"),
            ("https://[fc00::/129]", "longer than 128"),
            ("https://[::1", "unclosed"),
            ("https://::1", "brackets"),
            ("https://[fe80::1%eth0]", "zone"),
            ("https://256.1.1.1", "not a valid IPv4"),
            ("https://1.2.3.4.5", "not a valid IPv4"),
            ("https://example.com:443:1", "brackets"),
        ];
        for (spec, want) in cases {
            let err = OriginGrant::parse(spec).expect_err(spec).to_string();
            assert!(
                err.contains(want),
                "{spec}: {err:?} should mention {want:?}"
            );
        }
        assert!(serde_json::from_str::<OriginGrant>("\"ftp://x\"").is_err());
    }

    #[test]
    fn grants_cover_narrower_grants() {
        let cases = [
            ("https://*:*", "https://example.com:8443", true),
            ("https://*", "https://10.0.0.0/8", true),
            ("https://*", "https://*:*", false),
            ("https://*", "http://example.com", false),
            ("https://*.example.com", "https://a.example.com", true),
            ("https://*.example.com", "https://*.a.example.com", true),
            ("https://*.example.com", "https://example.com", false),
            ("https://*.example.com", "https://*.evilexample.com", false),
            ("https://example.com:*", "https://example.com:8443", true),
            ("https://example.com", "https://example.com:*", false),
            ("https://10.0.0.0/8", "https://10.1.0.0/16", true),
            ("https://10.0.0.0/8", "https://10.1.2.3", true),
            ("https://10.0.0.0/16", "https://10.0.0.0/8", false),
            ("https://10.0.0.0/8", "https://example.com", false),
            ("https://[fc00::/7]", "https://[fd00::1]", true),
        ];
        for (wide, narrow, covered) in cases {
            let (w, n) = (
                OriginGrant::parse(wide).unwrap(),
                OriginGrant::parse(narrow).unwrap(),
            );
            assert_eq!(w.covers(&n), covered, "{wide} covers {narrow}");
        }
    }
}
