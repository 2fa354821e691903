//! From `Options` to what the core and drivers take: `keel_core::Config`, `CacheConfig`, the poll
//! timeout, the listen address.

use std::net::ToSocketAddrs;
use std::time::Duration;

use keel_core::{CacheConfig, Config, Credentials, ProtocolMode};
use keel_driver_common::{Endpoint, ListenSpec, Security};

use crate::cli::{Options, ProtocolKind};
use crate::error::Error;
use crate::extended::Extended;
use crate::listen::Prefix;

impl Options {
    /// The core's settings; `pid` is this process's id.
    pub fn core_config(&self) -> Config {
        let idle_timeout = self.idle_timeout_secs();
        Config {
            max_connections: self.conn_limit as usize,
            idle_timeout: (idle_timeout > 0).then(|| Duration::from_secs(idle_timeout)),
            pid: std::process::id(),
            verbosity: u32::from(self.verbose),
            read_timeout: (self.read_timeout > 0).then(|| Duration::from_secs(self.read_timeout)),
            protocol: match self.protocol {
                // memcached's -Y makes every connection text.
                _ if self.auth_file.is_some() => ProtocolMode::Ascii,
                ProtocolKind::Auto => ProtocolMode::Auto,
                ProtocolKind::Binary => ProtocolMode::Binary,
                ProtocolKind::Ascii => ProtocolMode::Ascii,
            },
            shutdown_enabled: self.enable_shutdown,
            tcp_port: self.port,
            listen: self.listen.join(","),
            listen_backlog: self.listen_backlog,
            domain_socket: self.unix_socket.as_ref().map(|p| p.display().to_string()),
            unix_mask: self.unix_mask,
            reqs_per_event: Some(self.reqs_per_event),
            dump_enabled: !self.disable_dumping,
            text_auth_file: self.auth_file.as_ref().map(|p| p.display().to_string()),
            ..Config::default()
        }
    }

    /// `--idle-timeout`, unless `-o idle_timeout=` says otherwise (the last one wins).
    fn idle_timeout_secs(&self) -> u64 {
        self.extended()
            .filter_map(|e| match e {
                Extended::IdleTimeout(secs) => Some(*secs),
                _ => None,
            })
            .last()
            .unwrap_or(self.idle_timeout)
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

    /// The `-Y` users, read from the auth file. memcached refuses `-Y` with `-B binary`; keel
    /// refuses it with `-S` as well (memcached would silently drop SASL).
    pub fn text_auth_credentials(&self) -> Result<Option<Credentials>, Error> {
        let Some(path) = &self.auth_file else {
            return Ok(None);
        };
        if self.protocol == ProtocolKind::Binary {
            return Err(Error::AuthFileNeedsText);
        }
        if self.enable_sasl {
            return Err(Error::AuthFileWithSasl);
        }
        crate::auth_file::load(path).map(Some)
    }

    /// The cache's settings, with a hash seed chosen by the caller (at random, in `run`).
    pub fn cache_config(&self, hash_seed: u64) -> CacheConfig {
        CacheConfig {
            memory_limit: usize::try_from(self.memory_limit << 20).unwrap_or(usize::MAX),
            item_size_max: self.max_item_size,
            hash_seed,
            flush_enabled: !self.disable_flush,
            evictions_enabled: !self.disable_evictions,
            cas_enabled: !self.disable_cas,
        }
    }

    /// The cap on one readiness wait; `None` when `--poll-timeout-ms 0`.
    pub fn poll_timeout(&self) -> Option<Duration> {
        (self.poll_timeout_ms > 0).then(|| Duration::from_millis(self.poll_timeout_ms))
    }

    /// What to listen on: the `-s` Unix socket alone (memcached: `-s` turns TCP off), or every
    /// `-l` address with `-p` resolved (of a host name's addresses the first wins), each TLS or
    /// plaintext by `-Z` and its prefix.
    pub fn listeners(&self) -> Result<Vec<ListenSpec>, Error> {
        if let Some(path) = &self.unix_socket {
            return Ok(vec![ListenSpec {
                endpoint: Endpoint::Unix {
                    path: path.clone(),
                    mode: self.unix_mask,
                },
                security: Security::Plain,
            }]);
        }
        let mut listeners = Vec::new();
        for spec in self.listen_specs()? {
            let resolve = |source| Error::Resolve {
                host: spec.host.clone(),
                source,
            };
            let addr = (spec.host.as_str(), spec.port)
                .to_socket_addrs()
                .map_err(resolve)?
                .next()
                .ok_or_else(|| {
                    resolve(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no address",
                    ))
                })?;
            let security = match spec.prefix {
                Prefix::NoTls => Security::Plain,
                Prefix::None if self.enable_ssl => Security::Tls,
                Prefix::None => Security::Plain,
                Prefix::MutualTls if self.enable_ssl => Security::MutualTls,
                Prefix::MutualTls => return Err(Error::MutualTlsWithoutTls(spec.to_string())),
            };
            listeners.push(ListenSpec {
                endpoint: Endpoint::Tcp(addr),
                security,
            });
        }
        Ok(listeners)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::DriverKind;

    #[test]
    fn defaults_match_memcached() {
        let o = Options::default();
        assert_eq!(
            (o.port, o.listen.join(","), o.conn_limit, o.memory_limit),
            (11211, "127.0.0.1".to_owned(), 1024, 64)
        );
        assert_eq!(
            (o.threads, o.reqs_per_event, o.listen_backlog, o.udp_port),
            (4, 20, 1024, 0)
        );
        assert!(!o.disable_evictions && !o.disable_cas && !o.enable_shutdown && !o.daemon);
        assert_eq!(
            (o.max_item_size, o.driver, o.verbose),
            (1 << 20, DriverKind::Mio, 0)
        );
        let config = o.core_config();
        assert_eq!(config.max_connections, 1024);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(config.pid, std::process::id());
        assert_eq!(
            (
                config.tcp_port,
                config.listen.as_str(),
                config.listen_backlog
            ),
            (11211, "127.0.0.1", 1024)
        );
        assert_eq!((o.threads, config.reqs_per_event), (4, Some(20)));
        assert!(!config.shutdown_enabled);
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
            "-A",
            "-t",
            "8",
            "-R",
            "5",
            "-b",
            "64",
            "-M",
            "-C",
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
        assert_eq!(
            (
                config.shutdown_enabled,
                o.threads,
                config.reqs_per_event,
                config.listen_backlog,
                config.listen.as_str(),
                config.tcp_port
            ),
            (true, 8, Some(5), 64, "::1", 0)
        );
        assert!(o.disable_evictions && o.disable_cas);
        let cache = o.cache_config(0);
        assert_eq!(
            (cache.memory_limit, cache.item_size_max, cache.flush_enabled),
            (2 << 20, 2048, false)
        );
        assert_eq!(o.poll_timeout(), None);
        assert_eq!(
            o.listeners().unwrap(),
            [ListenSpec {
                endpoint: Endpoint::Tcp("[::1]:0".parse().unwrap()),
                security: Security::Plain,
            }]
        );
    }

    #[test]
    fn extended_idle_timeout_overrides_the_long_flag() {
        let o =
            Options::try_parse_from(["keel", "-o", "modern,idle_timeout=7", "--idle-timeout", "9"])
                .unwrap();
        assert_eq!(o.core_config().idle_timeout, Some(Duration::from_secs(7)));
        let o = Options::try_parse_from(["keel", "-o", "idle_timeout=0"]).unwrap();
        assert_eq!(o.core_config().idle_timeout, None);
    }

    #[test]
    fn memcached_spellings_parse() {
        let o = Options::try_parse_from([
            "keel",
            "-vvv",
            "-p11212",
            "--memory-limit=128",
            "--disable-flush-all",
            "--max-reqs-per-event",
            "3",
            "-dkM",
            "--listen-backlog=-1",
        ])
        .unwrap();
        assert_eq!(
            (
                o.verbose,
                o.port,
                o.memory_limit,
                o.reqs_per_event,
                o.listen_backlog
            ),
            (3, 11212, 128, 3, -1)
        );
        assert!(o.disable_flush && o.daemon && o.lock_memory && o.disable_evictions);
        // getopt: a repeated flag's last value wins; -l, -o and -v add up.
        let o = Options::try_parse_from([
            "keel",
            "-p",
            "1",
            "-u",
            "root",
            "-p",
            "2",
            "-u",
            "memcache",
            "-v",
            "-v",
            "-l",
            "::1",
            "-l",
            "::1",
            "-o",
            "modern",
            "-o",
            "idle_timeout=3",
        ])
        .unwrap();
        assert_eq!(
            (o.port, o.user.as_deref(), o.verbose),
            (2, Some("memcache"), 2)
        );
        assert_eq!(o.listen, ["::1", "::1"]);
        assert_eq!(o.extended.len(), 2);
        // getopt_long's unique prefixes.
        let o = Options::try_parse_from(["keel", "--conn", "7", "--enable-shut"]).unwrap();
        assert!(o.conn_limit == 7 && o.enable_shutdown);
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
