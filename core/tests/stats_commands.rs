//! Statistics and operator commands through the pure core: memcached's order of the general
//! stats and the rusage hook's format, `stats reset` of the store's counters, `stats conns`
//! before pipelined answers, `lru_crawler metadump` streaming under backpressure, `shutdown`
//! with and without `Config::shutdown_enabled`, and `cache_memlimit` evicting when it shrinks.

mod support;

use std::time::Duration;

use keel_core::{CacheConfig, Config, ProcessUsage, ShutdownMode};
use support::Harness;

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("text replies")
}

fn call(h: &mut Harness, id: keel_core::ConnId, bytes: &[u8]) -> String {
    h.send(id, bytes);
    text(h.take_output(id))
}

fn stat<'a>(stats: &'a str, name: &str) -> &'a str {
    let prefix = format!("STAT {name} ");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

fn fake_usage() -> (Duration, Duration) {
    (Duration::from_millis(1500), Duration::from_micros(1))
}

#[test]
fn general_stats_in_memcached_order_with_rusage() {
    let config = Config {
        idle_timeout: None,
        pid: 42,
        process_usage: Some(ProcessUsage(fake_usage)),
        ..Config::default()
    };
    let mut h = Harness::with_config(config, CacheConfig::default());
    let id = h.accept();
    let stats = call(&mut h, id, b"stats\r\n");
    let names: Vec<&str> = stats.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(
        names[..10],
        [
            "pid",
            "uptime",
            "time",
            "version",
            "keel_version",
            "pointer_size",
            "rusage_user",
            "rusage_system",
            "max_connections",
            "curr_connections"
        ]
    );
    assert_eq!(stat(&stats, "rusage_user"), "1.500000");
    assert_eq!(stat(&stats, "rusage_system"), "0.000001");
    let position = |name: &str| names.iter().position(|n| *n == name).expect(name);
    // The server's and the cache's lines interleave as memcached prints them.
    assert!(position("store_no_memory") < position("auth_cmds"));
    assert!(position("bytes_written") < position("limit_maxbytes"));
    assert!(position("limit_maxbytes") < position("accepting_conns"));
    assert!(position("malloc_fails") < position("bytes"));
    assert_eq!(names.last(), Some(&"reclaimed"));
    assert_eq!(stat(&stats, "accepting_conns"), "1");
    assert_eq!(stat(&stats, "connection_structures"), "1");
    assert!(
        !names.contains(&"idle_kicks"),
        "no idle timeout, no idle_kicks"
    );
}

#[test]
fn reset_zeroes_the_store_counters_too() {
    let cache = CacheConfig {
        memory_limit: 2 << 20,
        ..CacheConfig::default()
    };
    let config = Config {
        idle_timeout: None,
        ..Config::default()
    };
    let mut h = Harness::with_config(config, cache);
    let id = h.accept();
    let value = vec![b'v'; 100 << 10];
    for i in 0..40 {
        let mut req = format!("set k{i} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        assert_eq!(call(&mut h, id, &req), "STORED\r\n");
    }
    let before = call(&mut h, id, b"stats\r\n");
    assert_ne!(stat(&before, "evictions"), "0");
    assert_eq!(stat(&before, "total_items"), "40");
    let items = call(&mut h, id, b"stats items\r\n");
    assert!(
        items.contains(":evicted ") && !items.contains(":evicted 0\r"),
        "{items}"
    );
    assert_eq!(call(&mut h, id, b"stats reset\r\n"), "RESET\r\n");
    let after = call(&mut h, id, b"stats\r\n");
    for name in [
        "evictions",
        "evicted_unfetched",
        "total_items",
        "reclaimed",
        "cmd_set",
    ] {
        assert_eq!(stat(&after, name), "0", "{name}");
    }
    assert_eq!(stat(&after, "curr_items"), stat(&before, "curr_items"));
    let items = call(&mut h, id, b"stats items\r\n");
    assert!(items.contains(":evicted 0\r\n"), "{items}");
    let slabs = call(&mut h, id, b"stats slabs\r\n");
    assert!(slabs.contains(":cmd_set 0\r\n"), "{slabs}");
}

#[test]
fn stats_conns_answers_before_what_was_pipelined_after_it() {
    let mut h = Harness::new();
    let other = h.accept();
    let id = h.accept();
    h.server
        .set_peer(id, "127.0.0.1:5000".parse().expect("an address"));
    h.server
        .set_peer(other, "[::1]:6000".parse().expect("an address"));
    call(&mut h, other, b"set partial 0 0 10\r\nabc");
    let reply = call(&mut h, id, b"stats conns\r\nversion\r\n");
    assert_eq!(
        reply,
        format!(
            "STAT {o}:addr tcp6:[::1]:6000\r\n\
             STAT {o}:state conn_read\r\nSTAT {o}:secs_since_last_cmd 0\r\n\
             STAT {i}:addr tcp:127.0.0.1:5000\r\nSTAT {i}:state conn_parse_cmd\r\n\
             STAT {i}:secs_since_last_cmd 0\r\nEND\r\nVERSION 1.6.18\r\n",
            o = other.index(),
            i = id.index()
        )
    );
}

#[test]
fn metadump_streams_under_backpressure() {
    const KEYS: usize = 20_000;
    const LIMIT: usize = 64 << 10;
    let config = Config {
        idle_timeout: None,
        output_limit: LIMIT,
        ..Config::default()
    };
    let mut h = Harness::with_config(config, CacheConfig::default());
    let loader = h.accept();
    let mut sets = Vec::new();
    for i in 0..KEYS {
        sets.extend_from_slice(format!("set key{i} 0 0 1 noreply\r\nx\r\n").as_bytes());
    }
    h.send(loader, &sets);
    let id = h.accept();
    h.auto_consume = false;
    h.send(id, b"lru_crawler metadump all\r\nget key7\r\n");
    // Paused at the bound (one batch of lines may overshoot it), not holding the whole dump.
    let pending = h.server.outbound(id).len();
    assert!(pending > LIMIT && pending < LIMIT + 16 * 100, "{pending}");
    // Another connection is served meanwhile.
    h.auto_consume = true;
    assert_eq!(
        call(&mut h, loader, b"get key1\r\n"),
        "VALUE key1 0 1\r\nx\r\nEND\r\n"
    );
    h.consume_all(id);
    let dump = text(h.take_output(id));
    let (lines, tail) = dump.split_at(dump.find("END\r\n").expect("END"));
    assert_eq!(tail, "END\r\nVALUE key7 0 1\r\nx\r\nEND\r\n");
    let mut keys: Vec<&str> = lines
        .lines()
        .map(|l| {
            let key = l.split(' ').next().expect("key field");
            key.strip_prefix("key=").expect("key=")
        })
        .collect();
    for line in lines.lines() {
        let key = line
            .split(' ')
            .next()
            .and_then(|k| k.strip_prefix("key="))
            .expect("key");
        // memcached's accounting size: 48 + key + 1 + value + 2 + 8; keel's chunk: a 24-byte
        // header, the key and the value, in the 32-byte class 1 or the 40-byte class 2.
        let size = 48 + key.len() + 1 + 1 + 2 + 8;
        let stored = 24 + key.len() + 1;
        let class = if stored <= 32 { 1 } else { 2 };
        assert!(
            line.ends_with(&format!(" cls={class} size={size}")),
            "{line}"
        );
    }
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), KEYS);
}

#[test]
fn shutdown_needs_the_setting() {
    let mut h = Harness::new();
    let id = h.accept();
    assert_eq!(
        call(&mut h, id, b"shutdown\r\n"),
        "ERROR: shutdown not enabled\r\n"
    );
    assert_eq!(h.server.shutdown_requested(), None);

    let config = Config {
        idle_timeout: None,
        shutdown_enabled: true,
        ..Config::default()
    };
    let mut h = Harness::with_config(config, CacheConfig::default());
    let id = h.accept();
    assert_eq!(
        call(&mut h, id, b"shutdown soon\r\n"),
        "CLIENT_ERROR invalid shutdown mode\r\n"
    );
    assert_eq!(call(&mut h, id, b"shutdown graceful\r\nversion\r\n"), "");
    assert!(h.closed.contains_key(&id));
    assert_eq!(h.server.shutdown_requested(), Some(ShutdownMode::Graceful));
}

#[test]
fn cache_memlimit_grows_and_shrinks() {
    let mut h = Harness::new();
    let id = h.accept();
    let value = vec![b'v'; 100 << 10];
    for i in 0..400 {
        let mut req = format!("set k{i} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        assert_eq!(call(&mut h, id, &req), "STORED\r\n");
    }
    assert_eq!(
        call(&mut h, id, b"cache_memlimit 7\r\n"),
        "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
    );
    assert_eq!(call(&mut h, id, b"cache_memlimit 8\r\n"), "OK\r\n");
    let stats = call(&mut h, id, b"stats\r\n");
    assert_eq!(stat(&stats, "limit_maxbytes"), (8 << 20).to_string());
    // 8 MiB holds 81 boxes of 100 KiB.
    let items: u64 = stat(&stats, "curr_items").parse().expect("n");
    assert!((1..=81).contains(&items), "{items}");
    let slabs = call(&mut h, id, b"stats slabs\r\n");
    let malloced: u64 = stat(&slabs, "total_malloced").parse().expect("n");
    assert!(malloced <= 8 << 20, "{malloced}");
    h.server.service().check_invariants();
    assert_eq!(call(&mut h, id, b"cache_memlimit 100 noreply\r\n"), "");
    let stats = call(&mut h, id, b"stats\r\n");
    assert_eq!(stat(&stats, "limit_maxbytes"), (100 << 20).to_string());
}
