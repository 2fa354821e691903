//! The server's own statistics (connections, traffic) and the general/settings STAT lines it owns.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::service::StatSink;
use crate::time::Timestamp;

/// Declares the server's statistics once: the public `ServerStats` (one field each), the
/// `Counter` that names each for a worker's slot, and the field-by-field arithmetic (sums over
/// workers, differences from a `stats reset` baseline). A `gauge` is a level, not a count: a
/// reset leaves it as it is.
macro_rules! server_stats {
    ($( $(#[$doc:meta])* $field:ident / $variant:ident : $kind:ident, )+) => {
        /// The server's own counters (connections and traffic), as memcached's `stats` names them.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ServerStats {
            $( $(#[$doc])* pub $field: u64, )+
        }

        /// Which counter of a worker's slot to change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Counter {
            $( $variant, )+
        }

        impl Counter {
            /// Every counter, in declaration order (`Counter as usize` indexes this).
            pub(crate) const ALL: &[Counter] = &[$( Counter::$variant, )+];

            /// A level rather than a count (`stats reset` keeps it).
            const fn is_gauge(self) -> bool {
                match self {
                    $( Counter::$variant => server_stats!(@gauge $kind), )+
                }
            }
        }

        impl ServerStats {
            /// Builds the stats from a value per counter.
            pub(crate) fn from_fn(mut value: impl FnMut(Counter) -> u64) -> ServerStats {
                ServerStats {
                    $( $field: value(Counter::$variant), )+
                }
            }

            /// The value of one counter.
            pub(crate) fn get(&self, counter: Counter) -> u64 {
                match counter {
                    $( Counter::$variant => self.$field, )+
                }
            }
        }
    };
    (@gauge gauge) => { true };
    (@gauge counter) => { false };
}

server_stats! {
    /// Open connections now, a gauge (`curr_connections`).
    curr_connections / CurrConnections: gauge,
    /// Connections accepted since start (`total_connections`).
    total_connections / TotalConnections: counter,
    /// Connections refused over the connection limit (`rejected_connections`).
    rejected_connections / RejectedConnections: counter,
    /// Bytes read from clients (`bytes_read`).
    bytes_read / BytesRead: counter,
    /// Bytes written to clients (`bytes_written`).
    bytes_written / BytesWritten: counter,
    /// SASL authentication requests (`auth_cmds`).
    auth_cmds / AuthCmds: counter,
    /// Failed SASL authentications (`auth_errors`).
    auth_errors / AuthErrors: counter,
    /// `me` commands: memcached 1.6 counts only those as `cmd_meta`.
    cmd_meta / CmdMeta: counter,
    /// Connections closed by the idle timeout.
    idle_kicks / IdleKicks: counter,
    /// Times the driver stopped accepting (out of descriptors).
    listen_disabled_num / ListenDisabledNum: counter,
    /// Microseconds spent with accepting stopped (`time_in_listen_disabled_us`).
    time_in_listen_disabled_us / TimeInListenDisabledUs: counter,
    /// Times a connection gave up its turn after `reqs_per_event` requests (memcached's name).
    conn_yields / ConnYields: counter,
    /// Connection slots ever allocated (memcached's `connection_structures`), a gauge.
    connection_structures / ConnectionStructures: gauge,
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
    /// The field-by-field sum (several workers' counters). Wrapping: a worker's open-connection
    /// gauge goes down by adding its negation.
    pub(crate) fn plus(&self, other: &ServerStats) -> ServerStats {
        ServerStats::from_fn(|c| self.get(c).wrapping_add(other.get(c)))
    }

    /// The counters since `base` was taken (a STAT reset); gauges such as curr_connections stay.
    pub(crate) fn since(&self, base: &ServerStats) -> ServerStats {
        ServerStats::from_fn(|c| {
            if c.is_gauge() {
                self.get(c)
            } else {
                self.get(c).saturating_sub(base.get(c))
            }
        })
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

    #[test]
    fn counters_index_their_own_field() {
        for (i, &c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c as usize, i);
            let one = ServerStats::from_fn(|other| u64::from(other == c));
            assert_eq!(one.get(c), 1);
            assert_eq!(Counter::ALL.iter().map(|&o| one.get(o)).sum::<u64>(), 1);
        }
    }

    #[test]
    fn sums_wrap_and_resets_keep_gauges() {
        let a = ServerStats {
            curr_connections: 3,
            total_connections: 10,
            connection_structures: 4,
            bytes_read: 100,
            ..ServerStats::default()
        };
        let b = ServerStats {
            curr_connections: u64::MAX, // one worker closed a connection more than it opened
            total_connections: 5,
            bytes_read: 50,
            ..ServerStats::default()
        };
        let sum = a.plus(&b);
        assert_eq!(
            (sum.curr_connections, sum.total_connections, sum.bytes_read),
            (2, 15, 150)
        );
        let since = sum.since(&a);
        assert_eq!(
            (since.curr_connections, since.connection_structures),
            (2, 4)
        );
        assert_eq!((since.total_connections, since.bytes_read), (5, 50));
        assert_eq!(a.since(&sum).total_connections, 0);
    }

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
