//! Where a request goes: URL and authority parsing, and every IPv4
//! spelling (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) turned into
//! the one address it means.

use super::MAX_URL_BYTES;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use warden_text::url::{percent_encode, remove_dot_segments};

/// The two schemes warden speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL without one means.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host a request is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetHost {
    /// A DNS name: lowercase ASCII, no trailing dot, never numeric-looking.
    Name(String),
    /// An address, IPv4-mapped IPv6 already turned into IPv4.
    Ip(IpAddr),
}

impl fmt::Display for TargetHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetHost::Name(n) => f.write_str(n),
            TargetHost::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            TargetHost::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// Where a request goes: parsed once from a URL or from the parts of a
/// wasi-http request, normalised, and the only input to every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(super) scheme: Scheme,
    pub(super) host: TargetHost,
    pub(super) port: u16,
    path: String,
}

/// Why a URL, an origin grant or a part of either was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Over [`MAX_URL_BYTES`].
    #[error("URL is longer than {MAX_URL_BYTES} bytes")]
    TooLong,
    /// Nothing but spaces and controls.
    #[error("empty URL")]
    Empty,
    /// A control character inside.
    #[error("URL contains the control character {0:?}")]
    Control(char),
    /// No `scheme:`.
    #[error("{0:?} is not an absolute URL (http://... or https://...)")]
    NotAbsolute(String),
    /// A scheme other than http and https.
    #[error("unsupported scheme {0:?}: only http and https")]
    Scheme(String),
    /// A grant's scheme in capitals.
    #[error("write the scheme in lowercase ({0})")]
    SchemeCase(String),
    /// `https:` without `//`.
    #[error("{url:?}: expected {scheme}:// and a host")]
    NoSlashes { url: String, scheme: Scheme },
    /// No host at all.
    #[error("the URL has no host")]
    NoHost,
    /// `user@host`.
    #[error("{0:?}: user info (`user@`) in URLs is refused; send credentials in a header")]
    UserInfo(String),
    /// A wasi-http authority with a space or control character.
    #[error("authority {authority:?} contains {c:?}")]
    AuthorityChar { authority: String, c: char },
    /// A wasi-http path in absolute-form or `*`.
    #[error(
        "request path {0:?} must start with `/`: absolute-form and `*` request targets are refused"
    )]
    NotOriginForm(String),
    /// A wasi-http path with a space, control character or `#`.
    #[error("request path {path:?} contains {c:?}")]
    PathChar { path: String, c: char },
    /// `[` without `]`.
    #[error("{0:?}: unclosed `[`")]
    Unclosed(String),
    /// Something other than `:port` after `[v6]`.
    #[error("{authority:?}: unexpected {after:?} after the address")]
    AfterAddress { authority: String, after: String },
    /// An IPv6 address outside brackets.
    #[error("{0:?}: an IPv6 address must be in brackets, e.g. [::1]:8080")]
    Unbracketed(String),
    /// Not digits, or too many.
    #[error("{0:?} is not a port number")]
    NotAPort(String),
    /// 0 or over 65535.
    #[error("port {0} is out of range 1-65535")]
    PortRange(String),
    /// A host ending in a number that is no IPv4 address.
    #[error("{0:?} is not a valid IPv4 address")]
    Ipv4(String),
    /// `[fe80::1%eth0]`.
    #[error("[{0}]: IPv6 zone identifiers are not supported")]
    Zone(String),
    /// Not an IPv6 address.
    #[error("[{0}] is not a valid IPv6 address")]
    Ipv6(String),
    /// Not a DNS name.
    #[error("{host:?}: {why}")]
    Name { host: String, why: NameProblem },
    /// What only a grant can get wrong.
    #[error("{0}")]
    Grant(GrantProblem),
    /// A CIDR block that is not one.
    #[error("{0}")]
    Cidr(#[from] super::ranges::CidrError),
}

/// What is wrong with a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// Unicode, not punycode.
    #[error("non-ASCII host names are not supported; write the punycode form (xn--...)")]
    NotAscii,
    /// Empty or over 253 bytes.
    #[error("not a host name")]
    Length,
    /// A label empty or over 63 bytes.
    #[error("a label must be 1 to 63 characters")]
    LabelLength,
    /// A character DNS names do not have.
    #[error("{0:?} is not allowed in a host name")]
    Char(char),
    /// `-x` or `x-`.
    #[error("a label cannot start or end with `-`")]
    Hyphen,
}

/// What an origin grant may not contain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantProblem {
    /// Not `scheme://...`.
    #[error("expected scheme://host[:port], e.g. https://example.com or https://*.example.com:*")]
    Shape,
    /// `user@`.
    #[error("a grant has no user info (`user@`)")]
    UserInfo,
    /// `?` or `#`.
    #[error("a grant names an origin: no query or fragment")]
    Query,
    /// `/path`.
    #[error("a grant names an origin: no path")]
    Path,
    /// `https://`.
    #[error("no host")]
    NoHost,
    /// `*.*.example.com` or `a.*.example.com`.
    #[error("only one wildcard, as the whole leftmost label (*.example.com)")]
    TwoWildcards,
    /// `*.10.0.0.1`.
    #[error("a wildcard applies to names; for addresses grant a CIDR block")]
    WildcardAddress,
    /// `foo*.example.com`.
    #[error("a wildcard must be the whole leftmost label (*.example.com), or the host `*` alone")]
    WildcardPlace,
    /// `10.0.0.0x/8`, `[::1]` style errors before `/`.
    #[error(
        "{0:?} before `/` must be an IPv4 address (IPv6 blocks go in brackets: [fc00::/7]); a grant names no path"
    )]
    BlockAddress(String),
    /// `/x`.
    #[error("{0:?} is not a prefix length")]
    Prefix(String),
}

impl Target {
    /// Parse an absolute `http` or `https` URL. The scheme and host are
    /// lowercased, a trailing dot is dropped, IPv4 spellings and mapped IPv6
    /// are normalised; user info, control characters, non-ASCII names and
    /// IPv6 zone identifiers are refused; the fragment is dropped, dot
    /// segments are removed and bytes outside printable ASCII in the path are
    /// percent-encoded. As in browsers, `\` ends the host and counts as `/`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = clean_reference(url)?;
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| UrlError::NotAbsolute(url.to_string()))?;
        let scheme = Scheme::parse(&scheme.to_ascii_lowercase())
            .ok_or_else(|| UrlError::Scheme(scheme.to_string()))?;
        let rest = rest.strip_prefix("//").ok_or_else(|| UrlError::NoSlashes {
            url: url.to_string(),
            scheme,
        })?;
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = parse_authority(scheme, authority)?;
        Ok(Target {
            scheme,
            host,
            port,
            path: normalise_path(tail),
        })
    }

    /// The target of a wasi-http request, from the parts the guest set: the
    /// scheme, the authority and the path with query. The path must be
    /// origin-form (`/...` or `?...`, or empty for `/`); absolute-form and
    /// `*` are refused, so the request line cannot name another host than
    /// the one connected to. Headers are not an input: the host sets `Host`
    /// from [`Target::authority`].
    pub fn from_parts(
        scheme: &str,
        authority: &str,
        path_with_query: &str,
    ) -> Result<Self, UrlError> {
        if authority.len() + path_with_query.len() > MAX_URL_BYTES {
            return Err(UrlError::TooLong);
        }
        let scheme = Scheme::parse(scheme).ok_or_else(|| UrlError::Scheme(scheme.to_string()))?;
        if let Some(c) = authority.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(UrlError::AuthorityChar {
                authority: authority.to_string(),
                c,
            });
        }
        let (host, port) = parse_authority(scheme, authority)?;
        let path = match path_with_query {
            "" => "/".to_string(),
            p if p.starts_with('/') => p.to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => return Err(UrlError::NotOriginForm(p.to_string())),
        };
        if let Some(c) = path.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
            return Err(UrlError::PathChar { path, c });
        }
        Ok(Target {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: for TLS, the name the certificate must match.
    pub fn host(&self) -> &TargetHost {
        &self.host
    }

    /// The port, the scheme's default filled in.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, origin-form: what goes in the request line.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `scheme://host:port`, the port always written: how grants and
    /// refusals name an origin.
    pub fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// `host` or `host:port` (default port left out): the value of the
    /// `Host` header the host sends, whatever the guest set.
    pub fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Same scheme, host and port.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// Resolve a reference (a redirect's `Location`) against this URL:
    /// absolute (`https://other/`), scheme-relative (`//other/`),
    /// path-absolute (`/x`), query-only (`?q`), fragment-only (`#f`, this
    /// URL) or path-relative (`x`, `../x`). Two leading slashes in any mix
    /// of `/` and `\` make it scheme-relative, as in browsers.
    pub fn join(&self, reference: &str) -> Result<Target, UrlError> {
        let r = clean_reference(reference)?;
        if has_scheme(r) {
            return Target::parse(r);
        }
        let mut lead = r.chars();
        let slash = |c: Option<char>| matches!(c, Some('/' | '\\'));
        if slash(lead.next()) && slash(lead.next()) {
            return Target::parse(&format!("{}://{}", self.scheme, &r[2..]));
        }
        let base = self
            .path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p);
        let joined = match r.as_bytes().first() {
            Some(b'/' | b'\\') => r.to_string(),
            Some(b'?') => format!("{base}{r}"),
            Some(b'#') => return Ok(self.clone()),
            _ => format!("{}{r}", &base[..base.rfind('/').map_or(0, |i| i + 1)]),
        };
        Ok(Target {
            path: normalise_path(&joined),
            ..self.clone()
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.path)
    }
}

impl FromStr for Target {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Bound, trim (leading and trailing spaces and controls, as browsers do)
/// and refuse control characters inside.
fn clean_reference(s: &str) -> Result<&str, UrlError> {
    if s.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    let s = s.trim_matches(|c: char| c == ' ' || c.is_ascii_control());
    if s.is_empty() {
        return Err(UrlError::Empty);
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(UrlError::Control(c));
    }
    Ok(s)
}

fn has_scheme(r: &str) -> bool {
    r.split_once(':').is_some_and(|(s, _)| {
        s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

fn parse_authority(scheme: Scheme, authority: &str) -> Result<(TargetHost, u16), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::NoHost);
    }
    if authority.contains('@') {
        return Err(UrlError::UserInfo(authority.to_string()));
    }
    let (host, port) = split_authority(authority)?;
    let host = parse_target_host(host)?;
    let port = match port {
        None => scheme.default_port(),
        Some(p) => parse_port(p)?,
    };
    Ok((host, port))
}

/// Split `host[:port]` or `[v6][:port]`; the host keeps its brackets.
pub(super) fn split_authority(a: &str) -> Result<(&str, Option<&str>), UrlError> {
    if a.starts_with('[') {
        let close = a
            .find(']')
            .ok_or_else(|| UrlError::Unclosed(a.to_string()))?;
        let (host, after) = a.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| UrlError::AfterAddress {
                    authority: a.to_string(),
                    after: after.to_string(),
                }),
        };
    }
    match a.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Err(UrlError::Unbracketed(a.to_string())),
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((a, None)),
    }
}

pub(super) fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::NotAPort(p.to_string()));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::PortRange(p.to_string())),
        Ok(n) => Ok(n),
    }
}

pub(super) fn parse_target_host(h: &str) -> Result<TargetHost, UrlError> {
    if h.is_empty() {
        return Err(UrlError::NoHost);
    }
    if let Some(inner) = h.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| UrlError::Unclosed(h.to_string()))?;
        return parse_ipv6(inner).map(|ip| TargetHost::Ip(ip.to_canonical()));
    }
    if ends_in_number(h) {
        return parse_ipv4(h)
            .map(|a| TargetHost::Ip(IpAddr::V4(a)))
            .ok_or_else(|| UrlError::Ipv4(h.to_string()));
    }
    parse_name(h).map(TargetHost::Name)
}

pub(super) fn parse_ipv6(s: &str) -> Result<IpAddr, UrlError> {
    if s.contains('%') {
        return Err(UrlError::Zone(s.to_string()));
    }
    Ipv6Addr::from_str(s)
        .map(IpAddr::V6)
        .map_err(|_| UrlError::Ipv6(s.to_string()))
}

/// A DNS name: ASCII letters, digits, `-` and `_` in labels of 1 to 63
/// bytes, 253 bytes in all; lowercased, one trailing dot dropped.
pub(super) fn parse_name(h: &str) -> Result<String, UrlError> {
    let bad = |why: NameProblem| UrlError::Name {
        host: h.to_string(),
        why,
    };
    if !h.is_ascii() {
        return Err(bad(NameProblem::NotAscii));
    }
    let lower = h.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() || name.len() > 253 {
        return Err(bad(NameProblem::Length));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad(NameProblem::LabelLength));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(bad(NameProblem::Char(c)));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad(NameProblem::Hyphen));
        }
    }
    Ok(name.to_string())
}

/// Whether the host's last label is a number (decimal, or hex with `0x`):
/// then, as in browsers and `inet_aton`, the whole host is an IPv4 address
/// in one of its spellings, never a name to look up.
pub(super) fn ends_in_number(h: &str) -> bool {
    let h = h.strip_suffix('.').unwrap_or(h);
    let last = h.rsplit('.').next().unwrap_or(h);
    if let Some(hex) = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        return hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
}

/// The IPv4 address of every legacy spelling: one to four parts, each
/// decimal, octal (leading `0`) or hex (`0x`); the last part fills the
/// remaining bytes (`127.1`, `2130706433`). `None` when it is not one.
fn parse_ipv4(h: &str) -> Option<Ipv4Addr> {
    let h = h.strip_suffix('.').unwrap_or(h);
    let parts: Vec<&str> = h.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let nums = parts
        .iter()
        .map(|p| parse_ipv4_part(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (5 - nums.len())) {
        return None;
    }
    let value = init
        .iter()
        .enumerate()
        .fold(*last, |v, (i, n)| v + (n << (8 * (3 - i))));
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_ipv4_part(p: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (hex, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if p.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Drop the fragment, treat `\` as `/` in the path, remove dot segments
/// and percent-encode bytes outside printable ASCII.
fn normalise_path(tail: &str) -> String {
    let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let path = path.replace('\\', "/");
    let mut out = percent_encode(&remove_dot_segments(&path));
    if let Some(q) = query {
        out.push('?');
        out.push_str(&percent_encode(q));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_that_are_not_addresses_or_names_are_refused() {
        let cases = [
            ("http://1.2.3.4.5/", "not a valid IPv4"),
            ("http://256.0.0.1/", "not a valid IPv4"),
            ("http://4294967296/", "not a valid IPv4"),
            ("http://0x100000000/", "not a valid IPv4"),
            ("http://127.0.0.256/", "not a valid IPv4"),
            ("http://127.16777216/", "not a valid IPv4"),
            ("http://08.0.0.1/", "not a valid IPv4"),
            ("http://1..2.3/", "not a valid IPv4"),
            ("http://foo.123/", "not a valid IPv4"),
            ("http://+1.2.3.4/", "not a valid IPv4"),
            ("http://%31%32%37.0.0.1/", "not a valid IPv4"),
            ("http://%6cocalhost/", "not allowed"),
            ("http://[fe80::1%eth0]/", "zone"),
            ("http://[fe80::1%25eth0]/", "zone"),
            ("http://[::1/", "unclosed"),
            ("http://[::1]x/", "unexpected"),
            ("http://::1/", "brackets"),
            ("http://bücher.de/", "punycode"),
            ("http://exa mple.com/", "not allowed"),
            ("http:///example.com", "no host"),
            ("http://:80/", "no host"),
            ("http://example.com:0/", "out of range"),
            ("http://example.com:99999/", "out of range"),
            ("http://example.com:-1/", "not a port"),
            ("http://example.com:/", "not a port"),
        ];
        for (url, want) in cases {
            let err = Target::parse(url).expect_err(url).to_string();
            assert!(err.contains(want), "{url}: {err:?} should mention {want:?}");
        }
    }

    #[test]
    fn urls_parse_to_one_normalised_target() {
        let cases = [
            (
                "https://example.com",
                "https://example.com/",
                "https://example.com:443",
            ),
            (
                "HTTPS://EXAMPLE.com:443/A?b#c",
                "https://example.com/A?b",
                "https://example.com:443",
            ),
            (
                "http://example.com:8080",
                "http://example.com:8080/",
                "http://example.com:8080",
            ),
            (
                "  http://example.com/a/./b/../c \n",
                "http://example.com/a/c",
                "http://example.com:80",
            ),
            (
                "http://example.com/a b/é",
                "http://example.com/a%20b/%C3%A9",
                "http://example.com:80",
            ),
            (
                "http://example.com/%2e%2E/x",
                "http://example.com/x",
                "http://example.com:80",
            ),
            (
                "http://example.com?q=1",
                "http://example.com/?q=1",
                "http://example.com:80",
            ),
            (
                "http://[2001:db8::1]:8080/x",
                "http://[2001:db8::1]:8080/x",
                "http://[2001:db8::1]:8080",
            ),
            // Browsers end the host at `\`: the host is evil.com, not granted.com.
            (
                "http://evil.com\\@granted.com/",
                "http://evil.com/@granted.com/",
                "http://evil.com:80",
            ),
        ];
        for (url, display, origin) in cases {
            let t = target(url);
            assert_eq!(t.to_string(), display, "{url}");
            assert_eq!(t.origin(), origin, "{url}");
            assert_eq!(target(display), t, "{url} reparsed");
        }
    }

    #[test]
    fn urls_with_credentials_or_odd_schemes_are_refused() {
        let cases = [
            ("http://granted.com@evil.com/", "user info"),
            ("http://user:pass@example.com/", "user info"),
            ("http://granted.com:80@evil.com/", "user info"),
            ("ftp://example.com/", "unsupported scheme"),
            ("file:///etc/passwd", "unsupported scheme"),
            ("javascript:alert(1)", "unsupported scheme"),
            ("http:example.com", "expected http://"),
            ("example.com", "not an absolute URL"),
            ("example.com:8080/x", "unsupported scheme"),
            ("http://exa\tmple.com/", "control character"),
            ("http://example.com/\r\nX-Evil: 1", "control character"),
            ("", "empty"),
        ];
        for (url, want) in cases {
            let err = Target::parse(url).expect_err(url).to_string();
            assert!(err.contains(want), "{url}: {err:?} should mention {want:?}");
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(
            Target::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
    }

    /// GHSA-5qpp-g3j2-8frx: the request line carries only an origin-form
    /// path, so an absolute-form URI (or `*`) cannot address another host
    /// than the checked one. Headers are not an input at all: the `Host`
    /// header is written from `authority()`.
    #[test]
    fn ghsa_5qpp_g3j2_8frx_request_parts_cannot_retarget() {
        let t = Target::from_parts("https", "api.example.com", "/v1?x=1").unwrap();
        assert_eq!(t.to_string(), "https://api.example.com/v1?x=1");
        assert_eq!(t.authority(), "api.example.com");
        let t = Target::from_parts("http", "example.com:8080", "").unwrap();
        assert_eq!(
            (t.path(), t.authority().as_str()),
            ("/", "example.com:8080")
        );
        assert_eq!(
            Target::from_parts("http", "example.com", "?q")
                .unwrap()
                .path(),
            "/?q"
        );
        assert_eq!(
            Target::from_parts("http", "0x7f.1:80", "/").unwrap().host(),
            &TargetHost::Ip(ip("127.0.0.1"))
        );
        let refused = [
            ("https", "example.com", "http://evil.com/"),
            ("https", "example.com", "//evil.com/"),
            ("https", "example.com", "*"),
            ("https", "example.com", "evil.com/"),
            ("https", "example.com", "/a b"),
            ("https", "example.com", "/a#b"),
            ("https", "granted.com@evil.com", "/"),
            ("https", "example.com\r\nHost: evil.com", "/"),
            ("ftp", "example.com", "/"),
            ("HTTP", "example.com", "/"),
            ("https", "", "/"),
        ];
        for (scheme, authority, path) in refused {
            // `//evil.com/` is a legal origin-form path, sent as a path.
            if path == "//evil.com/" {
                let t = Target::from_parts(scheme, authority, path).unwrap();
                assert_eq!(t.origin(), "https://example.com:443");
                continue;
            }
            assert!(
                Target::from_parts(scheme, authority, path).is_err(),
                "{scheme} {authority:?} {path:?}"
            );
        }
    }

    #[test]
    fn redirects_resolve_like_browsers() {
        let base = target("https://example.com/a/b/c?x=1#f");
        let cases = [
            ("d", "https://example.com/a/b/d"),
            ("./d", "https://example.com/a/b/d"),
            ("../d", "https://example.com/a/d"),
            ("../../../../d", "https://example.com/d"),
            ("/d", "https://example.com/d"),
            ("\\d", "https://example.com/d"),
            ("?y=2", "https://example.com/a/b/c?y=2"),
            ("#g", "https://example.com/a/b/c?x=1"),
            ("//example.com:8443/p", "https://example.com:8443/p"),
            ("//other.example/p", "https://other.example/p"),
            ("/\\other.example/p", "https://other.example/p"),
            ("\\\\other.example/p", "https://other.example/p"),
            ("HTTP://Other.Example/p", "http://other.example/p"),
            ("https://example.com", "https://example.com/"),
            (" /d\t", "https://example.com/d"),
            ("/d e", "https://example.com/d%20e"),
        ];
        for (location, want) in cases {
            assert_eq!(base.join(location).unwrap().to_string(), want, "{location}");
        }
        for bad in [
            "",
            "mailto:a@b.c",
            "ftp://example.com/",
            "/a\r\nSet-Cookie: x",
            "https://u@example.com/",
        ] {
            assert!(base.join(bad).is_err(), "{bad:?}");
        }
    }
}
