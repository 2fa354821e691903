//! What the core tells its driver: outputs to act on, read/write interest, refusals.

use crate::id::ConnId;
use crate::protocol::FrameError;

/// An instruction for the driver, drained with `Server::poll_output` until `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The connection has bytes in `Server::outbound`: write them, then `consume_outbound`.
    Transmit(ConnId),
    /// Close the socket. The core has already forgotten the connection; the id is stale from now on.
    Close(ConnId, CloseReason),
}

/// Why a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// QUIT or QUITQ.
    Quit,
    /// The peer closed its side; pending output was delivered first.
    PeerClosed,
    /// The socket failed (reported by the driver).
    IoError,
    /// No traffic within the idle timeout, or a peer that stopped reading its responses.
    IdleTimeout,
    /// Part of a request sat unfinished for longer than the read timeout.
    ReadTimeout,
    /// A command before authentication (SASL: answered with an auth error first), or a `-Y`
    /// token announced too long (answered first).
    Unauthenticated,
    /// The request stream cannot be parsed; memcached's error reply (if any) went out first.
    Protocol(FrameError),
    /// A text command line without "\n" grew past its limit.
    LineTooLong,
    /// The first line was an HTTP request: not a memcached client.
    HttpRequest,
    /// The server is shutting down.
    Shutdown,
}

/// Which readiness the driver should wait for on a connection's socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Read the socket: off while the connection's output is over `Config::output_limit`
    /// (backpressure), while it has yielded its turn, and once it is closing.
    pub read: bool,
    /// Output is pending: write `Server::outbound` when the socket is writable.
    pub write: bool,
}

/// Why `accept` refused a connection. The driver closes the socket at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// `Config::max_connections` (this many) connections are open, counted over the whole
    /// `WorkerGroup`.
    #[error("connection limit of {0} reached")]
    AtCapacity(usize),
    /// `Server::begin_shutdown` was called.
    #[error("server is shutting down")]
    ShuttingDown,
}

/// How a `shutdown` command asked the server to stop (memcached `-A`): the driver stops
/// accepting, delivers what is pending and exits, as on SIGTERM. memcached's plain `shutdown`
/// exits at once; keel drains either way (the driver bounds how long).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// `shutdown`: memcached's SIGINT.
    Immediate,
    /// `shutdown graceful`: memcached's SIGUSR1.
    Graceful,
}
