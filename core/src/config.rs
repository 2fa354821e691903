//! Server-wide settings (the seed's `ConnectionManagerConfig` plus what memcached's flags set).

use std::time::Duration;

use crate::auth::Credentials;
use crate::text_auth::SharedCredentials;

/// Which protocols a connection may speak (memcached `-B`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtocolMode {
    /// The first byte decides: 0x80 makes the connection binary, anything else text.
    #[default]
    Auto,
    Binary,
    Ascii,
}

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
    /// Text-protocol authentication (memcached `-Y`): every text connection must first send
    /// `set <any> <flags> <exptime> <bytes>` with `user password` as its data. It makes every
    /// connection text, whatever `protocol` says. `None` leaves connections authenticated.
    pub text_auth: Option<SharedCredentials>,
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
            text_auth: None,
            memory_file: None,
        }
    }
}
