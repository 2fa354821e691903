//! keel-driver-common: what every keel driver needs the same way, kept once.
//!
//! - `DriverOptions` and `Clock`: how a driver waits, lingers on shutdown and reads the time;
//! - `handoff`: spreading accepted connections over several worker loops (`-t N`): the loop that
//!   owns the listener routes each new socket round robin, and a worker's `Inbox` receives it;
//! - `accept`: which `accept()` failures mean "out of descriptors" and how long to back off;
//! - `listener` and `stream`: TCP and Unix domain listeners (memcached's `-l`, `-s`, `-a`) and
//!   the sockets they accept, each listener with the transport its connections speak;
//! - `tls`: the TLS adapter between a TLS connection's socket and the core (`TlsConn`), and the
//!   server's certificates and TLS statistics (`TlsContext`);
//! - `shutdown`: the handle that stops a driver loop (`ShutdownHandle`), with each driver's own
//!   wake-up behind it.
//!
//! Dependency direction: drivers -> keel-driver-common -> keel-core.

#![deny(missing_docs)]

mod accept;
mod admit;
mod handoff;
mod listener;
mod shutdown;
mod stream;
mod tls;

use std::time::Duration;

use keel_core::Timestamp;

pub use accept::{ACCEPT_BACKOFF_MS, ACCEPT_BATCH, out_of_descriptors};
pub use admit::{AcceptedSocket, Admitted, admit};
pub use handoff::{Accepted, Inbox, Spreader};
pub use listener::{Endpoint, ListenSpec, Listener, Security};
pub use shutdown::{ShutdownHandle, Wake};
pub use stream::Stream;
pub use tls::{TlsConn, TlsContext, Transmitted};

use std::sync::Arc;

/// A source of the time handed to the core (milliseconds since the Unix epoch, never running
/// backwards); read once per loop turn.
pub type Clock = Box<dyn FnMut() -> Timestamp + Send>;

/// How a driver waits and how long it lingers on shutdown.
pub struct DriverOptions {
    /// The longest single wait for readiness; `None` leaves it to the core's deadlines alone.
    pub poll_timeout: Option<Duration>,
    /// After a shutdown request, how long pending output may still be delivered.
    pub shutdown_grace: Duration,
    /// Read once per turn; the core gets its time only from here.
    pub clock: Clock,
    /// The listen backlog (memcached's `-b`, default 1024); the kernel caps it at somaxconn.
    pub backlog: i32,
    /// The server's TLS (`-Z`), shared by every worker; `None` when no listener is TLS.
    pub tls: Option<Arc<TlsContext>>,
    /// Called once when a client's `shutdown` command (`-A`) stops this loop, so that the other
    /// workers of the server stop too.
    pub on_shutdown_command: Option<Box<dyn Fn() + Send>>,
}

impl DriverOptions {
    /// The loop stops because a client asked: tell the rest of the server.
    pub fn shutdown_commanded(&self) {
        if let Some(stop_all) = &self.on_shutdown_command {
            stop_all();
        }
    }
}
