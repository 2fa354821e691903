//! keel-driver-poll: runs a `keel_core::Server` over nonblocking std sockets and a `libc::poll()`
//! loop (the seed's `ConnectionManager` I/O half).
//!
//! Each turn builds a pollfd array from `Server::interest` for every connection, so a wake-up costs
//! O(connections): the simple, portable baseline the other drivers are measured against. Every
//! decision (limits, timeouts, backpressure, closing) stays in the core; this crate only moves
//! bytes between sockets and the core and tells it the time.

#![deny(missing_docs)]

mod driver;
mod sockets;
mod timeout;
mod wake;

pub use driver::PollDriver;
pub use keel_driver_common::{Clock, DriverOptions, Inbox, ShutdownHandle, Spreader};
