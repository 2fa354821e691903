//! Deterministic simulation of the whole server without sockets: hundreds of connections (a third
//! of them speaking the text protocol) on a fake clock that jumps to the next wake-up, a
//! connection limit, idle timeouts, a client that never reads (backpressure), and accounting
//! invariants checked after every step. A seeded PRNG written here drives it and the number of
//! steps is bounded, so a failure replays exactly.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use keel_core::{
    AcceptError, CacheConfig, CloseReason, Config, ConnId, ConnState, Output, Timestamp,
};
use support::*;

const IDLE: Duration = Duration::from_secs(10);

fn sim_config(max_connections: usize, idle: Option<Duration>, output_limit: usize) -> Config {
    Config {
        max_connections,
        idle_timeout: idle,
        output_limit,
        ..Config::default()
    }
}

/// Invariants that hold after every step.
fn check_invariants(h: &Harness, open: &BTreeMap<ConnId, Timestamp>, accepted: u64, rejected: u64) {
    let stats = h.server.stats();
    assert_eq!(
        stats.curr_connections,
        open.len() as u64,
        "curr_connections"
    );
    assert_eq!(h.server.connection_count(), open.len(), "connection_count");
    assert_eq!(stats.total_connections, accepted, "total_connections");
    assert_eq!(stats.rejected_connections, rejected, "rejected_connections");
    let listed: BTreeSet<ConnId> = h.server.connections().collect();
    assert_eq!(listed, open.keys().copied().collect::<BTreeSet<_>>());
    for id in open.keys() {
        assert!(
            h.server.outbound(*id).is_empty(),
            "{id:?} has unconsumed output"
        );
        assert!(h.server.interest(*id).read);
    }
    for id in h.closed.keys() {
        assert_eq!(h.server.state(*id), None);
    }
    let cache = h.server.service();
    cache.check_invariants();
    let store = cache.store_stats();
    assert!(store.memory_used <= store.memory_limit);
    assert!(store.curr_items <= 8);
}

fn random_request(rng: &mut Rng, opaque: u32) -> Vec<u8> {
    let key = [b'k', b'0' + rng.below(8) as u8];
    let mut r = match rng.below(6) {
        0 => Req::new(op::GET).key(&key),
        1 => Req::new(op::SET)
            .extras(&store_extras(rng.below(3) as u32, rng.below(4) as u32))
            .key(&key)
            .value(&vec![b'v'; rng.below(300) as usize]),
        2 => Req::new(op::DELETE).key(&key),
        3 => Req::new(op::INCR)
            .extras(&counter_extras(1, 0, 0))
            .key(&key),
        4 => Req::new(op::GETKQ).key(&key),
        _ => Req::new(op::NOOP),
    };
    r.opaque = opaque;
    r.bytes()
}

/// A random text-protocol request (classic or meta) on the same keys as `random_request`.
fn random_text_request(rng: &mut Rng) -> Vec<u8> {
    let key = format!("k{}", rng.below(8));
    let line = match rng.below(7) {
        0 => format!("get {key} k{}\r\n", rng.below(8)),
        1 => {
            let n = rng.below(300) as usize;
            format!("set {key} {} 0 {n}\r\n{}\r\n", rng.below(3), "v".repeat(n))
        }
        2 => format!("delete {key}\r\n"),
        3 => format!("incr {key} 1\r\n"),
        4 => format!("mg {key} v c f t\r\n"),
        5 => format!("ma {key} N0 J1 v\r\n"),
        _ => "mn\r\n".to_owned(),
    };
    line.into_bytes()
}

#[test]
fn hundreds_of_connections_limits_timeouts_and_accounting() {
    let mut h = Harness::with_config(sim_config(200, Some(IDLE), 1 << 20), CacheConfig::default());
    let mut rng = Rng::new(0x6b65_656c_5eed);
    // Open connections and their last activity.
    let mut open: BTreeMap<ConnId, Timestamp> = BTreeMap::new();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    // Connections that will never send anything: they must time out exactly on schedule.
    let mut silent: BTreeSet<ConnId> = BTreeSet::new();
    let mut ever_closed: BTreeSet<ConnId> = BTreeSet::new();
    let mut opaque = 0u32;

    // 300 clients arrive at once: the first 200 get in.
    for i in 0..300 {
        match h.server.accept(h.now) {
            Ok(id) => {
                accepted += 1;
                open.insert(id, h.now);
                if i % 10 == 0 {
                    silent.insert(id);
                }
            }
            Err(e) => {
                assert_eq!(e, AcceptError::AtCapacity(200));
                rejected += 1;
            }
        }
    }
    assert_eq!((accepted, rejected), (200, 100));
    check_invariants(&h, &open, accepted, rejected);
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now.saturating_add_millis(10_000))
    );

    let mut idle_closes = 0;
    for step in 0..4_000 {
        match rng.below(100) {
            // A client sends a few pipelined requests, possibly cut mid-request.
            0..=59 => {
                let talkers: Vec<ConnId> = open
                    .keys()
                    .filter(|id| !silent.contains(id))
                    .copied()
                    .collect();
                if talkers.is_empty() {
                    continue;
                }
                let id = talkers[rng.below(talkers.len() as u64) as usize];
                // Every third connection speaks the text protocol, fixed by its first byte.
                let text = id.index() % 3 == 0;
                let mut bytes = Vec::new();
                for _ in 0..=rng.below(4) {
                    opaque += 1;
                    if text {
                        bytes.extend(random_text_request(&mut rng));
                    } else {
                        bytes.extend(random_request(&mut rng, opaque));
                    }
                }
                let cut = rng.below(bytes.len() as u64 + 1) as usize;
                h.send(id, &bytes[..cut]);
                h.send(id, &bytes[cut..]);
                open.insert(id, h.now);
                let received = h.take_output(id);
                if text {
                    assert!(received.is_empty() || received.ends_with(b"\r\n"));
                } else {
                    let (_, rest) = parse_stream(&received);
                    assert!(rest.is_empty());
                }
            }
            // A client hangs up.
            60..=64 => {
                if let Some(&id) = open
                    .keys()
                    .nth(rng.below(open.len().max(1) as u64) as usize)
                {
                    if !silent.contains(&id) {
                        h.eof(id);
                        assert_eq!(h.close_reason(id), Some(CloseReason::PeerClosed));
                        open.remove(&id);
                        ever_closed.insert(id);
                    }
                }
            }
            // New clients; beyond the limit they are refused.
            65..=74 => {
                for _ in 0..=rng.below(40) {
                    match h.server.accept(h.now) {
                        Ok(id) => {
                            assert!(
                                !ever_closed.contains(&id),
                                "id {id:?} reused with the same generation"
                            );
                            accepted += 1;
                            open.insert(id, h.now);
                            if rng.chance(10) {
                                silent.insert(id);
                            }
                        }
                        Err(e) => {
                            assert_eq!(e, AcceptError::AtCapacity(200));
                            assert_eq!(open.len(), 200);
                            rejected += 1;
                        }
                    }
                }
            }
            // A stale id (a closed connection) is ignored.
            75..=77 => {
                if let Some(&id) = ever_closed.iter().next() {
                    h.send(id, &simple(op::NOOP));
                    assert!(h.take_output(id).is_empty());
                }
            }
            // Time passes: sometimes a little, sometimes straight to the next wake-up.
            _ => {
                if open.is_empty() {
                    // A lazily kept sweep time may remain: one spurious wake-up clears it.
                    if let Some(wake) = h.server.poll_timeout() {
                        h.now = h.now.max(wake);
                        h.server.handle_timeout(h.now);
                        assert_eq!(h.server.poll_output(), None);
                        assert_eq!(h.server.poll_timeout(), None);
                    }
                    continue;
                }
                let wake = h.server.poll_timeout().unwrap_or_else(|| {
                    panic!(
                        "no poll_timeout with {} open connections at step {step}",
                        open.len()
                    )
                });
                let earliest = open
                    .values()
                    .map(|t| t.saturating_add_millis(10_000))
                    .min()
                    .unwrap();
                assert!(
                    wake <= earliest,
                    "poll_timeout {wake} after the earliest deadline {earliest}"
                );
                let target = if rng.chance(20) {
                    wake
                } else {
                    h.now.saturating_add_millis(rng.below(1_000))
                };
                if target > h.now {
                    h.now = target;
                }
                let log_before = h.log.len();
                h.server.handle_timeout(h.now);
                h.drain();
                let closed_now: BTreeSet<ConnId> = h.log[log_before..]
                    .iter()
                    .map(|o| match o {
                        Output::Close(id, CloseReason::IdleTimeout) => *id,
                        other => panic!("unexpected output {other:?} from handle_timeout"),
                    })
                    .collect();
                let due: BTreeSet<ConnId> = open
                    .iter()
                    .filter(|(_, last)| last.saturating_add_millis(10_000) <= h.now)
                    .map(|(id, _)| *id)
                    .collect();
                assert_eq!(closed_now, due, "idle closes at {} (step {step})", h.now);
                if h.now < wake {
                    assert!(
                        closed_now.is_empty(),
                        "early handle_timeout closed something"
                    );
                }
                idle_closes += closed_now.len();
                for id in closed_now {
                    open.remove(&id);
                    silent.remove(&id);
                    ever_closed.insert(id);
                }
            }
        }
        check_invariants(&h, &open, accepted, rejected);
    }
    assert!(idle_closes > 100, "only {idle_closes} idle closes");
    assert!(rejected > 200, "only {rejected} refusals");
    assert!(accepted > 400, "only {accepted} accepted");
}

#[test]
fn idle_deadline_exact_and_early_timeout_does_nothing() {
    let mut h = Harness::with_config(sim_config(16, Some(IDLE), 1 << 20), CacheConfig::default());
    let t0 = h.now;
    let a = h.accept();
    let b = h.accept();
    assert_eq!(
        h.server.poll_timeout(),
        Some(t0.saturating_add_millis(10_000))
    );
    h.advance_ms(5_000);
    h.send(b, &simple(op::NOOP));
    // Early: nothing happens.
    h.server.handle_timeout(t0.saturating_add_millis(9_999));
    h.drain();
    assert!(h.closed.is_empty());
    // On time: only the silent one goes; the next deadline is b's.
    h.now = t0.saturating_add_millis(10_000);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.close_reason(a), Some(CloseReason::IdleTimeout));
    assert_eq!(h.close_reason(b), None);
    assert_eq!(
        h.server.poll_timeout(),
        Some(t0.saturating_add_millis(15_000))
    );
    h.now = t0.saturating_add_millis(14_999);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.close_reason(b), None);
    h.now = t0.saturating_add_millis(15_000);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.close_reason(b), Some(CloseReason::IdleTimeout));
    assert_eq!(h.server.poll_timeout(), None);
    assert_eq!(h.server.stats().curr_connections, 0);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut h = Harness::with_config(sim_config(16, Some(IDLE), 1 << 20), CacheConfig::default());
    let id = h.accept();
    h.advance_secs(3);
    assert_eq!(h.call1(id, &store(op::SET, b"k", b"v", 0, 2, 0)).status, 0);
    // A clock step back cannot resurrect or extend anything.
    h.now = Timestamp::from_secs(T0_SECS + 5);
    assert_eq!(h.call1(id, &get(op::GET, b"k")).status, status::KEY_ENOENT);
    h.now = Timestamp::from_secs(T0_SECS);
    assert_eq!(h.call1(id, &get(op::GET, b"k")).status, status::KEY_ENOENT);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.close_reason(id), None);
}

/// Drains outputs, consuming everything except for `slow`, whose output is left pending.
fn drain_except(h: &mut Harness, slow: ConnId) {
    for _ in 0..MAX_DRAIN_STEPS {
        match h.server.poll_output() {
            None => return,
            Some(Output::Transmit(id)) if id == slow => {}
            Some(Output::Transmit(id)) => h.consume_all(id),
            Some(Output::Close(id, reason)) => panic!("unexpected close of {id:?}: {reason:?}"),
        }
    }
    panic!("drain did not finish");
}

#[test]
fn backpressure_stops_reading_bounds_output_and_resumes() {
    const LIMIT: usize = 64 << 10;
    const VALUE: usize = 10_000;
    const GETS: u32 = 100;
    let response = 24 + 4 + VALUE;
    let mut h = Harness::with_config(sim_config(16, None, LIMIT), CacheConfig::default());
    let slow = h.accept();
    let other = h.accept();
    h.send(other, &store(op::SET, b"big", &vec![b'x'; VALUE], 0, 0, 0));
    assert_eq!(h.packets(other).len(), 1);

    // The slow client pipelines many GETs and never reads.
    let mut stream = Vec::new();
    for i in 0..GETS {
        stream.extend(request(op::GET, &[], b"big", &[], 0, i));
    }
    h.feed(slow, &stream);
    drain_except(&mut h, slow);
    let pending = h.server.outbound(slow).len();
    assert!(pending > LIMIT, "pending {pending}");
    assert!(
        pending <= LIMIT + response,
        "pending {pending} beyond the bound"
    );
    assert!(!h.server.interest(slow).read);
    assert!(h.server.interest(slow).write);
    assert_eq!(h.server.state(slow), Some(ConnState::Writing));
    let served = h.server.service().stats().cmd_get;
    assert_eq!(served, (pending / response) as u64);
    // More input is held too.
    h.feed(slow, &request(op::GET, &[], b"big", &[], 0, GETS));
    drain_except(&mut h, slow);
    assert_eq!(h.server.service().stats().cmd_get, served);
    assert_eq!(h.server.outbound(slow).len(), pending);

    // Another connection is unaffected.
    h.send(other, &get(op::GET, b"big"));
    let p = h.packets(other);
    assert_eq!((p.len(), p[0].value.len()), (1, VALUE));
    assert!(h.server.interest(other).read);

    // The slow client reads in small pieces; processing resumes and stays bounded.
    let mut received = Vec::new();
    for _ in 0..10_000 {
        let out = h.server.outbound(slow);
        if out.is_empty() {
            break;
        }
        let n = out.len().min(7_000);
        received.extend_from_slice(&out[..n]);
        h.server.consume_outbound(slow, n, h.now);
        drain_except(&mut h, slow);
        let pending = h.server.outbound(slow).len();
        assert!(
            pending <= LIMIT + response,
            "pending {pending} beyond the bound"
        );
        assert_eq!(h.server.interest(slow).read, pending <= LIMIT);
    }
    let packets = parse_all(&received);
    assert_eq!(packets.len(), GETS as usize + 1);
    for (i, p) in packets.iter().enumerate() {
        assert_eq!((p.status, p.opaque, p.value.len()), (0, i as u32, VALUE));
    }
    assert!(h.server.interest(slow).read);
    assert_eq!(h.server.state(slow), Some(ConnState::ReadingHeader));
    assert_eq!(h.server.stats().curr_connections, 2);
    h.server.service().check_invariants();
}

#[test]
fn a_peer_that_stops_reading_times_out() {
    let mut h = Harness::with_config(sim_config(16, Some(IDLE), 1 << 10), CacheConfig::default());
    let slow = h.accept();
    h.send(slow, &store(op::SET, b"k", &[b'z'; 2000], 0, 0, 0));
    h.take_output(slow);
    h.auto_consume = false;
    h.send(slow, &get(op::GET, b"k"));
    assert!(!h.server.outbound(slow).is_empty());
    h.advance_secs(10);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.close_reason(slow), Some(CloseReason::IdleTimeout));
    assert!(h.server.outbound(slow).is_empty());
}

#[test]
fn shutdown_flushes_pending_output_then_closes() {
    let mut h = Harness::with_config(sim_config(16, None, 1 << 20), CacheConfig::default());
    let a = h.accept();
    let b = h.accept();
    h.auto_consume = false;
    h.send(a, &simple(op::NOOP));
    h.server.begin_shutdown(h.now);
    h.drain();
    assert_eq!(h.close_reason(b), Some(CloseReason::Shutdown));
    assert_eq!(h.close_reason(a), None);
    assert_eq!(h.server.accept(h.now), Err(AcceptError::ShuttingDown));
    h.consume_all(a);
    h.drain();
    assert_eq!(h.close_reason(a), Some(CloseReason::Shutdown));
    assert_eq!(parse_all(&h.take_output(a)).len(), 1);
    assert_eq!(h.server.stats().curr_connections, 0);
}

/// Several workers (each its own `Server`) over one `SharedCache` and one `WorkerGroup`, driven
/// turn by turn on one fake clock: `-c` holds across them, idle connections close on every
/// worker, `stats` on any worker sums all of them, and a value written through one worker reads
/// back through every other.
#[test]
fn several_workers_share_the_limit_the_stats_and_the_data() {
    use keel_core::{Server, SharedCache, WorkerGroup};

    const WORKERS: usize = 3;
    const LIMIT: usize = 40;
    let config = sim_config(LIMIT, Some(IDLE), 1 << 20);
    let cache = SharedCache::new(CacheConfig::default(), 8);
    let group = WorkerGroup::new(WORKERS);
    let mut now = Timestamp::from_millis(T0_SECS * 1000);
    let mut servers: Vec<Server<SharedCache>> = (0..WORKERS)
        .map(|w| Server::in_group(config.clone(), cache.clone(), now, group.clone(), w))
        .collect();
    let mut rng = Rng::new(0x7711_5eed);
    // Open connections: (worker, id).
    let mut open: Vec<(usize, ConnId)> = Vec::new();
    let (mut accepted, mut rejected, mut next_worker) = (0u64, 0u64, 0usize);
    // Runs every worker's outputs: written at once; closes leave `open`.
    let drain = |servers: &mut Vec<Server<SharedCache>>, open: &mut Vec<(usize, ConnId)>, now| {
        for (w, server) in servers.iter_mut().enumerate() {
            while let Some(output) = server.poll_output() {
                match output {
                    Output::Transmit(id) => {
                        let n = server.outbound(id).len();
                        server.consume_outbound(id, n, now);
                    }
                    Output::Close(id, _) => open.retain(|&c| c != (w, id)),
                }
            }
        }
    };
    for step in 0..3_000u32 {
        match rng.below(10) {
            // Connections arrive round robin, as the listening worker spreads them.
            0..=2 => {
                let w = next_worker;
                next_worker = (next_worker + 1) % WORKERS;
                match servers[w].accept(now) {
                    Ok(id) => {
                        accepted += 1;
                        open.push((w, id));
                    }
                    Err(e) => {
                        assert_eq!(e, AcceptError::AtCapacity(LIMIT));
                        assert_eq!(open.len(), LIMIT, "refused below the limit");
                        rejected += 1;
                    }
                }
            }
            // A write through one worker, read back through another.
            3..=7 if open.len() >= 2 => {
                let (wa, a) = open[rng.below(open.len() as u64) as usize];
                let (wb, b) = open[rng.below(open.len() as u64) as usize];
                let key = format!("k{}", rng.below(50));
                let value = format!("v{step}");
                let set = format!("set {key} 0 0 {}\r\n{value}\r\n", value.len());
                servers[wa].handle_input(a, now, set.as_bytes());
                assert_eq!(servers[wa].outbound(a), b"STORED\r\n");
                drain(&mut servers, &mut open, now);
                servers[wb].handle_input(b, now, format!("get {key}\r\n").as_bytes());
                let want = format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len());
                assert_eq!(servers[wb].outbound(b), want.as_bytes(), "step {step}");
            }
            // Time passes: idle connections close on whichever worker holds them.
            8 => {
                now = now.saturating_add_millis(rng.below(4_000));
                for server in servers.iter_mut() {
                    server.handle_timeout(now);
                }
            }
            _ => {}
        }
        drain(&mut servers, &mut open, now);
        let totals = group.totals();
        assert_eq!(totals.curr_connections, open.len() as u64, "step {step}");
        assert_eq!(totals.total_connections, accepted);
        assert_eq!(totals.rejected_connections, rejected);
        let held: usize = servers.iter().map(|s| s.connection_count()).sum();
        assert_eq!(held, open.len());
        assert!(open.len() <= LIMIT);
    }
    assert!(
        rejected > 0 && accepted > LIMIT as u64,
        "the limit was reached and freed"
    );
    // Any worker's `stats` is the sum of all of them.
    let (w, id) = open[0];
    servers[w].handle_input(id, now, b"stats\r\n");
    let text = String::from_utf8(servers[w].outbound(id).to_vec()).unwrap();
    assert!(text.contains(&format!("STAT curr_connections {}\r\n", open.len())));
    assert!(text.contains(&format!("STAT total_connections {accepted}\r\n")));
    assert!(text.contains("STAT threads 3\r\n"));
    cache.check_invariants();
}
