//! keel-driver-mio: runs a `keel_core::Server` over an edge-triggered `mio::Poll` (epoll, kqueue).
//!
//! A connection's `Token` is its `ConnId::index()`; the listener and the waker take the top of the
//! token range. Readiness is edge-triggered, so the driver remembers it per connection, reads and
//! writes until `WouldBlock`, and keeps a list of connections still ready when a per-turn budget
//! runs out, so one busy client cannot starve the others. Every decision stays in the core.

mod conn;
mod driver;
mod shutdown;

use std::time::Duration;

use keel_core::Timestamp;

pub use driver::MioDriver;
pub use shutdown::ShutdownHandle;

/// A source of the time handed to the core (milliseconds since the Unix epoch, monotonic).
pub type Clock = Box<dyn FnMut() -> Timestamp + Send>;

/// Waiting and lingering.
pub struct DriverOptions {
    /// Upper bound of one `Poll::poll` wait; `None` means the core's deadlines alone decide.
    pub poll_timeout: Option<Duration>,
    /// Time allowed after a shutdown request for delivering pending responses.
    pub shutdown_grace: Duration,
    /// Consulted once per turn.
    pub clock: Clock,
    /// The listen backlog (memcached's `-b`, default 1024); the kernel caps it at somaxconn.
    pub backlog: i32,
}
