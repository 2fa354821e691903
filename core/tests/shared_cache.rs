//! Several workers over one `SharedCache`, checked against one server over a plain `Cache`.
//!
//! A seeded scheduler (proptest) interleaves requests from connections spread over 1 to 4 worker
//! `Server`s sharing one cache, at request granularity (the granularity real threads have: each
//! request runs in one critical section of its shard). The same requests in the same order go to
//! a single server over a plain `Cache` (itself checked against the reference model in
//! `model.rs` and `text_model.rs`). Every reply must match byte for byte, CAS values mapped one to
//! one; at the end the summed statistics must match too. The workers also yield after a few
//! requests (`reqs_per_event`), so pipelined batches cross turns without changing a byte.

use std::collections::HashMap;

use keel_core::{
    Cache, CacheConfig, Config, ConnId, Output, Server, Service, SharedCache, Timestamp,
    WorkerGroup,
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;
const KEYS: [&str; 6] = ["a", "bb", "key:3", "k4", "counter", "z"];

/// One server or several over one service, with connections spread round robin.
struct System<S> {
    servers: Vec<Server<S>>,
    conns: Vec<(usize, ConnId)>,
    now: Timestamp,
    /// The last CAS each key showed on this system (from `gets`).
    cas: HashMap<String, u64>,
    /// This system's CAS values in order of first appearance.
    cas_order: HashMap<u64, usize>,
}

impl<S: Service> System<S> {
    fn new(services: Vec<S>, conns: usize, config: Config) -> System<S> {
        let now = Timestamp::from_millis(T0);
        let group = WorkerGroup::new(services.len());
        let mut servers: Vec<Server<S>> = services
            .into_iter()
            .enumerate()
            .map(|(i, s)| Server::in_group(config.clone(), s, now, group.clone(), i))
            .collect();
        let count = servers.len();
        let conns = (0..conns)
            .map(|i| {
                let worker = i % count;
                (
                    worker,
                    servers[worker].accept(now).expect("under the limit"),
                )
            })
            .collect();
        System {
            servers,
            conns,
            now,
            cas: HashMap::new(),
            cas_order: HashMap::new(),
        }
    }

    /// Sends `bytes` on connection `conn` and returns everything it answered, giving yielded
    /// connections their turns until none is left.
    fn send(&mut self, conn: usize, bytes: &[u8]) -> Vec<u8> {
        let (worker, id) = self.conns[conn];
        let now = self.now;
        let server = &mut self.servers[worker];
        server.handle_input(id, now, bytes);
        let mut out = Vec::new();
        loop {
            while let Some(output) = server.poll_output() {
                if let Output::Transmit(t) = output {
                    assert_eq!(t, id, "only the sending connection has output");
                }
            }
            let pending = server.outbound(id).to_vec();
            if !pending.is_empty() {
                server.consume_outbound(id, pending.len(), now);
                out.extend_from_slice(&pending);
                continue;
            }
            if !server.has_yielded() {
                return out;
            }
            server.resume_yielded(now, |_| {});
        }
    }

    fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.saturating_add_millis(secs * 1000);
    }

    /// The reply with every CAS replaced by its order of first appearance on this system, and
    /// the keys' latest CAS remembered.
    fn normalise(&mut self, reply: &[u8]) -> String {
        let text = String::from_utf8_lossy(reply).into_owned();
        let mut lines = Vec::new();
        for line in text.split("\r\n") {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts.len() == 5 && parts[0] == "VALUE" {
                let cas: u64 = parts[4].parse().expect("a CAS number");
                self.cas.insert(parts[1].to_owned(), cas);
                let next = self.cas_order.len();
                let order = *self.cas_order.entry(cas).or_insert(next);
                lines.push(format!(
                    "VALUE {} {} {} #{order}",
                    parts[1], parts[2], parts[3]
                ));
            } else if parts.first() == Some(&"ME") {
                // `me` shows the CAS as `cas=N`.
                let mapped: Vec<String> = parts
                    .iter()
                    .map(|part| match part.strip_prefix("cas=") {
                        Some(cas) => {
                            let cas: u64 = cas.parse().expect("a CAS number");
                            let next = self.cas_order.len();
                            format!("cas=#{}", self.cas_order.entry(cas).or_insert(next))
                        }
                        None => (*part).to_owned(),
                    })
                    .collect();
                lines.push(mapped.join(" "));
            } else {
                lines.push(line.to_owned());
            }
        }
        lines.join("\r\n")
    }

    fn stat(&mut self, name: &str) -> String {
        let reply = self.send(0, b"stats\r\n");
        let text = String::from_utf8(reply).expect("stats are text");
        let prefix = format!("STAT {name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no stat {name}"))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Set(usize, String, u32),
    Add(usize, String),
    Replace(usize, String),
    Append(usize, String),
    Prepend(usize, String),
    Cas {
        key: usize,
        value: String,
        stale: bool,
    },
    Get(Vec<usize>),
    Gets(Vec<usize>),
    Delete(usize),
    Incr(usize, u64),
    Decr(usize, u64),
    Touch(usize, u32),
    MetaGet(usize),
    MetaSet(usize, String),
    MetaArith(usize),
    FlushAll(Option<u32>),
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let value = prop_oneof!["[a-z]{0,12}", "[0-9]{1,5}"];
    prop_oneof![
        6 => (key.clone(), value.clone(), prop_oneof![Just(0u32), 1..5u32])
            .prop_map(|(k, v, e)| Op::Set(k, v, e)),
        2 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Add(k, v)),
        2 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Replace(k, v)),
        1 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Append(k, v)),
        1 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Prepend(k, v)),
        3 => (key.clone(), value.clone(), any::<bool>())
            .prop_map(|(key, value, stale)| Op::Cas { key, value, stale }),
        5 => prop::collection::vec(key.clone(), 1..4).prop_map(Op::Get),
        3 => prop::collection::vec(key.clone(), 1..4).prop_map(Op::Gets),
        2 => key.clone().prop_map(Op::Delete),
        3 => (key.clone(), 0..1000u64).prop_map(|(k, d)| Op::Incr(k, d)),
        2 => (key.clone(), 0..1000u64).prop_map(|(k, d)| Op::Decr(k, d)),
        1 => (key.clone(), 0..4u32).prop_map(|(k, e)| Op::Touch(k, e)),
        2 => key.clone().prop_map(Op::MetaGet),
        2 => (key.clone(), value).prop_map(|(k, v)| Op::MetaSet(k, v)),
        1 => key.prop_map(Op::MetaArith),
        1 => prop_oneof![Just(None), Just(Some(0u32)), (1..3u32).prop_map(Some)]
            .prop_map(Op::FlushAll),
        1 => (0..3u64).prop_map(Op::Tick),
    ]
}

/// The request bytes of `op` for a system (a CAS store uses that system's CAS for the key).
fn request<S>(op: &Op, system: &System<S>) -> Vec<u8> {
    let k = |i: &usize| KEYS[*i];
    let keys = |ks: &[usize]| ks.iter().map(k).collect::<Vec<_>>().join(" ");
    match op {
        Op::Set(key, v, e) => format!("set {} 5 {e} {}\r\n{v}\r\n", k(key), v.len()),
        Op::Add(key, v) => format!("add {} 0 0 {}\r\n{v}\r\n", k(key), v.len()),
        Op::Replace(key, v) => format!("replace {} 0 0 {}\r\n{v}\r\n", k(key), v.len()),
        Op::Append(key, v) => format!("append {} 0 0 {}\r\n{v}\r\n", k(key), v.len()),
        Op::Prepend(key, v) => format!("prepend {} 0 0 {}\r\n{v}\r\n", k(key), v.len()),
        Op::Cas { key, value, stale } => {
            let known = system.cas.get(k(key)).copied().unwrap_or(999_999_999);
            let cas = if *stale { known + 1_000_000 } else { known };
            format!("cas {} 0 0 {} {cas}\r\n{value}\r\n", k(key), value.len())
        }
        Op::Get(ks) => format!("get {}\r\n", keys(ks)),
        Op::Gets(ks) => format!("gets {}\r\n", keys(ks)),
        Op::Delete(key) => format!("delete {}\r\n", k(key)),
        Op::Incr(key, d) => format!("incr {} {d}\r\n", k(key)),
        Op::Decr(key, d) => format!("decr {} {d}\r\n", k(key)),
        Op::Touch(key, e) => format!("touch {} {e}\r\n", k(key)),
        Op::MetaGet(key) => format!("mg {} v f t s\r\nme {}\r\n", k(key), k(key)),
        Op::MetaSet(key, v) => format!("ms {} {} F3 T0\r\n{v}\r\n", k(key), v.len()),
        Op::MetaArith(key) => format!("ma {} N0 J7 D2 v\r\n", k(key)),
        Op::FlushAll(None) => "flush_all\r\n".to_owned(),
        Op::FlushAll(Some(d)) => format!("flush_all {d}\r\n"),
        Op::Tick(_) => String::new(),
    }
    .into_bytes()
}

fn cache_config() -> CacheConfig {
    CacheConfig {
        memory_limit: 64 << 20,
        ..CacheConfig::default()
    }
}

/// Runs the schedule on `workers` workers over a shared cache and on one plain server; panics at
/// the first difference.
fn check(workers: usize, shards: usize, conns: usize, steps: &[(usize, Vec<Op>)]) {
    let shared = SharedCache::new(cache_config(), shards);
    let services = (0..workers).map(|_| shared.clone()).collect();
    let yielding = Config {
        reqs_per_event: Some(2),
        ..Config::default()
    };
    let mut many = System::new(services, conns, yielding);
    let mut one = System::new(vec![Cache::new(cache_config())], conns, Config::default());
    for (step, (conn, batch)) in steps.iter().enumerate() {
        let conn = conn % conns;
        let mut bytes_many = Vec::new();
        let mut bytes_one = Vec::new();
        for op in batch {
            if let Op::Tick(secs) = op {
                many.advance_secs(*secs);
                one.advance_secs(*secs);
            }
            bytes_many.extend(request(op, &many));
            bytes_one.extend(request(op, &one));
        }
        let reply_many = many.send(conn, &bytes_many);
        let reply_one = one.send(conn, &bytes_one);
        let (a, b) = (many.normalise(&reply_many), one.normalise(&reply_one));
        assert_eq!(a, b, "step {step}: connection {conn} sent {batch:?}");
    }
    shared.check_invariants();
    for name in [
        "curr_items",
        "total_items",
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "get_hits",
        "get_misses",
        "cas_hits",
        "cas_badval",
        "cas_misses",
        "incr_hits",
        "decr_misses",
        "delete_hits",
        "touch_hits",
        "bytes",
        "curr_connections",
        "total_connections",
    ] {
        // Not the byte counts: CAS requests carry each system's own numbers, and earlier `stats`
        // replies differ (`threads`, `conn_yields`).
        assert_eq!(many.stat(name), one.stat(name), "stat {name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn workers_over_a_shared_cache_answer_as_one_server(
        workers in 1..=4usize,
        shards in prop_oneof![Just(1usize), Just(2), Just(8)],
        conns in 1..=6usize,
        steps in prop::collection::vec((0..6usize, prop::collection::vec(op(), 1..5)), 1..60),
    ) {
        check(workers, shards, conns, &steps);
    }
}

#[test]
fn cas_values_are_unique_across_shards() {
    let mut cache = SharedCache::new(cache_config(), 8);
    let mut seen = std::collections::HashSet::new();
    let now = Timestamp::from_millis(T0);
    for i in 0..2_000 {
        let key = format!("key{i}");
        let command = keel_core::protocol::Command::set(key.as_bytes(), b"v");
        match cache.execute(&command, now) {
            keel_core::Outcome::Done { cas } => assert!(seen.insert(cas), "CAS {cas} twice"),
            other => panic!("set failed: {other:?}"),
        }
    }
}

#[test]
fn the_memory_limit_holds_across_shards_with_eviction() {
    // 4 MiB over 8 shards: a shard that owns nothing must take memory from the others.
    let config = CacheConfig {
        memory_limit: 4 << 20,
        ..CacheConfig::default()
    };
    let mut cache = SharedCache::new(config, 8);
    let now = Timestamp::from_millis(T0);
    let value = vec![7u8; 300 << 10];
    let small = vec![1u8; 100];
    for i in 0..400 {
        let key = format!("key{i}");
        // Large items and small ones in turn, so pages and boxes trade places between shards.
        let v: &[u8] = if i % 3 == 0 { &value } else { &small };
        let command = keel_core::protocol::Command::set(key.as_bytes(), v);
        let outcome = cache.execute(&command, now);
        assert!(
            matches!(outcome, keel_core::Outcome::Done { .. }),
            "set {i} failed: {outcome:?}"
        );
        assert!(cache.budget().used() <= 4 << 20);
    }
    cache.check_invariants();
    let stats = cache.store_stats();
    assert!(stats.evictions > 0, "the limit forced evictions");
    assert!(stats.memory_used <= 4 << 20);
}
