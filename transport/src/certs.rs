//! The server's certificate, key and TLS configuration, loaded from `TlsSettings`' paths, shared
//! by every worker, and reloaded from the same paths on `refresh_certs` or SIGHUP: sessions
//! started after a refresh get the new certificate, sessions already running keep the one they
//! started with (each holds its own `Arc` of the configuration). A refresh that fails (a missing
//! or malformed file, a key that does not match the certificate) is a typed error and leaves the
//! certificate in use untouched.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::{CryptoProvider, ring};
use rustls::server::{
    NoServerSessionStorage, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{CertError, SettingsError, TlsError};
use crate::session::TlsSession;
use crate::settings::{MinVersion, TlsSettings, VerifyMode};

/// Sessions remembered for resumption with `ssl_session_cache`.
const SESSION_CACHE_SIZE: usize = 1024;

/// The TLS 1.2 suites rustls (with ring) offers, by OpenSSL name.
const TLS12_SUITES: [(&str, SupportedCipherSuite); 6] = [
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLS 1.2 suites an `ssl_ciphers` list names (OpenSSL or IANA names, colon-separated).
pub(crate) fn tls12_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, SettingsError> {
    let mut suites = Vec::new();
    for name in list.split(':').filter(|n| !n.is_empty()) {
        let suite = TLS12_SUITES
            .iter()
            .find(|(openssl, suite)| *openssl == name || suite.suite().as_str() == Some(name))
            .map(|(_, suite)| *suite)
            .ok_or_else(|| {
                let known: Vec<&str> = TLS12_SUITES.iter().map(|(n, _)| *n).collect();
                SettingsError::UnknownCipher(name.to_owned(), known.join(", "))
            })?;
        suites.push(suite);
    }
    Ok(suites)
}

/// The shared TLS configuration with a reloadable certificate.
pub struct CertStore {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// One cache for the server's life, so a refresh does not forget sessions.
    sessions: Arc<dyn StoresServerSessions>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("settings", &self.settings)
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Checks the settings and loads the certificate, key and CA.
    pub fn load(settings: TlsSettings) -> Result<CertStore, CertError> {
        settings.validate()?;
        let sessions: Arc<dyn StoresServerSessions> = if settings.session_cache {
            ServerSessionMemoryCache::new(SESSION_CACHE_SIZE)
        } else {
            Arc::new(NoServerSessionStorage {})
        };
        let config = build(&settings, &sessions)?;
        Ok(CertStore {
            settings,
            current: RwLock::new(Arc::new(config)),
            sessions,
            refreshes: AtomicU64::new(0),
        })
    }

    /// The settings the certificates were loaded with.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Rereads the certificate, key and CA from the same paths (memcached's `refresh_certs`).
    /// On error the configuration in use stays.
    pub fn refresh(&self) -> Result<(), CertError> {
        let config = Arc::new(build(&self.settings, &self.sessions)?);
        // A pointer swap cannot panic half-way, so a poisoned lock still holds a valid value.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many refreshes succeeded.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// The configuration new sessions start with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A session for a newly accepted connection.
    pub fn new_session(&self) -> Result<TlsSession, TlsError> {
        TlsSession::new(self.server_config())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| CertError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => CertError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        source => CertError::Pem {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// The crypto provider: ring, with the TLS 1.2 suites `ssl_ciphers` allows.
fn provider(settings: &TlsSettings) -> Result<CryptoProvider, SettingsError> {
    let mut provider = ring::default_provider();
    if let Some(list) = &settings.ciphers {
        let allowed = tls12_suites(list)?;
        provider
            .cipher_suites
            .retain(|suite| suite.version() == &rustls::version::TLS13 || allowed.contains(suite));
    }
    Ok(provider)
}

fn build(
    settings: &TlsSettings,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<ServerConfig, CertError> {
    let (Some(chain_path), Some(key_path)) = (&settings.chain_cert, &settings.key) else {
        return Err(SettingsError::MissingCertOrKey.into());
    };
    let provider = Arc::new(provider(settings)?);
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
        // rustls has nothing older than TLS 1.2.
        MinVersion::Tls1_0 | MinVersion::Tls1_1 | MinVersion::Tls1_2 => {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
        MinVersion::Tls1_3 => &[&rustls::version::TLS13],
    };
    let verifier = match (settings.verify_mode, &settings.ca_cert) {
        (VerifyMode::None, _) => WebPkiClientVerifier::no_client_auth(),
        (mode, Some(ca_path)) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(ca_path)? {
                roots.add(ca).map_err(|source| CertError::BadCa {
                    path: ca_path.clone(),
                    source,
                })?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            match mode {
                VerifyMode::Request => builder.allow_unauthenticated().build()?,
                _ => builder.build()?,
            }
        }
        (mode, None) => return Err(SettingsError::VerifyWithoutCa(mode.level()).into()),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(chain_path)?, private_key(key_path)?)?;
    config.session_storage = Arc::clone(sessions);
    if !settings.session_cache {
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}
