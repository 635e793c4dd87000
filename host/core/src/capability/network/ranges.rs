//! IP blocks, and the tables of addresses that are not the public
//! internet.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP block: a network address with its host bits zero and a prefix
/// length. IPv4-mapped IPv6 blocks are stored as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub(super) net: IpAddr,
    pub(super) prefix: u8,
}

/// Why a CIDR block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// `/33` for IPv4.
    #[error("prefix /{prefix} is longer than {width} bits")]
    TooLong { prefix: u8, width: u8 },
    /// `10.0.0.1/8`: a typo for something.
    #[error("{given} has host bits set; the block is {block}")]
    HostBits { given: String, block: String },
}

impl Cidr {
    /// The block `addr/prefix`; refused if the prefix is too long or `addr`
    /// has host bits set (`10.0.0.1/8` is a typo for something).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        let (bits, width) = ip_bits(addr);
        if prefix > width {
            return Err(CidrError::TooLong { prefix, width });
        }
        let block = Cidr { net: addr, prefix };
        if bits & mask(width, prefix) != bits {
            let net = ip_from_bits(bits & mask(width, prefix), width);
            return Err(CidrError::HostBits {
                given: format!("{addr}/{prefix}"),
                block: Cidr { net, prefix }.to_string(),
            });
        }
        Ok(block)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.net
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (IPv4-mapped forms as IPv4) lies in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.net.is_ipv4() {
            return false;
        }
        let (bits, width) = ip_bits(ip);
        bits & mask(width, self.prefix) == ip_bits(self.net).0
    }

    /// Whether every address of `other` lies in this block.
    pub(super) fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.net)
    }

    const fn v4(a: [u8; 4], prefix: u8) -> Self {
        Cidr {
            net: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
            prefix,
        }
    }

    const fn v6(s: [u16; 8], prefix: u8) -> Self {
        Cidr {
            net: IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            )),
            prefix,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

pub(super) fn ip_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn ip_from_bits(bits: u128, width: u8) -> IpAddr {
    match u32::try_from(bits) {
        Ok(v4) if width == 32 => IpAddr::V4(Ipv4Addr::from(v4)),
        _ => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    (u128::MAX << (width - prefix)) & all
}

/// A block of addresses that is not the public internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block.
    pub block: Cidr,
    /// What it is, e.g. `loopback`.
    pub name: &'static str,
}

impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.block)
    }
}

const fn special(block: Cidr, name: &'static str) -> SpecialRange {
    SpecialRange { block, name }
}

/// IPv4 blocks that are not the public internet (IANA special-purpose
/// registry, plus cloud metadata endpoints). The first match names the
/// address, so specific entries come first.
const SPECIAL_V4: &[SpecialRange] = &[
    special(Cidr::v4([0, 0, 0, 0], 8), "\"this network\""),
    special(Cidr::v4([10, 0, 0, 0], 8), "private network"),
    special(
        Cidr::v4([100, 64, 0, 0], 10),
        "shared address space (carrier-grade NAT; Alibaba Cloud metadata)",
    ),
    special(Cidr::v4([127, 0, 0, 0], 8), "loopback"),
    special(Cidr::v4([169, 254, 169, 254], 32), "cloud metadata service"),
    special(Cidr::v4([169, 254, 0, 0], 16), "link-local"),
    special(Cidr::v4([172, 16, 0, 0], 12), "private network"),
    special(Cidr::v4([192, 0, 0, 0], 24), "IETF protocol assignments"),
    special(Cidr::v4([192, 0, 2, 0], 24), "documentation (TEST-NET-1)"),
    special(
        Cidr::v4([192, 88, 99, 0], 24),
        "6to4 relay anycast (deprecated)",
    ),
    special(Cidr::v4([192, 168, 0, 0], 16), "private network"),
    special(Cidr::v4([198, 18, 0, 0], 15), "benchmarking"),
    special(
        Cidr::v4([198, 51, 100, 0], 24),
        "documentation (TEST-NET-2)",
    ),
    special(Cidr::v4([203, 0, 113, 0], 24), "documentation (TEST-NET-3)"),
    special(
        Cidr::v4([168, 63, 129, 16], 32),
        "cloud metadata service (Azure WireServer)",
    ),
    special(Cidr::v4([224, 0, 0, 0], 4), "multicast"),
    special(Cidr::v4([255, 255, 255, 255], 32), "broadcast"),
    special(Cidr::v4([240, 0, 0, 0], 4), "reserved"),
];

/// IPv6 blocks that are not the public internet. Everything outside
/// `2000::/3` (global unicast) is refused by the last three entries; the NAT64
/// and 6to4 blocks are judged by the IPv4 address they embed (see
/// [`special_range`]).
const SPECIAL_V6: &[SpecialRange] = &[
    special(Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    special(Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    special(
        Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible (deprecated)",
    ),
    special(
        Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use IPv4/IPv6 translation",
    ),
    special(Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    special(
        Cidr::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments (Teredo, ORCHID, benchmarking)",
    ),
    special(
        Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation",
    ),
    special(Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    special(
        Cidr::v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "segment routing (SRv6)",
    ),
    special(
        Cidr::v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
        "cloud metadata service (AWS)",
    ),
    special(
        Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique local (private network)",
    ),
    special(Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    special(
        Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated)",
    ),
    special(Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
    special(
        Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 3),
        "reserved (not global unicast)",
    ),
    special(
        Cidr::v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 2),
        "reserved (not global unicast)",
    ),
    special(
        Cidr::v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 1),
        "reserved (not global unicast)",
    ),
];

/// NAT64's well-known prefix: `64:ff9b::a.b.c.d` reaches `a.b.c.d`.
const NAT64: Cidr = Cidr::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// 6to4: `2002:AABB:CCDD::/48` is routed via `AA.BB.CC.DD`.
const SIX_TO_FOUR: Cidr = Cidr::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// The non-public block `ip` lies in, or `None` for a public address.
/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they are; NAT64
/// and 6to4 addresses are special when the IPv4 address they embed is.
pub fn special_range(ip: IpAddr) -> Option<SpecialRange> {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => SPECIAL_V4.iter().find(|r| r.block.contains(v4)).copied(),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let embedded = if NAT64.contains(ip) {
                Some((
                    NAT64,
                    bits as u32,
                    "NAT64 form of a non-public IPv4 address",
                ))
            } else if SIX_TO_FOUR.contains(ip) {
                Some((
                    SIX_TO_FOUR,
                    (bits >> 80) as u32,
                    "6to4 form of a non-public IPv4 address",
                ))
            } else {
                None
            };
            if let Some((block, v4, name)) = embedded {
                return special_range(IpAddr::V4(Ipv4Addr::from(v4))).map(|_| special(block, name));
            }
            SPECIAL_V6.iter().find(|r| r.block.contains(ip)).copied()
        }
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
    fn cidr_blocks_contain_their_addresses() {
        let cases = [
            ("10.0.0.0", 8, "10.255.255.255", true),
            ("10.0.0.0", 8, "11.0.0.0", false),
            ("10.0.0.0", 8, "::ffff:10.1.2.3", true),
            ("100.64.0.0", 10, "100.127.255.255", true),
            ("100.64.0.0", 10, "100.128.0.0", false),
            ("0.0.0.0", 0, "8.8.8.8", true),
            ("0.0.0.0", 0, "::1", false),
            ("fc00::", 7, "fdff::1", true),
            ("fc00::", 7, "fe00::1", false),
            ("::", 0, "2001:4860::8888", true),
            ("::", 0, "127.0.0.1", false),
        ];
        for (net, prefix, addr, inside) in cases {
            let c = Cidr::new(ip(net), prefix).unwrap();
            assert_eq!(c.contains(ip(addr)), inside, "{c} ∋ {addr}");
        }
    }

    #[test]
    fn special_ranges_cover_the_non_public_internet() {
        let special = [
            ("0.0.0.0", "this network"),
            ("0.255.255.255", "this network"),
            ("10.0.0.1", "private"),
            ("100.64.0.1", "shared"),
            ("100.100.100.200", "Alibaba"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "metadata"),
            ("169.254.0.1", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.192", "IETF"),
            ("192.0.2.1", "TEST-NET-1"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.1", "TEST-NET-2"),
            ("203.0.113.1", "TEST-NET-3"),
            ("168.63.129.16", "Azure"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::7f00:1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.1.1", "private"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b::a9fe:a9fe", "NAT64"),
            ("64:ff9b:1::1", "local-use"),
            ("100::1", "discard"),
            ("2001::1", "Teredo"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:a00:1::", "6to4"),
            ("3fff::1", "documentation"),
            ("5f00::1", "SRv6"),
            ("fd00:ec2::254", "AWS"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("1000::1", "not global unicast"),
            ("4000::1", "not global unicast"),
            ("8000::1", "not global unicast"),
        ];
        for (addr, want) in special {
            let range =
                special_range(ip(addr)).unwrap_or_else(|| panic!("{addr} should be special"));
            assert!(
                range.to_string().contains(want),
                "{addr}: {range} should mention {want}"
            );
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450::1",
        ];
        for addr in public {
            assert_eq!(special_range(ip(addr)), None, "{addr} is public");
        }
    }

    #[test]
    fn special_range_tables_hold_exact_blocks() {
        for r in SPECIAL_V4
            .iter()
            .chain(SPECIAL_V6)
            .chain([&special(NAT64, ""), &special(SIX_TO_FOUR, "")])
        {
            assert_eq!(
                Cidr::new(r.block.addr(), r.block.prefix()),
                Ok(r.block),
                "{}",
                r.block
            );
        }
    }
}
