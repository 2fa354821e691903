//! From `Options` to what the core and drivers take: `keel_core::Config`, `CacheConfig`, the poll
//! timeout, the listen address; and memcached's `-I` size syntax.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use keel_core::{CacheConfig, Config, Credentials, ProtocolMode};

use crate::cli::{Options, ProtocolKind};
use crate::error::Error;

const MIN_ITEM_SIZE: u64 = 1 << 10;
const MAX_ITEM_SIZE: u64 = 1 << 30;

/// memcached's `-I`: plain bytes or a `k`/`m` suffix (binary units), between 1k and 1g.
pub(crate) fn parse_item_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1u64 << 20),
        _ => (text, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (bytes, or a number with k or m)"))?;
    let bytes = n.saturating_mul(unit);
    if !(MIN_ITEM_SIZE..=MAX_ITEM_SIZE).contains(&bytes) {
        return Err(format!("item size {text} is out of range (1k to 1g)"));
    }
    usize::try_from(bytes).map_err(|_| format!("item size {text} does not fit this platform"))
}

impl Options {
    /// The core's settings; `pid` is this process's id.
    pub fn core_config(&self) -> Config {
        Config {
            max_connections: self.conn_limit as usize,
            idle_timeout: (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout)),
            pid: std::process::id(),
            verbosity: u32::from(self.verbose),
            read_timeout: (self.read_timeout > 0).then(|| Duration::from_secs(self.read_timeout)),
            shutdown_enabled: self.enable_shutdown,
            protocol: match self.protocol {
                ProtocolKind::Auto => ProtocolMode::Auto,
                ProtocolKind::Binary => ProtocolMode::Binary,
                ProtocolKind::Ascii => ProtocolMode::Ascii,
            },
            ..Config::default()
        }
    }

    /// The SASL users when `-S` is given, read from the password file.
    pub fn sasl_credentials(&self) -> Result<Option<Credentials>, Error> {
        if !self.enable_sasl {
            return Ok(None);
        }
        if self.protocol == ProtocolKind::Ascii {
            return Err(Error::SaslNeedsBinary);
        }
        let path = self.sasl_pwdb.as_ref().ok_or(Error::SaslWithoutPwdb)?;
        let text = std::fs::read_to_string(path).map_err(|source| Error::SaslPwdbRead {
            path: path.clone(),
            source,
        })?;
        Credentials::parse_pwdb(&text)
            .map(Some)
            .map_err(|source| Error::SaslPwdbFormat {
                path: path.clone(),
                source,
            })
    }

    /// The cache's settings, with a hash seed chosen by the caller (at random, in `run`).
    pub fn cache_config(&self, hash_seed: u64) -> CacheConfig {
        CacheConfig {
            memory_limit: usize::try_from(self.memory_limit << 20).unwrap_or(usize::MAX),
            item_size_max: self.max_item_size,
            hash_seed,
            flush_enabled: !self.disable_flush,
        }
    }

    /// The cap on one readiness wait; `None` when `--poll-timeout-ms 0`.
    pub fn poll_timeout(&self) -> Option<Duration> {
        (self.poll_timeout_ms > 0).then(|| Duration::from_millis(self.poll_timeout_ms))
    }

    /// `-l` and `-p` resolved; the first address wins.
    pub fn listen_addr(&self) -> Result<SocketAddr, Error> {
        let resolve = |source| Error::Resolve {
            host: self.listen.clone(),
            source,
        };
        (self.listen.as_str(), self.port)
            .to_socket_addrs()
            .map_err(resolve)?
            .next()
            .ok_or_else(|| {
                resolve(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no address",
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::DriverKind;

    #[test]
    fn item_sizes_take_bytes_and_suffixes() {
        assert_eq!(parse_item_size("1m"), Ok(1 << 20));
        assert_eq!(parse_item_size("512K"), Ok(512 << 10));
        assert_eq!(parse_item_size("2097152"), Ok(2 << 20));
        assert_eq!(parse_item_size("1k"), Ok(1024));
        assert_eq!(parse_item_size("1024m"), Ok(1 << 30));
    }

    #[test]
    fn item_sizes_out_of_range_or_malformed_are_refused() {
        for bad in [
            "1023",
            "1025m",
            "0",
            "",
            "m",
            "1g",
            "12x",
            "-1k",
            "99999999999999999999",
        ] {
            assert!(parse_item_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn defaults_match_memcached() {
        let o = Options::default();
        assert_eq!(
            (o.port, o.listen.as_str(), o.conn_limit, o.memory_limit),
            (11211, "127.0.0.1", 1024, 64)
        );
        assert_eq!(
            (o.max_item_size, o.driver, o.verbose),
            (1 << 20, DriverKind::Mio, 0)
        );
        let config = o.core_config();
        assert_eq!(config.max_connections, 1024);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(config.pid, std::process::id());
        let cache = o.cache_config(7);
        assert_eq!(
            (cache.memory_limit, cache.item_size_max, cache.hash_seed),
            (64 << 20, 1 << 20, 7)
        );
        assert!(cache.flush_enabled);
        assert_eq!(o.poll_timeout(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn flags_map_onto_the_configs() {
        let args = [
            "keel",
            "-p",
            "0",
            "-l",
            "::1",
            "-c",
            "10",
            "-m",
            "2",
            "-I",
            "2k",
            "--driver",
            "poll",
            "--idle-timeout",
            "0",
            "--poll-timeout-ms",
            "0",
            "-F",
            "-vv",
        ];
        let o = Options::try_parse_from(args).unwrap();
        assert_eq!(o.driver, DriverKind::Poll);
        let config = o.core_config();
        assert_eq!(
            (
                config.max_connections,
                config.idle_timeout,
                config.verbosity
            ),
            (10, None, 2)
        );
        let cache = o.cache_config(0);
        assert_eq!(
            (cache.memory_limit, cache.item_size_max, cache.flush_enabled),
            (2 << 20, 2048, false)
        );
        assert_eq!(o.poll_timeout(), None);
        assert_eq!(o.listen_addr().unwrap(), "[::1]:0".parse().unwrap());
    }

    #[test]
    fn bad_flags_are_errors() {
        for args in [
            &["keel", "-I", "512"][..],
            &["keel", "-c", "0"],
            &["keel", "--driver", "epoll"],
            &["keel", "-p", "70000"],
        ] {
            assert!(Options::try_parse_from(args).is_err(), "{args:?} accepted");
        }
    }
}
