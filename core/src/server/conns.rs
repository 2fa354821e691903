//! `stats conns`: one group of lines per open connection, in memcached's shape
//! (`STAT <id>:addr tcp:<peer>`, `:state conn_<name>`, `:secs_since_last_cmd`).
//!
//! memcached names a connection by its descriptor and also lists its listening sockets; the core
//! knows neither, so a connection is named by its slot index and listeners are not listed.

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::io::Write as _;

use super::slab::ConnSlab;
use crate::conn::{ConnState, Connection};
use crate::id::ConnId;
use crate::time::Timestamp;

/// Writes the report, `END` included, for the request of `requester`.
pub(super) fn write_report(
    conns: &ConnSlab,
    wide_peers: &BTreeMap<ConnId, SocketAddr>,
    requester: ConnId,
    now: Timestamp,
    output_limit: usize,
    out: &mut Vec<u8>,
) {
    for (id, conn) in conns.iter() {
        if conn.closed {
            continue;
        }
        let index = id.index();
        // Writing to a Vec cannot fail.
        let peer = conn.peer.inline().or_else(|| wide_peers.get(&id).copied());
        if let Some(peer) = peer {
            // memcached's form: tcp:1.2.3.4:5 or tcp6:[::1]:5.
            let proto = if peer.is_ipv6() { "tcp6" } else { "tcp" };
            let _ = write!(out, "STAT {index}:addr {proto}:{peer}\r\n");
        }
        let state = if id == requester {
            "conn_parse_cmd"
        } else {
            state_name(conn, output_limit)
        };
        let _ = write!(out, "STAT {index}:state {state}\r\n");
        let idle = now.millis_since(conn.last_active) / 1000;
        let _ = write!(out, "STAT {index}:secs_since_last_cmd {idle}\r\n");
    }
    out.extend_from_slice(b"END\r\n");
}

/// memcached's name for the state a connection is in.
fn state_name(conn: &Connection, output_limit: usize) -> &'static str {
    match conn.state(output_limit) {
        ConnState::ReadingHeader if conn.input.is_empty() => "conn_waiting",
        ConnState::ReadingHeader => "conn_read",
        ConnState::ReadingPayload => "conn_nread",
        ConnState::Discarding => "conn_swallow",
        ConnState::Writing => "conn_mwrite",
        ConnState::Closing | ConnState::Closed => "conn_closing",
    }
}
