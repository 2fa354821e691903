//! The errors that stop a server from starting or running.

use std::io;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot resolve listen address {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot seed the key hash from the OS: {0}")]
    Entropy(#[source] io::Error),
    #[error("event loop failed: {0}")]
    Driver(#[source] io::Error),
    #[error("cannot start the server thread: {0}")]
    Thread(#[source] io::Error),
    #[error("the server thread panicked")]
    Panicked,
}
