//! The transport's typed errors: bad settings, certificates that cannot be loaded, and TLS
//! failures on a session.

use std::io;
use std::path::PathBuf;

/// A memcached TLS option keel cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("unknown TLS option {0:?}")]
    UnknownOption(String),
    #[error("{option} expects {expected}, got {value:?}")]
    BadValue {
        option: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("ssl_ciphers: {0:?} is not a cipher suite keel offers (one of: {1})")]
    UnknownCipher(String, String),
    #[error("TLS needs a certificate and a key: -o ssl_chain_cert=PATH,ssl_key=PATH")]
    MissingCertOrKey,
    #[error("ssl_verify_mode={0} checks client certificates and needs ssl_ca_cert=PATH")]
    VerifyWithoutCa(u8),
}

/// Why the certificate, key or CA could not be loaded. The certificate in use stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path}: no certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no private key in it")]
    NoPrivateKey { path: PathBuf },
    #[error("{path}: bad CA certificate: {source}")]
    BadCa {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// A TLS session failed: the peer sent something that is not TLS (a plaintext client on a TLS
/// port), a handshake that cannot succeed (no common version or suite, no or a bad client
/// certificate), or a corrupt record. The session may hold an alert for the peer: write
/// `take_ciphertext` out, then close the connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("TLS: {0}")]
    Protocol(#[from] rustls::Error),
    #[error("TLS: {0}")]
    Buffer(String),
}
