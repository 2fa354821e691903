//! keel's hard limits, each over a real socket against both drivers (the README's limits table):
//! max connections (`-c`), max item size (`-I`, at the exact PROTOCOL.md §12 boundary, compared
//! with memcached in the same test), the memory limit (`-m`, with the server's RSS read from
//! /proc), the output backpressure bound (a client that pipelines GETs and never reads), the max
//! request size (an oversized body is refused at once and discarded without buffering; a body
//! over 1 GiB is refused and closed) and the read timeout for partial requests (slowloris).

use std::time::{Duration, Instant};

use keel_tests::client::wait_for;
use keel_tests::raw::{Raw, rss_kib};
use keel_tests::server::serial;
use keel_tests::{Client, End, Kind, Options, Packet, Request, Server, op, server_tests, status};

const MIB: u64 = 1024; // in KiB, as rss_kib reports

fn assert_served(c: &mut Client, opaque: u32) {
    let p = c.call(&Request::new(op::NOOP).opaque(opaque));
    assert_eq!((p.opcode, p.status, p.opaque), (op::NOOP, 0, opaque));
}

fn keel_with(kind: Kind, args: &[&str]) -> Server {
    Server::start_with(
        kind,
        &Options {
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        },
    )
}

// ---- max connections -------------------------------------------------------------------------

fn max_connections(kind: Kind) {
    let _serial = serial();
    let server = keel_with(kind, &["-c", "5"]);
    let mut conns: Vec<Client> = (0..5)
        .map(|i| {
            let mut c = Client::connect(server.port).unwrap();
            assert_served(&mut c, i);
            c
        })
        .collect();
    for attempt in 0..3u32 {
        let mut extra = Client::connect(server.port).expect("the kernel accepts the 6th");
        let _ = extra.send(&Request::new(op::NOOP).opaque(99));
        let (got, end) = extra.wait_end(Duration::from_secs(5));
        assert!(
            got.is_empty(),
            "connection over the limit answered: {got:?}"
        );
        assert!(
            matches!(end, End::Eof | End::Reset),
            "connection over the limit not closed ({end:?})"
        );
        let stats = conns[0].stats("");
        assert_eq!(stats["rejected_connections"], (attempt + 1).to_string());
        assert_eq!(stats["curr_connections"], "5");
        assert_eq!(stats["max_connections"], "5");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_served(c, 10 + i as u32);
    }
    drop(conns.pop());
    assert!(
        wait_for(Duration::from_secs(3), || {
            (conns[0].stat_u64("curr_connections") == 4).then_some(())
        })
        .is_some()
    );
    let mut sixth = Client::connect(server.port).unwrap();
    assert_served(&mut sixth, 20);
}
server_tests!(max_connections: mio, poll, uring);

// ---- max item size ---------------------------------------------------------------------------

/// `-I 2k`: with a 1-byte key the largest value is 2048 - 48 - 2 - 2 - 8 = 1988 bytes, 4 fewer with
/// nonzero flags. memcached (with a chunk size that allows 2 KiB items) answers the same.
fn max_item_size(kind: Kind) {
    let keel = keel_with(kind, &["-I", "2k"]);
    let memcached = Server::start_with(
        Kind::Memcached,
        &Options {
            max_item_size: Some("2k".into()),
            extra_args: vec!["-o".into(), "slab_chunk_max=2048".into()],
            ..Options::default()
        },
    );
    for server in [&keel, &memcached] {
        let who = server.kind.name();
        let mut c = Client::connect(server.port).unwrap();
        let mut outcomes = Vec::new();
        for (flags, len) in [(0u32, 1988usize), (0, 1989), (7, 1984), (7, 1985)] {
            let p = c.call(&Request::store(op::SET, "k", vec![b'v'; len], flags, 0));
            outcomes.push((flags, len, p.status));
            if p.status == status::E2BIG {
                assert_eq!(p.value, b"Too large.", "{who}");
                assert_eq!((p.cas, p.extras.len()), (0, 0), "{who}");
            }
        }
        assert_eq!(
            outcomes,
            vec![
                (0, 1988, status::SUCCESS),
                (0, 1989, status::E2BIG),
                (7, 1984, status::SUCCESS),
                (7, 1985, status::E2BIG),
            ],
            "{who}"
        );
        // The refused SET deleted the item it would have replaced; the connection is usable.
        assert_eq!(
            c.get(b"k"),
            None,
            "{who}: the too-large SET left the old value"
        );
        c.set_ok(b"k", &[b'w'; 1988]);
        assert_eq!(c.get(b"k").map(|v| v.len()), Some(1988), "{who}");
        // A value far over the limit, sent whole: refused, body discarded, framing intact.
        c.send_all(&[
            Request::set("big", vec![b'x'; 100_000]).opaque(1),
            Request::get(op::GET, "k").opaque(2),
        ])
        .unwrap();
        let a = c.read_packet();
        let b = c.read_packet();
        assert_eq!((a.status, a.opaque), (status::E2BIG, 1), "{who}");
        assert_eq!((b.status, b.opaque, b.value.len()), (0, 2, 1988), "{who}");
        // The text protocol has the same boundary.
        let mut t = Raw::connect(server.port).unwrap();
        let mut req = b"set t 0 0 1988\r\n".to_vec();
        req.extend_from_slice(&[b'v'; 1988]);
        req.extend_from_slice(b"\r\nset t 0 0 1989\r\n");
        req.extend_from_slice(&[b'v'; 1989]);
        req.extend_from_slice(b"\r\nget t\r\n");
        t.send(&req).unwrap();
        let want = b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n";
        let (got, _) = t.collect_until(Duration::from_secs(5), |b| b.len() >= want.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{who}"
        );
        assert_eq!(
            c.stats("settings")["item_size_max"],
            "2048",
            "{who}: item_size_max"
        );
    }
}
server_tests!(max_item_size: mio, poll, uring);

// ---- memory limit ----------------------------------------------------------------------------

/// `-m 2`: 20 MiB of distinct 10 KiB values go through a 2 MiB cache. The server's RSS stays
/// below 16 MiB, items are evicted, and the newest items are there.
fn memory_limit(kind: Kind) {
    let _serial = serial();
    let server = keel_with(kind, &["-m", "2"]);
    let start_rss = rss_kib(server.pid());
    let mut c = Client::connect(server.port).unwrap();
    let value = |i: usize| -> Vec<u8> {
        let mut v = format!("value-{i:06}-").into_bytes();
        v.resize(10 << 10, b'a' + (i % 26) as u8);
        v
    };
    let total = 2048; // 2048 × 10 KiB = 20 MiB
    let mut peak = start_rss;
    for batch in 0..(total / 64) {
        let reqs: Vec<Request> = (batch * 64..(batch + 1) * 64)
            .map(|i| {
                let mut r = Request::store(op::SETQ, format!("key-{i:06}"), value(i), 0, 0);
                r.opaque = i as u32;
                r
            })
            .collect();
        c.send_all(&reqs).unwrap();
        let got = c.sync(0xFFFF);
        assert_eq!(got.len(), 1, "a quiet SET failed: {:?}", &got[0]);
        peak = peak.max(rss_kib(server.pid()));
    }
    let end_rss = rss_kib(server.pid());
    let stats = c.stats("");
    let evictions: u64 = stats["evictions"].parse().unwrap();
    let bytes: u64 = stats["bytes"].parse().unwrap();
    println!(
        "{}: -m 2, 20 MiB written: RSS start {start_rss} KiB, peak {peak} KiB, end {end_rss} KiB; \
         evictions {evictions}, curr_items {}, bytes {bytes}",
        kind.name(),
        stats["curr_items"]
    );
    assert_eq!(stats["limit_maxbytes"], "2097152");
    assert!(evictions > 0, "no evictions after 20 MiB in 2 MiB");
    assert!(bytes <= 2 << 20, "bytes {bytes} over the limit");
    assert!(
        peak < 16 * MIB,
        "RSS reached {peak} KiB with -m 2 (start {start_rss} KiB)"
    );
    // The newest item is there, byte-exact; the oldest is gone.
    assert_eq!(
        c.get(format!("key-{:06}", total - 1).as_bytes()),
        Some(value(total - 1))
    );
    assert_eq!(c.get(b"key-000000"), None);
}
server_tests!(memory_limit: mio, poll, uring);

// ---- output backpressure ---------------------------------------------------------------------

/// A client pipelines 20,000 GETs of a 100 KiB value (2 GB of responses) and reads nothing: the
/// server stops reading its requests once 1 MiB of output is pending, so its RSS stays within
/// baseline + 16 MiB. When the client finally reads, every response arrives complete and correct.
fn output_backpressure(kind: Kind) {
    let _serial = serial();
    const GETS: u32 = 20_000;
    let server = Server::start(kind);
    let pid = server.pid();
    let value: Vec<u8> = (0..100 << 10).map(|i| (i % 251) as u8).collect();
    let mut setup = Client::connect(server.port).unwrap();
    setup.set_ok(b"big", &value);
    let baseline = rss_kib(pid);

    let mut client = Client::connect(server.port).unwrap();
    let writer_stream = client.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut stream = writer_stream;
        let mut batch = Vec::new();
        for i in 0..GETS {
            Request::get(op::GET, "big")
                .opaque(i)
                .encode_into(&mut batch);
            if batch.len() >= 64 << 10 {
                stream.write_all(&batch).expect("write GETs");
                batch.clear();
            }
        }
        stream.write_all(&batch).expect("write GETs");
    });
    // Watch the server for 3 s while nobody reads.
    let mut peak = baseline;
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The requests (540 KB) may all sit in kernel buffers, but the server has stopped running
    // them: only what fits in the 1 MiB bound and the socket buffers was answered.
    let ran = setup.stat_u64("get_hits");
    assert!(
        ran < 1_000,
        "the server ran {ran} GETs for a client that reads nothing"
    );
    // Meanwhile other clients are served.
    assert_eq!(setup.get(b"big").as_deref(), Some(&value[..]));
    println!(
        "{}: never-reading client: RSS baseline {baseline} KiB, peak {peak} KiB",
        kind.name()
    );
    assert!(
        peak < baseline + 16 * MIB,
        "RSS grew from {baseline} KiB to {peak} KiB for a client that does not read"
    );
    // Now read everything.
    client.timeout = Duration::from_secs(30);
    for i in 0..GETS {
        let p = client.read_packet();
        assert_eq!(
            (p.opcode, p.status, p.opaque),
            (op::GET, 0, i),
            "response {i}"
        );
        assert!(p.value == value, "response {i}: value differs");
    }
    writer.join().unwrap();
    assert_served(&mut client, 1);
    let end_rss = rss_kib(pid);
    assert!(
        end_rss < baseline + 16 * MIB,
        "RSS {end_rss} KiB after the drain"
    );
}
server_tests!(output_backpressure: mio, poll, uring);

// ---- max request size ------------------------------------------------------------------------

/// A SET announcing a 900 MiB value is answered E2BIG as soon as its key is in, before any value
/// byte is sent; the value is then discarded as it streams in (RSS does not grow). A body over
/// 1 GiB is refused with 0x04 and the connection closed. An oversized value sent whole leaves the
/// connection usable.
fn max_request_size(kind: Kind) {
    let _serial = serial();
    let server = Server::start(kind);
    let pid = server.pid();
    let mut bystander = Client::connect(server.port).unwrap();
    bystander.set_ok(b"k", b"old");
    let baseline = rss_kib(pid);

    let mut slow = Raw::connect(server.port).unwrap();
    let mut head = Request::set("k", b"").opaque(0x900);
    head.body_len = Some(8 + 1 + (900 << 20));
    let started = Instant::now();
    slow.send(&head.encode()).unwrap();
    let want = Packet::plain(op::SET, status::E2BIG, 0x900, b"Too large.").encode();
    let (got, end) = slow.collect_until(Duration::from_secs(5), |b| b.len() >= want.len());
    assert_eq!(got, want, "({end:?})");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "E2BIG took {:?}",
        started.elapsed()
    );
    // 48 MiB of the value, 1 MiB every 10 ms.
    let chunk = vec![b'x'; 1 << 20];
    let mut peak = baseline;
    for _ in 0..48 {
        slow.send(&chunk).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        peak = peak.max(rss_kib(pid));
    }
    std::thread::sleep(Duration::from_millis(200));
    peak = peak.max(rss_kib(pid));
    println!(
        "{}: 900 MiB SET, 48 MiB sent: RSS baseline {baseline} KiB, peak {peak} KiB",
        kind.name()
    );
    assert!(
        peak < baseline + 8 * MIB,
        "RSS grew from {baseline} KiB to {peak} KiB while an oversized value streamed in"
    );
    let (extra, end) = slow.collect(Duration::from_millis(100));
    assert!(extra.is_empty() && end == End::Timeout, "{extra:?} {end:?}");
    // The too-large SET deleted the old item (memcached's rule).
    assert_eq!(bystander.get(b"k"), None);

    // A 2 GiB body length: 0x04 and close.
    let mut huge = Raw::connect(server.port).unwrap();
    let mut head = Request::set("k", b"").opaque(0x2000);
    head.body_len = Some(2 << 30);
    huge.send(&head.encode()).unwrap();
    let (got, end, _) = huge.wait_close(Duration::from_secs(5));
    let (packets, rest) = Packet::parse_all(&got).unwrap();
    assert_eq!(rest, 0);
    assert_eq!(packets.len(), 1, "{packets:?}");
    assert_eq!(
        (
            packets[0].status,
            packets[0].opaque,
            packets[0].value.as_slice()
        ),
        (status::EINVAL, 0x2000, &b"Invalid arguments"[..])
    );
    assert!(matches!(end, End::Eof | End::Reset), "{end:?}");

    // A 4 MiB value sent whole: E2BIG, then the next request on the same connection is served.
    let mut c = Client::connect(server.port).unwrap();
    c.send_all(&[
        Request::set("k4", vec![b'y'; 4 << 20]).opaque(1),
        Request::new(op::NOOP).opaque(2),
    ])
    .unwrap();
    assert_eq!(c.read_packet().status, status::E2BIG);
    assert_eq!(c.read_packet().opaque, 2);
    bystander.set_ok(b"k", b"new");
    assert_eq!(bystander.get(b"k").as_deref(), Some(&b"new"[..]));
}
server_tests!(max_request_size: mio, poll, uring);

// ---- read timeout ----------------------------------------------------------------------------

/// `--read-timeout 1 --idle-timeout 30`: half a header and a stall is closed after ~1 s; a client
/// trickling a SET one byte every 300 ms is closed after ~1 s despite its activity; so is one
/// stalling in the middle of an oversized value being discarded; an idle connection with no
/// partial request stays open.
fn read_timeout(kind: Kind) {
    let _serial = serial();
    let server = keel_with(kind, &["--read-timeout", "1", "--idle-timeout", "30"]);
    let port = server.port;
    let mut idle = Client::connect(port).unwrap();
    assert_served(&mut idle, 1);
    let start = Instant::now();

    let half_header = std::thread::spawn(move || {
        let mut c = Raw::connect(port).unwrap();
        c.send(&Request::set("k", "v").encode()[..12]).unwrap();
        let t = Instant::now();
        let (got, end) = c.collect(Duration::from_secs(3));
        (got, end, t.elapsed())
    });
    let trickle = std::thread::spawn(move || {
        let mut c = Raw::connect(port).unwrap();
        let bytes = Request::set("slow", vec![b's'; 50]).encode();
        let t = Instant::now();
        for b in &bytes {
            if c.send(std::slice::from_ref(b)).is_err() {
                break;
            }
            let (got, end) = c.collect(Duration::from_millis(300));
            if end != End::Timeout || !got.is_empty() {
                return (got, end, t.elapsed());
            }
        }
        (Vec::new(), End::Timeout, t.elapsed())
    });
    let skipping = std::thread::spawn(move || {
        let mut c = Raw::connect(port).unwrap();
        let mut req = Request::set("skip", vec![b'z'; 4 << 20]).encode();
        req.truncate(64 << 10);
        c.send(&req).unwrap();
        let t = Instant::now();
        let (got, end) = c.collect(Duration::from_secs(3));
        (got, end, t.elapsed())
    });

    let (got, end, took) = half_header.join().unwrap();
    assert!(got.is_empty(), "half header answered: {got:?}");
    assert!(
        matches!(end, End::Eof | End::Reset),
        "half header: {end:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_secs(3),
        "half header closed after {took:?}"
    );
    let (got, end, took) = trickle.join().unwrap();
    assert!(got.is_empty(), "trickled SET answered: {got:?}");
    assert!(
        matches!(end, End::Eof | End::Reset),
        "trickle: {end:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_millis(2500),
        "the trickling client was closed after {took:?}"
    );
    let (got, end, took) = skipping.join().unwrap();
    let (packets, _) = Packet::parse_all(&got).unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].status, status::E2BIG);
    assert!(
        matches!(end, End::Eof | End::Reset),
        "skipping: {end:?} after {took:?}"
    );
    assert!(
        took <= Duration::from_secs(3),
        "skipping client closed after {took:?}"
    );

    // The idle client (nothing partial) is still served after more than the read timeout.
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(start.elapsed()));
    assert_served(&mut idle, 2);
    let stats = idle.stats("settings");
    assert_eq!(stats["read_timeout"], "1");
    assert_eq!(stats["idle_timeout"], "30");
    assert_eq!(idle.stat_u64("curr_connections"), 1);
}
server_tests!(read_timeout: mio, poll, uring);
