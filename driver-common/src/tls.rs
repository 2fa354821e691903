//! TLS between the socket and the core, once for every driver, on keel-transport's sans-I/O
//! sessions: ciphertext read from the socket goes through `TlsConn::receive` to
//! `Server::handle_input`; the core's `outbound` goes through `TlsConn::transmit` to a sink. A
//! plaintext TCP or Unix connection has no `TlsConn` and never comes here: its hot path is the
//! drivers' own, unchanged.
//!
//! The adapter does no I/O of its own and assumes no kind of socket: `receive` only takes bytes,
//! and every byte for the peer leaves through `transmit` or `close` into the `Write` the driver
//! passes. A readiness driver passes the socket (writing until `WouldBlock`); a completion driver
//! (io_uring) passes the send buffer it owns until the send's completion, capped so that it
//! reports `WouldBlock` when full.
//!
//! - Handshakes never block: they advance inside `receive` and `transmit` like any other bytes;
//!   the session's answers wait in it until the next `transmit` (drivers transmit right after a
//!   receive).
//! - A client stalled mid-handshake: from accept until the handshake completes, the connection
//!   is marked with `Server::hold_partial`, so the core's read timeout (`--read-timeout`, 30 s)
//!   closes it as it closes a client stalled mid-request. The core keeps the deadline; the
//!   drivers wait for it as for any other.
//! - A session error (a plaintext client on a TLS port, a failed handshake, a corrupt record)
//!   closes that connection alone; the session's alert goes with the next `transmit` or with
//!   `close`, if the sink takes it at once.
//!   Errors before the handshake completed count as `ssl_handshake_errors`.
//! - `TlsContext` is shared by every worker: the certificates (reloaded by `refresh_certs` and
//!   SIGHUP; new connections get the new certificate, open ones keep theirs), the counters and
//!   the `stats` lines, as the core's `TlsControl`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_core::{ConnId, Server, Service, StatSink, Timestamp, TlsControl};
use keel_transport::{
    CertError, CertStore, MinVersion, TlsError, TlsSession, TlsSettings, VerifyMode,
};

use crate::listener::Security;

/// The server's TLS: certificates for TLS and mutual-TLS listeners, counters, refresh time.
#[derive(Debug)]
pub struct TlsContext {
    /// For `-Z` listeners, with the verify mode `ssl_verify_mode` gives.
    tls: CertStore,
    /// For `mtls:` listeners: the same certificate, a client certificate required.
    mutual: Option<CertStore>,
    handshake_errors: AtomicU64,
    new_sessions: AtomicU64,
    /// When the certificates were last loaded (milliseconds, the core's clock).
    refreshed_at: AtomicU64,
}

impl TlsContext {
    /// Loads the certificate and key (and CA); `mutual` also prepares the configuration of
    /// `mtls:` listeners, which needs `ssl_ca_cert`.
    pub fn load(
        settings: TlsSettings,
        mutual: bool,
        now: Timestamp,
    ) -> Result<TlsContext, CertError> {
        let mutual = if mutual {
            let mut strict = settings.clone();
            strict.verify_mode = VerifyMode::Require;
            Some(CertStore::load(strict)?)
        } else {
            None
        };
        Ok(TlsContext {
            tls: CertStore::load(settings)?,
            mutual,
            handshake_errors: AtomicU64::new(0),
            new_sessions: AtomicU64::new(0),
            refreshed_at: AtomicU64::new(now.as_millis()),
        })
    }

    /// The TLS settings in use.
    pub fn settings(&self) -> &TlsSettings {
        self.tls.settings()
    }

    /// Rereads the certificate, key and CA from the same paths; on error the ones in use stay.
    pub fn refresh(&self, now: Timestamp) -> Result<(), CertError> {
        self.tls.refresh()?;
        if let Some(mutual) = &self.mutual {
            mutual.refresh()?;
        }
        self.refreshed_at.store(now.as_millis(), Ordering::Relaxed);
        Ok(())
    }

    fn session(&self, security: Security) -> Result<TlsSession, TlsError> {
        match (security, &self.mutual) {
            (Security::MutualTls, Some(mutual)) => mutual.new_session(),
            _ => self.tls.new_session(),
        }
    }
}

/// memcached's `refresh_certs` error lines: which file failed, and why, on one line.
fn refresh_error(error: &CertError) -> String {
    let what = match error {
        CertError::NoPrivateKey { .. } => "Error loading the private key",
        CertError::BadCa { .. } | CertError::Verifier(_) => "Error loading the CA certificate",
        _ => "Error loading the certificate chain",
    };
    format!("{what}: {error}").replace(['\r', '\n'], " ")
}

impl TlsControl for TlsContext {
    fn write_settings(&self, sink: &mut dyn StatSink) {
        let s = self.settings();
        let path = |p: &Option<std::path::PathBuf>, none: &'static str| {
            p.as_ref()
                .map_or_else(|| none.to_owned(), |p| p.display().to_string())
        };
        sink.stat("ssl_enabled", &"yes");
        sink.stat("ssl_chain_cert", &path(&s.chain_cert, "(null)"));
        sink.stat("ssl_key", &path(&s.key, "(null)"));
        sink.stat("ssl_verify_mode", &s.verify_mode.level());
        sink.stat("ssl_keyformat", &1);
        sink.stat("ssl_ciphers", &s.ciphers.as_deref().unwrap_or("NULL"));
        sink.stat("ssl_ca_cert", &path(&s.ca_cert, "NULL"));
        sink.stat("ssl_wbuf_size", &16384);
        sink.stat(
            "ssl_session_cache",
            &if s.session_cache { "yes" } else { "no" },
        );
        sink.stat("ssl_kernel_tls", &"no");
        let min = match s.min_version {
            MinVersion::Tls1_0 => "tlsv1.0",
            MinVersion::Tls1_1 => "tlsv1.1",
            MinVersion::Tls1_2 => "tlsv1.2",
            MinVersion::Tls1_3 => "tlsv1.3",
        };
        sink.stat("ssl_min_version", &min);
    }

    fn write_stats(&self, now: Timestamp, sink: &mut dyn StatSink) {
        // memcached counts new sessions only with its session cache on; keel counts completed
        // handshakes, shown under the same condition.
        if self.settings().session_cache {
            sink.stat(
                "ssl_new_sessions",
                &self.new_sessions.load(Ordering::Relaxed),
            );
        }
        sink.stat(
            "ssl_handshake_errors",
            &self.handshake_errors.load(Ordering::Relaxed),
        );
        let since = Timestamp::from_millis(self.refreshed_at.load(Ordering::Relaxed));
        sink.stat(
            "time_since_server_cert_refresh",
            &(now.millis_since(since) / 1000),
        );
    }

    fn reset_stats(&self) {
        self.handshake_errors.store(0, Ordering::Relaxed);
        self.new_sessions.store(0, Ordering::Relaxed);
    }

    fn refresh_certs(&self, now: Timestamp) -> Result<(), String> {
        self.refresh(now).map_err(|e| {
            tracing::warn!("refresh_certs: {e}");
            refresh_error(&e)
        })
    }
}

/// One connection's TLS session, kept beside its socket.
pub struct TlsConn {
    session: TlsSession,
    handshaking: bool,
    context: Arc<TlsContext>,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("handshaking", &self.handshaking)
            .finish_non_exhaustive()
    }
}

impl TlsConn {
    /// A session for connection `id`, just accepted on a listener of kind `security`; the
    /// core's read timeout runs until the handshake completes. `None` (the connection is to be
    /// closed) when no session can be made.
    pub fn start<S: Service>(
        context: &Arc<TlsContext>,
        security: Security,
        server: &mut Server<S>,
        id: ConnId,
        now: Timestamp,
    ) -> Option<TlsConn> {
        match context.session(security) {
            Ok(session) => {
                server.hold_partial(id, now, true);
                Some(TlsConn {
                    session,
                    handshaking: true,
                    context: Arc::clone(context),
                })
            }
            Err(e) => {
                tracing::warn!(?id, "cannot start a TLS session: {e}");
                server.handle_io_error(id, now);
                None
            }
        }
    }

    /// Ciphertext read from the socket: its plaintext (collected in `plain`, a buffer the
    /// driver reuses) goes to the core. The session's answers (handshake messages, an alert)
    /// wait for the next `transmit` (or `close`). A session error closes the connection.
    pub fn receive<S: Service>(
        &mut self,
        server: &mut Server<S>,
        id: ConnId,
        now: Timestamp,
        ciphertext: &[u8],
        plain: &mut Vec<u8>,
    ) {
        plain.clear();
        if let Err(e) = self.session.feed(ciphertext, plain) {
            if self.handshaking {
                self.context
                    .handshake_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(?id, "{e}");
            // The alert stays in the session: `transmit` or `close` sends it if the sink takes
            // it at once; the connection closes either way.
            return server.handle_io_error(id, now);
        }
        if self.handshaking && !self.session.is_handshaking() {
            self.handshaking = false;
            self.context.new_sessions.fetch_add(1, Ordering::Relaxed);
            server.hold_partial(id, now, false);
        }
        if !plain.is_empty() {
            server.handle_input(id, now, plain);
        }
        if self.session.peer_closed() {
            server.handle_eof(id, now);
        }
    }

    /// Moves the session's waiting ciphertext and the core's pending output through the session
    /// to `socket`, until both are done or the socket stops taking bytes (`WouldBlock`). Returns
    /// whether anything was written and whether the socket is full (wait for writability, or
    /// for the send buffer's completion).
    pub fn transmit<S: Service>(
        &mut self,
        server: &mut Server<S>,
        id: ConnId,
        now: Timestamp,
        socket: &mut impl Write,
    ) -> Transmitted {
        let mut done = Transmitted::default();
        loop {
            let pending = server.outbound(id);
            let mut taken = 0;
            if !pending.is_empty() {
                match self.session.encrypt(pending) {
                    Ok(n) => taken = n,
                    Err(e) => {
                        tracing::debug!(?id, "{e}");
                        server.handle_io_error(id, now);
                        return done;
                    }
                }
                if taken > 0 {
                    server.consume_outbound(id, taken, now);
                }
            }
            if !self.session.wants_write() {
                return done;
            }
            match self.session.write_ciphertext(socket) {
                Ok(n) => done.wrote |= n > 0,
                Err(e) => {
                    tracing::debug!(?id, "write: {e}");
                    server.handle_io_error(id, now);
                    return done;
                }
            }
            if self.session.wants_write() {
                done.blocked = true;
                return done;
            }
            if taken == 0 {
                // All ciphertext went and the core had nothing the session could take.
                return done;
            }
        }
    }

    /// Ciphertext is waiting for the socket: ask for writability.
    pub fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    /// The core closed the connection: send what the session still holds (an alert after a
    /// session error) and close_notify after a completed handshake, if the socket takes them at
    /// once.
    pub fn close(&mut self, socket: &mut impl Write) {
        if !self.handshaking {
            self.session.close();
        }
        let _ = self.session.write_ciphertext(socket);
    }
}

/// What `TlsConn::transmit` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transmitted {
    /// Some ciphertext reached the socket.
    pub wrote: bool,
    /// The socket took less than was waiting: wait for writability.
    pub blocked: bool,
}
