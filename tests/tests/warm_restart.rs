//! Warm restart (`-e FILE`) over real sockets, both drivers: items survive a graceful restart
//! byte-exact (value, flags, CAS, TTL still counting), a `kill -9` in the middle of a write-heavy
//! load keeps every acknowledged write, a restart within the same second keeps the cache, a
//! changed `-m` or a damaged file starts cold with a log line, a second keel on the same file is
//! refused; and memcached's own `-e` restart (SIGUSR1) compared side by side. Large items (over
//! 16 KiB, up to ~1 MiB) survive a graceful restart and a `kill -9` alike.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_tests::server::{keel_bin, user_args};
use keel_tests::{Kind, Options, Server};

/// A memory file under /dev/shm, removed when the test ends.
struct ShmFile(PathBuf);

impl ShmFile {
    fn new(name: &str) -> ShmFile {
        let path = PathBuf::from(format!(
            "/dev/shm/keel-warm-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        ShmFile(path)
    }

    fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(format!("{}.meta", self.0.display()));
    }
}

fn start(kind: Kind, file: &ShmFile, memory_mib: u32, threads: u32) -> Server {
    let extra = vec![
        "-e".to_owned(),
        file.arg(),
        "-t".to_owned(),
        threads.to_string(),
    ];
    Server::start_with(
        kind,
        &Options {
            memory_mib: Some(memory_mib),
            extra_args: extra,
            ..Options::default()
        },
    )
}

/// Stops a server with `signal` and waits for it to exit 0.
fn stop(mut server: Server, signal: i32) {
    server.signal(signal);
    let exited = server.wait_exit(Duration::from_secs(20));
    let (status, _) = exited.unwrap_or_else(|| panic!("{} did not stop", server.kind.name()));
    assert!(status.success(), "{}: {status}", server.kind.name());
}

/// A text connection reading replies line by line.
struct Conn {
    out: TcpStream,
    input: BufReader<TcpStream>,
}

impl Conn {
    fn new(port: u16) -> Conn {
        let out = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        out.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let input = BufReader::with_capacity(1 << 20, out.try_clone().unwrap());
        Conn { out, input }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.input.read_line(&mut line).expect("a reply line");
        assert!(line.ends_with("\r\n"), "cut reply {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut data = vec![0u8; n + 2];
        std::io::Read::read_exact(&mut self.input, &mut data).expect("a value");
        data.truncate(n);
        data
    }

    fn stat(&mut self, group: &str, name: &str) -> Option<String> {
        self.out
            .write_all(format!("stats {group}\r\n").as_bytes())
            .unwrap();
        let mut found = None;
        loop {
            let line = self.line();
            if line == "END" {
                return found;
            }
            let mut parts = line.splitn(3, ' ');
            if parts.nth(1) == Some(name) {
                found = parts.next().map(str::to_owned);
            }
        }
    }
}

/// One item as a meta get shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    value: Vec<u8>,
    flags: u32,
    cas: u64,
    /// Seconds left; -1 for none.
    ttl: i64,
}

/// Reads `keys` with pipelined `mg <key> t f c v`, in batches.
fn read_all(port: u16, keys: &[String]) -> HashMap<String, Seen> {
    let mut conn = Conn::new(port);
    let mut seen = HashMap::new();
    for batch in keys.chunks(2000) {
        let mut req = Vec::new();
        for key in batch {
            req.extend_from_slice(format!("mg {key} t f c v k\r\n").as_bytes());
        }
        req.extend_from_slice(b"mn\r\n");
        conn.out.write_all(&req).unwrap();
        loop {
            let line = conn.line();
            if line == "MN" {
                break;
            }
            if line == "EN" || line.starts_with("EN ") {
                continue;
            }
            let mut parts = line.split(' ');
            assert_eq!(parts.next(), Some("VA"), "{line}");
            let len: usize = parts.next().unwrap().parse().unwrap();
            let (mut key, mut flags, mut cas, mut ttl) = (String::new(), 0, 0, 0);
            for p in parts {
                let (flag, v) = p.split_at(1);
                match flag {
                    "k" => key = v.to_owned(),
                    "f" => flags = v.parse().unwrap(),
                    "c" => cas = v.parse().unwrap(),
                    "t" => ttl = v.parse().unwrap(),
                    _ => {}
                }
            }
            let value = conn.bytes(len);
            seen.insert(
                key,
                Seen {
                    value,
                    flags,
                    cas,
                    ttl,
                },
            );
        }
    }
    seen
}

fn key(i: usize) -> String {
    format!("key:{i:011}")
}

/// `n` items of 16-byte keys and 32-byte values, a third with a TTL, a third with flags.
fn load(port: u16, n: usize) -> Vec<String> {
    let mut conn = Conn::new(port);
    let keys: Vec<String> = (0..n).map(key).collect();
    for (b, batch) in keys.chunks(5000).enumerate() {
        let mut req = Vec::new();
        for (j, k) in batch.iter().enumerate() {
            let i = b * 5000 + j;
            let flags = if i % 3 == 1 { i as u32 } else { 0 };
            let ttl = if i % 3 == 2 { 3600 } else { 0 };
            let value = format!("{i:032x}");
            req.extend_from_slice(
                format!("set {k} {flags} {ttl} 32 noreply\r\n{value}\r\n").as_bytes(),
            );
        }
        req.extend_from_slice(b"mn\r\n");
        conn.out.write_all(&req).unwrap();
        assert_eq!(conn.line(), "MN");
    }
    keys
}

/// Graceful restart: every item back with the same value, flags and CAS, its TTL still counting;
/// `stats` says so, and new CAS values continue above the restored ones.
fn graceful(kind: Kind, threads: u32, signal: i32, n: usize) {
    let file = ShmFile::new(&format!("graceful-{}-{threads}", kind.name()));
    let server = start(kind, &file, 256, threads);
    let keys = load(server.port, n);
    let before = read_all(server.port, &keys);
    assert_eq!(before.len(), n, "{}: all stored", kind.name());
    let max_cas = before.values().map(|s| s.cas).max().unwrap_or(0);
    stop(server, signal);
    let stopped = Instant::now();
    let server = start(kind, &file, 256, threads);
    let ready = stopped.elapsed();
    let mut conn = Conn::new(server.port);
    assert_eq!(conn.stat("", "warm_start").as_deref(), Some("1"));
    assert_eq!(conn.stat("", "restored_items"), Some(n.to_string()));
    assert_eq!(conn.stat("", "curr_items"), Some(n.to_string()));
    assert_eq!(conn.stat("settings", "memory_file"), Some(file.arg()));
    let after = read_all(server.port, &keys);
    let downtime = stopped.elapsed().as_secs() as i64 + 1;
    for k in &keys {
        let (b, a) = (
            &before[k],
            after.get(k).unwrap_or_else(|| panic!("{k} lost")),
        );
        assert_eq!(
            (&a.value, a.flags, a.cas),
            (&b.value, b.flags, b.cas),
            "{k}"
        );
        if b.ttl == -1 {
            assert_eq!(a.ttl, -1, "{k}");
        } else {
            assert!(
                a.ttl <= b.ttl && a.ttl >= b.ttl - downtime - 60,
                "{k}: {b:?} -> {a:?}"
            );
        }
    }
    conn.out
        .write_all(b"set fresh 0 0 1\r\nx\r\nmg fresh c\r\n")
        .unwrap();
    assert_eq!(conn.line(), "STORED");
    let cas: u64 = conn.line().trim_start_matches("HD c").parse().unwrap();
    assert!(cas > max_cas, "new CAS {cas} above the restored {max_cas}");
    eprintln!(
        "{} -t {threads}: {n} items restored, stop to ready {ready:?}",
        kind.name()
    );
    stop(server, libc::SIGTERM);
}

/// A million items with an optimized keel; a debug build (10-20x slower to load, read and
/// restore) does a quarter of that, so that the suite stays bounded.
const GRACEFUL_ITEMS: usize = if cfg!(debug_assertions) {
    250_000
} else {
    1_000_000
};

#[test]
fn graceful_restart_keeps_every_item_byte_exact() {
    graceful(Kind::KeelMio, 1, libc::SIGTERM, GRACEFUL_ITEMS);
    graceful(Kind::KeelPoll, 4, libc::SIGUSR1, GRACEFUL_ITEMS);
}

/// A value of `len` bytes of its own (any byte, `\r\n` included), from `seed`.
fn big_value(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A set acknowledged, and recorded in `model`.
fn set_acked(conn: &mut Conn, model: &mut Model, key: String, value: Vec<u8>, flags: u32) {
    let mut req = format!("set {key} {flags} 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    conn.out.write_all(&req).unwrap();
    assert_eq!(conn.line(), "STORED", "{key}");
    model.insert(key, (value, flags));
}

/// By key: the value and flags a server must hold.
type Model = HashMap<String, (Vec<u8>, u32)>;

/// Stores large items (20 KiB to ~1 MiB) and small ones, overwrites and deletes some; the model
/// of what the server must now hold, by key: (value, flags).
fn load_large(port: u16, n: usize) -> Model {
    let mut conn = Conn::new(port);
    let mut model = HashMap::new();
    for i in 0..n {
        // Spread over 20 KiB .. 1,000,000 bytes, smaller ones more often.
        let len = 20_000 + (i * i * 7919) % 980_000 / (1 + i % 3);
        set_acked(
            &mut conn,
            &mut model,
            format!("big:{i}"),
            big_value(i as u64, len),
            i as u32,
        );
        set_acked(
            &mut conn,
            &mut model,
            format!("small:{i}"),
            big_value(i as u64, 40),
            0,
        );
    }
    for i in (0..n).step_by(5) {
        // Overwritten with another size (large or small), or deleted.
        if i % 10 == 0 {
            let len = if i % 20 == 0 { 30 } else { 25_000 + i * 1000 };
            set_acked(
                &mut conn,
                &mut model,
                format!("big:{i}"),
                big_value(7 + i as u64, len),
                1,
            );
        } else {
            conn.out
                .write_all(format!("delete big:{i}\r\n").as_bytes())
                .unwrap();
            assert_eq!(conn.line(), "DELETED");
            model.remove(&format!("big:{i}"));
        }
    }
    model
}

/// Every key in `model` holds exactly its value and flags, and no other `big:` key is back.
fn check_large(port: u16, n: usize, model: &Model, what: &str) {
    let keys: Vec<String> = (0..n)
        .flat_map(|i| [format!("big:{i}"), format!("small:{i}")])
        .collect();
    let seen = read_all(port, &keys);
    for k in &keys {
        let got = seen.get(k).map(|s| (&s.value, s.flags));
        let want = model.get(k).map(|(v, f)| (v, *f));
        assert!(
            got == want,
            "{what}: {k}: {} bytes back, {} wanted",
            got.map_or(0, |g| g.0.len()),
            want.map_or(0, |w| w.0.len())
        );
    }
}

#[test]
fn large_items_survive_a_graceful_restart_and_a_kill_9() {
    // A debug keel checksums and copies ~10x slower: fewer items keep its restart quick.
    let n = if cfg!(debug_assertions) { 120 } else { 300 };
    for (kind, threads) in [(Kind::KeelMio, 1u32), (Kind::KeelPoll, 4)] {
        let file = ShmFile::new(&format!("large-{}-{threads}", kind.name()));
        let server = start(kind, &file, 512, threads);
        let model = load_large(server.port, n);
        check_large(server.port, n, &model, "before");
        stop(server, libc::SIGTERM);
        let mut server = start(kind, &file, 512, threads);
        let mut conn = Conn::new(server.port);
        assert_eq!(
            conn.stat("", "restored_items"),
            Some(model.len().to_string())
        );
        check_large(server.port, n, &model, "after a graceful restart");
        server.signal(libc::SIGKILL);
        assert!(server.wait_exit(Duration::from_secs(10)).is_some());
        drop(server);
        let server = start(kind, &file, 512, threads);
        check_large(server.port, n, &model, "after kill -9");
        eprintln!(
            "{} -t {threads}: {} items with {n} large back byte-exact",
            kind.name(),
            model.len()
        );
        stop(server, libc::SIGTERM);
    }
}

#[test]
fn flushed_items_stay_gone_and_a_pending_flush_still_applies() {
    for kind in Kind::KEEL {
        let file = ShmFile::new(&format!("flush-{}", kind.name()));
        let server = start(kind, &file, 64, 2);
        let keys = load(server.port, 50);
        let mut conn = Conn::new(server.port);
        conn.out
            .write_all(b"flush_all\r\nset after 0 0 1\r\nx\r\n")
            .unwrap();
        assert_eq!(conn.line(), "OK");
        assert_eq!(conn.line(), "STORED");
        stop(server, libc::SIGTERM);
        let server = start(kind, &file, 64, 2);
        assert!(
            read_all(server.port, &keys).is_empty(),
            "{}: flushed items came back",
            kind.name()
        );
        assert_eq!(read_all(server.port, &["after".to_owned()]).len(), 1);
        let mut conn = Conn::new(server.port);
        conn.out.write_all(b"flush_all 2\r\n").unwrap();
        assert_eq!(conn.line(), "OK");
        stop(server, libc::SIGTERM);
        let server = start(kind, &file, 64, 2);
        assert_eq!(
            read_all(server.port, &["after".to_owned()]).len(),
            1,
            "before the deadline"
        );
        std::thread::sleep(Duration::from_millis(2100));
        assert!(
            read_all(server.port, &["after".to_owned()]).is_empty(),
            "{}: the pending flush was lost",
            kind.name()
        );
        stop(server, libc::SIGTERM);
    }
}

#[test]
fn a_restart_within_the_same_second_keeps_the_cache() {
    for kind in Kind::KEEL {
        let file = ShmFile::new(&format!("second-{}", kind.name()));
        let server = start(kind, &file, 64, 2);
        let keys = load(server.port, 100);
        let stopped = Instant::now();
        stop(server, libc::SIGINT);
        let server = start(kind, &file, 64, 2);
        let after = read_all(server.port, &keys);
        assert!(
            stopped.elapsed() < Duration::from_secs(1),
            "restart took over a second"
        );
        assert_eq!(after.len(), 100, "{}", kind.name());
    }
}

#[test]
fn a_changed_memory_limit_starts_cold_with_a_log_line() {
    for kind in Kind::KEEL {
        let file = ShmFile::new(&format!("changed-{}", kind.name()));
        let server = start(kind, &file, 64, 1);
        load(server.port, 100);
        stop(server, libc::SIGTERM);
        let server = start(kind, &file, 32, 1);
        let mut conn = Conn::new(server.port);
        assert_eq!(conn.stat("", "warm_start").as_deref(), Some("0"));
        assert_eq!(conn.stat("", "curr_items").as_deref(), Some("0"));
        let log = server.log_tail();
        assert!(
            log.contains("made with -m (bytes) 67108864, now 33554432; the cache starts empty"),
            "{log}"
        );
        stop(server, libc::SIGTERM);
    }
}

#[test]
fn a_damaged_or_truncated_file_starts_cold_with_a_warning() {
    for kind in Kind::KEEL {
        let file = ShmFile::new(&format!("damaged-{}", kind.name()));
        let server = start(kind, &file, 64, 1);
        load(server.port, 100);
        stop(server, libc::SIGTERM);
        let mut bytes = std::fs::read(&file.0).unwrap();
        bytes[..64].copy_from_slice(&[0x5a; 64]);
        std::fs::write(&file.0, &bytes).unwrap();
        let server = start(kind, &file, 64, 1);
        let mut conn = Conn::new(server.port);
        assert_eq!(conn.stat("", "warm_start").as_deref(), Some("0"));
        assert_eq!(conn.stat("", "curr_items").as_deref(), Some("0"));
        let log = server.log_tail();
        assert!(
            log.contains("WARN") && log.contains("not a keel memory file"),
            "{log}"
        );
        // Still a working cache, and its file is good again.
        load(server.port, 10);
        stop(server, libc::SIGTERM);

        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file.0)
            .unwrap();
        f.set_len(bytes.len() as u64 / 2).unwrap();
        let server = start(kind, &file, 64, 1);
        let log = server.log_tail();
        assert!(
            log.contains("WARN") && log.contains("truncated or damaged"),
            "{log}"
        );
        stop(server, libc::SIGTERM);
    }
}

#[test]
fn a_second_keel_on_the_same_file_is_refused() {
    let file = ShmFile::new("twice");
    let first = start(Kind::KeelMio, &file, 64, 1);
    let mut args = vec![
        "-p".to_owned(),
        "0".to_owned(),
        "-l".to_owned(),
        "127.0.0.1".to_owned(),
    ];
    args.extend(user_args());
    args.extend([
        "-m".to_owned(),
        "64".to_owned(),
        "-t".to_owned(),
        "1".to_owned(),
    ]);
    args.extend(["-e".to_owned(), file.arg()]);
    let out = Command::new(keel_bin())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().last(),
        Some(format!("keel: memory file {} is in use by another keel", file.arg()).as_str()),
        "{stderr}"
    );
    stop(first, libc::SIGTERM);
}

/// What a writer sent and what the server acknowledged, per key: versions in order.
#[derive(Default)]
struct Writes {
    /// Per key: every value sent (None: a delete), in order.
    sent: HashMap<String, Vec<Option<String>>>,
    /// Per key: how many of `sent` were acknowledged (a prefix).
    acked: HashMap<String, usize>,
}

/// A writer that sets and deletes keys in pipelined windows, recording every acknowledgement,
/// until the server dies.
fn write_until_killed(port: u16, writes: Arc<Mutex<Writes>>, stop: Arc<AtomicBool>, seed: u64) {
    let big = seed % 2 == 1;
    let Ok(out) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    out.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut input = BufReader::new(out.try_clone().unwrap());
    let mut out = out;
    let mut x = seed | 1;
    let mut version = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut req = Vec::new();
        let mut window = Vec::new();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Each writer has keys of its own, so a key's operations reach the server in the order sent.
            let k = format!("crash:{seed}:{:04}", x % 1000);
            version += 1;
            if x % 7 == 0 {
                req.extend_from_slice(format!("delete {k}\r\n").as_bytes());
                window.push((k, None));
            } else {
                // Every other writer makes one value in eight a large item (20 KiB to 300 KiB).
                let len = if big && x % 8 == 1 {
                    20_000 + (x % 280_000) as usize
                } else {
                    (x % 200) as usize
                };
                let v = format!("{seed:04}-{version:012}-{}", "v".repeat(len));
                req.extend_from_slice(format!("set {k} 0 0 {}\r\n{v}\r\n", v.len()).as_bytes());
                window.push((k, Some(v)));
            }
        }
        {
            let mut w = writes.lock().unwrap();
            for (k, v) in &window {
                w.sent.entry(k.clone()).or_default().push(v.clone());
            }
        }
        if out.write_all(&req).is_err() {
            return;
        }
        for (k, _) in &window {
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(n) if n > 0 && line.ends_with("\r\n") => {}
                _ => return,
            }
            assert!(
                matches!(
                    line.as_str(),
                    "STORED\r\n" | "DELETED\r\n" | "NOT_FOUND\r\n"
                ),
                "{line:?}"
            );
            // Replies come in order: this acknowledges the key's next sent operation.
            *writes.lock().unwrap().acked.entry(k.clone()).or_default() += 1;
        }
    }
}

/// kill -9 while four clients write; after the restart every key holds its last acknowledged
/// value or a later one sent, and a key whose last acknowledged operation was a delete is absent
/// or holds a later value.
fn crash_once(kind: Kind, threads: u32, kill_after: Duration) {
    let file = ShmFile::new(&format!("crash-{}-{threads}", kind.name()));
    // Room for every writer's keys, large values included: nothing is evicted.
    let mut server = start(kind, &file, 256, threads);
    let writes = Arc::new(Mutex::new(Writes::default()));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|i| {
            let (w, s, port) = (Arc::clone(&writes), Arc::clone(&stop_flag), server.port);
            std::thread::spawn(move || write_until_killed(port, w, s, 1000 + i))
        })
        .collect();
    std::thread::sleep(kill_after);
    server.signal(libc::SIGKILL);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    stop_flag.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    drop(server);
    let server = start(kind, &file, 256, threads);
    let writes = writes.lock().unwrap();
    let keys: Vec<String> = writes.sent.keys().cloned().collect();
    let after = read_all(server.port, &keys);
    let mut acked_ops = 0;
    for k in &keys {
        let sent = &writes.sent[k];
        let acked = writes.acked.get(k).copied().unwrap_or(0);
        acked_ops += acked;
        // Concurrent writers interleave a key's operations; only an acknowledged prefix counts:
        // whatever the restart shows must be one of the operations from the last acked on.
        let from = acked.saturating_sub(1);
        let allowed: Vec<Option<&str>> = if acked == 0 {
            std::iter::once(None)
                .chain(sent.iter().map(|v| v.as_deref()))
                .collect()
        } else {
            sent[from..].iter().map(|v| v.as_deref()).collect()
        };
        let got = after
            .get(k)
            .map(|s| String::from_utf8(s.value.clone()).unwrap());
        assert!(
            allowed.contains(&got.as_deref()),
            "{}: {k} is {got:?} after the crash; acked {acked} of {sent:?}",
            kind.name()
        );
    }
    assert!(
        acked_ops > 1000,
        "the load ran: {acked_ops} acknowledged operations"
    );
    eprintln!(
        "{} -t {threads}: killed after {kill_after:?}, {acked_ops} acked operations, {} keys checked",
        kind.name(),
        keys.len()
    );
    stop(server, libc::SIGTERM);
}

#[test]
fn kill_9_during_writes_keeps_every_acknowledged_write() {
    for (i, kind) in Kind::KEEL.into_iter().enumerate() {
        for (j, threads) in [1u32, 4].into_iter().enumerate() {
            // A few kill points, spread over the first second of load.
            let ms = 150 + 97 * (2 * i + j) as u64 + (std::process::id() as u64 % 200);
            crash_once(kind, threads, Duration::from_millis(ms));
        }
    }
}

#[test]
fn memcached_and_keel_read_the_same_after_a_graceful_restart() {
    let n = 20_000;
    let mut results = Vec::new();
    for kind in [Kind::Memcached, Kind::KeelMio] {
        let file = ShmFile::new(&format!("compare-{}", kind.name()));
        let server = start(kind, &file, 64, 1);
        let keys = load(server.port, n);
        stop(server, libc::SIGUSR1);
        // memcached drops its cache when restarted within the second it stopped in.
        std::thread::sleep(Duration::from_millis(1100));
        let server = start(kind, &file, 64, 1);
        let after = read_all(server.port, &keys);
        let mut reads: Vec<(String, Vec<u8>, u32, bool)> = after
            .into_iter()
            .map(|(k, s)| (k, s.value, s.flags, s.ttl == -1))
            .collect();
        reads.sort();
        results.push(reads);
        drop(server);
    }
    assert_eq!(results[0].len(), n, "memcached restored everything");
    assert!(
        results[0] == results[1],
        "memcached and keel differ after the restart"
    );
}
