//! How an accepted socket becomes a core connection, the same on every driver: its socket
//! options, the core's connection limit, its peer address for `stats conns`, and a TLS session
//! when its listener is a TLS one. What a driver then does with the socket (register it with
//! epoll, keep it in a poll set, arm an io_uring receive) stays the driver's own.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use keel_core::{ConnId, Server, Service, Timestamp};

use crate::listener::Security;
use crate::tls::{TlsConn, TlsContext};

/// What `admit` needs of a driver's socket type (std's `Stream`, or an event library's own).
pub trait AcceptedSocket {
    /// Socket options every connection gets: TCP_NODELAY (a Unix socket has no Nagle delay).
    fn prepare(&self) -> io::Result<()>;
    /// The TCP peer's address (for `stats conns`); `None` for a Unix socket's client.
    fn peer_addr(&self) -> Option<SocketAddr>;
    /// The peer, for log lines: its address, or `unix` for a Unix socket's unnamed client.
    fn peer(&self) -> String;
}

/// A socket the core took on as connection `id`, with its TLS session if it speaks TLS.
#[derive(Debug)]
pub struct Admitted {
    /// The core's connection.
    pub id: ConnId,
    /// The session between the socket and the core, for a TLS listener's connection.
    pub tls: Option<Box<TlsConn>>,
}

/// Hands a new socket to the core. `None`: the socket is to be closed at once (its options
/// failed, the core refused it, or no TLS session could start); in the last case the core has
/// queued the connection's `Close`, which the driver carries out with its other outputs.
pub fn admit<S: Service>(
    server: &mut Server<S>,
    now: Timestamp,
    tls: Option<&Arc<TlsContext>>,
    socket: &impl AcceptedSocket,
    security: Security,
) -> Option<Admitted> {
    if let Err(err) = socket.prepare() {
        tracing::debug!(peer = socket.peer(), "dropping accepted socket: {err}");
        return None;
    }
    let id = match server.accept(now) {
        Ok(id) => id,
        Err(refusal) => {
            tracing::debug!(peer = socket.peer(), "refused: {refusal}");
            return None;
        }
    };
    tracing::debug!(peer = socket.peer(), ?id, "accepted");
    if let Some(peer) = socket.peer_addr() {
        server.set_peer(id, peer);
    }
    let tls = match (security, tls) {
        (Security::Plain, _) => None,
        (_, Some(context)) => Some(Box::new(TlsConn::start(
            context, security, server, id, now,
        )?)),
        (_, None) => {
            tracing::warn!(?id, "a TLS listener without TLS settings");
            server.handle_io_error(id, now);
            return None;
        }
    };
    Some(Admitted { id, tls })
}
