//! The client's IP address, read from `X-Forwarded-For` right to left, but only through peers
//! the operator listed in `trusted_proxies`. A client that is not a trusted proxy cannot choose
//! its own address by sending the header.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// The result of reading the chain of hops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp {
    pub ip: IpAddr,
    /// The direct peer was not trusted, yet sent `X-Forwarded-For`: usually a missing entry in
    /// `trusted_proxies`, worth a warning in the log.
    pub untrusted_forwarding: bool,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self { networks }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Walks `X-Forwarded-For` from the right while the hop is trusted; the first untrusted
    /// (or malformed) entry is the client. Several headers are read as one list, in order.
    /// The headers are taken as bytes: a proxy that appends to the client's own header passes
    /// on whatever the client wrote on the left, and a byte that is not UTF-8 there must stop
    /// the walk where it sits, not throw away the trusted hops on its right.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> ClientIp {
        let peer = unmap(peer);
        let mut hops = forwarded_for
            .rev()
            .flat_map(|header| header.rsplit(|byte| *byte == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|hop| !hop.is_empty())
            .peekable();
        if !self.contains(peer) {
            return ClientIp {
                ip: peer,
                untrusted_forwarding: hops.peek().is_some(),
            };
        }
        let mut client = peer;
        for hop in hops {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        ClientIp {
            ip: client,
            untrusted_forwarding: false,
        }
    }
}

/// A hop is an IP, possibly with a port (`1.2.3.4:567`, `[::1]:567`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?;
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(unmap(addr.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
        .map(unmap)
}

/// `::ffff:1.2.3.4` is 1.2.3.4, so IPv4 rules work on dual-stack listeners.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ])
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_ip() {
        let got = proxies().client_ip(ip("203.0.113.9"), [&b"6.6.6.6"[..]].into_iter());
        assert_eq!(
            got,
            ClientIp {
                ip: ip("203.0.113.9"),
                untrusted_forwarding: true
            }
        );
    }

    #[test]
    fn reads_right_to_left_through_trusted_hops() {
        // nginx appends: a forged entry on the left is never reached.
        let got = proxies().client_ip(
            ip("127.0.0.1"),
            [&b"6.6.6.6, 198.51.100.7, 10.1.2.3"[..]].into_iter(),
        );
        assert_eq!(got.ip, ip("198.51.100.7"));
        let several = proxies().client_ip(
            ip("127.0.0.1"),
            [&b"6.6.6.6"[..], &b"198.51.100.7"[..]].into_iter(),
        );
        assert_eq!(several.ip, ip("198.51.100.7"));
    }

    #[test]
    fn a_malformed_hop_stops_the_walk() {
        let got = proxies().client_ip(ip("127.0.0.1"), [&b"1.2.3.4, garbage"[..]].into_iter());
        assert_eq!(got.ip, ip("127.0.0.1"));
    }

    /// A proxy that appends to the client's header: what the client wrote is on the left,
    /// bytes that are not UTF-8 included, and the hops the proxies added stay readable.
    #[test]
    fn bytes_that_are_not_utf8_on_the_left_leave_the_trusted_hops_readable() {
        let appended = proxies().client_ip(
            ip("127.0.0.1"),
            [&b"\xff, 198.51.100.7, 10.1.2.3"[..]].into_iter(),
        );
        assert_eq!(appended.ip, ip("198.51.100.7"));
        let own_header = proxies().client_ip(
            ip("127.0.0.1"),
            [&b"\xff\xfe"[..], &b"198.51.100.7"[..]].into_iter(),
        );
        assert_eq!(own_header.ip, ip("198.51.100.7"));
        let right_after_a_trusted_hop =
            proxies().client_ip(ip("127.0.0.1"), [&b"198.51.100.7, \xff"[..]].into_iter());
        assert_eq!(right_after_a_trusted_hop.ip, ip("127.0.0.1"));
    }

    #[test]
    fn mapped_ipv6_and_ports_are_understood() {
        let got = proxies().client_ip(
            ip("::ffff:127.0.0.1"),
            [&b"[2001:db8::1]:443"[..]].into_iter(),
        );
        assert_eq!(got.ip, ip("2001:db8::1"));
        let no_header = proxies().client_ip(ip("127.0.0.1"), std::iter::empty());
        assert_eq!(no_header.ip, ip("127.0.0.1"));
    }
}
