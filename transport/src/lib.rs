//! keel-transport: TLS for keel's drivers as a sans-I/O byte transform, like `keel_core` itself.
//!
//! TLS sits between a connection's socket and `keel_core::Server`: the core never sees
//! ciphertext, and the transport never sees a socket. It uses rustls (memory-safe, itself
//! sans-I/O) with the ring crypto provider. The drivers use it through keel-driver-common's TLS
//! adapter (`TlsConn`, `TlsContext`), which also keeps the `ssl_*` statistics and answers
//! `refresh_certs`.
//!
//! - [`TlsSettings`]: memcached's `-Z` options (`ssl_chain_cert`, `ssl_key`, `ssl_ca_cert`,
//!   `ssl_verify_mode`, `ssl_min_version`, `ssl_ciphers`, `ssl_session_cache`) with memcached's
//!   defaults (TLS 1.2 minimum, verify mode 0).
//! - [`CertStore`]: the loaded certificate, key and CA, shared by every worker (`Arc`), reloaded
//!   from the same paths by [`CertStore::refresh`] (`refresh_certs`, SIGHUP): new sessions get the
//!   new certificate, open ones keep theirs, a bad file is a [`CertError`] and the old one stays.
//! - [`TlsSession`]: one connection's TLS state.
//!
//! # How a driver uses it
//!
//! ```text
//! let certs = Arc::new(CertStore::load(settings)?);        // at startup; refresh() later
//! // accept: a socket on a TLS listener
//! let id = server.accept(now)?;
//! let mut tls = certs.new_session()?;                      // kept beside the socket
//! // readable: bytes from the socket
//! let n = socket.read(&mut buf)?;                           // 0: EOF
//! let mut plain = Vec::new();
//! match tls.feed(&buf[..n], &mut plain) {
//!     Ok(()) => {
//!         if !plain.is_empty() { server.handle_input(id, now, &plain); }
//!         if tls.peer_closed() { server.handle_eof(id, now); }
//!     }
//!     Err(e) => { /* count a handshake error; flush take_ciphertext (an alert); close */ }
//! }
//! // Transmit(id), and after every feed (the handshake answers from inside feed):
//! let n = tls.encrypt(server.outbound(id))?;               // may take less than all
//! server.consume_outbound(id, n, now);                      // taken by TLS = written
//! tls.write_ciphertext(&mut socket)?;                       // or take_ciphertext into a buffer
//! // interest: read as the core says; write when server.interest(id).write || tls.wants_write()
//! // Close(id, _): tls.close(); tls.write_ciphertext(&mut socket); then close the socket
//! ```
//!
//! A handshake never blocks: it advances inside `feed` and `write_ciphertext` like any other
//! bytes. A client stalled mid-handshake has given the core no bytes; the adapter marks such a
//! connection with `Server::hold_partial` so the core's read timeout closes it. A plaintext
//! client on a TLS port makes `feed` fail with [`TlsError::Protocol`]; only its own connection is
//! closed.

#![deny(missing_docs)]

mod certs;
mod error;
mod session;
mod settings;

pub use certs::CertStore;
pub use error::{CertError, SettingsError, TlsError};
pub use session::TlsSession;
pub use settings::{MinVersion, TlsSettings, VerifyMode};

/// rustls' version type, as `TlsSession::protocol_version` reports it.
pub use rustls::ProtocolVersion;
