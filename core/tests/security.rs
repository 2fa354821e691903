//! Security and robustness of the pure core, without sockets, on a fake clock: SASL PLAIN
//! authentication as memcached 1.6 answers it with `-S` (PROTOCOL.md §1 step 5, §2, §3), the read
//! timeout for partial requests (slowloris), and the hard limits that keep a hostile peer from
//! growing server memory (oversized bodies skipped without buffering, bodies over 1 GiB refused,
//! text lines over 2048 bytes, multi-get lines up to 1 MiB, the output backpressure bound).

mod support;

use std::time::Duration;

use keel_core::protocol::FrameError;
use keel_core::{CacheConfig, CloseReason, Config, ConnId, ConnState, Credentials, Timestamp};
use support::*;

const STEP: u8 = 0x22;
const USER: &[u8] = b"alice";
const PASSWORD: &[u8] = b"s3cret-pa55";

fn credentials() -> Credentials {
    Credentials::new([
        (USER.to_vec(), PASSWORD.to_vec()),
        (b"bob".to_vec(), b"hunter2".to_vec()),
    ])
}

fn sasl_harness() -> Harness {
    let config = Config {
        idle_timeout: None,
        sasl: Some(credentials()),
        ..Config::default()
    };
    Harness::with_config(config, CacheConfig::default())
}

/// The PLAIN message `authzid \0 authcid \0 password`.
fn plain(authzid: &[u8], user: &[u8], password: &[u8]) -> Vec<u8> {
    let mut m = authzid.to_vec();
    m.push(0);
    m.extend_from_slice(user);
    m.push(0);
    m.extend_from_slice(password);
    m
}

fn auth(mechanism: &[u8], data: &[u8], opaque: u32) -> Vec<u8> {
    request(op::SASL_AUTH, &[], mechanism, data, 0, opaque)
}

fn assert_open(h: &Harness, id: ConnId) {
    assert_eq!(h.close_reason(id), None, "connection was closed");
    assert_eq!(h.server.state(id), Some(ConnState::ReadingHeader));
}

/// Authenticates `id` as alice and asserts success.
fn login(h: &mut Harness, id: ConnId) {
    let p = h.call1(id, &auth(b"PLAIN", &plain(b"", USER, PASSWORD), 0xa1));
    assert_eq!(
        p,
        Packet::response(
            op::SASL_AUTH,
            status::SUCCESS,
            0xa1,
            0,
            b"",
            b"",
            b"Authenticated"
        )
    );
}

/// A general STAT value read over a fresh, authenticated connection.
fn sasl_stat(h: &mut Harness, name: &str) -> String {
    let id = h.accept();
    login(h, id);
    let packets = h.call(id, &request(op::STAT, &[], b"", &[], 0, 0));
    h.eof(id);
    packets
        .iter()
        .find(|p| p.key == name.as_bytes())
        .map(|p| String::from_utf8(p.value.clone()).unwrap())
        .unwrap_or_else(|| panic!("no stat {name}"))
}

// ---- SASL ------------------------------------------------------------------------------------

#[test]
fn list_mechs_answers_plain_before_authentication() {
    let mut h = sasl_harness();
    let id = h.accept();
    h.send(
        id,
        &request(op::SASL_LIST_MECHS, &[], &[], &[], 0, 0x0102_0304),
    );
    let mut expected = header_bytes(0x81, op::SASL_LIST_MECHS, 0, 0, 0, 0, 5, 0x0102_0304, 0);
    expected.extend_from_slice(b"PLAIN");
    assert_eq!(h.take_output(id), expected);
    assert_open(&h, id);
}

#[test]
fn right_password_authenticates_and_commands_work() {
    let mut h = sasl_harness();
    let id = h.accept();
    h.send(id, &auth(b"PLAIN", &plain(b"", USER, PASSWORD), 9));
    let mut expected = header_bytes(0x81, op::SASL_AUTH, 0, 0, 0, 0, 13, 9, 0);
    expected.extend_from_slice(b"Authenticated");
    assert_eq!(h.take_output(id), expected);
    let p = h.call1(id, &set(b"k", b"v"));
    assert_eq!(p.status, status::SUCCESS);
    let p = h.call1(id, &get(op::GET, b"k"));
    assert_eq!((p.status, p.value.as_slice()), (status::SUCCESS, &b"v"[..]));
    // The second user, and an authzid equal to the user, work too.
    let other = h.accept();
    let p = h.call1(
        other,
        &auth(b"PLAIN", &plain(b"bob", b"bob", b"hunter2"), 1),
    );
    assert_eq!(p.status, status::SUCCESS);
    assert_eq!(h.call1(other, &get(op::GET, b"k")).value, b"v");
}

#[test]
fn wrong_credentials_get_auth_error_and_the_connection_stays_open() {
    let mut h = sasl_harness();
    let id = h.accept();
    let wrong: [(&[u8], Vec<u8>); 7] = [
        (b"PLAIN", plain(b"", USER, b"s3cret-pa56")),
        (b"PLAIN", plain(b"", USER, b"s3cret-pa5")),
        (b"PLAIN", plain(b"", USER, b"s3cret-pa555")),
        (b"PLAIN", plain(b"", b"mallory", PASSWORD)),
        (b"PLAIN", plain(b"bob", USER, PASSWORD)), // authzid other than the user
        (b"PLAIN", b"alice".to_vec()),             // no separators
        (b"CRAM-MD5", plain(b"", USER, PASSWORD)), // a mechanism not offered
    ];
    for (i, (mech, data)) in wrong.iter().enumerate() {
        h.send(id, &auth(mech, data, i as u32));
        let mut expected = header_bytes(0x81, op::SASL_AUTH, 0, 0, 0, 0x20, 13, i as u32, 0);
        expected.extend_from_slice(b"Auth failure.");
        assert_eq!(h.take_output(id), expected, "attempt {i}");
        assert_open(&h, id);
    }
    // The right password on the same connection still works.
    login(&mut h, id);
    assert_eq!(
        h.call1(id, &get(op::GET, b"nope")),
        Packet::error(op::GET, status::KEY_ENOENT, 0)
    );
}

#[test]
fn unauthenticated_get_gets_auth_error_then_close() {
    let mut h = sasl_harness();
    let id = h.accept();
    // A GET followed by a pipelined NOOP: the GET is answered with 0x20 and nothing after it.
    let mut stream = request(op::GET, &[], b"k", &[], 0, 0x77);
    stream.extend(simple(op::NOOP));
    h.send(id, &stream);
    let mut expected = header_bytes(0x81, op::GET, 0, 0, 0, 0x20, 13, 0x77, 0);
    expected.extend_from_slice(b"Auth failure.");
    assert_eq!(h.take_output(id), expected);
    assert_eq!(h.close_reason(id), Some(CloseReason::Unauthenticated));
}

#[test]
fn every_other_opcode_is_refused_before_authentication() {
    let mut h = sasl_harness();
    let requests: Vec<(u8, Vec<u8>)> = vec![
        (op::SET, set(b"k", b"v")),
        (op::NOOP, simple(op::NOOP)),
        (op::STAT, simple(op::STAT)),
        (op::FLUSH, simple(op::FLUSH)),
        (op::DELETE, get(op::DELETE, b"k")),
        (op::INCR, counter(op::INCR, b"c", 1, 0, 0, 0)),
        (op::QUIT, simple(op::QUIT)),
        (op::GETQ, get(op::GETQ, b"k")),
        (op::TOUCH, touch(op::TOUCH, b"k", 10)),
        (0x50, simple(0x50)), // unknown opcode
    ];
    for (opcode, bytes) in requests {
        let id = h.accept();
        let p = h.call1(id, &bytes);
        assert_eq!(p, Packet::error(opcode, 0x20, 0), "opcode {opcode:#x}");
        assert_eq!(
            h.close_reason(id),
            Some(CloseReason::Unauthenticated),
            "opcode {opcode:#x}"
        );
    }
    // Nothing was stored by the refused SET.
    let id = h.accept();
    login(&mut h, id);
    assert_eq!(h.call1(id, &get(op::GET, b"k")).status, status::KEY_ENOENT);
}

#[test]
fn version_is_allowed_before_authentication() {
    let mut h = sasl_harness();
    let id = h.accept();
    let p = h.call1(id, &request(op::VERSION, &[], &[], &[], 0, 5));
    assert_eq!(
        p,
        Packet::response(op::VERSION, status::SUCCESS, 5, 0, b"", b"", b"1.6.18")
    );
    assert_open(&h, id);
    login(&mut h, id);
}

#[test]
fn step_is_an_auth_error_and_counted() {
    let mut h = sasl_harness();
    let id = h.accept();
    let p = h.call1(
        id,
        &request(STEP, &[], b"PLAIN", &plain(b"", USER, PASSWORD), 0, 3),
    );
    assert_eq!(p, Packet::error(STEP, 0x20, 3));
    assert_open(&h, id);
    // STEP after a successful AUTH fails as well (PLAIN has one step) and does not log out.
    login(&mut h, id);
    let p = h.call1(id, &request(STEP, &[], b"PLAIN", b"more", 0, 4));
    assert_eq!(p, Packet::error(STEP, 0x20, 4));
    assert_eq!(h.call1(id, &simple(op::NOOP)).status, status::SUCCESS);
}

#[test]
fn mechanism_over_32_bytes_is_invalid_and_its_data_skipped() {
    let mut h = sasl_harness();
    let id = h.accept();
    let long_mech = [b'M'; 33];
    let mut stream = auth(&long_mech, &plain(b"", USER, PASSWORD), 6);
    stream.extend(request(op::VERSION, &[], &[], &[], 0, 7));
    let packets = h.call(id, &stream);
    assert_eq!(
        packets,
        vec![
            Packet::error(op::SASL_AUTH, status::EINVAL, 6),
            Packet::response(op::VERSION, 0, 7, 0, b"", b"", b"1.6.18"),
        ]
    );
    assert_open(&h, id);
    // Exactly 32 bytes is a mechanism name like any other: not offered, so an auth failure.
    let p = h.call1(id, &auth(&[b'M'; 32], b"\0alice\0x", 8));
    assert_eq!(p, Packet::error(op::SASL_AUTH, 0x20, 8));
}

#[test]
fn auth_data_larger_than_an_item_is_out_of_memory_and_skipped() {
    let mut h = sasl_harness();
    let id = h.accept();
    let huge = vec![b'x'; 2 << 20];
    let mut stream = auth(b"PLAIN", &huge, 1);
    stream.extend(simple(op::VERSION));
    // Sent in 64 KiB reads: the data is skipped as it streams in, never buffered whole.
    h.send_chunked(id, &stream, 65536);
    let packets = parse_all(&h.take_output(id));
    assert_eq!(packets.len(), 2, "{packets:?}");
    assert_eq!(packets[0], Packet::error(op::SASL_AUTH, 0x82, 1));
    assert_eq!(packets[1].opcode, op::VERSION);
    assert_open(&h, id);
}

#[test]
fn sasl_opcodes_without_sasl_are_unknown_commands_with_the_body_skipped() {
    let mut h = Harness::new();
    let id = h.accept();
    let mut stream = request(op::SASL_LIST_MECHS, &[], &[], &[], 0, 1);
    stream.extend(auth(b"PLAIN", &plain(b"", USER, PASSWORD), 2));
    stream.extend(request(STEP, &[], b"PLAIN", b"0123456789", 0, 3));
    // The data of an AUTH is skipped exactly, even when it looks like a request itself.
    stream.extend(auth(b"PLAIN", &simple(op::QUIT), 4));
    stream.extend(request(op::NOOP, &[], &[], &[], 0, 5));
    assert_eq!(
        h.call(id, &stream),
        vec![
            Packet::error(op::SASL_LIST_MECHS, 0x81, 1),
            Packet::error(op::SASL_AUTH, 0x81, 2),
            Packet::error(STEP, 0x81, 3),
            Packet::error(op::SASL_AUTH, 0x81, 4),
            Packet::response(op::NOOP, 0, 5, 0, b"", b"", b""),
        ]
    );
    assert_open(&h, id);
    // LIST_MECHS with a body is a malformed request: 0x04 and close, as memcached does.
    let id = h.accept();
    let p = h.call1(id, &request(op::SASL_LIST_MECHS, &[], &[], b"xx", 0, 6));
    assert_eq!(p, Packet::error(op::SASL_LIST_MECHS, status::EINVAL, 6));
    assert!(matches!(
        h.close_reason(id),
        Some(CloseReason::Protocol(FrameError::BadShape { .. }))
    ));
    assert_eq!(h.stat(b"", "auth_cmds").as_deref(), Some("0"));
}

#[test]
fn text_on_a_sasl_server_is_parsed_as_binary() {
    let mut h = sasl_harness();
    let id = h.accept();
    // 7 bytes: fewer than a header, so the binary parser waits (memcached does the same).
    h.send(id, b"get x\r\n");
    assert!(h.take_output(id).is_empty());
    assert_eq!(h.close_reason(id), None);
    // 24 bytes in all: a header with magic 'g', closed with no reply.
    h.send(id, b"get y\r\nget z\r\nstats\r\n\r\n");
    assert!(h.take_output(id).is_empty());
    assert_eq!(
        h.close_reason(id),
        Some(CloseReason::Protocol(FrameError::BadMagic(b'g')))
    );
    // A text flush_all is not run either.
    let id = h.accept();
    h.send(id, b"flush_all\r\nflush_all\r\nflush_all\r\n");
    assert!(h.take_output(id).is_empty());
    assert!(h.close_reason(id).is_some());
}

#[test]
fn auth_stats_count_commands_and_errors() {
    let mut h = sasl_harness();
    let id = h.accept();
    login(&mut h, id); // 1 command, 0 errors
    let other = h.accept();
    h.call1(other, &auth(b"PLAIN", &plain(b"", USER, b"nope"), 0)); // 2, 1
    h.call1(other, &request(STEP, &[], b"PLAIN", b"x", 0, 0)); // 3, 2
    h.call1(other, &auth(b"PLAIN", &plain(b"", b"bob", b"hunter2"), 0)); // 4, 2
    // The STAT itself is read over an authenticated connection: one more AUTH.
    assert_eq!(sasl_stat(&mut h, "auth_cmds"), "5");
    assert_eq!(sasl_stat(&mut h, "auth_errors"), "2");
    let id = h.accept();
    login(&mut h, id);
    let packets = h.call(id, &request(op::STAT, &[], b"settings", &[], 0, 0));
    let sasl = packets
        .iter()
        .find(|p| p.key == b"auth_enabled_sasl")
        .expect("auth_enabled_sasl setting");
    assert_eq!(sasl.value, b"yes");
}

#[test]
fn auth_split_into_single_bytes_gives_the_same_answer() {
    let mut whole = sasl_harness();
    let a = whole.accept();
    let mut stream = auth(b"PLAIN", &plain(b"", USER, b"wrong"), 1);
    stream.extend(auth(b"PLAIN", &plain(b"", USER, PASSWORD), 2));
    stream.extend(set(b"k", b"v"));
    stream.extend(get(op::GET, b"k"));
    whole.send(a, &stream);
    let expected = whole.take_output(a);
    let mut split = sasl_harness();
    let b = split.accept();
    split.send_chunked(b, &stream, 1);
    let got = split.take_output(b);
    // CAS values come from the same sequence on both servers.
    assert_eq!(got, expected);
    assert_eq!(parse_all(&got).len(), 4);
}

#[test]
fn passwords_never_appear_in_debug_output() {
    let config = Config {
        sasl: Some(credentials()),
        ..Config::default()
    };
    let shown = format!("{config:?} {:?}", credentials());
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

// ---- read timeout ----------------------------------------------------------------------------

fn read_timeout_harness(read_secs: u64, idle_secs: Option<u64>) -> Harness {
    let config = Config {
        idle_timeout: idle_secs.map(Duration::from_secs),
        read_timeout: Some(Duration::from_secs(read_secs)),
        ..Config::default()
    };
    Harness::with_config(config, CacheConfig::default())
}

/// Runs the sweep at `T0 + ms`.
fn tick(h: &mut Harness, ms: u64) {
    h.at_ms(ms);
    h.server.handle_timeout(h.now);
    h.drain();
}

/// A driver's transport holding bytes the core has not seen (a TLS handshake under way) runs the
/// read timeout from when it says so; once it lets go, only the idle timeout is left.
#[test]
fn a_held_transport_is_closed_after_the_read_timeout() {
    let mut h = read_timeout_harness(1, Some(30));
    let stalled = h.accept();
    let done = h.accept();
    h.server.hold_partial(stalled, h.now, true);
    h.server.hold_partial(done, h.now, true);
    tick(&mut h, 500);
    h.server.hold_partial(done, h.now, false);
    tick(&mut h, 999);
    assert_eq!(h.close_reason(stalled), None);
    tick(&mut h, 1000);
    assert_eq!(h.close_reason(stalled), Some(CloseReason::ReadTimeout));
    tick(&mut h, 29_999);
    assert_eq!(h.close_reason(done), None);
    tick(&mut h, 30_000);
    assert_eq!(h.close_reason(done), Some(CloseReason::IdleTimeout));
}

#[test]
fn half_a_header_is_closed_after_the_read_timeout() {
    let mut h = read_timeout_harness(1, Some(30));
    let id = h.accept();
    let idle = h.accept();
    h.send(id, &set(b"k", b"v")[..10]);
    assert_eq!(
        h.server.poll_timeout(),
        Some(Timestamp::from_secs(T0_SECS).saturating_add_millis(1000)),
        "the next deadline is the read timeout, not the 30 s idle timeout"
    );
    tick(&mut h, 999);
    assert_eq!(h.close_reason(id), None);
    tick(&mut h, 1000);
    assert_eq!(h.close_reason(id), Some(CloseReason::ReadTimeout));
    assert!(h.take_output(id).is_empty(), "closed silently");
    // The idle connection with nothing partial is untouched until its idle timeout.
    tick(&mut h, 29_999);
    assert_eq!(h.close_reason(idle), None);
    tick(&mut h, 30_000);
    assert_eq!(h.close_reason(idle), Some(CloseReason::IdleTimeout));
}

#[test]
fn trickling_bytes_does_not_extend_the_read_timeout() {
    let mut h = read_timeout_harness(1, Some(30));
    let id = h.accept();
    let bytes = set(b"slow", &[b'v'; 100]);
    for (i, b) in bytes.iter().enumerate() {
        let ms = i as u64 * 300;
        tick(&mut h, ms);
        if h.close_reason(id).is_some() {
            assert_eq!(h.close_reason(id), Some(CloseReason::ReadTimeout));
            assert!((1000..=1200).contains(&ms), "closed at {ms} ms");
            return;
        }
        h.send(id, &[*b]);
    }
    panic!("a trickling client was never closed");
}

#[test]
fn the_read_clock_restarts_with_each_request() {
    let mut h = read_timeout_harness(1, None);
    let id = h.accept();
    let req = set(b"k", b"value");
    // Half at 0 ms, the rest at 900 ms: complete, answered, no partial request left.
    h.send(id, &req[..20]);
    h.at_ms(900);
    h.send(id, &req[20..]);
    assert_eq!(h.packets(id).len(), 1);
    // A new partial request at 1500 ms: its deadline is 2500 ms.
    h.at_ms(1500);
    h.send(id, &req[..5]);
    tick(&mut h, 2499);
    assert_eq!(h.close_reason(id), None);
    tick(&mut h, 2500);
    assert_eq!(h.close_reason(id), Some(CloseReason::ReadTimeout));
    // Without a partial request, nothing is ever closed (no idle timeout here).
    let quiet = h.accept();
    h.call(quiet, &simple(op::NOOP));
    tick(&mut h, 1_000_000);
    assert_eq!(h.close_reason(quiet), None);
}

#[test]
fn a_text_line_without_newline_is_subject_to_the_read_timeout() {
    let mut h = read_timeout_harness(2, None);
    let id = h.accept();
    h.send(id, b"get some");
    tick(&mut h, 1999);
    assert_eq!(h.close_reason(id), None);
    tick(&mut h, 2000);
    assert_eq!(h.close_reason(id), Some(CloseReason::ReadTimeout));
}

// ---- request size limits ---------------------------------------------------------------------

#[test]
fn a_value_over_the_item_size_is_answered_at_once_and_skipped_without_buffering() {
    let mut h = Harness::new();
    let id = h.accept();
    // A SET announcing a 900 MiB value: E2BIG as soon as the extras and key are in.
    let value_len: u32 = 900 << 20;
    let mut head = header_bytes(0x80, op::SET, 1, 8, 0, 0, 8 + 1 + value_len, 0x42, 0);
    head.extend_from_slice(&store_extras(0, 0));
    head.push(b'k');
    h.send(id, &head);
    assert_eq!(
        h.packets(id),
        vec![Packet::error(op::SET, status::E2BIG, 0x42)]
    );
    // 16 MiB of the value arrive in 1 MiB reads: nothing is answered, the connection is skipping.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..16 {
        h.send(id, &chunk);
    }
    assert!(h.take_output(id).is_empty());
    assert_eq!(h.close_reason(id), None);
    // The key is absent and another connection is served.
    let other = h.accept();
    assert_eq!(
        h.call1(other, &get(op::GET, b"k")).status,
        status::KEY_ENOENT
    );
}

#[test]
fn an_oversized_value_then_a_request_in_the_same_read() {
    let config = Config {
        idle_timeout: None,
        ..Config::default()
    };
    let cache = CacheConfig {
        item_size_max: 2048,
        ..CacheConfig::default()
    };
    let mut h = Harness::with_config(config, cache);
    let id = h.accept();
    let mut stream = set(b"k", &vec![b'v'; 1988]);
    stream.extend(set(b"k", &vec![b'w'; 1989]));
    stream.extend(get(op::GET, b"k"));
    stream.extend(store(op::SET, b"k", &vec![b'f'; 1984], 1, 0, 0));
    stream.extend(store(op::SET, b"j", &vec![b'f'; 1985], 1, 0, 0));
    let packets = h.call(id, &stream);
    let statuses: Vec<u16> = packets.iter().map(|p| p.status).collect();
    // 1988 fits (48 + 2 + 1990 + 8 = 2048); 1989 does not and deletes the old item (§12);
    // with flags the limit is 4 bytes lower.
    assert_eq!(
        statuses,
        vec![
            status::SUCCESS,
            status::E2BIG,
            status::KEY_ENOENT,
            status::SUCCESS,
            status::E2BIG
        ]
    );
    assert_open(&h, id);
}

#[test]
fn a_body_over_one_gib_is_invalid_and_closes() {
    let mut h = Harness::new();
    for body_len in [(1u32 << 30) + 1, 2 << 30, u32::MAX] {
        let id = h.accept();
        let mut head = header_bytes(0x80, op::SET, 1, 8, 0, 0, body_len, 9, 0);
        head.extend_from_slice(&store_extras(0, 0));
        head.push(b'k');
        let p = h.call1(id, &head);
        assert_eq!(p, Packet::error(op::SET, status::EINVAL, 9));
        assert_eq!(
            h.close_reason(id),
            Some(CloseReason::Protocol(FrameError::BodyTooLarge(body_len)))
        );
    }
}

#[test]
fn text_line_limits() {
    let mut h = Harness::new();
    // 2048 bytes without "\n" wait; the 2049th closes with CLIENT_ERROR.
    let id = h.accept();
    h.send(id, &[b'x'; 2048]);
    assert!(h.take_output(id).is_empty());
    assert_eq!(h.close_reason(id), None);
    h.send(id, b"x");
    assert_eq!(h.take_output(id), b"CLIENT_ERROR line too long\r\n");
    assert_eq!(h.close_reason(id), Some(CloseReason::LineTooLong));
    // A multi-get line may grow to 1 MiB: 1 MiB of keys is answered ...
    let id = h.accept();
    let mut line = b"get".to_vec();
    while line.len() + 6 <= 1 << 20 {
        line.extend_from_slice(b" k0123");
    }
    line.extend_from_slice(b"\r\n");
    h.send_chunked(id, &line, 65536);
    assert_eq!(h.take_output(id), b"END\r\n");
    assert_eq!(h.close_reason(id), None);
    // ... one byte more without "\n" is too long.
    let id = h.accept();
    let mut long = b"get".to_vec();
    long.resize((1 << 20) + 1, b'k');
    h.send_chunked(id, &long, 65536);
    assert_eq!(h.take_output(id), b"CLIENT_ERROR line too long\r\n");
    assert_eq!(h.close_reason(id), Some(CloseReason::LineTooLong));
}

#[test]
fn a_peer_that_never_reads_cannot_grow_the_output_past_the_bound() {
    let mut h = Harness::new();
    let id = h.accept();
    let value = vec![b'v'; 100 << 10];
    h.call1(id, &set(b"big", &value));
    h.auto_consume = false;
    let mut gets = Vec::new();
    for i in 0..2_000u32 {
        gets.extend(request(op::GET, &[], b"big", &[], 0, i));
    }
    h.send_chunked(id, &gets, 4096);
    let limit = h.server.config().output_limit;
    let held = h.server.outbound(id).len();
    assert!(
        held <= limit + value.len() + 64,
        "{held} bytes of output held for a peer that does not read (bound {limit})"
    );
    assert!(
        !h.server.interest(id).read,
        "reading must stop under backpressure"
    );
    // Reading everything delivers every response, in order, complete.
    h.auto_consume = true;
    for _ in 0..10_000 {
        h.consume_all(id);
        h.drain();
        if h.server.outbound(id).is_empty() {
            break;
        }
    }
    let packets = parse_all(&h.take_output(id));
    assert_eq!(packets.len(), 2_000);
    for (i, p) in packets.iter().enumerate() {
        assert_eq!((p.status, p.opaque), (0, i as u32));
        assert!(p.value == value, "response {i} value differs");
    }
}
