//! The server's own statistics (connections, traffic) and the general/settings STAT lines it owns.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::service::StatSink;
use crate::time::Timestamp;

/// The server's own counters (connections and traffic), as memcached's `stats` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Open connections now, a gauge (`curr_connections`).
    pub curr_connections: u64,
    /// Connections accepted since start (`total_connections`).
    pub total_connections: u64,
    /// Connections refused over the connection limit (`rejected_connections`).
    pub rejected_connections: u64,
    /// Bytes read from clients (`bytes_read`).
    pub bytes_read: u64,
    /// Bytes written to clients (`bytes_written`).
    pub bytes_written: u64,
    /// SASL authentication requests (`auth_cmds`).
    pub auth_cmds: u64,
    /// Failed SASL authentications (`auth_errors`).
    pub auth_errors: u64,
    /// `me` commands: memcached 1.6 counts only those as `cmd_meta`.
    pub cmd_meta: u64,
    /// Connections closed by the idle timeout.
    pub idle_kicks: u64,
    /// Times the driver stopped accepting (out of descriptors), and for how long in total.
    pub listen_disabled_num: u64,
    /// Microseconds spent with accepting stopped (`time_in_listen_disabled_us`).
    pub time_in_listen_disabled_us: u64,
    /// Times a connection gave up its turn after `reqs_per_event` requests (memcached's name).
    pub conn_yields: u64,
    /// Connection slots ever allocated (memcached's `connection_structures`), a gauge.
    pub connection_structures: u64,
}

/// What the general STAT group needs to know besides the counters.
pub(crate) struct GeneralContext<'c> {
    pub(crate) config: &'c Config,
    pub(crate) started: Timestamp,
    pub(crate) now: Timestamp,
    /// New connections are taken (not shutting down, accepting not paused).
    pub(crate) accepting: bool,
    /// Workers serving the cache (`-t`).
    pub(crate) threads: usize,
}

/// A `Duration` as memcached prints rusage: seconds, a dot, six digits of microseconds.
struct TimeVal(Duration);

impl fmt::Display for TimeVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0.as_secs(), self.0.subsec_micros())
    }
}

impl ServerStats {
    /// The field-by-field sum (several workers' counters).
    pub(crate) fn plus(&self, other: &ServerStats) -> ServerStats {
        ServerStats {
            curr_connections: self.curr_connections.wrapping_add(other.curr_connections),
            total_connections: self.total_connections + other.total_connections,
            rejected_connections: self.rejected_connections + other.rejected_connections,
            bytes_read: self.bytes_read + other.bytes_read,
            bytes_written: self.bytes_written + other.bytes_written,
            auth_cmds: self.auth_cmds + other.auth_cmds,
            auth_errors: self.auth_errors + other.auth_errors,
            cmd_meta: self.cmd_meta + other.cmd_meta,
            idle_kicks: self.idle_kicks + other.idle_kicks,
            listen_disabled_num: self.listen_disabled_num + other.listen_disabled_num,
            time_in_listen_disabled_us: self.time_in_listen_disabled_us
                + other.time_in_listen_disabled_us,
            conn_yields: self.conn_yields + other.conn_yields,
            connection_structures: self.connection_structures + other.connection_structures,
        }
    }

    /// The counters since `base` was taken (a STAT reset); gauges such as curr_connections stay.
    pub(crate) fn since(&self, base: &ServerStats) -> ServerStats {
        ServerStats {
            curr_connections: self.curr_connections,
            total_connections: self
                .total_connections
                .saturating_sub(base.total_connections),
            rejected_connections: self
                .rejected_connections
                .saturating_sub(base.rejected_connections),
            bytes_read: self.bytes_read.saturating_sub(base.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(base.bytes_written),
            auth_cmds: self.auth_cmds.saturating_sub(base.auth_cmds),
            auth_errors: self.auth_errors.saturating_sub(base.auth_errors),
            cmd_meta: self.cmd_meta.saturating_sub(base.cmd_meta),
            idle_kicks: self.idle_kicks.saturating_sub(base.idle_kicks),
            listen_disabled_num: self
                .listen_disabled_num
                .saturating_sub(base.listen_disabled_num),
            time_in_listen_disabled_us: self
                .time_in_listen_disabled_us
                .saturating_sub(base.time_in_listen_disabled_us),
            conn_yields: self.conn_yields.saturating_sub(base.conn_yields),
            connection_structures: self.connection_structures,
        }
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
        sink.stat("connection_structures", &self.connection_structures);
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
        if let Some(tls) = &config.tls {
            tls.0.write_stats(cx.now, sink);
        }
        sink.stat("threads", &cx.threads);
        sink.stat("conn_yields", &self.conn_yields);
        // Rust aborts on allocation failure instead of reporting it, so none is ever counted.
        sink.stat("malloc_fails", &0);
    }

    /// The server's half of `stats settings`, under memcached 1.6's names. `read_timeout` is
    /// keel's own (memcached has no such setting).
    pub(crate) fn write_settings(threads: usize, config: &Config, sink: &mut dyn StatSink) {
        let yes_no = |on: bool| if on { "yes" } else { "no" };
        sink.stat("maxconns", &config.max_connections);
        sink.stat("tcpport", &config.tcp_port);
        // UDP is never served (a nonzero -U is refused at startup).
        sink.stat("udpport", &0);
        sink.stat("inter", &config.listen);
        sink.stat("verbosity", &config.verbosity);
        sink.stat(
            "domain_socket",
            &config.domain_socket.as_deref().unwrap_or("NULL"),
        );
        sink.stat("umask", &format_args!("{:o}", config.unix_mask));
        sink.stat("shutdown_command", &yes_no(config.shutdown_enabled));
        sink.stat("num_threads", &threads);
        // 0: an embedder's server that never yields.
        sink.stat("reqs_per_event", &config.reqs_per_event.unwrap_or(0));
        sink.stat("tcp_backlog", &config.listen_backlog);
        sink.stat(
            "binding_protocol",
            &match config.protocol {
                crate::config::ProtocolMode::Auto => "auto-negotiate",
                crate::config::ProtocolMode::Binary => "binary",
                crate::config::ProtocolMode::Ascii => "ascii",
            },
        );
        sink.stat("auth_enabled_sasl", &yes_no(config.sasl.is_some()));
        sink.stat("dump_enabled", &yes_no(config.dump_enabled));
        // memcached's -Y: the token file's path, or "no".
        sink.stat(
            "auth_enabled_ascii",
            &config.text_auth_file.as_deref().unwrap_or("no"),
        );
        sink.stat(
            "idle_timeout",
            &config.idle_timeout.map_or(0, |t| t.as_secs()),
        );
        sink.stat(
            "read_timeout",
            &config.read_timeout.map_or(0, |t| t.as_secs()),
        );
        // memcached prints C's "(null)" without -e.
        sink.stat(
            "memory_file",
            &config.memory_file.as_deref().unwrap_or("(null)"),
        );
        match &config.tls {
            Some(tls) => tls.0.write_settings(sink),
            None => crate::tls::write_disabled_settings(sink),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lines(Vec<String>);

    impl StatSink for Lines {
        fn stat(&mut self, name: &str, value: &dyn std::fmt::Display) {
            self.0.push(format!("{name} {value}"));
        }
    }

    #[test]
    fn settings_come_in_memcacheds_order_with_keels_own_last() {
        let mut ordered = crate::stat_order::Ordered::new(crate::stat_order::SETTINGS);
        let config = Config {
            reqs_per_event: Some(20),
            ..Config::default()
        };
        ServerStats::write_settings(1, &config, &mut ordered);
        // The service's half, as the cache writes it.
        ordered.stat("maxbytes", &67108864);
        ordered.stat("evictions", &"on");
        ordered.stat("cas_enabled", &"yes");
        ordered.stat("item_size_max", &1048576);
        ordered.stat("flush_enabled", &"yes");
        let mut lines = Lines(Vec::new());
        ordered.finish(&mut lines);
        assert_eq!(
            lines.0,
            [
                "maxbytes 67108864",
                "maxconns 1024",
                "tcpport 11211",
                "udpport 0",
                "inter 127.0.0.1",
                "verbosity 0",
                "evictions on",
                "domain_socket NULL",
                "umask 700",
                "shutdown_command no",
                "num_threads 1",
                "reqs_per_event 20",
                "cas_enabled yes",
                "tcp_backlog 1024",
                "binding_protocol auto-negotiate",
                "auth_enabled_sasl no",
                "auth_enabled_ascii no",
                "item_size_max 1048576",
                "flush_enabled yes",
                "dump_enabled yes",
                "idle_timeout 300",
                "ssl_enabled no",
                "ssl_chain_cert (null)",
                "ssl_key (null)",
                "ssl_verify_mode 0",
                "ssl_keyformat 1",
                "ssl_ciphers NULL",
                "ssl_ca_cert NULL",
                "ssl_wbuf_size 16384",
                "ssl_session_cache no",
                "ssl_kernel_tls no",
                "ssl_min_version tlsv1.2",
                "memory_file (null)",
                "read_timeout 30",
            ]
        );
    }
}
