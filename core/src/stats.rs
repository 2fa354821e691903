//! The server's own statistics (connections, traffic) and the general/settings STAT lines it owns.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::service::StatSink;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub curr_connections: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub auth_cmds: u64,
    pub auth_errors: u64,
    /// `me` commands: memcached 1.6 counts only those as `cmd_meta`.
    pub cmd_meta: u64,
    /// Connections closed by the idle timeout.
    pub idle_kicks: u64,
    /// Times the driver stopped accepting (out of descriptors), and for how long in total.
    pub listen_disabled_num: u64,
    pub time_in_listen_disabled_us: u64,
    /// Times a connection gave up its turn with input left (the driver's per-turn read budget).
    pub conn_yields: u64,
}

/// What the general STAT group needs to know besides the counters.
pub(crate) struct GeneralContext<'c> {
    pub(crate) config: &'c Config,
    pub(crate) started: Timestamp,
    pub(crate) now: Timestamp,
    /// Connection slots ever allocated (memcached's `connection_structures`).
    pub(crate) connection_structures: usize,
    /// New connections are taken (not shutting down, accepting not paused).
    pub(crate) accepting: bool,
}

/// A `Duration` as memcached prints rusage: seconds, a dot, six digits of microseconds.
struct TimeVal(Duration);

impl fmt::Display for TimeVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0.as_secs(), self.0.subsec_micros())
    }
}

impl ServerStats {
    /// STAT reset zeroes the counters; gauges such as curr_connections stay.
    pub(crate) fn reset(&mut self) {
        *self = ServerStats {
            curr_connections: self.curr_connections,
            ..ServerStats::default()
        };
    }

    /// The server's general lines; the caller puts them in memcached's order with the service's.
    pub(crate) fn write_general(&self, cx: &GeneralContext<'_>, sink: &mut dyn StatSink) {
        let config = cx.config;
        sink.stat("pid", &config.pid);
        let uptime = cx.now.as_secs().saturating_sub(cx.started.as_secs());
        sink.stat("uptime", &uptime);
        sink.stat("time", &cx.now.as_secs());
        sink.stat("version", &config.version);
        sink.stat("keel_version", &env!("CARGO_PKG_VERSION"));
        sink.stat("pointer_size", &(usize::BITS));
        let (user, system) = config
            .process_usage
            .map_or_else(|| (Duration::ZERO, Duration::ZERO), |usage| (usage.0)());
        sink.stat("rusage_user", &TimeVal(user));
        sink.stat("rusage_system", &TimeVal(system));
        sink.stat("max_connections", &config.max_connections);
        sink.stat("curr_connections", &self.curr_connections);
        sink.stat("total_connections", &self.total_connections);
        sink.stat("rejected_connections", &self.rejected_connections);
        sink.stat("connection_structures", &cx.connection_structures);
        // keel keeps no descriptors in reserve: a refused connection is accepted and closed.
        sink.stat("reserved_fds", &0);
        sink.stat("cmd_meta", &self.cmd_meta);
        sink.stat("auth_cmds", &self.auth_cmds);
        sink.stat("auth_errors", &self.auth_errors);
        // memcached prints idle_kicks only when an idle timeout is set.
        if config.idle_timeout.is_some() {
            sink.stat("idle_kicks", &self.idle_kicks);
        }
        sink.stat("bytes_read", &self.bytes_read);
        sink.stat("bytes_written", &self.bytes_written);
        sink.stat("accepting_conns", &u8::from(cx.accepting));
        sink.stat("listen_disabled_num", &self.listen_disabled_num);
        sink.stat(
            "time_in_listen_disabled_us",
            &self.time_in_listen_disabled_us,
        );
        sink.stat("threads", &1);
        sink.stat("conn_yields", &self.conn_yields);
        // Rust aborts on allocation failure instead of reporting it, so none is ever counted.
        sink.stat("malloc_fails", &0);
    }

    pub(crate) fn write_settings(config: &Config, sink: &mut dyn StatSink) {
        sink.stat("maxconns", &config.max_connections);
        sink.stat("verbosity", &config.verbosity);
        sink.stat(
            "idle_timeout",
            &config.idle_timeout.map_or(0, |t| t.as_secs()),
        );
        sink.stat("domain_socket", &"NULL");
        sink.stat("sasl", &if config.sasl.is_some() { "yes" } else { "no" });
        sink.stat(
            "read_timeout",
            &config.read_timeout.map_or(0, |t| t.as_secs()),
        );
        sink.stat(
            "binding_protocol",
            &match config.protocol {
                crate::config::ProtocolMode::Auto => "auto-negotiate",
                crate::config::ProtocolMode::Binary => "binary",
                crate::config::ProtocolMode::Ascii => "ascii",
            },
        );
    }
}
