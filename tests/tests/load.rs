//! Load and shutdown scenarios: 1,000 concurrent connections, 10,000 pipelined SETQ in one write,
//! and SIGTERM while clients are hammering the server. Each runs against both keel drivers; the
//! pipelining scenario also runs against memcached to keep the expectations honest.
//! The tests in this file take a process-wide lock so that their timing bounds hold on 2 cores.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keel_tests::server::{raise_nofile, serial};
use keel_tests::{Client, End, Kind, Options, Request, Server, op, server_tests, status};

/// Deterministic value for (connection, round): length varies from 1 to ~1.2 KiB.
fn value_for(conn: usize, round: usize) -> Vec<u8> {
    let len = 1 + (conn * 131 + round * 17) % 1200;
    (0..len)
        .map(|i| b'a' + ((conn + round + i) % 26) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 5. 1,000 concurrent connections × 100 verified set/get pairs.

fn thousand_connections(kind: Kind) {
    let _serial = serial();
    const CONNS: usize = 1000;
    const ROUNDS: usize = 100;
    let limit = raise_nofile(CONNS as u64 + 512);
    assert!(
        limit >= CONNS as u64 + 64,
        "RLIMIT_NOFILE is {limit}, need > {CONNS} for the client side"
    );
    let server = Server::start_with(
        kind,
        &Options {
            conn_limit: Some(2000),
            memory_mib: Some(256),
            ..Options::default()
        },
    );
    let port = server.port;

    // Every connection is opened and proven live (NOOP) before any of them starts its rounds,
    // so all 1,000 are open at the same time.
    let barrier = Arc::new(Barrier::new(CONNS + 1));
    // Nobody closes before the main thread has counted the connections.
    let hold = Arc::new(Barrier::new(CONNS + 1));
    let connect_failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let handles: Vec<_> = (0..CONNS)
        .map(|conn| {
            let (barrier, hold, connect_failures) = (barrier.clone(), hold.clone(), connect_failures.clone());
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || -> Result<(), String> {
                    let connected = (|| {
                        let mut c = Client::connect(port).map_err(|e| format!("conn {conn}: connect: {e}"))?;
                        c.timeout = Duration::from_secs(30);
                        let p = c.call(&Request::new(op::NOOP).opaque(conn as u32));
                        if p.status != 0 || p.opaque != conn as u32 {
                            return Err(format!("conn {conn}: bad NOOP reply {p:?}"));
                        }
                        Ok(c)
                    })();
                    if let Err(e) = &connected {
                        connect_failures.lock().unwrap().push(e.clone());
                    }
                    barrier.wait();
                    let mut connected = connected;
                    let result = (|| -> Result<(), String> {
                        // Borrowed, not moved: the connection stays open until after `hold`.
                        let c = connected.as_mut().map_err(|e| e.clone())?;
                        for round in 0..ROUNDS {
                            let key = format!("c{conn}:r{round}");
                            let value = value_for(conn, round);
                            let flags = (conn * ROUNDS + round) as u32;
                            let p = c.call(&Request::store(op::SET, &key, &value, flags, 0).opaque(round as u32));
                            if p.status != status::SUCCESS || p.opaque != round as u32 || p.cas == 0 {
                                return Err(format!("conn {conn} round {round}: SET reply {p:?}"));
                            }
                            let g = c.call(&Request::get(op::GET, &key).opaque(!(round as u32)));
                            if g.status != status::SUCCESS || g.value != value || g.flags() != Some(flags) || g.cas != p.cas {
                                return Err(format!(
                                    "conn {conn} round {round}: GET reply status {:#x} len {} flags {:?} cas {} (set cas {})",
                                    g.status,
                                    g.value.len(),
                                    g.flags(),
                                    g.cas,
                                    p.cas
                                ));
                            }
                        }
                        Ok(())
                    })();
                    hold.wait();
                    drop(connected);
                    result
                })
                .expect("spawn client thread")
        })
        .collect();
    barrier.wait();
    let failures = connect_failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of {CONNS} connections could not be opened: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut mid = Client::connect(port).expect("stat connection");
    let curr = mid.stat_u64("curr_connections");
    hold.wait();
    assert_eq!(
        curr,
        CONNS as u64 + 1,
        "curr_connections while {CONNS} clients + 1 are connected"
    );
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().expect("client thread panicked").err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {CONNS} connections failed; first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let stats = mid.stats("");
    assert_eq!(stats["curr_items"], (CONNS * ROUNDS).to_string());
    assert!(stats["cmd_set"].parse::<u64>().unwrap() >= (CONNS * ROUNDS) as u64);
    assert_eq!(stats["get_hits"], (CONNS * ROUNDS).to_string());
    assert_eq!(mid.get(b"c999:r99"), Some(value_for(999, 99)));
    eprintln!(
        "{}: {CONNS} connections x {ROUNDS} set/get pairs in {:?}",
        kind.name(),
        started.elapsed()
    );
}
server_tests!(thousand_connections: mio, poll, uring);

// ---------------------------------------------------------------------------------------------
// 8. 10,000 SETQ + NOOP in a single write: everything stored, exactly one NOOP response.

fn pipelined_setq(kind: Kind) {
    let _serial = serial();
    const N: u32 = 10_000;
    let server = Server::start(kind);
    let mut c = Client::connect(server.port).unwrap();
    let mut wire = Vec::new();
    for i in 0..N {
        Request::store(
            op::SETQ,
            format!("pipe:{i}"),
            format!("value-{i}-{}", "x".repeat((i % 97) as usize)),
            i,
            0,
        )
        .opaque(i)
        .encode_into(&mut wire);
    }
    Request::new(op::NOOP)
        .opaque(0xC0FFEE)
        .encode_into(&mut wire);
    assert!(
        wire.len() > 400_000,
        "the single write is {} bytes",
        wire.len()
    );
    c.send_raw(&wire)
        .expect("single write of the whole pipeline");

    let noop = c.read_packet();
    assert_eq!(
        (
            noop.magic,
            noop.opcode,
            noop.status,
            noop.opaque,
            noop.cas,
            noop.extras.len(),
            noop.key.len(),
            noop.value.len()
        ),
        (0x81, op::NOOP, 0, 0xC0FFEE, 0, 0, 0, 0),
        "the first and only response must be the NOOP's: {noop:?}"
    );
    // Nothing else may have been sent: the next packet is the answer to the next request.
    let p = c.call(&Request::get(op::GETK, "pipe:0").opaque(7));
    assert_eq!(
        (p.opcode, p.status, p.opaque),
        (op::GETK, 0, 7),
        "unexpected extra response after NOOP: {p:?}"
    );
    assert_eq!(p.key, b"pipe:0");
    assert_eq!(p.value, b"value-0-");
    assert!(
        c.pending().is_empty(),
        "stray bytes after the pipeline: {:02x?}",
        c.pending()
    );

    // A sample, fetched with one pipelined GETKQ batch + NOOP.
    let sample: Vec<u32> = (0..N).step_by(97).chain([N - 1]).collect();
    let reqs: Vec<Request> = sample
        .iter()
        .map(|&i| Request::get(op::GETKQ, format!("pipe:{i}")).opaque(i))
        .collect();
    c.send_all(&reqs).unwrap();
    let got = c.sync(0xD0D0);
    assert_eq!(got.len(), sample.len() + 1, "every sampled key must hit");
    for (p, &i) in got.iter().zip(&sample) {
        assert_eq!((p.opcode, p.status, p.opaque), (op::GETKQ, 0, i));
        assert_eq!(p.key, format!("pipe:{i}").as_bytes());
        assert_eq!(
            p.value,
            format!("value-{i}-{}", "x".repeat((i % 97) as usize)).as_bytes()
        );
        assert_eq!(p.flags(), Some(i));
    }
    let stats = c.stats("");
    assert_eq!(stats["curr_items"], N.to_string());
    assert_eq!(stats["total_items"], N.to_string());
    assert_eq!(stats["cmd_set"], N.to_string());
}
server_tests!(pipelined_setq: mio, poll, uring, memcached);

// ---------------------------------------------------------------------------------------------
// 9. SIGTERM under load: exit 0 within 2 s; every response produced is delivered whole, then EOF.

/// What one hammering client saw.
struct Hammer {
    batches_sent: usize,
    responses: usize,
    end: End,
    trailing: Vec<u8>,
}

fn sigterm_under_load(kind: Kind) {
    let _serial = serial();
    const CLIENTS: usize = 8;
    const BATCH: usize = 16;
    let server = Server::start(kind);
    let port = server.port;
    // A 64 KiB value makes each batch of GETs produce 1 MiB of output: plenty in flight at SIGTERM.
    let big: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    {
        let mut c = Client::connect(port).unwrap();
        c.set_ok(b"big", &big);
        c.set_ok(b"small", b"s");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (big, stop, barrier) = (big.clone(), stop.clone(), barrier.clone());
            std::thread::spawn(move || -> Hammer {
                let mut c = Client::connect(port).unwrap();
                c.timeout = Duration::from_secs(5);
                barrier.wait();
                let key: &[u8] = if n % 2 == 0 { b"big" } else { b"small" };
                let mut h = Hammer {
                    batches_sent: 0,
                    responses: 0,
                    end: End::Timeout,
                    trailing: Vec::new(),
                };
                // Lock-step batches: send a batch, read all of its responses, repeat. At shutdown a
                // client is either waiting for responses (which must arrive whole) or about to send.
                for _ in 0..100_000 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        // After the signal nothing more is sent: only the server's close may follow.
                        match c.read_packet_or_end() {
                            Ok(p) => {
                                panic!("client {n}: unsolicited packet after its last batch: {p:?}")
                            }
                            Err(end) => h.end = end,
                        }
                        break;
                    }
                    let reqs: Vec<Request> = (0..BATCH)
                        .map(|i| Request::get(op::GET, key).opaque(i as u32))
                        .collect();
                    if c.send_all(&reqs).is_err() {
                        h.end = End::Reset;
                        break;
                    }
                    h.batches_sent += 1;
                    let mut ended = None;
                    for i in 0..BATCH {
                        match c.read_packet_or_end() {
                            Ok(p) => {
                                assert_eq!(
                                    (p.opcode, p.status, p.opaque),
                                    (op::GET, 0, i as u32),
                                    "client {n}"
                                );
                                assert_eq!(
                                    p.value,
                                    if n % 2 == 0 { &big[..] } else { b"s" },
                                    "client {n}: value corrupted"
                                );
                                h.responses += 1;
                            }
                            Err(end) => {
                                ended = Some(end);
                                break;
                            }
                        }
                    }
                    if let Some(end) = ended {
                        h.end = end;
                        break;
                    }
                }
                h.trailing = c.pending().to_vec();
                h
            })
        })
        .collect();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(500));
    let mut server = server;
    let before = Instant::now();
    server.signal(libc::SIGTERM);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let exited = server.wait_exit(Duration::from_secs(5));
    let took = before.elapsed();
    let results: Vec<Hammer> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect();
    let (status, exit_time) =
        exited.unwrap_or_else(|| panic!("{} still running 5 s after SIGTERM", kind.name()));
    assert!(
        exit_time <= Duration::from_secs(2),
        "exit took {exit_time:?} (> 2 s); status {status}"
    );
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
    for (n, h) in results.iter().enumerate() {
        assert!(
            h.responses > 0,
            "client {n} got no responses before the shutdown"
        );
        assert!(
            h.trailing.is_empty(),
            "client {n}: {} bytes of an incomplete packet before {:?} (a produced response was cut)",
            h.trailing.len(),
            h.end
        );
        // Only whole batches: the server must not stop halfway through output it produced.
        assert_eq!(
            h.responses % BATCH,
            0,
            "client {n}: {} responses is not a whole number of {BATCH}-request batches",
            h.responses
        );
        match h.end {
            End::Eof => {}
            // The one legitimate reset: a batch sent in the instant between the server's last read and
            // the signal reaching this client, never read by the server, so none of it was answered.
            End::Reset if h.responses == (h.batches_sent - 1) * BATCH => {}
            end => panic!(
                "client {n} ({} batches sent, {} responses): connection ended by {end:?} instead of EOF",
                h.batches_sent, h.responses
            ),
        }
    }
    eprintln!(
        "{}: exited {status} in {took:?}; responses per client {:?}",
        kind.name(),
        results.iter().map(|h| h.responses).collect::<Vec<_>>()
    );
}
server_tests!(sigterm_under_load: mio, poll, uring);
