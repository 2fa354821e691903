//! memcached's TLS options (`-Z` and the `ssl_*` items of `-o`) with memcached's defaults, as the
//! server crate parses them from the command line.
//!
//! | memcached option | here | default |
//! |---|---|---|
//! | `ssl_chain_cert=PATH` | `chain_cert` | none (required) |
//! | `ssl_key=PATH` | `key` | none (required) |
//! | `ssl_ca_cert=PATH` | `ca_cert` | none (required by verify modes 1..3) |
//! | `ssl_verify_mode=0..3` | `verify_mode` | 0: no client certificate asked |
//! | `ssl_min_version=0..3` | `min_version` | 2: TLS 1.2 |
//! | `ssl_ciphers=LIST` | `ciphers` | every suite rustls offers |
//! | `ssl_session_cache` | `session_cache` | off |
//!
//! rustls speaks TLS 1.2 and 1.3 only, so `ssl_min_version=0` or `1` (TLS 1.0, 1.1) still refuses
//! clients older than TLS 1.2. `ssl_ciphers` takes a colon-separated list of suite names
//! (OpenSSL's, e.g. `ECDHE-RSA-AES128-GCM-SHA256`, or IANA's) and, as OpenSSL's cipher list does,
//! restricts TLS 1.2 only; TLS 1.3 suites stay.

use std::path::PathBuf;

use crate::error::SettingsError;

/// memcached's `ssl_verify_mode`: whether clients must present a certificate from `ca_cert`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifyMode {
    /// 0: no client certificate is asked for.
    #[default]
    None,
    /// 1: asked for, and checked when given; a client without one is accepted.
    Request,
    /// 2: required and checked (mutual TLS).
    Require,
    /// 3: required and checked once per session (rustls checks once anyway).
    Once,
}

impl VerifyMode {
    /// The mode for memcached's `ssl_verify_mode` level 0..=3.
    pub fn from_level(level: u8) -> Option<VerifyMode> {
        Some(match level {
            0 => VerifyMode::None,
            1 => VerifyMode::Request,
            2 => VerifyMode::Require,
            3 => VerifyMode::Once,
            _ => return None,
        })
    }

    /// The mode's memcached level.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// memcached's `ssl_min_version`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum MinVersion {
    /// TLS 1.0 (level 0; keel serves 1.2 at least, as rustls does).
    Tls1_0,
    /// TLS 1.1 (level 1; served as 1.2).
    Tls1_1,
    /// TLS 1.2 (level 2, the default).
    #[default]
    Tls1_2,
    /// TLS 1.3 (level 3).
    Tls1_3,
}

impl MinVersion {
    /// The version for memcached's `ssl_min_version` level 0..=3.
    pub fn from_level(level: u8) -> Option<MinVersion> {
        Some(match level {
            0 => MinVersion::Tls1_0,
            1 => MinVersion::Tls1_1,
            2 => MinVersion::Tls1_2,
            3 => MinVersion::Tls1_3,
            _ => return None,
        })
    }

    /// The version's memcached level.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// Everything that shapes the server's TLS, from memcached's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `ssl_chain_cert`: the certificate chain file (PEM).
    pub chain_cert: Option<PathBuf>,
    /// `ssl_key`: the private key file (PEM).
    pub key: Option<PathBuf>,
    /// `ssl_ca_cert`: the CA certificates client certificates are checked against (PEM).
    pub ca_cert: Option<PathBuf>,
    /// `ssl_verify_mode`.
    pub verify_mode: VerifyMode,
    /// `ssl_min_version`.
    pub min_version: MinVersion,
    /// Colon-separated TLS 1.2 suite names; `None`: all of them.
    pub ciphers: Option<String>,
    /// `ssl_session_cache`: resume sessions by id/ticket.
    pub session_cache: bool,
}

impl TlsSettings {
    /// Takes one `-o` item if it is a TLS option: `Ok(true)` when taken, `Ok(false)` when the
    /// item is not an `ssl_` option (another part of `-o`), `Err` for an `ssl_` option keel does
    /// not know or a bad value.
    pub fn apply_option(&mut self, item: &str) -> Result<bool, SettingsError> {
        let (name, value) = item.split_once('=').unwrap_or((item, ""));
        if !name.starts_with("ssl_") {
            return Ok(false);
        }
        let path = |value: &str, option| {
            if value.is_empty() {
                Err(SettingsError::BadValue {
                    option,
                    expected: "a path",
                    value: String::new(),
                })
            } else {
                Ok(Some(PathBuf::from(value)))
            }
        };
        let level = |option| SettingsError::BadValue {
            option,
            expected: "0, 1, 2 or 3",
            value: value.to_owned(),
        };
        match name {
            "ssl_chain_cert" => self.chain_cert = path(value, "ssl_chain_cert")?,
            "ssl_key" => self.key = path(value, "ssl_key")?,
            "ssl_ca_cert" => self.ca_cert = path(value, "ssl_ca_cert")?,
            "ssl_verify_mode" => {
                self.verify_mode = value
                    .parse()
                    .ok()
                    .and_then(VerifyMode::from_level)
                    .ok_or_else(|| level("ssl_verify_mode"))?
            }
            "ssl_min_version" => {
                self.min_version = value
                    .parse()
                    .ok()
                    .and_then(MinVersion::from_level)
                    .ok_or_else(|| level("ssl_min_version"))?
            }
            "ssl_ciphers" => {
                crate::certs::tls12_suites(value)?;
                self.ciphers = Some(value.to_owned());
            }
            "ssl_session_cache" => self.session_cache = true,
            _ => return Err(SettingsError::UnknownOption(name.to_owned())),
        }
        Ok(true)
    }

    /// Parses a whole `-o` argument (comma-separated), ignoring its non-TLS items.
    pub fn from_options(list: &str) -> Result<TlsSettings, SettingsError> {
        let mut settings = TlsSettings::default();
        for item in list.split(',').filter(|i| !i.is_empty()) {
            settings.apply_option(item)?;
        }
        Ok(settings)
    }

    /// Checks what `-Z` needs before anything is read: a certificate and key, and a CA when
    /// client certificates are checked.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.chain_cert.is_none() || self.key.is_none() {
            return Err(SettingsError::MissingCertOrKey);
        }
        if self.verify_mode != VerifyMode::None && self.ca_cert.is_none() {
            return Err(SettingsError::VerifyWithoutCa(self.verify_mode.level()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcached_defaults() {
        let s = TlsSettings::default();
        assert_eq!(s.min_version, MinVersion::Tls1_2);
        assert_eq!(s.verify_mode, VerifyMode::None);
        assert!(!s.session_cache);
        assert_eq!(s.validate(), Err(SettingsError::MissingCertOrKey));
    }

    #[test]
    fn parses_memcached_option_lists() {
        let s = TlsSettings::from_options(
            "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,ssl_verify_mode=2,\
             ssl_min_version=3,ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256,ssl_session_cache,\
             idle_timeout=5",
        )
        .unwrap();
        assert_eq!(s.chain_cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(s.key, Some(PathBuf::from("/k.pem")));
        assert_eq!(s.ca_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(s.verify_mode, VerifyMode::Require);
        assert_eq!(s.min_version, MinVersion::Tls1_3);
        assert_eq!(s.ciphers.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
        assert!(s.session_cache);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn bad_options_are_typed_errors() {
        let mut s = TlsSettings::default();
        assert_eq!(s.apply_option("hashpower=20"), Ok(false));
        assert_eq!(
            s.apply_option("ssl_bogus=1"),
            Err(SettingsError::UnknownOption("ssl_bogus".into()))
        );
        assert!(matches!(
            s.apply_option("ssl_verify_mode=4"),
            Err(SettingsError::BadValue {
                option: "ssl_verify_mode",
                ..
            })
        ));
        assert!(matches!(
            s.apply_option("ssl_min_version=x"),
            Err(SettingsError::BadValue {
                option: "ssl_min_version",
                ..
            })
        ));
        assert!(matches!(
            s.apply_option("ssl_key="),
            Err(SettingsError::BadValue {
                option: "ssl_key",
                ..
            })
        ));
        assert!(matches!(
            s.apply_option("ssl_ciphers=HIGH:!aNULL"),
            Err(SettingsError::UnknownCipher(name, _)) if name == "HIGH"
        ));
        let s = TlsSettings::from_options("ssl_chain_cert=c,ssl_key=k,ssl_verify_mode=1").unwrap();
        assert_eq!(s.validate(), Err(SettingsError::VerifyWithoutCa(1)));
    }
}
