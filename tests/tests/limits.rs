//! Connection limits and timeouts, against both keel drivers: `-c 10` refuses the 11th connection
//! and counts it in `rejected_connections`; `--idle-timeout 1` closes idle connections but not busy
//! ones; a client that sends half a request and closes its socket is forgotten (curr_connections
//! returns to where it was). The half-request scenario also runs against memcached.

use std::time::{Duration, Instant};

use keel_tests::client::wait_for;
use keel_tests::server::serial;
use keel_tests::{Client, End, Kind, Options, Request, Server, op, server_tests};

/// Proves a connection is being served: a NOOP round trip.
fn assert_served(c: &mut Client, opaque: u32) {
    let p = c.call(&Request::new(op::NOOP).opaque(opaque));
    assert_eq!((p.opcode, p.status, p.opaque), (op::NOOP, 0, opaque));
}

// ---------------------------------------------------------------------------------------------
// 6. Connection limit.

fn connection_limit(kind: Kind) {
    let _serial = serial();
    let server = Server::start_with(
        kind,
        &Options {
            conn_limit: Some(10),
            ..Options::default()
        },
    );
    let mut conns: Vec<Client> = (0..10)
        .map(|i| {
            let mut c = Client::connect(server.port).expect("connect within the limit");
            assert_served(&mut c, i);
            c
        })
        .collect();
    assert_eq!(conns[0].stat_u64("curr_connections"), 10);
    assert_eq!(conns[0].stat_u64("rejected_connections"), 0);

    // The 11th: the kernel completes the handshake, then the server closes it unanswered.
    let mut eleventh = Client::connect(server.port).expect("TCP connect of the 11th");
    let _ = eleventh.send(&Request::new(op::NOOP).opaque(11));
    let (got, end) = eleventh.wait_end(Duration::from_secs(5));
    assert!(
        got.is_empty(),
        "the refused connection was answered: {got:?}"
    );
    assert!(
        matches!(end, End::Eof | End::Reset),
        "the 11th connection was not closed by the server ({end:?})"
    );
    let stats = conns[0].stats("");
    assert_eq!(
        stats["rejected_connections"], "1",
        "rejected_connections after one refusal"
    );
    assert_eq!(stats["curr_connections"], "10");

    // Close one; once the server has noticed, a new connection is accepted and served.
    drop(conns.pop());
    let seen = wait_for(Duration::from_secs(3), || {
        (conns[0].stat_u64("curr_connections") == 9).then_some(())
    });
    assert!(
        seen.is_some(),
        "curr_connections did not drop to 9 after a client closed"
    );
    let mut fresh = Client::connect(server.port).expect("connect after a slot freed");
    assert_served(&mut fresh, 12);
    let stats = fresh.stats("");
    assert_eq!(stats["curr_connections"], "10");
    assert_eq!(stats["rejected_connections"], "1");
    // The others are still fine.
    for (i, c) in conns.iter_mut().enumerate() {
        assert_served(c, 100 + i as u32);
    }
}
server_tests!(connection_limit: mio, poll, uring);

// ---------------------------------------------------------------------------------------------
// 7a. Idle timeout.

fn idle_timeout(kind: Kind) {
    let _serial = serial();
    let server = Server::start_with(
        kind,
        &Options {
            idle_timeout: Some(1),
            poll_timeout_ms: Some(100),
            ..Options::default()
        },
    );
    let mut idle = Client::connect(server.port).unwrap();
    assert_served(&mut idle, 1);
    let mut busy = Client::connect(server.port).unwrap();
    assert_served(&mut busy, 2);
    let start = Instant::now();

    // The busy client keeps talking every 200 ms for 3 s; it must stay open throughout.
    let busy_thread = std::thread::spawn(move || {
        for i in 0..15 {
            std::thread::sleep(Duration::from_millis(200));
            assert_served(&mut busy, 10 + i);
        }
        busy
    });
    let (got, end) = idle.wait_end(Duration::from_secs(5));
    let closed_after = start.elapsed();
    assert!(got.is_empty(), "idle connection received {got:?}");
    assert!(
        matches!(end, End::Eof | End::Reset),
        "idle connection not closed within 5 s ({end:?})"
    );
    assert!(
        closed_after >= Duration::from_millis(900),
        "closed too early: {closed_after:?}"
    );
    assert!(
        closed_after <= Duration::from_millis(3000),
        "closed too late for --idle-timeout 1: {closed_after:?}"
    );
    let mut busy = busy_thread.join().expect("busy client was disconnected");

    // After its last request the busy client is idle too, and is closed in turn.
    let (got, end) = busy.wait_end(Duration::from_secs(5));
    assert!(
        got.is_empty() && matches!(end, End::Eof | End::Reset),
        "busy client not closed once idle: {got:?} {end:?}"
    );
    // A client that connects and sends nothing is closed as well.
    let mut silent = Client::connect(server.port).unwrap();
    let t = Instant::now();
    let (_, end) = silent.wait_end(Duration::from_secs(5));
    assert!(
        matches!(end, End::Eof | End::Reset) && t.elapsed() <= Duration::from_secs(3),
        "silent client: {end:?} after {:?}",
        t.elapsed()
    );
    let mut fresh = Client::connect(server.port).unwrap();
    assert_eq!(
        fresh.stat_u64("curr_connections"),
        1,
        "the timed-out connections are gone"
    );
}
server_tests!(idle_timeout: mio, poll, uring);

// ---------------------------------------------------------------------------------------------
// 7b. Half a request, then the client vanishes (default idle timeout: only EOF can free it).

fn half_request_then_vanish(kind: Kind) {
    let server = Server::start(kind);
    let mut control = Client::connect(server.port).unwrap();
    let before = control.stat_u64("curr_connections");
    let total_before = control.stat_u64("total_connections");

    // Three shapes of "half a request": part of a header, a header without its body, and a SET
    // whose value is cut short.
    let set = Request::set("half", vec![b'v'; 1000]).encode();
    let partials: [&[u8]; 3] = [&set[..10], &set[..24], &set[..24 + 8 + 4 + 500]];
    for (i, partial) in partials.iter().enumerate() {
        let mut c = Client::connect(server.port).unwrap();
        c.send_raw(partial).unwrap();
        let during = wait_for(Duration::from_secs(3), || {
            let n = control.stat_u64("curr_connections");
            (n == before + 1).then_some(n)
        });
        assert!(
            during.is_some(),
            "partial #{i}: the half-open client was not counted"
        );
        drop(c);
        let after = wait_for(Duration::from_secs(3), || {
            let n = control.stat_u64("curr_connections");
            (n == before).then_some(n)
        });
        assert!(
            after.is_some(),
            "partial #{i}: curr_connections stayed at {} after the client vanished (before: {before})",
            control.stat_u64("curr_connections")
        );
    }
    assert_eq!(control.stat_u64("total_connections"), total_before + 3);
    // Nothing half-sent was stored.
    assert_eq!(control.get(b"half"), None);
}
server_tests!(half_request_then_vanish: mio, poll, uring, memcached);
