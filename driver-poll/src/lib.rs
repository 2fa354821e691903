//! keel-driver-poll: runs a `keel_core::Server` over nonblocking std sockets and a `libc::poll()`
//! loop (the seed's `ConnectionManager` I/O half).
//!
//! Each turn builds a pollfd array from `Server::interest` for every connection, so a wake-up costs
//! O(connections): the simple, portable baseline the other drivers are measured against. Every
//! decision (limits, timeouts, backpressure, closing) stays in the core; this crate only moves
//! bytes between sockets and the core and tells it the time.

mod driver;
mod shutdown;
mod sockets;
mod timeout;

use std::time::Duration;

use keel_core::Timestamp;

pub use driver::PollDriver;
pub use shutdown::ShutdownHandle;

/// The driver's clock: milliseconds since the Unix epoch, never running backwards.
pub type Clock = Box<dyn FnMut() -> Timestamp + Send>;

/// How the driver waits and how long it lingers on shutdown.
pub struct DriverOptions {
    /// The longest single wait in `poll()`; `None` waits only for the core's deadlines.
    pub poll_timeout: Option<Duration>,
    /// After a shutdown request, how long pending output may still be flushed.
    pub shutdown_grace: Duration,
    /// Read once per turn; the core gets its time only from here.
    pub clock: Clock,
    /// The listen backlog (memcached's `-b`, default 1024); the kernel caps it at somaxconn.
    pub backlog: i32,
}
