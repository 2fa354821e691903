//! A custom `Service`: a read-through cache in front of a slow backing store. keel-core handles
//! the protocols (text, meta and binary, pipelining, limits, statistics) and asks the `Service`
//! for every data command; this one fills the cache from the store on a read miss, so memcached
//! clients see the store's rows without ever writing them.
//!
//! `ReadThrough` wraps the built-in `Cache` and adds one step before each read (`get`, `gat`,
//! `mg` and their binary forms): when the key is not cached it loads the row from the store and
//! adds it with a TTL, then lets the cache answer as usual. Everything else goes to the cache
//! unchanged: a `set` changes the cached copy only (the store stays the source of truth), and a
//! `delete` invalidates the copy, so the next read loads the row again. A row the store does not
//! have is not cached, so every read of it asks the store again.
//!
//! `Service` calls are synchronous and run on the event loop's thread, so a store that blocks
//! (here: a sleep standing in for a database query) stalls every connection of that loop while it
//! loads; the read-through pays that only on a miss. A store reached over the network would rather
//! be loaded ahead of time or behind its own thread.
//!
//! Run with `cargo run -p keel-core --example read_through`; `cargo test -p keel-core --example
//! read_through` runs its test.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use keel_core::protocol::{Command, Status, StoreMode};
use keel_core::{
    Cache, CacheConfig, Config, ConnId, Outcome, Output, Server, Service, StatGroup, StatSink,
    Timestamp,
};

/// The backing store: rows in a map, each load paying `delay`.
struct SlowStore {
    rows: HashMap<Vec<u8>, Vec<u8>>,
    delay: Duration,
    loads: u64,
}

impl SlowStore {
    fn load(&mut self, key: &[u8]) -> Option<&[u8]> {
        self.loads += 1;
        std::thread::sleep(self.delay);
        self.rows.get(key).map(Vec::as_slice)
    }
}

/// The built-in cache with misses filled from `store`.
struct ReadThrough {
    cache: Cache,
    store: SlowStore,
    /// Seconds a loaded row stays cached before the store is asked again.
    ttl: u32,
}

impl ReadThrough {
    /// Loads `key` from the store into the cache unless it is cached already.
    fn fill(&mut self, key: &[u8], now: Timestamp) {
        // `me` reads an item without touching it or counting it, so the probe leaves the hit and
        // miss statistics to the real command below.
        let probe = Command::MetaDebug { key };
        if !matches!(
            self.cache.execute(&probe, now),
            Outcome::Failed(Status::KeyNotFound)
        ) {
            return;
        }
        let Some(value) = self.store.load(key) else {
            return;
        };
        if !self.cache.admits(key.len(), value.len(), 0) {
            return;
        }
        // ADD: a client's own SET since the probe wins. The fill counts as a set in STAT.
        let add = Command::Store {
            mode: StoreMode::Add,
            key,
            flags: 0,
            exptime: self.ttl,
            cas: 0,
            value,
            quiet: false,
        };
        self.cache.execute(&add, now);
    }
}

/// The key of a command that reads an item, if it is one.
fn read_key<'c>(command: &Command<'c>) -> Option<&'c [u8]> {
    match *command {
        Command::Get { key, .. }
        | Command::GetAndTouch { key, .. }
        | Command::MetaGet { key, .. } => Some(key),
        _ => None,
    }
}

impl Service for ReadThrough {
    fn execute(&mut self, command: &Command<'_>, now: Timestamp) -> Outcome<'_> {
        if let Some(key) = read_key(command) {
            self.fill(key, now);
        }
        self.cache.execute(command, now)
    }

    fn admits(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        self.cache.admits(key_len, value_len, flags)
    }

    fn reject_too_large(&mut self, mode: StoreMode, key: &[u8], now: Timestamp) -> Outcome<'_> {
        self.cache.reject_too_large(mode, key, now)
    }

    fn stats(&self, group: StatGroup, now: Timestamp, sink: &mut dyn StatSink) {
        Service::stats(&self.cache, group, now, sink);
        if group == StatGroup::General {
            sink.stat("backing_store_loads", &self.store.loads);
        }
    }

    fn reset_stats(&mut self) {
        self.cache.reset_stats();
    }
}

/// One connection to a `Server` over an in-memory stream: what a driver's socket would do.
struct Session {
    server: Server<ReadThrough>,
    conn: ConnId,
    now: Timestamp,
}

impl Session {
    fn new(service: ReadThrough) -> Session {
        let now = Timestamp::from_secs(1_700_000_000);
        let mut server = Server::new(Config::default(), service, now);
        let Ok(conn) = server.accept(now) else {
            unreachable!("a new server is below its connection limit");
        };
        Session { server, conn, now }
    }

    /// Sends `request` and returns every byte the server answered.
    fn send(&mut self, request: &str) -> String {
        self.server
            .handle_input(self.conn, self.now, request.as_bytes());
        let mut reply = Vec::new();
        while let Some(output) = self.server.poll_output() {
            if let Output::Transmit(id) = output {
                let bytes = self.server.outbound(id);
                let n = bytes.len();
                reply.extend_from_slice(bytes);
                self.server.consume_outbound(id, n, self.now);
            }
        }
        String::from_utf8_lossy(&reply).into_owned()
    }

    fn loads(&self) -> u64 {
        self.server.service().store.loads
    }
}

fn service(delay: Duration) -> ReadThrough {
    let rows = [("user:1", "alice"), ("user:2", "bob")];
    ReadThrough {
        cache: Cache::new(CacheConfig::default()),
        store: SlowStore {
            rows: rows
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            delay,
            loads: 0,
        },
        ttl: 60,
    }
}

/// Builds a line of the walk-through: the request, how long it took, the store's load count, the
/// reply.
fn show(session: &mut Session, request: &str) -> String {
    let start = Instant::now();
    let reply = session.send(request);
    format!(
        "{:<30} {:>5.1} ms  loads={}  {:?}",
        format!("{request:?}"),
        start.elapsed().as_secs_f64() * 1000.0,
        session.loads(),
        reply
    )
}

fn main() {
    let mut session = Session::new(service(Duration::from_millis(50)));
    for request in [
        "get user:1\r\n",              // a miss: loaded from the store (slow)
        "get user:1\r\n",              // a hit: the cache answers
        "get user:3\r\n",              // not in the store either: END, and not cached
        "set user:2 0 0 3\r\nBOB\r\n", // the cache's copy only
        "get user:2\r\n",              // the client's copy, no load
        "delete user:2\r\n",           // invalidate
        "mg user:2 v\r\n",             // the meta protocol reads through too: the store's row
    ] {
        println!("{}", show(&mut session, request));
    }
    // After the TTL the cached copy expires and the next read loads the row again.
    session.now = session.now.saturating_add_secs(61);
    println!("(61 s later)");
    println!("{}", show(&mut session, "get user:1\r\n"));
    let stats = session.send("stats\r\n");
    for line in stats.lines().filter(|l| {
        ["get_hits", "get_misses", "cmd_set", "backing_store_loads"]
            .iter()
            .any(|name| l.starts_with(&format!("STAT {name} ")))
    }) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(session: &mut Session, name: &str) -> String {
        let stats = session.send("stats\r\n");
        let prefix = format!("STAT {name} ");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
            .to_owned()
    }

    #[test]
    fn misses_load_from_the_store_once() {
        let mut s = Session::new(service(Duration::ZERO));
        assert_eq!(
            s.send("get user:1\r\n"),
            "VALUE user:1 0 5\r\nalice\r\nEND\r\n"
        );
        assert_eq!(s.loads(), 1);
        assert_eq!(
            s.send("get user:1\r\n"),
            "VALUE user:1 0 5\r\nalice\r\nEND\r\n"
        );
        assert_eq!(s.loads(), 1, "the second read is a cache hit");
        // A row the store lacks is asked for on every read.
        assert_eq!(s.send("get user:3\r\nget user:3\r\n"), "END\r\nEND\r\n");
        assert_eq!(s.loads(), 3);
        assert_eq!(stat(&mut s, "get_hits"), "2");
        assert_eq!(stat(&mut s, "get_misses"), "2");
        assert_eq!(stat(&mut s, "backing_store_loads"), "3");
    }

    #[test]
    fn writes_change_the_cache_and_delete_invalidates() {
        let mut s = Session::new(service(Duration::ZERO));
        assert_eq!(s.send("set user:2 0 0 3\r\nBOB\r\n"), "STORED\r\n");
        assert_eq!(
            s.send("get user:2\r\n"),
            "VALUE user:2 0 3\r\nBOB\r\nEND\r\n"
        );
        assert_eq!(s.loads(), 0);
        assert_eq!(s.send("delete user:2\r\n"), "DELETED\r\n");
        assert_eq!(s.send("mg user:2 v\r\n"), "VA 3\r\nbob\r\n");
        assert_eq!(s.loads(), 1);
    }

    #[test]
    fn expired_rows_are_loaded_again() {
        let mut s = Session::new(service(Duration::ZERO));
        assert_eq!(s.send("gets user:1\r\n").lines().count(), 3);
        s.now = s.now.saturating_add_secs(59);
        s.send("get user:1\r\n");
        assert_eq!(s.loads(), 1, "still cached before the TTL");
        s.now = s.now.saturating_add_secs(2);
        assert_eq!(
            s.send("get user:1\r\n"),
            "VALUE user:1 0 5\r\nalice\r\nEND\r\n"
        );
        assert_eq!(s.loads(), 2);
    }
}
