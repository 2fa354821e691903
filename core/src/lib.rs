//! keel-core: a pure, Sans-I/O memcached-compatible server core.
//!
//! Everything that decides lives here; everything that touches a socket or a clock lives in a
//! driver. The core is fed bytes and timestamps and produces bytes and instructions:
//!
//! - `protocol`: the memcached binary protocol as pure functions (`decode`, `classify`, commands,
//!   response encoding);
//! - `Server`: the coordinator: connections, limits, idle deadlines, backpressure, driver outputs;
//! - `Service`: the boundary to the data; `Cache` is the built-in memcached-compatible cache over
//!   the compact `store`.
//!
//! The core reads no clock, opens no socket, spawns no thread and uses no `unsafe`.
#![forbid(unsafe_code)]

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
mod stats;
pub mod store;
mod sync;
pub mod text_auth;
mod time;
mod tls;

pub use auth::Credentials;
pub use cache::{Cache, CacheConfig, SharedCache};
pub use config::{Config, ProtocolMode};
pub use conn::ConnState;
pub use group::WorkerGroup;
pub use id::ConnId;
pub use output::{AcceptError, CloseReason, Interest, Output};
pub use server::Server;
pub use service::{ItemView, Outcome, Service, StatGroup, StatSink};
pub use stats::ServerStats;
pub use text_auth::SharedCredentials;
pub use time::{Timestamp, earliest};
pub use tls::{TlsControl, TlsHook};
