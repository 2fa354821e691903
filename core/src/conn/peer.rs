//! A connection's peer address in eight bytes, for `stats conns`: an IPv4 address and port fit
//! inline, so the common case costs an idle connection nothing beyond them; an IPv6 peer is only
//! marked here and kept in the server's side table.
//!
//! `core::net` holds plain address values (no sockets), which the core may use.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Set for an inline IPv4 peer: `V4 | ip << 16 | port`.
const V4: u64 = 1 << 48;
/// The peer is in the server's side table (IPv6).
const ELSEWHERE: u64 = 1 << 63;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Peer(u64);

impl Peer {
    /// The peer kept inline, or the mark saying the server's table holds it.
    pub(crate) fn new(addr: SocketAddr) -> Peer {
        match addr {
            SocketAddr::V4(v4) => {
                Peer(V4 | u64::from(u32::from(*v4.ip())) << 16 | u64::from(v4.port()))
            }
            SocketAddr::V6(_) => Peer(ELSEWHERE),
        }
    }

    /// Whether the server's side table holds this peer.
    pub(crate) fn elsewhere(self) -> bool {
        self.0 == ELSEWHERE
    }

    /// The inline IPv4 peer, if that is what this is.
    pub(crate) fn inline(self) -> Option<SocketAddr> {
        (self.0 & V4 != 0 && !self.elsewhere()).then(|| {
            // Bits 16..48 hold the address and 0..16 the port, by `new`.
            let ip = Ipv4Addr::from((self.0 >> 16) as u32);
            SocketAddr::V4(SocketAddrV4::new(ip, self.0 as u16))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_round_trips_ipv6_is_elsewhere() {
        let v4: SocketAddr = "10.1.2.3:65535".parse().expect("v4");
        assert_eq!(Peer::new(v4).inline(), Some(v4));
        assert!(!Peer::new(v4).elsewhere());
        let v6: SocketAddr = "[::1]:5".parse().expect("v6");
        assert!(Peer::new(v6).elsewhere());
        assert_eq!(Peer::new(v6).inline(), None);
        assert_eq!(Peer::default().inline(), None);
        assert!(!Peer::default().elsewhere());
    }
}
