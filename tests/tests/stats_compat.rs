//! The statistics and operator commands monitoring tools read, against both keel drivers with
//! memcached 1.6 running the same streams as the oracle: prometheus memcached_exporter's scrape
//! (its exact command sequence, parsed as its client library parses it), the stat names keel
//! prints (memcached's, or keel's own listed here), memcached-tool's `display`, libmemcached's
//! `memcdump`, `stats reset`, `stats conns`, key listing (`lru_crawler metadump`,
//! `stats cachedump`), `shutdown` and `cache_memlimit`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use keel_tests::server::require_tool;
use keel_tests::text::{TextConn, run_bounded};
use keel_tests::{Kind, Options, Server, server_tests};

/// Stat names keel prints that memcached 1.6 does not.
const KEEL_ONLY: &[&str] = &["keel_version"];

/// The exporter's metrics that must be present in keel's general stats (it skips absent keys, so
/// an absent one is a silently missing panel) and parse as numbers.
const EXPORTER_GENERAL: &[&str] = &[
    "uptime",
    "time",
    "get_hits",
    "get_misses",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "cas_hits",
    "cas_misses",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "cmd_flush",
    "cmd_set",
    "bytes",
    "limit_maxbytes",
    "curr_items",
    "total_items",
    "bytes_read",
    "bytes_written",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "conn_yields",
    "listen_disabled_num",
    "evictions",
    "reclaimed",
    "store_too_large",
    "store_no_memory",
    "total_malloced",
    "accepting_conns",
];

/// The exporter's per-slab keys (`stats slabs`) and per-class item keys (`stats items`).
const EXPORTER_SLAB: &[&str] = &[
    "chunk_size",
    "chunks_per_page",
    "total_pages",
    "total_chunks",
    "used_chunks",
    "free_chunks",
    "free_chunks_end",
    "get_hits",
    "cmd_set",
    "delete_hits",
    "incr_hits",
    "decr_hits",
    "cas_hits",
    "cas_badval",
    "touch_hits",
];
const EXPORTER_ITEMS: &[&str] = &[
    "number",
    "age",
    "evicted",
    "evicted_nonzero",
    "evicted_time",
    "evicted_unfetched",
    "expired_unfetched",
    "outofmemory",
    "reclaimed",
    "mem_requested",
];

/// A value of `len` bytes.
fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn set(conn: &mut TextConn, key: &str, len: usize, exptime: u32) {
    let mut req = format!("set {key} 0 {exptime} {len}\r\n").into_bytes();
    req.extend_from_slice(&value(len));
    req.extend_from_slice(b"\r\n");
    assert_eq!(conn.call(&req), b"STORED\r\n", "set {key}");
}

/// The same small, medium and large items in every server.
fn fill(conn: &mut TextConn) {
    set(conn, "small", 1, 0);
    set(conn, "medium", 3000, 0);
    set(conn, "large", 20_000, 0);
    assert!(
        conn.call(b"get small\r\n")
            .starts_with(b"VALUE small 0 1\r\n")
    );
}

/// Sends a STAT command and returns its lines (without `END`).
fn stat_lines(conn: &mut TextConn, command: &str) -> Vec<String> {
    conn.send(format!("{command}\r\n").as_bytes());
    let (reply, closed) = conn.read_until_suffix(b"END\r\n");
    assert!(!closed, "{command}: connection closed");
    let text = String::from_utf8(reply).expect("stats are text");
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    assert_eq!(lines.pop().as_deref(), Some(""));
    assert_eq!(lines.pop().as_deref(), Some("END"), "{command}: {text:?}");
    lines
}

/// `STAT name value` lines as a map; panics on any other shape.
fn stat_map(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            assert!(
                parts.len() == 3 && parts[0] == "STAT",
                "not `STAT key value`: {line:?}"
            );
            (parts[1].to_owned(), parts[2].to_owned())
        })
        .collect()
}

/// What gomemcache's `statsFromAddr` builds from `stats`, `stats slabs` and `stats items`.
#[derive(Default, Debug)]
struct Scrape {
    stats: BTreeMap<String, String>,
    slabs: BTreeMap<i64, BTreeMap<String, String>>,
    items: BTreeMap<i64, BTreeMap<String, String>>,
}

/// Parses as the exporter's client does: lines split on spaces; three fields starting `STAT`
/// count; the key split on `:` gives a global stat, `N:name` or `items:N:name`, and an `N` that
/// is not an integer fails the whole scrape.
fn exporter_parse(scrape: &mut Scrape, lines: &[String]) {
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(
            fields.len() == 3 && fields[0].starts_with("STAT"),
            "the exporter would skip {line:?}"
        );
        let key: Vec<&str> = fields[1].split(':').collect();
        let value = fields[2].trim().to_owned();
        match key.as_slice() {
            [name] => {
                scrape.stats.insert((*name).to_owned(), value);
            }
            [id, name] => {
                let id: i64 = id.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
                scrape
                    .slabs
                    .entry(id)
                    .or_default()
                    .insert((*name).to_owned(), value);
            }
            [_, id, name] => {
                let id: i64 = id.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
                scrape
                    .items
                    .entry(id)
                    .or_default()
                    .insert((*name).to_owned(), value);
            }
            _ => panic!("unexpected key in {line:?}"),
        }
    }
}

fn number(map: &BTreeMap<String, String>, key: &str) -> f64 {
    let text = map
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {map:?}"));
    text.parse()
        .unwrap_or_else(|e| panic!("{key} = {text:?} is not a number: {e}"))
}

/// The exporter's `parseTimeval`: `seconds.microseconds`.
fn timeval(map: &BTreeMap<String, String>, key: &str) -> f64 {
    let text = &map[key];
    let (secs, micros) = text
        .split_once('.')
        .unwrap_or_else(|| panic!("{key} = {text:?} is not sec.usec"));
    assert_eq!(
        micros.len(),
        6,
        "{key} = {text:?}: six digits of microseconds"
    );
    let secs: f64 = secs.parse().expect("seconds");
    let micros: f64 = micros.parse().expect("microseconds");
    secs + micros / 1e6
}

fn exporter_scrape(kind: Kind) {
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    fill(&mut conn);
    let mut scrape = Scrape::default();
    for command in ["stats", "stats slabs", "stats items"] {
        exporter_parse(&mut scrape, &stat_lines(&mut conn, command));
    }
    // `stats settings` is parsed strictly: every line three fields (or four), else "down".
    let settings = stat_map(&stat_lines(&mut conn, "stats settings"));
    number(&settings, "maxconns");

    for key in EXPORTER_GENERAL {
        number(&scrape.stats, key);
    }
    assert!(timeval(&scrape.stats, "rusage_user") >= 0.0);
    assert!(timeval(&scrape.stats, "rusage_system") >= 0.0);
    assert_eq!(number(&scrape.stats, "curr_items"), 3.0);
    assert_eq!(number(&scrape.stats, "accepting_conns"), 1.0);

    // Every class in use is listed in both groups with every key the exporter reads.
    assert!(scrape.slabs.len() >= 2, "{:?}", scrape.slabs);
    assert_eq!(
        scrape.slabs.keys().collect::<Vec<_>>(),
        scrape.items.keys().collect::<Vec<_>>()
    );
    for (id, slab) in &scrape.slabs {
        assert!((1..64).contains(id), "class id {id}");
        for key in EXPORTER_SLAB {
            number(slab, key);
        }
        assert_eq!(
            number(slab, "total_chunks"),
            number(slab, "total_pages") * number(slab, "chunks_per_page")
        );
        assert_eq!(
            number(slab, "used_chunks") + number(slab, "free_chunks"),
            number(slab, "total_chunks")
        );
        for key in EXPORTER_ITEMS {
            number(&scrape.items[id], key);
        }
    }
    // Per class the three items, their three sets and the one hit are where the exporter looks.
    let sum = |group: &BTreeMap<i64, BTreeMap<String, String>>, key: &str| -> f64 {
        group.values().map(|class| number(class, key)).sum()
    };
    assert_eq!(sum(&scrape.items, "number"), 3.0);
    assert_eq!(sum(&scrape.slabs, "cmd_set"), 3.0);
    assert_eq!(sum(&scrape.slabs, "get_hits"), 1.0);
    assert_eq!(
        sum(&scrape.items, "mem_requested"),
        number(&scrape.stats, "bytes")
    );
    assert_eq!(
        number(&scrape.stats, "active_slabs"),
        scrape.slabs.len() as f64
    );
}

server_tests!(exporter_scrape: mio, poll, uring, memcached);

/// A stat name with its class id replaced by `N` (`12:chunk_size` -> `N:chunk_size`).
fn generic(name: &str) -> String {
    name.split(':')
        .map(|part| {
            if part.chars().all(|c| c.is_ascii_digit()) {
                "N"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// Every stat name of `stats`, `stats slabs`, `stats items` and `stats conns`, in order.
fn stat_names(kind: Kind) -> Vec<Vec<String>> {
    // memcached prints idle_kicks only with an idle timeout, which keel has by default.
    let opts = Options {
        idle_timeout: Some(300),
        ..Options::default()
    };
    let server = Server::start_with(kind, &opts);
    let mut conn = TextConn::connect(server.port);
    fill(&mut conn);
    ["stats", "stats slabs", "stats items", "stats conns"]
        .iter()
        .map(|command| {
            stat_map(&stat_lines(&mut conn, command));
            stat_lines(&mut conn, command)
                .iter()
                .map(|line| generic(line.split(' ').nth(1).unwrap_or_default()))
                .collect()
        })
        .collect()
}

#[test]
fn stat_names_are_memcacheds() {
    let memcached = stat_names(Kind::Memcached);
    for kind in Kind::KEEL {
        let keel = stat_names(kind);
        for (group, (keel, memcached)) in keel.iter().zip(&memcached).enumerate() {
            let known: BTreeSet<&String> = memcached.iter().collect();
            for name in keel {
                assert!(
                    known.contains(name) || KEEL_ONLY.contains(&name.as_str()),
                    "{} prints {name:?} (group {group}), which memcached does not",
                    kind.name()
                );
            }
            // And in memcached's order: keel's names that memcached has, as they come in
            // memcached's output (names repeat per class, so compare first occurrences).
            let first = |names: &[String]| -> Vec<String> {
                let mut seen = BTreeSet::new();
                names
                    .iter()
                    .filter(|n| known.contains(n) && seen.insert((*n).clone()))
                    .cloned()
                    .collect()
            };
            let keel_order = first(keel);
            let memcached_order: Vec<String> = first(memcached)
                .into_iter()
                .filter(|n| keel_order.contains(n))
                .collect();
            assert_eq!(keel_order, memcached_order, "group {group} order");
        }
        // The general stats the issue names are all there.
        for name in [
            "rusage_user",
            "rusage_system",
            "accepting_conns",
            "listen_disabled_num",
            "time_in_listen_disabled_us",
            "conn_yields",
            "idle_kicks",
            "connection_structures",
            "reserved_fds",
            "cmd_meta",
            "malloc_fails",
        ] {
            assert!(keel[0].iter().any(|n| n == name), "no {name}");
        }
        assert!(keel[1].iter().any(|n| n == "total_malloced"));
    }
}

/// memcached-tool's `display`, the way it reads `stats items` and `stats slabs`.
fn memcached_tool(kind: Kind) {
    let tool = "/usr/share/memcached/scripts/memcached-tool";
    assert!(
        std::path::Path::new(tool).is_file(),
        "{tool} missing (apt-get install memcached)"
    );
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    fill(&mut conn);
    let out = run_bounded(
        Command::new("perl").args([tool, &format!("127.0.0.1:{}", server.port), "display"]),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(|l| l.contains("Item_Size")),
        "{text}"
    );
    // `#  Item_Size  Max_age  Pages  Count  Full?  Evicted  Evict_Time  OOM`
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.len() >= 2, "{text}");
    let mut count = 0;
    for row in &rows {
        assert_eq!(row.len(), 9, "{row:?}");
        assert!(row[3].parse::<u64>().expect("pages") >= 1, "{row:?}");
        count += row[4].parse::<u64>().expect("count");
        assert_eq!(row[6], "0", "no evictions: {row:?}");
    }
    assert_eq!(count, 3, "{text}");
}

server_tests!(memcached_tool: mio, poll, uring, memcached);

/// libmemcached's `memcdump` walks `stats cachedump <class> 0` over every class id.
fn memcdump(kind: Kind) {
    require_tool("memcdump", "libmemcached-tools");
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    let mut expected = BTreeSet::new();
    for i in 0..100 {
        set(&mut conn, &format!("key:{i}"), 1, 0);
        expected.insert(format!("key:{i}"));
    }
    set(&mut conn, "large", 20_000, 0);
    expected.insert("large".to_owned());
    let out = run_bounded(
        Command::new("memcdump").arg(format!("--servers=127.0.0.1:{}", server.port)),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{out:?}");
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if kind.is_keel() {
        assert_eq!(listed, expected);
    } else {
        // memcached dumps only the items its LRU has moved to COLD: a subset.
        assert!(
            !listed.is_empty() && listed.is_subset(&expected),
            "{listed:?}"
        );
    }
}

server_tests!(memcdump: mio, poll, uring, memcached);

/// `stats reset` zeroes the counters memcached zeroes, the item and eviction ones included, and
/// keeps the gauges.
fn stats_reset(kind: Kind) {
    let opts = Options {
        memory_mib: Some(8),
        ..Options::default()
    };
    let server = Server::start_with(kind, &opts);
    let mut conn = TextConn::connect(server.port);
    // 24 MiB of 100 KiB values into 8 MiB: evictions, most of them never fetched.
    for i in 0..240 {
        set(&mut conn, &format!("v{i}"), 100 << 10, 0);
    }
    assert!(conn.call(b"get v239\r\n").starts_with(b"VALUE v239 "));
    let before = stat_map(&stat_lines(&mut conn, "stats"));
    for key in [
        "evictions",
        "evicted_unfetched",
        "total_items",
        "cmd_get",
        "cmd_set",
    ] {
        assert!(number(&before, key) > 0.0, "{key} before reset: {before:?}");
    }
    conn.send(b"stats reset\r\n");
    assert_eq!(conn.read_until_suffix(b"RESET\r\n").0, b"RESET\r\n");
    let after = stat_map(&stat_lines(&mut conn, "stats"));
    for key in [
        "evictions",
        "evicted_unfetched",
        "expired_unfetched",
        "reclaimed",
        "total_items",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "get_hits",
    ] {
        assert_eq!(number(&after, key), 0.0, "{key} after reset");
    }
    for key in ["curr_items", "bytes", "curr_connections", "limit_maxbytes"] {
        assert_eq!(after[key], before[key], "{key} is a gauge");
    }
    let mut scrape = Scrape::default();
    exporter_parse(&mut scrape, &stat_lines(&mut conn, "stats items"));
    exporter_parse(&mut scrape, &stat_lines(&mut conn, "stats slabs"));
    for (id, class) in &scrape.items {
        for key in ["evicted", "evicted_unfetched", "reclaimed", "outofmemory"] {
            assert_eq!(number(class, key), 0.0, "items:{id}:{key} after reset");
        }
        assert!(
            number(class, "number") > 0.0,
            "items:{id}:number is a gauge"
        );
    }
    for (id, slab) in &scrape.slabs {
        assert_eq!(number(slab, "cmd_set"), 0.0, "{id}:cmd_set after reset");
    }
}

server_tests!(stats_reset: mio, poll, uring, memcached);

/// One worker (`-t 1`): `stats conns` lists the connections of the worker that answers it (see
/// the README's compatibility table), so a test that looks at another connection's state needs
/// both on one worker.
fn start_one_worker(kind: Kind) -> Server {
    let opts = Options {
        extra_args: if kind.is_keel() {
            vec!["-t".into(), "1".into()]
        } else {
            Vec::new()
        },
        ..Options::default()
    };
    Server::start_with(kind, &opts)
}

/// `stats conns`: one group per connection, with the peer's address, its state and idle time.
fn stats_conns(kind: Kind) {
    let server = start_one_worker(kind);
    let mut asker = TextConn::connect(server.port);
    let mut other = TextConn::connect(server.port);
    assert_eq!(other.call(b"version\r\n"), b"VERSION 1.6.18\r\n");
    let lines = stat_lines(&mut asker, "stats conns");
    let map = stat_map(&lines);
    let mut groups: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (key, value) in &map {
        let (id, name) = key.split_once(':').expect("id:name");
        id.parse::<u64>().expect("numeric id");
        groups.entry(id).or_default().insert(name, value);
    }
    let clients: Vec<&BTreeMap<&str, &str>> = groups
        .values()
        .filter(|g| g.get("state") != Some(&"conn_listening"))
        .collect();
    assert_eq!(clients.len(), 2, "{lines:?}");
    let states: BTreeSet<&str> = clients.iter().map(|g| g["state"]).collect();
    assert!(states.contains("conn_parse_cmd"), "{lines:?}");
    for group in clients {
        assert!(group["addr"].starts_with("tcp:127.0.0.1:"), "{group:?}");
        assert!(group["secs_since_last_cmd"].parse::<u64>().expect("secs") < 5);
    }
}

server_tests!(stats_conns: mio, poll, uring, memcached);

/// Error and edge replies of the key-listing and operator commands, byte for byte as memcached.
fn command_replies(kind: Kind) -> Vec<(String, Vec<u8>)> {
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    set(&mut conn, "a", 1, 0);
    let commands = [
        "stats cachedump",
        "stats cachedump 1",
        "stats cachedump x y",
        "stats cachedump -1 1",
        "stats cachedump 64 1",
        "stats cachedump 0 1",
        "stats cachedump 62 0",
        "lru_crawler metadump",
        "lru_crawler metadump 1 2",
        "lru_crawler metadump 0",
        "lru_crawler metadump 64",
        "lru_crawler metadump x",
        "lru_crawler metadump 62",
        "shutdown",
        "shutdown graceful",
        "cache_memlimit",
        "cache_memlimit 0",
        "cache_memlimit x",
        "cache_memlimit 7",
        "cache_memlimit 2000000000",
        "cache_memlimit 9 noreply",
        "cache_memlimit 100",
        "version x",
    ];
    commands
        .iter()
        .map(|command| {
            let request = format!("{command}\r\n");
            let reply = if command.starts_with("lru_crawler") {
                // memcached hands a metadump's connection to its crawler thread, which may take
                // a pipelined command with it: one command at a time, each a one-line reply.
                metadump(&mut conn, command)
            } else {
                conn.call(request.as_bytes())
            };
            ((*command).to_owned(), reply)
        })
        .collect()
}

#[test]
fn command_replies_match_memcached() {
    let memcached = command_replies(Kind::Memcached);
    for kind in Kind::KEEL {
        let keel = command_replies(kind);
        for ((command, keel), (_, memcached)) in keel.iter().zip(&memcached) {
            assert_eq!(
                String::from_utf8_lossy(keel),
                String::from_utf8_lossy(memcached),
                "{command} against {}",
                kind.name()
            );
        }
    }
}

/// The listings of one item in both servers: same fields, same values where the class ids agree
/// in meaning (keel's classes differ, so `cls` is checked to be a class id).
fn listings(kind: Kind) -> (String, String) {
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    set(&mut conn, "some%key", 5, 0);
    let mut cls = 0;
    let dump = String::from_utf8(metadump(&mut conn, "lru_crawler metadump all")).expect("text");
    for field in dump.lines().next().expect("one line").split(' ') {
        if let Some(id) = field.strip_prefix("cls=") {
            cls = id.parse().expect("class id");
        }
    }
    assert!((1..64).contains(&cls));
    let cachedump = conn.call(format!("stats cachedump {cls} 0\r\n").as_bytes());
    (dump, String::from_utf8(cachedump).expect("text"))
}

#[test]
fn listings_match_memcached() {
    let masks = |text: &str| -> String {
        // Times and class ids depend on the clock and the class table, CAS values on the
        // shards (keel's number their own); the rest must match.
        text.split(' ')
            .map(|f| match f.split_once('=') {
                Some(("la" | "cls" | "cas", _)) => {
                    format!("{}=*", &f[..f.find('=').unwrap_or(0)])
                }
                _ => f.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (dump, cachedump) = listings(Kind::Memcached);
    assert_eq!(
        masks(&dump),
        "key=some%25key exp=-1 la=* cas=* fetch=no cls=* size=72\nEND\r\n"
    );
    // memcached's cachedump walks only its COLD LRU, which its maintainer thread fills in the
    // background: the item shows up there sooner or later. keel lists every item of the class.
    let item = "ITEM some%key [5 b; 0 s]\r\nEND\r\n";
    assert!(cachedump == item || cachedump == "END\r\n", "{cachedump:?}");
    for kind in Kind::KEEL {
        let (keel_dump, keel_cachedump) = listings(kind);
        assert_eq!(masks(&keel_dump), masks(&dump), "{}", kind.name());
        assert_eq!(keel_cachedump, item, "{}", kind.name());
    }
}

/// Long keys, so that the dump (some 12 MiB) outgrows what the kernel buffers on loopback.
fn dump_key(i: usize) -> String {
    format!("metadump:{i:06}:{}", "k".repeat(200))
}

/// A metadump of 50,000 keys streams to a client that does not read, while another connection
/// keeps being served; then every key arrives, once, in memcached's line format.
fn metadump_streams(kind: Kind) {
    const KEYS: usize = 50_000;
    let server = start_one_worker(kind);
    let mut loader = TextConn::connect(server.port);
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(format!("set {} 0 0 2 noreply\r\nxx\r\n", dump_key(i)).as_bytes());
        if batch.len() > 64 << 10 {
            loader.send(&batch);
            batch.clear();
        }
    }
    loader.send(&batch);
    assert_eq!(loader.stat("curr_items"), KEYS.to_string());

    let mut dumper = small_window(server.port);
    // memcached answers BUSY while its own crawler runs (it starts one at startup).
    let first_line = loop {
        dumper
            .write_all(b"lru_crawler metadump all\r\n")
            .expect("send metadump");
        let line = read_line(&mut dumper);
        if !line.starts_with("BUSY") {
            break line;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The dump fills the small window and waits; the other connection is served meanwhile.
    let mut other = TextConn::connect(server.port);
    if kind.is_keel() {
        // keel's dump stopped at the backpressure bound: the dumper is waiting to write.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let conns = stat_lines(&mut other, "stats conns");
            if conns.iter().any(|l| l.ends_with(":state conn_mwrite")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the dump never paused: {conns:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for i in 0..200 {
        let start = Instant::now();
        let reply = other.call(format!("get {}\r\n", dump_key(i)).as_bytes());
        assert!(
            reply.starts_with(format!("VALUE {} 0 2\r\n", dump_key(i)).as_bytes()),
            "{reply:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "get {i} took {:?}",
            start.elapsed()
        );
    }
    let text = first_line + &read_until_end(&mut dumper, Duration::from_secs(60));
    let mut keys = BTreeSet::new();
    for line in text.lines().filter(|l| *l != "END") {
        let fields: Vec<&str> = line.split(' ').collect();
        let names: Vec<&str> = fields
            .iter()
            .map(|f| f.split_once('=').map_or("", |(name, _)| name))
            .collect();
        assert_eq!(
            names,
            ["key", "exp", "la", "cas", "fetch", "cls", "size"],
            "{line}"
        );
        let key = fields[0].trim_start_matches("key=").replace("%3A", ":");
        assert!(keys.insert(key), "{line} listed twice");
    }
    if kind.is_keel() {
        assert_eq!(keys.len(), KEYS);
    } else {
        // memcached's crawler skips the odd item it finds busy.
        assert!(keys.len() >= KEYS - 10, "{}", keys.len());
    }
}

server_tests!(metadump_streams: mio, poll, uring, memcached);

/// A connection whose receive buffer is 16 KiB, so a big reply cannot all sit in the kernel.
fn small_window(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let size: libc::c_int = 16 << 10;
    // SAFETY: setsockopt on the descriptor `stream` owns, with a c_int option value of the
    // length passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    stream
}

/// Reads one line (up to `\n`), a byte at a time so nothing after it is taken.
fn read_line(stream: &mut TcpStream) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        assert!(Instant::now() < deadline, "no line: {line:?}");
        match stream.read(&mut byte) {
            Ok(0) => panic!("closed after {line:?}"),
            Ok(_) => line.push(byte[0]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8(line).expect("text")
}

/// Sends a `lru_crawler` command and returns its reply: one line (`BADCLASS`, `ERROR`) or a
/// dump ending in `END\r\n` (dump lines end in a bare `\n`). memcached answers `BUSY` while its
/// own crawler runs (it starts one at startup): then the command is sent again.
fn metadump(conn: &mut TextConn, command: &str) -> Vec<u8> {
    for _ in 0..200 {
        conn.send(format!("{command}\r\n").as_bytes());
        let (reply, closed) = conn.read_until_suffix(b"\r\n");
        assert!(!closed, "{command}: closed");
        if !reply.starts_with(b"BUSY") {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{command}: the crawler stayed busy for 10 s");
}

/// Reads until the bytes end with `END\r\n`; fails the test after `within`.
fn read_until_end(stream: &mut TcpStream, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while !got.ends_with(b"END\r\n") {
        assert!(Instant::now() < deadline, "no END within {within:?}");
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8(got).expect("text")
}

/// `shutdown` needs `-A`; then the asking connection closes and the server exits.
fn shutdown_command(kind: Kind) {
    let server = Server::start(kind);
    let mut conn = TextConn::connect(server.port);
    assert_eq!(
        conn.call(b"shutdown\r\n"),
        b"ERROR: shutdown not enabled\r\n"
    );
    drop(server);

    let opts = Options {
        extra_args: vec!["-A".into()],
        ..Options::default()
    };
    let mut server = Server::start_with(kind, &opts);
    let mut conn = TextConn::connect(server.port);
    assert_eq!(
        conn.call(b"shutdown now please\r\n"),
        b"CLIENT_ERROR invalid shutdown mode\r\n"
    );
    conn.send(b"shutdown graceful\r\n");
    assert_eq!(conn.read_to_close(), b"");
    let (status, _) = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{} still running after shutdown", kind.name()));
    if kind.is_keel() {
        assert!(status.success(), "{status:?}\n{}", server.log_tail());
    }
}

server_tests!(shutdown_command: mio, poll, uring, memcached);

/// `cache_memlimit` grows the limit and, shrinking it, evicts at once down to the new limit.
fn cache_memlimit(kind: Kind) {
    let opts = Options {
        memory_mib: Some(64),
        ..Options::default()
    };
    let server = Server::start_with(kind, &opts);
    let mut conn = TextConn::connect(server.port);
    assert_eq!(conn.call(b"cache_memlimit 128\r\n"), b"OK\r\n");
    assert_eq!(conn.stat("limit_maxbytes"), (128u64 << 20).to_string());
    for i in 0..400 {
        set(&mut conn, &format!("m{i}"), 100 << 10, 0);
    }
    assert_eq!(conn.stat("evictions"), "0");
    assert_eq!(conn.call(b"cache_memlimit 16\r\n"), b"OK\r\n");
    assert_eq!(conn.stat("limit_maxbytes"), (16u64 << 20).to_string());
    let settings = stat_map(&stat_lines(&mut conn, "stats settings"));
    assert_eq!(settings["maxbytes"], (16u64 << 20).to_string());
    if kind.is_keel() {
        // memcached hands pages back lazily, in the background; keel evicts at once.
        let slabs = stat_map(&stat_lines(&mut conn, "stats slabs"));
        assert!(
            number(&slabs, "total_malloced") <= (16 << 20) as f64,
            "{slabs:?}"
        );
        assert!(conn.stat("evictions").parse::<u64>().expect("number") > 0);
    }
    // Stores still work under the new limit.
    set(&mut conn, "after", 100 << 10, 0);
}

server_tests!(cache_memlimit: mio, poll, uring, memcached);

/// `-X`: the key-listing commands are refused with memcached's lines, and `stats settings` says so.
#[test]
fn dumping_disabled_matches_memcached() {
    let replies = |kind: Kind| -> Vec<Vec<u8>> {
        let opts = Options {
            extra_args: vec!["-X".into()],
            ..Options::default()
        };
        let server = Server::start_with(kind, &opts);
        let mut conn = TextConn::connect(server.port);
        set(&mut conn, "a", 1, 0);
        let mut got: Vec<Vec<u8>> = ["stats cachedump 1 1", "lru_crawler metadump all"]
            .iter()
            .map(|c| conn.call(format!("{c}\r\n").as_bytes()))
            .collect();
        let settings = stat_lines(&mut conn, "stats settings");
        got.push(
            settings
                .iter()
                .find(|l| l.starts_with("STAT dump_enabled "))
                .map_or_else(Vec::new, |l| l.as_bytes().to_vec()),
        );
        got
    };
    let memcached = replies(Kind::Memcached);
    assert_eq!(
        memcached,
        [
            b"CLIENT_ERROR stats cachedump not allowed\r\n".to_vec(),
            b"ERROR metadump not allowed\r\n".to_vec(),
            b"STAT dump_enabled no".to_vec(),
        ]
    );
    for kind in Kind::KEEL {
        assert_eq!(replies(kind), memcached, "{}", kind.name());
    }
}
