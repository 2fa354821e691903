//! The transport's typed errors: bad settings, certificates that cannot be loaded, and TLS
//! failures on a session.

use std::io;
use std::path::PathBuf;

/// A memcached TLS option keel cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// An option keel does not know.
    #[error("unknown TLS option {0:?}")]
    UnknownOption(String),
    /// An option's value does not parse.
    #[error("{option} expects {expected}, got {value:?}")]
    BadValue {
        /// The option.
        option: &'static str,
        /// What it takes.
        expected: &'static str,
        /// What it got.
        value: String,
    },
    /// An `ssl_ciphers` name keel does not offer, and the names it does.
    #[error("ssl_ciphers: {0:?} is not a cipher suite keel offers (one of: {1})")]
    UnknownCipher(String, String),
    /// TLS is on without a certificate or a key.
    #[error("TLS needs a certificate and a key: -o ssl_chain_cert=PATH,ssl_key=PATH")]
    MissingCertOrKey,
    /// A `ssl_verify_mode` that checks client certificates, without a CA to check them against.
    #[error("ssl_verify_mode={0} checks client certificates and needs ssl_ca_cert=PATH")]
    VerifyWithoutCa(u8),
}

/// Why the certificate, key or CA could not be loaded. The certificate in use stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{path}: no certificate in it")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("{path}: no private key in it")]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The CA file holds a certificate rustls refuses.
    #[error("{path}: bad CA certificate: {source}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The client certificate verifier cannot be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// rustls refuses the certificate and key.
    #[error("certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
    /// The settings themselves are wrong.
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
    /// rustls refused what the peer sent.
    #[error("TLS: {0}")]
    Protocol(#[from] rustls::Error),
    /// The session's buffers could not take the bytes.
    #[error("TLS: {0}")]
    Buffer(String),
}
