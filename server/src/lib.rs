//! keel-server: the `keel` binary as a library: memcached's command line (`Options`), its
//! startup checks, user switch, daemon mode and pid file, logging, signals, process limits, and a
//! choice of driver around one `keel_core::Server`.
//!
//! - `main()` is the whole command line program (`src/main.rs` only calls it).
//! - `run(&options, ready)` serves on the calling thread until shut down; `ready` gets the bound
//!   endpoints and a `ShutdownHandle` once the listeners are open.
//! - `spawn(options)` runs a server on its own thread for in-process tests: it returns once the
//!   listener is bound, with the address; `Running::stop` shuts it down gracefully and joins it.

mod auth_file;
mod checks;
mod cli;
mod clock;
mod daemon;
mod entropy;
mod error;
mod extended;
mod flag_values;
mod identity;
mod limits;
mod listen;
mod logging;
mod memory_file;
mod program;
mod runner;
mod settings;
mod signals;
mod tls;
mod usage;
mod worker;

pub use cli::{DriverKind, Options, ProtocolKind};
pub use clock::WallClock;
pub use error::Error;
pub use extended::Extended;
pub use program::main;
pub use runner::{Bound, Running, ShutdownHandle, run, spawn};
