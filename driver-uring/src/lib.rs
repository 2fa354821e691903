//! keel-driver-uring: runs a `keel_core::Server` over io_uring (Linux), a completion-based loop:
//! the driver submits operations and the kernel completes them later, owning their buffers in
//! between.
//!
//! - A multishot accept per listener (driver-common's `Listener`: any number of TCP and Unix
//!   domain sockets, `-l` and `-s`); a multishot receive per connection into a registered
//!   ring of provided buffers (one receive per completion on kernels before 6.0). A buffer is
//!   lent to the driver by its completion, handed to the core with `handle_input` and given back
//!   at once; when the ring runs dry the receive ends with ENOBUFS and waits for buffers (the
//!   driver slows down, it does not fail the connection).
//! - Beside each multishot receive, a one-shot poll waits for the peer's reset (POLLERR,
//!   POLLHUP): a multishot receive can miss a reset that arrives behind unread data (it reads
//!   the data, finds the socket empty and waits for a wake-up that has already come), which left
//!   connections open under the soak's faults. After a reset the connection receives one
//!   completion at a time, and a fresh receive reports the reset.
//! - One `io_uring_enter` per loop turn submits the turn's operations and waits for the next
//!   completion, at most until the core's next deadline (`Server::poll_timeout`).
//! - A `Close` from the core cancels the connection's operations in flight; the socket is
//!   closed once the kernel has completed all of them. Shutdown cancels everything left.
//! - The wake-up (shutdown, connections handed over by another worker with `-t N`) is an eventfd
//!   with a read kept armed on the ring.
//! - TLS (`-Z`) through driver-common's `TlsConn`, the adapter every driver shares: a receive
//!   completion's ciphertext goes to `TlsConn::receive`, and `TlsConn::transmit` encrypts the
//!   core's output straight into the slot's send buffer (capped like a plaintext send; the rest
//!   waits in the session for the completion). A closing TLS connection's close_notify (or
//!   alert) is written once nothing of it is in flight, if the socket takes it at once.
//! - `unsafe` lives in `sys` alone, which owns every piece of memory the kernel touches.
//!
//! ## The core's output contract, as this driver relies on it
//!
//! `Server::outbound(id)` is a borrowed view of the connection's unsent output: it moves (the
//! core appends to, compacts and pools that buffer) whenever the core handles that connection,
//! so it must never be handed to the kernel. This driver **copies** it into the slot's own send
//! buffer (`sys::Ring::send`), which stays put until the send's completion, and reports the
//! bytes the completion says were sent with `consume_outbound(id, n)`. Until then the core counts
//! them as pending, so its output bound (read interest off) holds for bytes in flight too. The
//! contract relied on: `outbound(id)` is always the unsent output in order, and
//! `consume_outbound(id, n)` drops its first `n` bytes — what the core may append meanwhile
//! goes after the bytes already copied. One copy per response is the price; the readiness
//! drivers are untouched.
//!
//! Read interest is followed strictly: when the core stops reading a connection (output over its
//! bound, a `-R` yield, closing) its armed receive is cancelled, and armed again once the core
//! wants input; bytes a receive completes meanwhile still go to the core, which keeps them in
//! order.

#![deny(missing_docs)]

#[cfg(target_os = "linux")]
mod conn;
#[cfg(target_os = "linux")]
mod driver;
mod error;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(not(target_os = "linux"))]
mod unsupported;

#[cfg(target_os = "linux")]
pub use driver::{UringDriver, probe};
pub use error::Unavailable;
pub use keel_driver_common::{Clock, DriverOptions, Inbox, ShutdownHandle, Spreader};
#[cfg(not(target_os = "linux"))]
pub use unsupported::{UringDriver, probe};
