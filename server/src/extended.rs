//! memcached's `-o` extended options: a comma-separated list of `name` or `name=value`, the flag
//! given any number of times. Options with a meaning for keel are applied; memcached's other
//! options (slab, LRU, hash, logger and extstore tuning, which keel's store has no counterpart
//! for) are accepted and named once in the startup log; TLS options are kept for `-Z` (parsed
//! into keel-transport's settings by `tls`); anything else is memcached's one-line error.

/// One `-o` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extended {
    /// `idle_timeout=SECS`: the same setting as `--idle-timeout` (0: never).
    IdleTimeout(u64),
    /// `modern`: memcached's future defaults. memcached 1.6.18 changes nothing for it; nor does
    /// keel.
    Modern,
    /// A memcached option with no counterpart in keel, as written (`slab_chunk_max=524288`).
    NoMeaning(String),
    /// A TLS option (`ssl_*`), as written.
    Tls(String),
}

/// memcached 1.6.18's `-o` names that keel accepts and ignores: its getsubopt table and the
/// extstore options (Debian's build has extstore), less those listed separately here.
const NO_MEANING: &[&str] = &[
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "no_hashexpand",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_automove_freeratio",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "slab_sizes",
    "slab_chunk_max",
    "no_chunked_items",
    "track_sizes",
    "inline_ascii_resp",
    "no_inline_ascii_resp",
    "no_modern",
    "drop_privileges",
    "no_drop_privileges",
    "resp_obj_mem_limit",
    "read_buf_mem_limit",
    "sock_cookie_id",
    "ext_path",
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
];

/// memcached 1.6.18's TLS options (built with TLS, as Debian's is).
const TLS: &[&str] = &[
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
];

/// One `-o` argument, as clap's value parser: every item, or the first bad one's message.
pub(crate) fn parse(text: &str) -> Result<Vec<Extended>, String> {
    text.split(',')
        .filter(|item| !item.is_empty())
        .map(parse_item)
        .collect()
}

fn parse_item(item: &str) -> Result<Extended, String> {
    let (name, value) = match item.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (item, None),
    };
    match name {
        "idle_timeout" => {
            let value = value.ok_or("Missing numeric argument for idle_timeout")?;
            value
                .parse()
                .map(Extended::IdleTimeout)
                .map_err(|_| "could not parse argument to idle_timeout".to_owned())
        }
        "modern" => Ok(Extended::Modern),
        _ if NO_MEANING.contains(&name) => Ok(Extended::NoMeaning(item.to_owned())),
        _ if TLS.contains(&name) => Ok(Extended::Tls(item.to_owned())),
        _ => Err(format!("Illegal suboption \"{name}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meaningful_ignored_and_tls_options() {
        assert_eq!(
            parse("modern,idle_timeout=5,slab_chunk_max=524288,no_modern,ssl_key=k.pem"),
            Ok(vec![
                Extended::Modern,
                Extended::IdleTimeout(5),
                Extended::NoMeaning("slab_chunk_max=524288".to_owned()),
                Extended::NoMeaning("no_modern".to_owned()),
                Extended::Tls("ssl_key=k.pem".to_owned()),
            ])
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("modern,"), Ok(vec![Extended::Modern]));
    }

    #[test]
    fn unknown_and_malformed_options_are_refused_by_name() {
        assert_eq!(
            parse("modern,bogus=1,lru_crawler"),
            Err("Illegal suboption \"bogus\"".to_owned())
        );
        assert_eq!(
            parse("proxy_config=x"),
            Err("Illegal suboption \"proxy_config\"".to_owned())
        );
        assert_eq!(
            parse("idle_timeout"),
            Err("Missing numeric argument for idle_timeout".to_owned())
        );
        assert_eq!(
            parse("idle_timeout=soon"),
            Err("could not parse argument to idle_timeout".to_owned())
        );
    }
}
