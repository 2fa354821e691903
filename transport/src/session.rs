//! One TLS connection as a byte transform, without I/O: ciphertext read from the socket goes in
//! and plaintext for the core comes out; plaintext the core wants written goes in and ciphertext
//! for the socket comes out. The handshake runs inside the same calls: `feed` consumes the
//! client's handshake messages, `take_ciphertext` yields the server's.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

use crate::error::TlsError;

/// A server-side TLS session wrapping `rustls::ServerConnection`.
pub struct TlsSession {
    conn: ServerConnection,
    /// The peer sent close_notify: no more plaintext will come.
    peer_closed: bool,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.is_handshaking())
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

impl TlsSession {
    /// A session with `config` (usually `CertStore::new_session`).
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, TlsError> {
        Ok(TlsSession {
            conn: ServerConnection::new(config)?,
            peer_closed: false,
        })
    }

    /// Feeds ciphertext read from the socket and appends the plaintext it carried to
    /// `plaintext`. Every byte is taken. An error means the connection is beyond saving: write
    /// out `take_ciphertext` (it may hold an alert for the peer) and close it. After the peer's
    /// close_notify (`peer_closed`), further bytes are ignored.
    pub fn feed(&mut self, ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), TlsError> {
        let mut rest = ciphertext;
        while !rest.is_empty() && !self.peer_closed {
            // Reading from a slice: the only error is rustls refusing more while its plaintext
            // buffer is full, which draining after every record below prevents.
            let n = self
                .conn
                .read_tls(&mut rest)
                .map_err(|e| TlsError::Buffer(e.to_string()))?;
            self.conn.process_new_packets()?;
            self.drain_plaintext(plaintext)?;
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    fn drain_plaintext(&mut self, plaintext: &mut Vec<u8>) -> Result<(), TlsError> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut chunk) {
                Ok(0) => {
                    self.peer_closed = true;
                    return Ok(());
                }
                Ok(n) => plaintext.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(TlsError::Buffer(e.to_string())),
            }
        }
    }

    /// Hands plaintext the core wants written to the session and returns how much it took: all
    /// of it unless the session's outgoing buffer (see `set_buffer_limit`) is full because the
    /// socket has not taken the ciphertext yet. Report the count to the core as written
    /// (`consume_outbound`); the rest stays in the core, whose backpressure then applies.
    /// Plaintext given during the handshake is sent once it completes.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<usize, TlsError> {
        self.conn
            .writer()
            .write(plaintext)
            .map_err(|e| TlsError::Buffer(e.to_string()))
    }

    /// Moves the ciphertext waiting to be sent (handshake messages, records, alerts) to the end
    /// of `out` and returns how many bytes it added.
    pub fn take_ciphertext(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail; a zero count would mean no progress.
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.len() - start
    }

    /// Writes waiting ciphertext straight to `socket` (saving `take_ciphertext`'s copy); stops
    /// at `WouldBlock`, which is returned as `Ok` with what was written so far.
    pub fn write_ciphertext(&mut self, socket: &mut dyn Write) -> io::Result<usize> {
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(socket) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Bounds the plaintext and ciphertext waiting to be sent (rustls' default: 64 KiB).
    pub fn set_buffer_limit(&mut self, limit: Option<usize>) {
        self.conn.set_buffer_limit(limit);
    }

    /// Queues close_notify; send it with `take_ciphertext` before closing the socket.
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether ciphertext is waiting to be sent: ask for writability.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// The peer sent close_notify: treat it as end of input.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The negotiated version, once the handshake has got that far.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The client's certificate chain, when it presented one (verify modes 1..3).
    pub fn peer_certificates(&self) -> Option<&[rustls_pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }
}
