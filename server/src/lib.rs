//! keel-server: the `keel` binary as a library: memcached-style flags (`Options`), logging,
//! signals, the open-file limit, and a choice of driver around one `keel_core::Server`.
//!
//! - `main()` is the whole command line program (`src/main.rs` only calls it).
//! - `run(&options, ready)` serves on the calling thread until shut down; `ready` gets the bound
//!   address and a `ShutdownHandle` once the listener is open.
//! - `spawn(options)` runs a server on its own thread for in-process tests: it returns once the
//!   listener is bound, with the address; `Running::stop` shuts it down gracefully and joins it.

mod cli;
mod clock;
mod entropy;
mod error;
mod limits;
mod logging;
mod runner;
mod settings;
mod signals;
mod usage;

pub use cli::{DriverKind, Options, ProtocolKind, main};
pub use clock::WallClock;
pub use error::Error;
pub use runner::{Running, ShutdownHandle, run, spawn};
