//! Server-wide settings (the seed's `ConnectionManagerConfig` plus what memcached's flags set).

use std::time::Duration;

use crate::auth::Credentials;
use crate::text_auth::SharedCredentials;
use crate::tls::TlsHook;

/// Which protocols a connection may speak (memcached `-B`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtocolMode {
    /// The first byte decides: 0x80 makes the connection binary, anything else text.
    #[default]
    Auto,
    /// Binary protocol only (`-B binary`): every connection is parsed as binary.
    Binary,
    /// Text protocol only (`-B ascii`): classic and meta commands.
    Ascii,
}

/// Reads the process's CPU time, user and system (`getrusage`): the core cannot ask the OS, so the
/// server crate hands it this hook for STAT's `rusage_user` and `rusage_system`.
#[derive(Clone, Copy, Debug)]
pub struct ProcessUsage(pub fn() -> (Duration, Duration));

impl PartialEq for ProcessUsage {
    /// Two configs are equal when they name the same hook.
    fn eq(&self, other: &ProcessUsage) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for ProcessUsage {}

/// How a `Server` treats its connections: limits, timeouts, protocols, authentication, and the
/// values STAT reports. `Config::default()` is memcached's defaults (with keel's read timeout);
/// the cache's own settings are `CacheConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Connections open at once; one more is refused (memcached `-c`, default 1024).
    pub max_connections: usize,
    /// A connection with no traffic for this long is closed; `None` keeps idle connections forever.
    pub idle_timeout: Option<Duration>,
    /// Output a connection may have pending before the core stops reading its requests; it resumes
    /// when the peer has taken the output below this bound. One response may overshoot it.
    pub output_limit: usize,
    /// The text VERSION answers. Clients parse it as memcached's version, so it names the memcached
    /// release keel matches; keel's own version is the `keel_version` statistic.
    pub version: String,
    /// The process id reported by STAT (the core cannot ask the OS).
    pub pid: u32,
    /// The verbosity level reported by STAT settings, changed by VERBOSITY.
    pub verbosity: u32,
    /// Which protocols connections may speak. With SASL on, connections are binary only, as in
    /// memcached.
    pub protocol: ProtocolMode,
    /// A connection holding part of a request for this long is closed, however long the idle
    /// timeout: a client cannot pin a connection by trickling bytes (slowloris). `None`: never.
    pub read_timeout: Option<Duration>,
    /// SASL PLAIN users (memcached `-S`); `None` leaves every connection authenticated.
    pub sasl: Option<Credentials>,
    /// A connection that has had this many requests answered in one go yields its turn
    /// (memcached's `-R`, 20 in memcached): the rest of its input waits for
    /// `Server::resume_yielded`, so a client pipelining without pause cannot starve the other
    /// connections of its event loop. `None`: never yield (one connection alone in a loop).
    pub reqs_per_event: Option<usize>,
    /// Whether the text `shutdown` command may stop the server (memcached `-A`).
    pub shutdown_enabled: bool,
    /// The TCP port asked for (memcached `-p`), as `stats settings` reports it (`tcpport`).
    pub tcp_port: u16,
    /// The listen addresses as given (memcached `-l`), reported as `inter`.
    pub listen: String,
    /// The listen backlog (memcached `-b`), reported as `tcp_backlog`.
    pub listen_backlog: i32,
    /// The Unix domain socket listened on (memcached `-s`), reported as `domain_socket`.
    pub domain_socket: Option<String>,
    /// The Unix socket's permission bits (memcached `-a`, default 0o700), reported as `umask`.
    pub unix_mask: u32,
    /// Text-protocol authentication (memcached `-Y`): every text connection must first send
    /// `set <any> <flags> <exptime> <bytes>` with `user password` as its data. It makes every
    /// connection text, whatever `protocol` says. `None` leaves connections authenticated.
    pub text_auth: Option<SharedCredentials>,
    /// The `-Y` file's path as given, reported as `auth_enabled_ascii` (memcached prints the
    /// path there, `no` without `-Y`).
    pub text_auth_file: Option<String>,
    /// The process's CPU time for STAT; `None` reports 0.000000 for both.
    pub process_usage: Option<ProcessUsage>,
    /// `stats cachedump` and `lru_crawler metadump` are allowed (memcached's `-X` turns them off).
    pub dump_enabled: bool,
    /// The TLS layer in front of the core (memcached `-Z`): its `stats` lines and
    /// `refresh_certs`. `None`: TLS is off.
    pub tls: Option<TlsHook>,
    /// memcached's `-e`, for `stats settings` (`memory_file`); the file itself is the embedder's.
    pub memory_file: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_connections: 1024,
            idle_timeout: Some(Duration::from_secs(300)),
            output_limit: 1 << 20,
            version: "1.6.18".to_owned(),
            pid: 0,
            verbosity: 0,
            protocol: ProtocolMode::Auto,
            read_timeout: Some(Duration::from_secs(30)),
            sasl: None,
            reqs_per_event: None,
            shutdown_enabled: false,
            tcp_port: 11211,
            listen: "127.0.0.1".to_owned(),
            listen_backlog: 1024,
            domain_socket: None,
            unix_mask: 0o700,
            text_auth: None,
            process_usage: None,
            dump_enabled: true,
            tls: None,
            memory_file: None,
            text_auth_file: None,
        }
    }
}
