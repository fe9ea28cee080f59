//! The network a peer connects from, coarsely: the IP prefix that the per-prefix gossip rate
//! limit is kept for. One host (or one small network) can run many peer identities, each with
//! its own per-peer allowance; the per-prefix bucket caps what they forward together.

use std::net::{Ipv4Addr, Ipv6Addr};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// An IPv4 /24 or an IPv6 /48: what one operator typically holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPrefix {
    /// The first three bytes of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

/// The prefix a connection's remote address belongs to, or `None` when it has none that
/// means anything: a relayed circuit (the address is the relay's, shared by everyone it
/// relays), a DNS or other non-IP address, or loopback (a local test network runs every node
/// on 127.0.0.1, as peer scoring's colocation whitelist also accepts).
pub fn ip_prefix(addr: &Multiaddr) -> Option<IpPrefix> {
    if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
        return None;
    }
    addr.iter().find_map(|protocol| match protocol {
        Protocol::Ip4(ip) => v4_prefix(ip),
        Protocol::Ip6(ip) => v6_prefix(ip),
        _ => None,
    })
}

fn v4_prefix(ip: Ipv4Addr) -> Option<IpPrefix> {
    if ip.is_loopback() {
        return None;
    }
    let [a, b, c, _] = ip.octets();
    Some(IpPrefix::V4([a, b, c]))
}

fn v6_prefix(ip: Ipv6Addr) -> Option<IpPrefix> {
    if ip.is_loopback() {
        return None;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_prefix(v4);
    }
    let octets = ip.octets();
    let mut prefix = [0u8; 6];
    prefix.copy_from_slice(&octets[..6]);
    Some(IpPrefix::V6(prefix))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    #[test]
    fn neighbours_share_a_prefix_strangers_do_not() {
        let a = ip_prefix(&addr("/ip4/203.0.113.7/tcp/4001")).unwrap();
        let b = ip_prefix(&addr("/ip4/203.0.113.200/udp/9/quic-v1")).unwrap();
        let c = ip_prefix(&addr("/ip4/203.0.114.7/tcp/4001")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d = ip_prefix(&addr("/ip6/2001:db8:1::1/tcp/1")).unwrap();
        let e = ip_prefix(&addr("/ip6/2001:db8:1:ffff::2/tcp/1")).unwrap();
        let f = ip_prefix(&addr("/ip6/2001:db8:2::1/tcp/1")).unwrap();
        assert_eq!(d, e);
        assert_ne!(d, f);
        // An IPv4-mapped IPv6 address is the IPv4 host.
        assert_eq!(ip_prefix(&addr("/ip6/::ffff:203.0.113.9/tcp/1")), Some(a));
    }

    #[test]
    fn loopback_circuits_and_names_have_no_prefix() {
        assert_eq!(ip_prefix(&addr("/ip4/127.0.0.1/tcp/1")), None);
        assert_eq!(ip_prefix(&addr("/ip6/::1/tcp/1")), None);
        assert_eq!(ip_prefix(&addr("/dns4/example.org/tcp/1")), None);
        let circuit = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit";
        assert_eq!(ip_prefix(&addr(circuit)), None);
    }
}
