//! keel-driver-mio: runs a `keel_core::Server` over an edge-triggered `mio::Poll` (epoll, kqueue).
//!
//! A connection's `Token` is its `ConnId::index()`; the waker and the listeners (TCP and Unix
//! domain) take the top of the token range. Readiness is edge-triggered, so the driver remembers it per connection, reads and
//! writes until `WouldBlock`, and keeps a list of connections still ready when a per-turn budget
//! runs out, so one busy client cannot starve the others. Every decision stays in the core.

#![deny(missing_docs)]

mod conn;
mod driver;
mod stream;

pub use driver::MioDriver;
pub use keel_driver_common::{Clock, DriverOptions, Inbox, ShutdownHandle, Spreader};
