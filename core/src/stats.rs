//! The server's own statistics (connections, traffic) and the general/settings STAT lines it owns.

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
    /// Times a connection gave up its turn after `reqs_per_event` requests (memcached's name).
    pub conn_yields: u64,
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
            conn_yields: self.conn_yields + other.conn_yields,
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
            conn_yields: self.conn_yields.saturating_sub(base.conn_yields),
        }
    }

    pub(crate) fn write_general(
        &self,
        threads: usize,
        config: &Config,
        started: Timestamp,
        now: Timestamp,
        sink: &mut dyn StatSink,
    ) {
        sink.stat("pid", &config.pid);
        sink.stat("uptime", &(now.as_secs().saturating_sub(started.as_secs())));
        sink.stat("time", &now.as_secs());
        sink.stat("version", &config.version);
        sink.stat("keel_version", &env!("CARGO_PKG_VERSION"));
        sink.stat("pointer_size", &(usize::BITS));
        sink.stat("max_connections", &config.max_connections);
        sink.stat("curr_connections", &self.curr_connections);
        sink.stat("total_connections", &self.total_connections);
        sink.stat("rejected_connections", &self.rejected_connections);
        sink.stat("bytes_read", &self.bytes_read);
        sink.stat("bytes_written", &self.bytes_written);
        sink.stat("auth_cmds", &self.auth_cmds);
        sink.stat("auth_errors", &self.auth_errors);
        sink.stat("threads", &threads);
        sink.stat("conn_yields", &self.conn_yields);
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
        sink.stat("domain_socket", &"NULL");
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
        // memcached's -Y (text-protocol tokens); keel has no such authentication.
        sink.stat("auth_enabled_ascii", &"no");
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
    }
}

/// memcached 1.6.18's `stats settings` keys in its order (from a running memcached). The server
/// and the service each write their own settings; `OrderedSettings` merges the two halves into
/// this order, so tools comparing the listing with memcached's see the same sequence.
const MEMCACHED_SETTINGS_ORDER: &[&str] = &[
    "maxbytes",
    "maxconns",
    "tcpport",
    "udpport",
    "inter",
    "verbosity",
    "oldest",
    "evictions",
    "domain_socket",
    "umask",
    "shutdown_command",
    "growth_factor",
    "chunk_size",
    "num_threads",
    "num_threads_per_udp",
    "stat_key_prefix",
    "detail_enabled",
    "reqs_per_event",
    "cas_enabled",
    "tcp_backlog",
    "binding_protocol",
    "auth_enabled_sasl",
    "auth_enabled_ascii",
    "item_size_max",
    "maxconns_fast",
    "hashpower_init",
    "slab_reassign",
    "slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_chunk_max",
    "lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "tail_repair_time",
    "flush_enabled",
    "dump_enabled",
    "hash_algorithm",
    "lru_maintainer_thread",
    "lru_segmented",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temp_lru",
    "temporary_ttl",
    "idle_timeout",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "read_buf_mem_limit",
    "track_sizes",
    "inline_ascii_response",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_wbuf_size",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "slab_automove_freeratio",
    "ext_drop_unread",
    "ssl_enabled",
    "ssl_chain_cert",
    "ssl_key",
    "ssl_verify_mode",
    "ssl_keyformat",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
    "num_napi_ids",
    "memory_file",
];

/// Collects `stats settings` lines from the server and the service, then writes them in
/// memcached's order; keys memcached does not have (keel's own) follow in the order written.
/// Only `stats settings` uses it, so the few allocations are off the request path.
#[derive(Default)]
pub(crate) struct OrderedSettings {
    lines: Vec<(usize, String, String)>,
}

impl StatSink for OrderedSettings {
    fn stat(&mut self, name: &str, value: &dyn std::fmt::Display) {
        let rank = MEMCACHED_SETTINGS_ORDER
            .iter()
            .position(|known| *known == name)
            .unwrap_or(MEMCACHED_SETTINGS_ORDER.len());
        self.lines.push((rank, name.to_owned(), value.to_string()));
    }
}

impl OrderedSettings {
    pub(crate) fn write_to(mut self, sink: &mut dyn StatSink) {
        // A stable sort keeps keel's own keys (all of one rank) in the order they were written.
        self.lines.sort_by_key(|(rank, _, _)| *rank);
        for (_, name, value) in &self.lines {
            sink.stat(name, value);
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
        let mut ordered = OrderedSettings::default();
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
        ordered.write_to(&mut lines);
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
                "idle_timeout 300",
                "memory_file (null)",
                "read_timeout 30",
            ]
        );
    }
}
