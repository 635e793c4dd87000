//! Network grants: which origins a plugin may reach, and which addresses the
//! host may connect to when it does.
//!
//! A plugin reaches the network only through `wasi:http/outgoing-handler`,
//! and the host sends every request itself. For each request and each
//! redirect hop the host asks this module, in order:
//!
//! 1. [`Target::from_parts`]: what is the guest asking for? The scheme,
//!    authority and path the guest set on its request, parsed once and
//!    normalised: every IPv4 spelling (`2130706433`, `0x7f000001`,
//!    `0177.0.0.1`, `127.1`) and IPv4-mapped IPv6 (`[::ffff:127.0.0.1]`)
//!    becomes the one address it means. Headers play no part: a guest-set
//!    `Host` header cannot retarget the request (wasi-http forbids the header
//!    and the host writes its own from [`Target::authority`]), and the path
//!    must be origin-form, so an absolute-form URI in the request line cannot
//!    either (GHSA-5qpp-g3j2-8frx).
//! 2. [`NetPolicy::check_target`]: does a grant cover this scheme, host and
//!    port? Asked before any DNS query, so an ungranted name is never looked
//!    up.
//! 3. [`NetPolicy::check_addrs`]: are the addresses the name resolved to
//!    allowed? A non-public address ([`special_range`]: loopback, private,
//!    link-local, cloud metadata, ...) is allowed only by a grant that names
//!    the address or a block containing it. A name grant never admits one,
//!    which defeats DNS rebinding. The host connects only to the addresses
//!    returned here, never by name, so there is no second lookup to race.
//! 4. [`NetPolicy::redirect`]: a `Location` is resolved against the current
//!    URL and checked again from step 2; credentials are dropped when the
//!    origin changes ([`forward_header_on_redirect`]).
//!
//! [`NetPolicy::resolve`] runs steps 2 and 3 around an injectable
//! [`Resolver`]. The limits the host applies to every call are the constants
//! below, so the wiring and the documentation share one source.

mod origin;
pub mod outgoing;
mod ranges;
mod request;
mod target;

pub use origin::{HostPattern, OriginError, OriginGrant, PortPattern};
pub use ranges::{Cidr, CidrError, SpecialRange, special_range};
pub use request::{NetworkRequest, check_within, meet};
pub use target::{GrantProblem, NameProblem, Scheme, Target, TargetHost, UrlError};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Redirects warden follows for one request; the next one is refused.
pub const MAX_REDIRECTS: u32 = 5;
/// Bytes of one response body a guest may receive; the body fails with a
/// size error past this.
pub const MAX_RESPONSE_BYTES: u64 = 8 << 20;
/// Bytes of one request body a guest may send.
pub const MAX_REQUEST_BODY_BYTES: u64 = 8 << 20;
/// Header fields in one response (hyper's `max_headers`).
pub const MAX_HEADERS: usize = 100;
/// Bytes of one response head, status line included (hyper's
/// `max_header_size`).
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Time to resolve a name and establish a TCP and TLS connection, per hop.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request, every redirect hop and the full response body
/// included. Shorter than a plugin's call timeout, so the guest sees a clean
/// timeout error rather than being stopped.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(25);
/// Bytes of a URL or `Location` value warden parses.
pub const MAX_URL_BYTES: usize = 8 << 10;
/// Resolved addresses considered per name; later ones are never connected to.
pub const MAX_ADDRESSES: usize = 16;
/// Response header in which the host tells the guest the URL it finally
/// fetched after redirects (any such header from the server is removed).
pub const FINAL_URL_HEADER: &str = "warden-final-url";
/// Request headers dropped when a redirect leaves the origin.
pub const CROSS_ORIGIN_DROPPED_HEADERS: [&str; 3] =
    ["authorization", "cookie", "proxy-authorization"];

/// A request refused by policy: recorded as a denial and shown to the
/// guest as `HTTP-request-denied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `connect` or `redirect`.
    pub operation: &'static str,
    /// The origin refused, `scheme://host:port`.
    pub resource: String,
    /// Why.
    pub reason: String,
    /// The grant spec that would allow it, e.g. `net:https://example.com:443`.
    pub allow: Option<String>,
    /// The address refused when the origin is granted but an address it
    /// resolved to is not (guest: `destination-IP-prohibited`); `None` when
    /// the origin itself is not granted (guest: `HTTP-request-denied`).
    pub address: Option<IpAddr>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "network {} to {} refused: {}",
            self.operation, self.resource, self.reason
        )?;
        if let Some(allow) = &self.allow {
            write!(f, " (to allow it, grant {allow})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for crate::capability::Denial {
    fn from(r: Refusal) -> Self {
        crate::capability::Denial {
            capability: crate::capability::CapabilityKind::Network,
            operation: r.operation,
            resource: r.resource,
            reason: r.reason,
            allow: r.allow,
        }
    }
}

/// Why a request cannot go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// Policy refused it (guest: `HTTP-request-denied`).
    Refused(Refusal),
    /// The URL or `Location` is not usable (guest: `HTTP-request-URI-invalid`;
    /// for a redirect, hand the 3xx response to the guest instead).
    Invalid(UrlError),
    /// The granted name could not be resolved (guest: `DNS-error`).
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Refused(r) => write!(f, "{r}"),
            NetError::Invalid(m) => write!(f, "invalid URL: {m}"),
            NetError::Resolve { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
            NetError::TooManyRedirects => write!(f, "more than {MAX_REDIRECTS} redirects"),
        }
    }
}

impl std::error::Error for NetError {}

/// Looks names up. Injected so tests can answer as a hostile DNS would.
pub trait Resolver {
    /// The addresses of `name`, a validated DNS name (never an IP literal).
    fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`). It blocks: call it off
/// the async runtime (`spawn_blocking`) under [`CONNECT_TIMEOUT`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok((name, 0u16).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// A followed redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Where to go next, already checked against the grants.
    pub target: Target,
    /// Whether the origin stayed the same; if not, drop credentials
    /// ([`forward_header_on_redirect`]).
    pub same_origin: bool,
}

/// The network grants of one plugin: the only place the host asks "may
/// this request go out, and to which addresses?".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetPolicy {
    grants: Vec<OriginGrant>,
}

impl NetPolicy {
    /// A policy of these grants.
    pub fn new(grants: Vec<OriginGrant>) -> Self {
        NetPolicy { grants }
    }

    /// The grants.
    pub fn grants(&self) -> &[OriginGrant] {
        &self.grants
    }

    /// Nothing granted: do not link `wasi:http` at all.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Before any DNS query: does a grant cover the target's scheme, host
    /// and port? For an IP literal, only `*`, the address or a block
    /// containing it match; names match names and wildcards.
    pub fn check_target(&self, t: &Target) -> Result<(), Refusal> {
        if self.grants.iter().any(|g| g.matches(t)) {
            return Ok(());
        }
        let same_host = |g: &&OriginGrant| g.host.matches(&t.host);
        let reason = if let Some(g) = self
            .grants
            .iter()
            .filter(same_host)
            .find(|g| g.scheme != t.scheme)
        {
            format!("{} is granted only as {g}", t.host)
        } else if let Some(g) = self.grants.iter().find(same_host) {
            format!("port {} is not granted ({g} is)", t.port)
        } else {
            "no network grant covers this origin".to_string()
        };
        Err(Refusal {
            operation: "connect",
            resource: t.origin(),
            reason,
            allow: Some(format!("net:{}", t.origin())),
            address: None,
        })
    }

    /// After resolution: the addresses to connect to, or a refusal. Every
    /// address is checked (the first [`MAX_ADDRESSES`] distinct ones are
    /// considered and returned; later ones are never used). A non-public
    /// address refuses the whole request unless a grant with the target's
    /// scheme and port names it or its block: a name grant alone never
    /// admits one, so a name that resolves (or rebinds) to `127.0.0.1`,
    /// `10.x` or `169.254.169.254` fails. For an IP-literal target the only
    /// acceptable address is the literal.
    pub fn check_addrs(&self, t: &Target, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, Refusal> {
        self.check_target(t)?;
        let refuse = |reason: String, allow: Option<String>, address: Option<IpAddr>| Refusal {
            operation: "connect",
            resource: t.origin(),
            reason,
            allow,
            address,
        };
        let mut checked: Vec<IpAddr> = Vec::new();
        for ip in addrs.iter().map(IpAddr::to_canonical) {
            if checked.len() == MAX_ADDRESSES {
                break;
            }
            if checked.contains(&ip) {
                continue;
            }
            if let TargetHost::Ip(literal) = t.host
                && ip != literal
            {
                return Err(refuse(
                    format!("{ip} is not the requested address {literal}"),
                    None,
                    Some(ip),
                ));
            }
            if let Some(range) = special_range(ip)
                && !self.grants.iter().any(|g| g.admits_address(t, ip))
            {
                let reason = match &t.host {
                    TargetHost::Name(n) => format!(
                        "{n} resolved to {ip}, a non-public address: {range}; a name grant never admits one, only a grant of the address or its block"
                    ),
                    TargetHost::Ip(_) => format!(
                        "{ip} is a non-public address: {range}; it needs a grant of the address or its block"
                    ),
                };
                let allow = format!("net:{}://{}:{}", t.scheme, TargetHost::Ip(ip), t.port);
                return Err(refuse(reason, Some(allow), Some(ip)));
            }
            checked.push(ip);
        }
        if checked.is_empty() {
            return Err(refuse(format!("{} has no address", t.host), None, None));
        }
        Ok(checked)
    }

    /// Check the target, resolve it (names only; an ungranted name is never
    /// looked up) and check every address: the socket addresses to connect
    /// to, in the resolver's order.
    pub fn resolve(
        &self,
        t: &Target,
        resolver: &dyn Resolver,
    ) -> Result<Vec<SocketAddr>, NetError> {
        self.check_target(t).map_err(NetError::Refused)?;
        let addrs = match &t.host {
            TargetHost::Ip(ip) => vec![*ip],
            TargetHost::Name(name) => {
                let addrs = resolver.lookup(name).map_err(|e| NetError::Resolve {
                    host: name.clone(),
                    reason: e.to_string(),
                })?;
                if addrs.is_empty() {
                    return Err(NetError::Resolve {
                        host: name.clone(),
                        reason: "no address".into(),
                    });
                }
                addrs
            }
        };
        let checked = self.check_addrs(t, &addrs).map_err(NetError::Refused)?;
        Ok(checked
            .into_iter()
            .map(|ip| SocketAddr::new(ip, t.port))
            .collect())
    }

    /// Follow a redirect from `from` to `location`; `hop` counts redirects
    /// from 1. The new target is checked like a first request: a downgrade
    /// from https to http needs its own http grant.
    pub fn redirect(&self, from: &Target, location: &str, hop: u32) -> Result<Redirect, NetError> {
        if hop > MAX_REDIRECTS {
            return Err(NetError::TooManyRedirects);
        }
        let target = from.join(location).map_err(NetError::Invalid)?;
        if let Err(mut r) = self.check_target(&target) {
            let downgrade = from.scheme == Scheme::Https && target.scheme == Scheme::Http;
            r.operation = "redirect";
            r.reason = format!(
                "redirect from {}{}: {}",
                from.origin(),
                if downgrade {
                    " (a downgrade from https to http)"
                } else {
                    ""
                },
                r.reason
            );
            return Err(NetError::Refused(r));
        }
        let same_origin = from.same_origin(&target);
        Ok(Redirect {
            target,
            same_origin,
        })
    }
}

/// Whether a request header goes on to the next hop of a redirect:
/// credentials ([`CROSS_ORIGIN_DROPPED_HEADERS`]) only within one origin.
pub fn forward_header_on_redirect(name: &str, same_origin: bool) -> bool {
    same_origin
        || !CROSS_ORIGIN_DROPPED_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

/// The method of the next hop after a `status` response to `method`, or
/// `None` when warden does not follow it and hands the response to the guest
/// (not a redirect, or a request body that would have to be sent again).
/// As browsers do: 303 becomes GET (HEAD stays HEAD), a POST answered with
/// 301 or 302 becomes GET; the body is dropped whenever the method changes.
pub fn redirect_method(status: u16, method: &str, has_body: bool) -> Option<&str> {
    match status {
        303 if method.eq_ignore_ascii_case("HEAD") => Some("HEAD"),
        303 => Some("GET"),
        301 | 302 if method.eq_ignore_ascii_case("POST") => Some("GET"),
        301 | 302 | 307 | 308 if !has_body => Some(method),
        _ => None,
    }
}

/// Link `wasi:http/types` and `outgoing-handler` only: every request goes
/// through [`outgoing::NetHooks::send_request`], which applies the grant.
pub fn add_to_linker<T: wasmtime_wasi_http::WasiHttpView + Send + 'static>(
    l: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn policy(specs: &[&str]) -> NetPolicy {
        NetPolicy::new(
            specs
                .iter()
                .map(|s| OriginGrant::parse(s).unwrap())
                .collect(),
        )
    }

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wildcards_match_names_below_the_suffix_only() {
        let p = policy(&["https://*.example.com"]);
        let cases = [
            ("https://a.example.com/", true),
            ("https://a.b.example.com/", true),
            ("https://A.Example.Com./x", true),
            ("https://example.com/", false),
            ("https://evilexample.com/", false),
            ("https://a.evilexample.com/", false),
            ("https://example.com.evil.com/", false),
            ("https://a.example.co/", false),
            ("http://a.example.com/", false),
            ("https://a.example.com:8443/", false),
        ];
        for (url, ok) in cases {
            assert_eq!(p.check_target(&target(url)).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn ports_and_schemes_must_match() {
        let cases = [
            ("https://example.com", "https://example.com/", true),
            ("https://example.com", "https://example.com:443/", true),
            ("https://example.com", "https://example.com:8443/", false),
            ("https://example.com", "http://example.com/", false),
            ("https://example.com", "http://example.com:443/", false),
            ("https://example.com:*", "https://example.com:8443/", true),
            ("http://example.com:8080", "http://example.com:8080/", true),
            ("http://example.com:8080", "http://example.com/", false),
            ("https://*:*", "https://anything.test:1/", true),
            ("https://*", "https://93.184.216.34/", true),
            ("https://example.com", "https://93.184.216.34/", false),
        ];
        for (grant, url, ok) in cases {
            assert_eq!(
                policy(&[grant]).check_target(&target(url)).is_ok(),
                ok,
                "{grant} vs {url}"
            );
        }
    }

    #[test]
    fn cidr_grants_admit_the_addresses_in_their_block() {
        let p = policy(&["http://10.0.0.0/8:*"]);
        assert!(p.check_target(&target("http://10.9.8.7:1234/")).is_ok());
        assert!(p.check_target(&target("http://11.0.0.1/")).is_err());
        assert!(p.check_target(&target("http://ten.example/")).is_err());
    }

    #[test]
    fn refusals_name_the_origin_and_the_grant_that_would_allow_it() {
        let r = policy(&[])
            .check_target(&target("https://Example.com/a"))
            .unwrap_err();
        assert_eq!(r.resource, "https://example.com:443");
        assert_eq!(r.allow.as_deref(), Some("net:https://example.com:443"));
        assert_eq!((r.operation, r.address), ("connect", None));
        let r = policy(&["https://example.com"])
            .check_target(&target("http://example.com/"))
            .unwrap_err();
        assert!(
            r.reason.contains("granted only as https://example.com:443"),
            "{r}"
        );
        let r = policy(&["https://example.com"])
            .check_target(&target("https://example.com:8443/"))
            .unwrap_err();
        assert!(r.reason.contains("port 8443 is not granted"), "{r}");
        let d: crate::capability::Denial = r.into();
        assert_eq!(d.capability, crate::capability::CapabilityKind::Network);
        assert_eq!(d.allow.as_deref(), Some("net:https://example.com:8443"));
    }

    #[test]
    fn every_spelling_of_loopback_is_the_same_address() {
        let spellings = [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0X7F000001/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://127.0.1/",
            "http://127.000.000.001/",
            "http://127.0.0.1./",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:FFFF:7F00:0001]/",
        ];
        for url in spellings {
            let t = target(url);
            assert_eq!(t.host(), &TargetHost::Ip(ip("127.0.0.1")), "{url}");
            assert_eq!(t.origin(), "http://127.0.0.1:80", "{url}");
        }
        // Granted the public web by name and wildcard, none of them gets in.
        let p = policy(&["http://*:*"]);
        for url in spellings {
            let r = p.check_addrs(&target(url), &[ip("127.0.0.1")]).unwrap_err();
            assert!(r.reason.contains("loopback (127.0.0.0/8)"), "{url}: {r}");
            assert_eq!(r.allow.as_deref(), Some("net:http://127.0.0.1:80"));
        }
        // Granted by address, every spelling is the granted address.
        let p = policy(&["http://127.0.0.1"]);
        for url in spellings {
            assert_eq!(
                p.check_addrs(&target(url), &[ip("127.0.0.1")]).unwrap(),
                [ip("127.0.0.1")]
            );
        }
    }

    #[test]
    fn every_spelling_of_the_metadata_address_is_refused() {
        let spellings = [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0xA9.0xFE.0xA9.0xFE/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://169.16689662/",
            "http://0251.0xfe.43518/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
        ];
        let p = policy(&["http://*:*"]);
        for url in spellings {
            let t = target(url);
            assert_eq!(t.host(), &TargetHost::Ip(ip("169.254.169.254")), "{url}");
            let r = p.check_addrs(&t, &[ip("169.254.169.254")]).unwrap_err();
            assert!(r.reason.contains("cloud metadata service"), "{url}: {r}");
        }
    }

    #[test]
    fn ipv6_non_public_targets_are_refused_unless_granted_by_address() {
        let p = policy(&["http://*:*"]);
        for (url, addr) in [
            ("http://[::1]/", "::1"),
            ("http://[::ffff:7f00:1]/", "127.0.0.1"),
            ("http://[fe80::1]/", "fe80::1"),
            ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
        ] {
            assert!(p.check_addrs(&target(url), &[ip(addr)]).is_err(), "{url}");
        }
        assert!(Target::parse("http://[fe80::1%eth0]/").is_err());
        let p = policy(&["http://[::1]:*", "http://[fe80::/10]:*"]);
        assert!(
            p.check_addrs(&target("http://[::1]:8080/"), &[ip("::1")])
                .is_ok()
        );
        assert!(
            p.check_addrs(&target("http://[fe80::2]/"), &[ip("fe80::2")])
                .is_ok()
        );
        assert!(
            p.check_addrs(&target("http://[fc00::1]/"), &[ip("fc00::1")])
                .is_err()
        );
    }

    #[test]
    fn a_name_grant_never_admits_a_non_public_address() {
        let t = target("https://example.com/");
        let p = policy(&["https://example.com"]);
        assert_eq!(
            p.check_addrs(&t, &[ip("93.184.216.34")]).unwrap(),
            [ip("93.184.216.34")]
        );
        for bad in [
            "127.0.0.1",
            "10.0.0.5",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "fd00::1",
            "0.0.0.0",
        ] {
            let r = p.check_addrs(&t, &[ip(bad)]).unwrap_err();
            assert!(r.reason.contains("a name grant never admits"), "{bad}: {r}");
            let canonical = TargetHost::Ip(ip(bad).to_canonical());
            assert_eq!(r.allow, Some(format!("net:https://{canonical}:443")));
            assert_eq!(r.address, Some(ip(bad).to_canonical()));
        }
        // One bad address among good ones refuses the request: that mix is
        // what a rebinding attacker answers.
        assert!(
            p.check_addrs(&t, &[ip("93.184.216.34"), ip("127.0.0.1")])
                .is_err()
        );
        // Granted by address (same scheme and port), the private address is allowed.
        let p = policy(&["https://example.com", "https://10.0.0.0/8"]);
        assert_eq!(
            p.check_addrs(
                &t,
                &[ip("10.0.0.5"), ip("::ffff:10.0.0.5"), ip("93.184.216.34")]
            )
            .unwrap(),
            [ip("10.0.0.5"), ip("93.184.216.34")]
        );
        // An address grant for another port or scheme does not count.
        for other in ["https://10.0.0.0/8:8443", "http://10.0.0.0/8:443"] {
            let p = policy(&["https://example.com", other]);
            assert!(p.check_addrs(&t, &[ip("10.0.0.5")]).is_err(), "{other}");
        }
        // An address grant alone does not admit a name.
        let p = policy(&["https://10.0.0.0/8"]);
        assert!(p.check_addrs(&t, &[ip("10.0.0.5")]).is_err());
    }

    #[test]
    fn check_addrs_bounds_and_checks_its_input() {
        let p = policy(&["https://*"]);
        let t = target("https://example.com/");
        assert!(
            p.check_addrs(&t, &[])
                .unwrap_err()
                .reason
                .contains("no address")
        );
        let many: Vec<IpAddr> = (1..=40u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(8, 8, 8, i)))
            .collect();
        assert_eq!(p.check_addrs(&t, &many).unwrap().len(), MAX_ADDRESSES);
        // An IP-literal target connects to that address only.
        let t = target("https://8.8.8.8/");
        assert!(p.check_addrs(&t, &[ip("8.8.4.4")]).is_err());
        // And the target itself is checked again.
        assert!(policy(&[]).check_addrs(&t, &[ip("8.8.8.8")]).is_err());
    }

    /// Answers every name with fixed addresses and records what it was asked.
    struct FakeDns {
        answer: Vec<IpAddr>,
        asked: std::cell::RefCell<Vec<String>>,
    }

    impl FakeDns {
        fn new(answer: &[&str]) -> Self {
            FakeDns {
                answer: answer.iter().map(|a| ip(a)).collect(),
                asked: Default::default(),
            }
        }
    }

    impl Resolver for FakeDns {
        fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
            self.asked.borrow_mut().push(name.to_string());
            Ok(self.answer.clone())
        }
    }

    #[test]
    fn no_dns_query_leaves_for_an_ungranted_name() {
        let p = policy(&["https://example.com"]);
        let dns = FakeDns::new(&["93.184.216.34"]);
        let err = p.resolve(&target("https://evil.com/"), &dns).unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err}");
        assert!(dns.asked.borrow().is_empty());
        let addrs = p.resolve(&target("https://EXAMPLE.com./x"), &dns).unwrap();
        assert_eq!(addrs, [SocketAddr::new(ip("93.184.216.34"), 443)]);
        assert_eq!(*dns.asked.borrow(), ["example.com"]);
        // IP literals are never looked up.
        let p = policy(&["https://*"]);
        p.resolve(&target("https://8.8.8.8/"), &dns).unwrap();
        assert_eq!(dns.asked.borrow().len(), 1);
    }

    #[test]
    fn dns_rebinding_to_a_private_address_fails() {
        let p = policy(&["http://rebind.example:8080"]);
        let t = target("http://rebind.example:8080/");
        for answer in [
            &["127.0.0.1"][..],
            &["169.254.169.254"],
            &["1.2.3.4", "192.168.0.1"],
            &["::ffff:127.0.0.1"],
        ] {
            let err = p.resolve(&t, &FakeDns::new(answer)).unwrap_err();
            assert!(
                matches!(&err, NetError::Refused(r) if r.reason.contains("non-public")),
                "{answer:?}: {err}"
            );
        }
        struct Broken;
        impl Resolver for Broken {
            fn lookup(&self, _: &str) -> std::io::Result<Vec<IpAddr>> {
                Err(std::io::Error::other("no such host"))
            }
        }
        assert!(matches!(
            p.resolve(&t, &Broken),
            Err(NetError::Resolve { .. })
        ));
        let empty = FakeDns::new(&[]);
        assert!(matches!(
            p.resolve(&t, &empty),
            Err(NetError::Resolve { .. })
        ));
    }

    #[test]
    fn redirects_are_checked_hop_by_hop() {
        let p = policy(&[
            "https://example.com",
            "https://*.example.com",
            "http://plain.example",
        ]);
        let from = target("https://example.com/start");

        let r = p.redirect(&from, "/next", 1).unwrap();
        assert_eq!(r.target.to_string(), "https://example.com/next");
        assert!(r.same_origin);

        let r = p.redirect(&from, "https://cdn.example.com/x", 2).unwrap();
        assert!(!r.same_origin);
        let r = p.redirect(&from, "https://example.com:443/x", 2).unwrap();
        assert!(r.same_origin);

        // Leaving the grants is refused and names the hop.
        let NetError::Refused(r) = p.redirect(&from, "https://evil.com/", 1).unwrap_err() else {
            panic!("should be refused");
        };
        assert_eq!(r.operation, "redirect");
        assert_eq!(r.resource, "https://evil.com:443");
        assert!(
            r.reason
                .starts_with("redirect from https://example.com:443"),
            "{r}"
        );

        // A downgrade to http needs an http grant.
        let NetError::Refused(r) = p.redirect(&from, "http://example.com/", 1).unwrap_err() else {
            panic!("downgrade should be refused");
        };
        assert!(r.reason.contains("downgrade"), "{r}");
        let r = p
            .redirect(
                &target("https://a.example.com/"),
                "http://plain.example/",
                1,
            )
            .unwrap();
        assert!(!r.same_origin);

        // An address literal is a target only under an address grant or `*`.
        assert!(p.redirect(&from, "http://127.0.0.1/", 1).is_err());

        // Garbage is not followed (the 3xx goes to the guest as it is).
        assert!(matches!(
            p.redirect(&from, "mailto:x@y", 1),
            Err(NetError::Invalid(_))
        ));

        // The hop limit.
        assert!(p.redirect(&from, "/again", MAX_REDIRECTS).is_ok());
        assert_eq!(
            p.redirect(&from, "/again", MAX_REDIRECTS + 1),
            Err(NetError::TooManyRedirects)
        );
    }

    #[test]
    fn credentials_are_dropped_across_origins() {
        let cases = [
            ("Authorization", true, true),
            ("Authorization", false, false),
            ("cookie", false, false),
            ("COOKIE", true, true),
            ("Proxy-Authorization", false, false),
            ("accept", false, true),
            ("user-agent", false, true),
        ];
        for (name, same_origin, forwarded) in cases {
            assert_eq!(
                forward_header_on_redirect(name, same_origin),
                forwarded,
                "{name} {same_origin}"
            );
        }
    }

    #[test]
    fn redirect_methods_follow_browsers() {
        let cases = [
            (301, "GET", false, Some("GET")),
            (302, "POST", true, Some("GET")),
            (303, "PUT", true, Some("GET")),
            (303, "HEAD", false, Some("HEAD")),
            (307, "POST", true, None),
            (307, "DELETE", false, Some("DELETE")),
            (308, "PUT", true, None),
            (302, "PUT", true, None),
            (200, "GET", false, None),
            (304, "GET", false, None),
        ];
        for (status, method, body, want) in cases {
            assert_eq!(
                redirect_method(status, method, body),
                want,
                "{status} {method} {body}"
            );
        }
    }

    #[test]
    fn policies_serialise_as_a_list_of_origins() {
        let p = policy(&["https://*.example.com", "http://127.0.0.1:8080"]);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"["https://*.example.com:443","http://127.0.0.1:8080"]"#
        );
        assert_eq!(serde_json::from_str::<NetPolicy>(&json).unwrap(), p);
        assert!(NetPolicy::default().is_empty());
    }
}
