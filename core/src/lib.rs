//! keel-core: a pure, Sans-I/O memcached-compatible server core.
//!
//! Everything that decides lives here; everything that touches a socket or a clock lives in a
//! driver. The core is fed bytes and timestamps and produces bytes and instructions. It reads no
//! clock, opens no socket, spawns no thread, touches no file and uses no `unsafe`, so the same
//! code runs under keel's own drivers (`poll(2)`, mio), inside an async runtime, in a
//! deterministic simulation or under a fuzzer.
//!
//! # What is in the crate
//!
//! - [`Server`]: the coordinator. It owns the connection table, the limits, the idle and read
//!   deadlines, backpressure and `-R` yields, and turns requests into responses through a
//!   [`Service`]. A driver talks to it only through the methods walked through below.
//! - [`Service`]: the boundary to the data, with its [`Outcome`], [`StatGroup`] and [`StatSink`].
//!   [`Cache`] is the built-in memcached-compatible service (over the compact `store`);
//!   [`SharedCache`] is its sharded form for several `Server`s on several threads
//!   ([`Server::in_group`] with a [`WorkerGroup`]). Put your own data behind keel's protocol
//!   handling by implementing `Service` (see `examples/read_through.rs`).
//! - [`Config`] and [`CacheConfig`]: memcached's settings, defaulting as memcached does.
//! - [`Output`], [`Interest`], [`CloseReason`], [`AcceptError`], [`ConnId`], [`Timestamp`]: what
//!   the driver loop exchanges with the server.
//! - [`protocol`]: the memcached binary protocol as pure functions (`decode`, `encode_request`,
//!   headers, opcodes, statuses) and the text and meta protocols' parser, for clients and tools.
//! - [`auth`], [`text_auth`]: the credentials for SASL (`-S`) and text tokens (`-Y`).
//!
//! # The driver loop
//!
//! A driver owns the sockets and the clock. Each turn it waits for readiness (at most until
//! [`Server::poll_timeout`]), reports what happened with the `handle_*` methods, and then drains
//! [`Server::poll_output`] until `None`, writing what the core asks and closing what it closes.
//! Every method takes the time; a stale [`ConnId`] is ignored. This example walks one
//! in-memory connection through every step (keel's drivers do the same over real sockets; see
//! also `examples/embed.rs` and the tokio driver in `embed-tokio/`):
//!
//! ```
//! use std::time::Duration;
//! use keel_core::{Cache, CacheConfig, CloseReason, Config, Interest, Output, Server, Timestamp};
//!
//! /// The driver's half of a connection: here, what the peer would receive.
//! #[derive(Default)]
//! struct Socket {
//!     received: Vec<u8>,
//!     /// Bytes the socket takes per write; a full socket takes fewer than asked.
//!     room: usize,
//! }
//!
//! /// Carries out the core's instructions: write what it holds, close what it closed.
//! fn drain(server: &mut Server<Cache>, socket: &mut Socket, now: Timestamp) -> Option<CloseReason> {
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             Output::Transmit(id) => {
//!                 // Write as much as the socket takes and say how much that was. What is left
//!                 // stays in `outbound(id)`; `interest(id).write` says to wait for writability.
//!                 let pending = server.outbound(id);
//!                 let n = pending.len().min(socket.room);
//!                 socket.received.extend_from_slice(&pending[..n]);
//!                 server.consume_outbound(id, n, now);
//!             }
//!             // The core has forgotten the connection: close the socket.
//!             Output::Close(_id, reason) => return Some(reason),
//!         }
//!     }
//!     None
//! }
//!
//! // Memory only: no socket, no clock. The caller's clock starts here (Unix milliseconds).
//! let start = Timestamp::from_secs(1_700_000_000);
//! let mut now = start;
//! let config = Config {
//!     idle_timeout: Some(Duration::from_secs(300)),
//!     reqs_per_event: Some(2), // memcached's -R: yield after 2 requests in one go
//!     ..Config::default()
//! };
//! let mut server = Server::new(config, Cache::new(CacheConfig::default()), now);
//!
//! // A socket connected. `accept` refuses past `max_connections`: close the socket then.
//! let id = server.accept(now).expect("below the connection limit");
//! let mut socket = Socket { room: 1 << 16, ..Socket::default() };
//!
//! // Bytes arrived: every complete request among them is answered now, in order.
//! server.handle_input(id, now, b"set greeting 0 0 5\r\nhello\r\nget gree");
//! assert_eq!(drain(&mut server, &mut socket, now), None);
//! assert_eq!(socket.received, b"STORED\r\n"); // the partial `get` waits for its end
//! server.handle_input(id, now, b"ting\r\n");
//! drain(&mut server, &mut socket, now);
//! assert_eq!(socket.received, b"STORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n");
//! socket.received.clear();
//!
//! // A full socket: part of the answer is written, the rest stays pending until the socket
//! // is writable again, when the driver writes `outbound(id)` and reports it.
//! socket.room = 10;
//! server.handle_input(id, now, b"get greeting\r\n");
//! drain(&mut server, &mut socket, now);
//! assert_eq!(server.interest(id), Interest { read: true, write: true });
//! let rest = server.outbound(id).to_vec();
//! server.consume_outbound(id, rest.len(), now);
//! socket.received.extend_from_slice(&rest);
//! assert_eq!(socket.received, b"VALUE greeting 0 5\r\nhello\r\nEND\r\n");
//! assert_eq!(server.interest(id), Interest { read: true, write: false });
//! socket.received.clear();
//! socket.room = 1 << 16;
//!
//! // A client pipelining past `reqs_per_event` yields its turn: the driver must not block in
//! // its wait while `has_yielded()`, and resumes the yielded connections after serving the
//! // others, once per turn.
//! server.handle_input(id, now, b"mn\r\nmn\r\nmn\r\nmn\r\nmn\r\n");
//! drain(&mut server, &mut socket, now);
//! assert_eq!(socket.received, b"MN\r\nMN\r\n");
//! while server.has_yielded() {
//!     server.resume_yielded(now, |_resumed| { /* an edge-triggered driver reads it again */ });
//!     drain(&mut server, &mut socket, now);
//! }
//! assert_eq!(socket.received, b"MN\r\nMN\r\nMN\r\nMN\r\nMN\r\n");
//!
//! // Deadlines: wait at most until `poll_timeout()`, then call `handle_timeout`. The deadline is
//! // the earliest time anything may be due (here first the 30 s read timeout that the partial
//! // `get` above started, long since over), so a wake-up may find nothing to do.
//! let mut closed = None;
//! while closed.is_none() {
//!     now = server.poll_timeout().expect("the idle timeout is on");
//!     server.handle_timeout(now);
//!     closed = drain(&mut server, &mut socket, now);
//! }
//! // A connection idle for `idle_timeout` is closed.
//! assert_eq!(closed, Some(CloseReason::IdleTimeout));
//! assert_eq!(now, start.saturating_add_secs(300));
//! assert_eq!(server.connection_count(), 0);
//!
//! // The other ways a connection ends: the peer closes (`handle_eof`: its complete requests
//! // are answered first), the socket fails (`handle_io_error`), or `begin_shutdown`.
//! let id = server.accept(now).expect("below the connection limit");
//! server.handle_input(id, now, b"get greeting\r\n");
//! server.handle_eof(id, now);
//! assert_eq!(drain(&mut server, &mut socket, now), Some(CloseReason::PeerClosed));
//! ```
//!
//! # What is stable
//!
//! keel-core is at 0.x: any release may change its API, and changes follow semver for 0.x
//! (a breaking change bumps the minor version). Everything public without a feature is the
//! deliberate surface:
//!
//! - the driver contract: [`Server`]'s methods, [`Output`], [`Interest`], [`CloseReason`],
//!   [`AcceptError`], [`ShutdownMode`], [`ConnId`], [`Timestamp`], [`Config`], [`WorkerGroup`],
//!   [`TlsControl`]/[`TlsHook`];
//! - the data boundary: [`Service`], [`Outcome`], [`ItemView`], [`KeyEntry`], [`StatGroup`],
//!   [`StatSink`], and the built-in [`Cache`]/[`SharedCache`] with [`CacheConfig`];
//! - the codec in [`protocol`], for clients and tools;
//! - the statistics a driver or embedder reads ([`ServerStats`], [`cache::CacheStats`],
//!   [`cache::StoreStats`]) and the credentials in [`auth`] and [`text_auth`].
//!
//! The driver contract and the `Service` boundary are the parts meant to last; the statistics'
//! fields and the protocol parser's types follow memcached and keel's needs and change more
//! freely.
//!
//! The cargo feature `internals` opens what keel's own crates need beyond that: the compact
//! `store` module (slabs, index, item layout, the memory region a warm restart reattaches,
//! the shared budget), `Cache::from_region`/`SharedCache::from_region`, `SharedCache::budget`,
//! `Server::state` with `ConnState`, and the caches' `check_invariants`. The server, the fuzz
//! targets and this crate's tests turn it on. It is **unstable**: not covered by semver, it
//! changes with any release; an embedder should not depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
mod buffer;
pub mod cache;
mod config;
mod conn;
mod dispatch;
mod group;
mod id;
mod output;
pub mod protocol;
mod server;
mod service;
mod stat_order;
mod stats;
#[cfg(feature = "internals")]
pub mod store;
// Without `internals`, what only keel's server and tests drive (warm restart over a memory region,
// invariant checks) has no caller here.
#[cfg(not(feature = "internals"))]
#[allow(dead_code, unused_imports)]
mod store;
mod sync;
pub mod text_auth;
mod time;
mod tls;

pub use auth::Credentials;
pub use cache::{Cache, CacheConfig, SharedCache};
pub use config::{Config, ProcessUsage, ProtocolMode};
#[cfg(feature = "internals")]
pub use conn::ConnState;
pub use group::WorkerGroup;
pub use id::ConnId;
pub use output::{AcceptError, CloseReason, Interest, Output, ShutdownMode};
pub use server::Server;
pub use service::{ItemView, KeyEntry, Outcome, Service, StatGroup, StatSink};
pub use stats::ServerStats;
pub use text_auth::SharedCredentials;
pub use time::{Timestamp, earliest};
pub use tls::{TlsControl, TlsHook};
