//! `TlsHook`: what the core asks of the TLS layer its drivers run in front of it (the core itself
//! never sees ciphertext, certificates or files): the `ssl_*` lines of `stats settings` and
//! `stats`, and memcached's `refresh_certs` command, which rereads the certificate and key.
//!
//! The embedder installs it in `Config::tls`; without one, `stats settings` shows memcached's
//! lines for a server with TLS off and `refresh_certs` answers as memcached does then.

use std::fmt;
use std::sync::Arc;

use crate::service::StatSink;
use crate::time::Timestamp;

/// The TLS layer's side of the core's commands. Called from any worker's thread.
pub trait TlsControl: Send + Sync {
    /// The `ssl_*` lines of `stats settings`, under memcached's names.
    fn write_settings(&self, sink: &mut dyn StatSink);
    /// The TLS lines of `stats` (`ssl_handshake_errors`, `time_since_server_cert_refresh` ...).
    fn write_stats(&self, now: Timestamp, sink: &mut dyn StatSink);
    /// `refresh_certs`: reload the certificate and key. `Err` holds the one-line reply (without
    /// "\r\n"); the certificate in use stays.
    fn refresh_certs(&self, now: Timestamp) -> Result<(), String>;
    /// `stats reset`: the TLS counters read zero from now on, as memcached zeroes
    /// `ssl_handshake_errors` and `ssl_new_sessions` with its other statistics. The default keeps
    /// them (a layer without counters).
    fn reset_stats(&self) {}
}

/// A shared `TlsControl`, compared by identity so `Config` stays comparable.
#[derive(Clone)]
pub struct TlsHook(pub Arc<dyn TlsControl>);

impl fmt::Debug for TlsHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsHook")
    }
}

impl PartialEq for TlsHook {
    fn eq(&self, other: &TlsHook) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TlsHook {}

/// memcached 1.6.18's reply to `refresh_certs` when TLS is off.
pub(crate) const TLS_NOT_ENABLED: &str = "Error TLS not enabled";

/// memcached 1.6.18's `stats settings` TLS lines with TLS off (Debian's build, which has TLS).
pub(crate) fn write_disabled_settings(sink: &mut dyn StatSink) {
    sink.stat("ssl_enabled", &"no");
    sink.stat("ssl_chain_cert", &"(null)");
    sink.stat("ssl_key", &"(null)");
    sink.stat("ssl_verify_mode", &0);
    sink.stat("ssl_keyformat", &1);
    sink.stat("ssl_ciphers", &"NULL");
    sink.stat("ssl_ca_cert", &"NULL");
    sink.stat("ssl_wbuf_size", &16384);
    sink.stat("ssl_session_cache", &"no");
    sink.stat("ssl_kernel_tls", &"no");
    sink.stat("ssl_min_version", &"tlsv1.2");
}
