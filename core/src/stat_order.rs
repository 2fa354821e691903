//! memcached's order of the general and the settings STAT lines.
//!
//! The server and the service each write their own general statistics (and settings), but
//! memcached interleaves them (connection counts, then command counters, then `limit_maxbytes`,
//! listener state, and the item counts last). Tools key on names, yet people diff `stats` outputs
//! line by line, and some exporters compare settings listings, so the lines are gathered and put
//! back in memcached 1.6's order before they are written. Names the table does not know (a
//! service's own, keel's own) follow in the order they were written.

use std::fmt::{Display, Write as _};

use crate::service::StatSink;

/// memcached 1.6.18's general statistics in the order it prints them, keel's own beside the
/// memcached line they belong with (`keel_version` after `version`).
pub(crate) const GENERAL: &[&str] = &[
    "pid",
    "uptime",
    "time",
    "version",
    "keel_version",
    "libevent",
    "pointer_size",
    "rusage_user",
    "rusage_system",
    "max_connections",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "connection_structures",
    "response_obj_oom",
    "response_obj_count",
    "response_obj_bytes",
    "read_buf_count",
    "read_buf_bytes",
    "read_buf_bytes_free",
    "read_buf_oom",
    "reserved_fds",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "get_expired",
    "get_flushed",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "auth_cmds",
    "auth_errors",
    "idle_kicks",
    "bytes_read",
    "bytes_written",
    "limit_maxbytes",
    "accepting_conns",
    "listen_disabled_num",
    "time_in_listen_disabled_us",
    "threads",
    "conn_yields",
    "hash_power_level",
    "hash_bytes",
    "hash_is_expanding",
    "slab_reassign_rescues",
    "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem",
    "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items",
    "slab_reassign_busy_deletes",
    "slab_reassign_running",
    "slabs_moved",
    "lru_crawler_running",
    "lru_crawler_starts",
    "lru_maintainer_juggles",
    "malloc_fails",
    "log_worker_dropped",
    "log_worker_written",
    "log_watcher_skipped",
    "log_watcher_sent",
    "log_watchers",
    "unexpected_napi_ids",
    "round_robin_fallback",
    "bytes",
    "curr_items",
    "total_items",
    "slab_global_page_pool",
    "expired_unfetched",
    "evicted_unfetched",
    "evicted_active",
    "evictions",
    "reclaimed",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
    "lru_bumps_dropped",
];

/// memcached 1.6.18's `stats settings` keys in its order (from a running memcached).
pub(crate) const SETTINGS: &[&str] = &[
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

/// Gathers statistics, then writes them to the real sink in the order of a table (`GENERAL` or
/// `SETTINGS`). Only STAT requests use it, so its few allocations are off the request path.
pub(crate) struct Ordered {
    order: &'static [&'static str],
    lines: Vec<(usize, String, String)>,
}

impl Ordered {
    pub(crate) fn new(order: &'static [&'static str]) -> Ordered {
        Ordered {
            order,
            lines: Vec::new(),
        }
    }

    /// Writes the gathered lines, sorted by their place in memcached's list (stable, so unknown
    /// names keep the order they came in).
    pub(crate) fn finish(mut self, sink: &mut dyn StatSink) {
        self.lines.sort_by_key(|&(rank, ..)| rank);
        for (_, name, value) in &self.lines {
            sink.stat(name, value);
        }
    }
}

impl StatSink for Ordered {
    fn stat(&mut self, name: &str, value: &dyn Display) {
        let rank = self
            .order
            .iter()
            .position(|&known| known == name)
            .unwrap_or(self.order.len());
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = write!(text, "{value}");
        self.lines.push((rank, name.to_owned(), text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<String>);

    impl StatSink for Names {
        fn stat(&mut self, name: &str, _value: &dyn Display) {
            self.0.push(name.to_owned());
        }
    }

    #[test]
    fn memcached_order_then_unknown_in_arrival_order() {
        let mut ordered = Ordered::new(GENERAL);
        for name in ["curr_items", "zeta", "pid", "alpha", "cmd_get", "version"] {
            ordered.stat(name, &0);
        }
        let mut names = Names(Vec::new());
        ordered.finish(&mut names);
        assert_eq!(
            names.0,
            ["pid", "version", "cmd_get", "curr_items", "zeta", "alpha"]
        );
    }
}
