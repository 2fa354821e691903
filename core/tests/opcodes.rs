//! Per-opcode and per-rule tests of the binary protocol as PROTOCOL.md §1–§12 states it, through the
//! whole `Server` (bytes in, bytes out), plus one test per malformed-input class with the exact reply
//! bytes and the `Close` reason.

mod support;

use keel_core::protocol::{FrameError, Opcode};
use keel_core::{CloseReason, ConnState, Output};
use support::*;

fn setup() -> (Harness, keel_core::ConnId) {
    let mut h = Harness::new();
    let id = h.accept();
    (h, id)
}

/// Stores `value` under `key` with SET and returns the new CAS.
fn put(
    h: &mut Harness,
    id: keel_core::ConnId,
    key: &[u8],
    value: &[u8],
    flags: u32,
    exptime: u32,
) -> u64 {
    let p = h.call1(id, &store(op::SET, key, value, flags, exptime, 0));
    assert_eq!(p.status, status::SUCCESS, "{p:?}");
    assert_ne!(p.cas, 0);
    p.cas
}

/// GET: `Some((flags, value, cas))` on a hit, `None` on a miss.
fn fetch(h: &mut Harness, id: keel_core::ConnId, key: &[u8]) -> Option<(u32, Vec<u8>, u64)> {
    let p = h.call1(id, &get(op::GET, key));
    match p.status {
        status::SUCCESS => Some((p.flags(), p.value, p.cas)),
        status::KEY_ENOENT => {
            assert_eq!(p, Packet::error(op::GET, status::KEY_ENOENT, 0));
            None
        }
        other => panic!("GET status {other:#x}"),
    }
}

fn assert_open(h: &Harness, id: keel_core::ConnId) {
    assert_eq!(h.close_reason(id), None);
    assert_eq!(h.server.state(id), Some(ConnState::ReadingHeader));
}

// §3 GET family ---------------------------------------------------------------------------------

#[test]
fn get_hit_exact_bytes() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"key", b"value", 0xdeadbeef, 0);
    h.send(id, &request(op::GET, &[], b"key", &[], 0, 0x11223344));
    let mut expected = header_bytes(0x81, op::GET, 0, 4, 0, 0, 9, 0x11223344, cas);
    expected.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    expected.extend_from_slice(b"value");
    assert_eq!(h.take_output(id), expected);
}

#[test]
fn get_miss_is_not_found_error() {
    let (mut h, id) = setup();
    h.send(id, &request(op::GET, &[], b"nope", &[], 0, 7));
    let mut expected = header_bytes(0x81, op::GET, 0, 0, 0, 0x0001, 9, 7, 0);
    expected.extend_from_slice(b"Not found");
    assert_eq!(h.take_output(id), expected);
}

#[test]
fn getq_hit_sent_with_quiet_opcode_and_miss_silent() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"a", b"1", 5, 0);
    let mut stream = get(op::GETQ, b"a");
    stream.extend(get(op::GETQ, b"missing"));
    stream.extend(simple(op::NOOP));
    let packets = h.call(id, &stream);
    assert_eq!(
        packets,
        vec![
            Packet::response(op::GETQ, 0, 0, cas, &5u32.to_be_bytes(), b"", b"1"),
            Packet::response(op::NOOP, 0, 0, 0, b"", b"", b""),
        ]
    );
}

#[test]
fn getk_hit_carries_key_and_miss_echoes_key_without_text() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"kk", b"vv", 0, 0);
    let p = h.call1(id, &get(op::GETK, b"kk"));
    assert_eq!(
        p,
        Packet::response(op::GETK, 0, 0, cas, &[0, 0, 0, 0], b"kk", b"vv")
    );
    h.send(id, &request(op::GETK, &[], b"gone", &[], 0, 3));
    let mut expected = header_bytes(0x81, op::GETK, 4, 0, 0, 0x0001, 4, 3, 0);
    expected.extend_from_slice(b"gone");
    assert_eq!(h.take_output(id), expected);
}

#[test]
fn getkq_hit_sent_miss_silent() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"kk", b"vv", 0, 0);
    let mut stream = get(op::GETKQ, b"nope");
    stream.extend(get(op::GETKQ, b"kk"));
    stream.extend(simple(op::NOOP));
    assert_eq!(
        h.call(id, &stream),
        vec![
            Packet::response(op::GETKQ, 0, 0, cas, &[0, 0, 0, 0], b"kk", b"vv"),
            Packet::response(op::NOOP, 0, 0, 0, b"", b"", b""),
        ]
    );
}

#[test]
fn binary_keys_may_hold_any_byte() {
    let (mut h, id) = setup();
    let key = [0u8, b' ', b'\r', b'\n', 0xff];
    put(&mut h, id, &key, b"x", 0, 0);
    assert_eq!(fetch(&mut h, id, &key).map(|v| v.1), Some(b"x".to_vec()));
    let max_key = [b'k'; 250];
    put(&mut h, id, &max_key, b"y", 0, 0);
    assert_eq!(
        fetch(&mut h, id, &max_key).map(|v| v.1),
        Some(b"y".to_vec())
    );
}

// §5 storage and CAS -----------------------------------------------------------------------------

#[test]
fn set_returns_fresh_nonzero_cas_and_empty_body() {
    let (mut h, id) = setup();
    let p1 = h.call1(id, &store(op::SET, b"k", b"a", 0, 0, 0));
    let p2 = h.call1(id, &store(op::SET, b"k", b"b", 0, 0, 0));
    assert_eq!(p1, Packet::response(op::SET, 0, 0, p1.cas, b"", b"", b""));
    assert_ne!(p1.cas, 0);
    assert_ne!(p1.cas, p2.cas);
    assert_eq!(fetch(&mut h, id, b"k"), Some((0, b"b".to_vec(), p2.cas)));
}

#[test]
fn set_accepts_an_empty_value() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"", 9, 0);
    assert_eq!(fetch(&mut h, id, b"k"), Some((9, Vec::new(), cas)));
}

#[test]
fn setq_success_silent() {
    let (mut h, id) = setup();
    let mut stream = store(op::SETQ, b"k", b"v", 0, 0, 0);
    stream.extend(simple(op::NOOP));
    assert_eq!(
        h.call(id, &stream),
        vec![Packet::response(op::NOOP, 0, 0, 0, b"", b"", b"")]
    );
    assert_eq!(fetch(&mut h, id, b"k").unwrap().1, b"v");
}

#[test]
fn set_with_cas_match_mismatch_and_missing() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"old", 0, 0);
    let p = h.call1(id, &store(op::SET, b"k", b"x", 0, 0, cas + 100));
    assert_eq!(p, Packet::error(op::SET, status::KEY_EEXISTS, 0));
    assert_eq!(fetch(&mut h, id, b"k").unwrap().1, b"old");
    let p = h.call1(id, &store(op::SET, b"k", b"new", 0, 0, cas));
    assert_eq!(p.status, status::SUCCESS);
    assert!(p.cas > cas);
    let p = h.call1(id, &store(op::SET, b"missing", b"x", 0, 0, 42));
    assert_eq!(p, Packet::error(op::SET, status::KEY_ENOENT, 0));
    // SETQ errors are sent with the quiet opcode.
    let p = h.call1(id, &store(op::SETQ, b"k", b"x", 0, 0, 1));
    assert_eq!(p, Packet::error(op::SETQ, status::KEY_EEXISTS, 0));
}

#[test]
fn add_existing_fails_missing_stores() {
    let (mut h, id) = setup();
    let p = h.call1(id, &store(op::ADD, b"k", b"1", 0, 0, 0));
    assert_eq!(p.status, status::SUCCESS);
    let p = h.call1(id, &store(op::ADD, b"k", b"2", 0, 0, 0));
    assert_eq!(p, Packet::error(op::ADD, status::KEY_EEXISTS, 0));
    let p = h.call1(id, &store(op::ADDQ, b"k", b"2", 0, 0, 0));
    assert_eq!(p, Packet::error(op::ADDQ, status::KEY_EEXISTS, 0));
    assert_eq!(fetch(&mut h, id, b"k").unwrap().1, b"1");
}

#[test]
fn add_with_matching_cas_overwrites() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"1", 0, 0);
    let p = h.call1(id, &store(op::ADD, b"k", b"2", 7, 0, cas + 1));
    assert_eq!(p, Packet::error(op::ADD, status::KEY_EEXISTS, 0));
    let p = h.call1(id, &store(op::ADD, b"k", b"2", 7, 0, cas));
    assert_eq!(p.status, status::SUCCESS);
    assert_eq!(fetch(&mut h, id, b"k"), Some((7, b"2".to_vec(), p.cas)));
    let p = h.call1(id, &store(op::ADD, b"missing", b"2", 0, 0, cas));
    assert_eq!(p, Packet::error(op::ADD, status::KEY_ENOENT, 0));
}

#[test]
fn replace_missing_fails_existing_stores_with_cas_rules() {
    let (mut h, id) = setup();
    let p = h.call1(id, &store(op::REPLACE, b"k", b"1", 0, 0, 0));
    assert_eq!(p, Packet::error(op::REPLACE, status::KEY_ENOENT, 0));
    let p = h.call1(id, &store(op::REPLACEQ, b"k", b"1", 0, 0, 0));
    assert_eq!(p, Packet::error(op::REPLACEQ, status::KEY_ENOENT, 0));
    let cas = put(&mut h, id, b"k", b"1", 0, 0);
    let p = h.call1(id, &store(op::REPLACE, b"k", b"2", 0, 0, cas + 1));
    assert_eq!(p, Packet::error(op::REPLACE, status::KEY_EEXISTS, 0));
    let p = h.call1(id, &store(op::REPLACE, b"k", b"3", 3, 0, cas));
    assert_eq!(p.status, status::SUCCESS);
    let p = h.call1(id, &store(op::REPLACE, b"k", b"4", 4, 0, 0));
    assert_eq!(p.status, status::SUCCESS);
    assert_eq!(fetch(&mut h, id, b"k"), Some((4, b"4".to_vec(), p.cas)));
}

#[test]
fn append_prepend_keep_flags_and_exptime() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"mid", 0xabcd, 10);
    let p = h.call1(id, &request(op::APPEND, &[], b"k", b">>", 0, 0));
    assert_eq!(p.status, status::SUCCESS);
    let p = h.call1(id, &request(op::PREPEND, &[], b"k", b"<<", 0, 0));
    assert_eq!(p.status, status::SUCCESS);
    assert_eq!(
        fetch(&mut h, id, b"k"),
        Some((0xabcd, b"<<mid>>".to_vec(), p.cas))
    );
    h.advance_ms(9_999);
    assert!(fetch(&mut h, id, b"k").is_some());
    h.advance_ms(1);
    assert_eq!(fetch(&mut h, id, b"k"), None);
}

#[test]
fn append_prepend_missing_not_stored_and_cas_mismatch() {
    let (mut h, id) = setup();
    for opcode in [op::APPEND, op::PREPEND, op::APPENDQ, op::PREPENDQ] {
        let p = h.call1(id, &request(opcode, &[], b"nope", b"x", 0, 0));
        assert_eq!(p, Packet::error(opcode, status::NOT_STORED, 0));
    }
    let cas = put(&mut h, id, b"k", b"v", 0, 0);
    let p = h.call1(id, &request(op::APPEND, &[], b"k", b"x", cas + 1, 0));
    assert_eq!(p, Packet::error(op::APPEND, status::KEY_EEXISTS, 0));
    let p = h.call1(id, &request(op::APPEND, &[], b"k", b"x", cas, 0));
    assert_eq!(p.status, status::SUCCESS);
    // Quiet success is silent.
    let mut stream = request(op::PREPENDQ, &[], b"k", b"y", 0, 0);
    stream.extend(simple(op::NOOP));
    assert_eq!(h.call(id, &stream).len(), 1);
    assert_eq!(fetch(&mut h, id, b"k").unwrap().1, b"yvx");
}

#[test]
fn append_with_cas_on_missing_key_is_not_stored() {
    // memcached keeps NREAD_APPEND/NREAD_PREPEND (it only turns SET/ADD/REPLACE into NREAD_CAS), and
    // do_store_item answers NOT_STORED for them when there is no item.
    let (mut h, id) = setup();
    for opcode in [op::APPEND, op::PREPENDQ] {
        let p = h.call1(id, &request(opcode, &[], b"nope", b"x", 42, 0));
        assert_eq!(p, Packet::error(opcode, status::NOT_STORED, 0));
    }
}

#[test]
fn append_beyond_item_size_is_not_stored() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", &vec![b'a'; 1_048_516], 0, 0);
    let p = h.call1(id, &request(op::APPEND, &[], b"k", b"b", 0, 0));
    assert_eq!(p, Packet::error(op::APPEND, status::NOT_STORED, 0));
    assert_eq!(fetch(&mut h, id, b"k").unwrap().1.len(), 1_048_516);
}

#[test]
fn delete_success_cas_zero_mismatch_and_missing() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"v", 0, 0);
    let p = h.call1(id, &request(op::DELETE, &[], b"k", &[], cas + 1, 0));
    assert_eq!(p, Packet::error(op::DELETE, status::KEY_EEXISTS, 0));
    assert!(fetch(&mut h, id, b"k").is_some());
    let p = h.call1(id, &request(op::DELETE, &[], b"k", &[], cas, 0));
    assert_eq!(p, Packet::response(op::DELETE, 0, 0, 0, b"", b"", b""));
    assert_eq!(fetch(&mut h, id, b"k"), None);
    let p = h.call1(id, &get(op::DELETE, b"k"));
    assert_eq!(p, Packet::error(op::DELETE, status::KEY_ENOENT, 0));
    let p = h.call1(id, &get(op::DELETEQ, b"k"));
    assert_eq!(p, Packet::error(op::DELETEQ, status::KEY_ENOENT, 0));
    put(&mut h, id, b"k", b"v", 0, 0);
    let mut stream = get(op::DELETEQ, b"k");
    stream.extend(simple(op::NOOP));
    assert_eq!(h.call(id, &stream).len(), 1);
    assert_eq!(fetch(&mut h, id, b"k"), None);
}

// §6 INCR/DECR -----------------------------------------------------------------------------------

#[test]
fn incr_creates_with_initial_without_applying_delta() {
    let (mut h, id) = setup();
    let p = h.call1(id, &counter(op::INCR, b"n", 5, 10, 0, 0));
    assert_eq!(
        p,
        Packet::response(op::INCR, 0, 0, p.cas, b"", b"", &10u64.to_be_bytes())
    );
    assert_ne!(p.cas, 0);
    assert_eq!(fetch(&mut h, id, b"n"), Some((0, b"10".to_vec(), p.cas)));
    let p = h.call1(id, &counter(op::INCR, b"n", 5, 10, 0, 0));
    assert_eq!(p.counter_value(), 15);
    // A request CAS is ignored when creating.
    let p = h.call1(id, &counter(op::DECR, b"m", 1, 3, 0, 999));
    assert_eq!(p.counter_value(), 3);
}

#[test]
fn incr_initial_zero_counts_up_and_decr_stops_at_zero() {
    let (mut h, id) = setup();
    for expected in 0..3u64 {
        let p = h.call1(id, &counter(op::INCR, b"c", 1, 0, 0, 0));
        assert_eq!(p.counter_value(), expected);
    }
    for expected in [1u64, 0, 0] {
        let p = h.call1(id, &counter(op::DECR, b"c", 1, 0, 0, 0));
        assert_eq!(p.counter_value(), expected);
    }
}

#[test]
fn counter_missing_with_no_create_exptime_is_not_found() {
    let (mut h, id) = setup();
    for opcode in [op::INCR, op::DECR, op::INCRQ, op::DECRQ] {
        let p = h.call1(id, &counter(opcode, b"n", 1, 1, 0xffff_ffff, 0));
        assert_eq!(p, Packet::error(opcode, status::KEY_ENOENT, 0));
    }
    assert_eq!(fetch(&mut h, id, b"n"), None);
}

#[test]
fn counter_non_numeric_is_delta_badval_and_unchanged() {
    let (mut h, id) = setup();
    for value in [&b"abc"[..], b"", b"12abc", b"-1", b"18446744073709551616"] {
        let cas = put(&mut h, id, b"n", value, 0, 0);
        let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, 0));
        assert_eq!(
            p,
            Packet::error(op::INCR, status::DELTA_BADVAL, 0),
            "value {value:?}"
        );
        let p = h.call1(id, &counter(op::DECRQ, b"n", 1, 0, 0, 0));
        assert_eq!(p, Packet::error(op::DECRQ, status::DELTA_BADVAL, 0));
        assert_eq!(fetch(&mut h, id, b"n"), Some((0, value.to_vec(), cas)));
    }
}

#[test]
fn counter_accepts_strtoull_forms() {
    let (mut h, id) = setup();
    for (value, expected) in [
        (&b" 42"[..], 43u64),
        (b"42 ", 43),
        (b"7 x", 8),
        (b"+7", 8),
        (b"-0", 1),
    ] {
        put(&mut h, id, b"n", value, 0, 0);
        let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, 0));
        assert_eq!(
            (p.status, p.counter_value()),
            (0, expected),
            "value {value:?}"
        );
    }
}

#[test]
fn counter_on_blank_value_is_non_numeric() {
    // strtoull stores the start of the string as its end pointer when it reads no digits, and
    // safe_strtoull then returns false: NON_NUMERIC.
    let (mut h, id) = setup();
    for value in [&b"   "[..], b" x", b" +"] {
        put(&mut h, id, b"n", value, 0, 0);
        let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, 0));
        assert_eq!(
            p,
            Packet::error(op::INCR, status::DELTA_BADVAL, 0),
            "value {value:?}"
        );
    }
}

#[test]
fn counter_accepts_number_ended_by_nul() {
    // safe_strtoull accepts `*endptr == '\0' && endptr != str`.
    let (mut h, id) = setup();
    put(&mut h, id, b"n", b"12\0junk", 0, 0);
    let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, 0));
    assert_eq!((p.status, p.counter_value()), (0, 13));
}

#[test]
fn counter_on_empty_value_with_cas_mismatch_is_non_numeric() {
    // memcached's do_add_delta refuses a zero-byte value (NON_NUMERIC) before it compares CAS.
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"n", b"", 0, 0);
    let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, cas + 1));
    assert_eq!(p, Packet::error(op::INCR, status::DELTA_BADVAL, 0));
}

#[test]
fn incr_wraps_at_2_pow_64() {
    let (mut h, id) = setup();
    put(&mut h, id, b"n", b"18446744073709551615", 0, 0);
    let p = h.call1(id, &counter(op::INCR, b"n", 2, 0, 0, 0));
    assert_eq!(p.counter_value(), 1);
    assert_eq!(fetch(&mut h, id, b"n").unwrap().1, b"1                   ");
}

#[test]
fn decr_floors_at_zero() {
    let (mut h, id) = setup();
    put(&mut h, id, b"n", b"3", 0, 0);
    let p = h.call1(id, &counter(op::DECR, b"n", 5, 0, 0, 0));
    assert_eq!(p.counter_value(), 0);
    put(&mut h, id, b"n", b"52", 0, 0);
    let p = h.call1(id, &counter(op::DECR, b"n", 100, 0, 0, 0));
    assert_eq!(p.counter_value(), 0);
    assert_eq!(fetch(&mut h, id, b"n").unwrap().1, b"0 ");
}

#[test]
fn decr_ten_reads_back_space_padded_and_cas_matches_get() {
    let (mut h, id) = setup();
    put(&mut h, id, b"n", b"10", 0x77, 0);
    let p = h.call1(id, &counter(op::DECR, b"n", 1, 0, 0, 0));
    assert_eq!(p.counter_value(), 9);
    assert_eq!(fetch(&mut h, id, b"n"), Some((0x77, b"9 ".to_vec(), p.cas)));
    // Growing keeps flags too.
    let p = h.call1(id, &counter(op::INCR, b"n", 991, 0, 0, 0));
    assert_eq!(p.counter_value(), 1000);
    assert_eq!(
        fetch(&mut h, id, b"n"),
        Some((0x77, b"1000".to_vec(), p.cas))
    );
}

#[test]
fn counter_cas_mismatch_and_match() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"n", b"5", 0, 0);
    let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, cas + 1));
    assert_eq!(p, Packet::error(op::INCR, status::KEY_EEXISTS, 0));
    let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, cas));
    assert_eq!(p.counter_value(), 6);
}

#[test]
fn counter_keeps_exptime_of_existing_item() {
    let (mut h, id) = setup();
    put(&mut h, id, b"n", b"1", 0, 5);
    let p = h.call1(id, &counter(op::INCR, b"n", 1, 0, 0, 0));
    assert_eq!(p.counter_value(), 2);
    h.advance_secs(5);
    assert_eq!(fetch(&mut h, id, b"n"), None);
}

#[test]
fn quiet_counters_silent_on_success() {
    let (mut h, id) = setup();
    let mut stream = counter(op::INCRQ, b"n", 1, 7, 0, 0);
    stream.extend(counter(op::DECRQ, b"n", 2, 0, 0, 0));
    stream.extend(simple(op::NOOP));
    assert_eq!(h.call(id, &stream).len(), 1);
    assert_eq!(fetch(&mut h, id, b"n").unwrap().1, b"5");
}

// §7 expiry, §8 TOUCH/GAT ------------------------------------------------------------------------

#[test]
fn relative_expiry_one_second_granularity() {
    let (mut h, id) = setup();
    h.at_ms(400);
    put(&mut h, id, b"k", b"v", 0, 2);
    h.at_ms(1_999);
    assert!(fetch(&mut h, id, b"k").is_some());
    h.at_ms(2_000);
    assert_eq!(fetch(&mut h, id, b"k"), None);
}

#[test]
fn absolute_expiry_and_past_times() {
    let (mut h, id) = setup();
    put(&mut h, id, b"abs", b"v", 0, (T0_SECS + 5) as u32);
    put(&mut h, id, b"past", b"v", 0, (T0_SECS - 10) as u32);
    put(&mut h, id, b"1970", b"v", 0, 2_592_001);
    put(&mut h, id, b"far", b"v", 0, 0x8000_0000);
    put(&mut h, id, b"max", b"v", 0, 0xffff_ffff);
    assert_eq!(fetch(&mut h, id, b"past"), None);
    assert_eq!(fetch(&mut h, id, b"1970"), None);
    h.at_ms(4_999);
    assert!(fetch(&mut h, id, b"abs").is_some());
    h.at_ms(5_000);
    assert_eq!(fetch(&mut h, id, b"abs"), None);
    assert!(fetch(&mut h, id, b"far").is_some());
    assert!(fetch(&mut h, id, b"max").is_some());
}

#[test]
fn relative_limit_is_thirty_days() {
    let (mut h, id) = setup();
    put(&mut h, id, b"rel", b"v", 0, 2_592_000);
    h.advance_secs(2_591_999);
    assert!(fetch(&mut h, id, b"rel").is_some());
    h.advance_secs(1);
    assert_eq!(fetch(&mut h, id, b"rel"), None);
}

#[test]
fn exptime_zero_never_expires() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"v", 0, 0);
    h.advance_secs(100 * 86_400);
    assert!(fetch(&mut h, id, b"k").is_some());
}

#[test]
fn touch_returns_flags_only_and_changes_expiry() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"v", 0x0102_0304, 1);
    let p = h.call1(id, &touch(op::TOUCH, b"k", 10));
    assert_eq!(
        p,
        Packet::response(op::TOUCH, 0, 0, cas, &[1, 2, 3, 4], b"", b"")
    );
    h.advance_secs(2);
    assert_eq!(
        fetch(&mut h, id, b"k"),
        Some((0x0102_0304, b"v".to_vec(), cas))
    );
    let p = h.call1(id, &touch(op::TOUCH, b"k", 1));
    assert_eq!(p.status, status::SUCCESS);
    h.advance_secs(3);
    assert_eq!(fetch(&mut h, id, b"k"), None);
    let p = h.call1(id, &touch(op::TOUCH, b"k", 1));
    assert_eq!(p, Packet::error(op::TOUCH, status::KEY_ENOENT, 0));
}

#[test]
fn touch_zero_makes_permanent() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"v", 0, 2);
    assert_eq!(h.call1(id, &touch(op::TOUCH, b"k", 0)).status, 0);
    h.advance_secs(1000);
    assert!(fetch(&mut h, id, b"k").is_some());
}

#[test]
fn touch_value_bytes_are_skipped() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"v", 0, 0);
    let mut stream = request(op::TOUCH, &5u32.to_be_bytes(), b"k", b"junkjunk", 0, 0);
    stream.extend(simple(op::NOOP));
    let packets = h.call(id, &stream);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].status, 0);
    assert_eq!(packets[1].opcode, op::NOOP);
    assert_open(&h, id);
}

#[test]
fn gat_family_hits_and_misses() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"val", 9, 1);
    let flags = 9u32.to_be_bytes();
    assert_eq!(
        h.call1(id, &touch(op::GAT, b"k", 100)),
        Packet::response(op::GAT, 0, 0, cas, &flags, b"", b"val")
    );
    assert_eq!(
        h.call1(id, &touch(op::GATQ, b"k", 100)),
        Packet::response(op::GATQ, 0, 0, cas, &flags, b"", b"val")
    );
    assert_eq!(
        h.call1(id, &touch(op::GATK, b"k", 100)),
        Packet::response(op::GATK, 0, 0, cas, &flags, b"k", b"val")
    );
    assert_eq!(
        h.call1(id, &touch(op::GATKQ, b"k", 100)),
        Packet::response(op::GATKQ, 0, 0, cas, &flags, b"k", b"val")
    );
    // The touch took effect: alive past the original 1 s.
    h.advance_secs(50);
    assert!(fetch(&mut h, id, b"k").is_some());
    assert_eq!(
        h.call1(id, &touch(op::GAT, b"x", 1)),
        Packet::error(op::GAT, status::KEY_ENOENT, 0)
    );
    assert_eq!(
        h.call1(id, &touch(op::GATK, b"x", 1)),
        Packet::response(op::GATK, status::KEY_ENOENT, 0, 0, b"", b"x", b"")
    );
    let mut stream = touch(op::GATQ, b"x", 1);
    stream.extend(touch(op::GATKQ, b"x", 1));
    stream.extend(simple(op::NOOP));
    assert_eq!(h.call(id, &stream).len(), 1);
    // GAT shortens too.
    h.call1(id, &touch(op::GAT, b"k", 1));
    h.advance_secs(1);
    assert_eq!(fetch(&mut h, id, b"k"), None);
}

// §10 FLUSH --------------------------------------------------------------------------------------

#[test]
fn flush_immediate_hides_everything_but_later_writes_survive() {
    let (mut h, id) = setup();
    put(&mut h, id, b"a", b"1", 0, 0);
    put(&mut h, id, b"b", b"2", 0, 0);
    assert_eq!(
        h.call1(id, &simple(op::FLUSH)),
        Packet::response(op::FLUSH, 0, 0, 0, b"", b"", b"")
    );
    assert_eq!(fetch(&mut h, id, b"a"), None);
    assert_eq!(fetch(&mut h, id, b"b"), None);
    // Same second as the flush: stored afterwards, so it survives (CAS-based, as memcached 1.6).
    put(&mut h, id, b"c", b"3", 0, 0);
    assert!(fetch(&mut h, id, b"c").is_some());
    // Explicit zero delay is immediate too.
    let p = h.call1(id, &request(op::FLUSH, &0u32.to_be_bytes(), b"", b"", 0, 0));
    assert_eq!(p.status, 0);
    assert_eq!(fetch(&mut h, id, b"c"), None);
}

#[test]
fn flush_delayed_takes_effect_at_deadline_and_later_writes_survive() {
    let (mut h, id) = setup();
    put(&mut h, id, b"a", b"1", 0, 0);
    let p = h.call1(id, &request(op::FLUSH, &5u32.to_be_bytes(), b"", b"", 0, 0));
    assert_eq!(p, Packet::response(op::FLUSH, 0, 0, 0, b"", b"", b""));
    assert!(fetch(&mut h, id, b"a").is_some());
    h.at_ms(2_000);
    put(&mut h, id, b"b", b"2", 0, 0);
    h.at_ms(3_999);
    assert!(fetch(&mut h, id, b"a").is_some());
    assert!(fetch(&mut h, id, b"b").is_some());
    // memcached's deadline is realtime(5) - 1 = T0 + 4.
    h.at_ms(4_000);
    assert_eq!(fetch(&mut h, id, b"a"), None);
    assert_eq!(fetch(&mut h, id, b"b"), None);
    h.at_ms(6_000);
    put(&mut h, id, b"c", b"3", 0, 0);
    h.at_ms(60_000);
    assert!(fetch(&mut h, id, b"c").is_some());
}

#[test]
fn flushq_is_silent_and_counted() {
    let (mut h, id) = setup();
    put(&mut h, id, b"a", b"1", 0, 0);
    let mut stream = simple(op::FLUSHQ);
    stream.extend(simple(op::NOOP));
    assert_eq!(
        h.call(id, &stream),
        vec![Packet::response(op::NOOP, 0, 0, 0, b"", b"", b"")]
    );
    assert_eq!(fetch(&mut h, id, b"a"), None);
    h.call1(id, &simple(op::FLUSH));
    assert_eq!(h.stat(b"", "cmd_flush").as_deref(), Some("2"));
}

#[test]
fn flush_disabled_is_auth_error() {
    let cache = keel_core::CacheConfig {
        flush_enabled: false,
        ..Default::default()
    };
    let mut h = Harness::with_config(keel_core::Config::default(), cache);
    let id = h.accept();
    assert_eq!(
        h.call1(id, &simple(op::FLUSHQ)),
        Packet::error(op::FLUSHQ, status::AUTH_ERROR, 0)
    );
    assert_eq!(h.stat(b"settings", "flush_enabled").as_deref(), Some("no"));
}

// §11 VERSION / NOOP / QUIT ----------------------------------------------------------------------

#[test]
fn noop_and_version() {
    let (mut h, id) = setup();
    h.send(id, &request(op::NOOP, &[], &[], &[], 0, 0xabcdef01));
    assert_eq!(
        h.take_output(id),
        header_bytes(0x81, op::NOOP, 0, 0, 0, 0, 0, 0xabcdef01, 0)
    );
    let p = h.call1(id, &simple(op::VERSION));
    assert_eq!(
        p,
        Packet::response(op::VERSION, 0, 0, 0, b"", b"", b"1.6.18")
    );
}

#[test]
fn quit_replies_then_closes_and_ignores_later_bytes() {
    let (mut h, id) = setup();
    let mut stream = request(op::QUIT, &[], &[], &[], 0, 5);
    stream.extend(set(b"k", b"v"));
    stream.extend(simple(op::NOOP));
    h.feed(id, &stream);
    h.drain();
    assert_eq!(
        h.packets(id),
        vec![Packet::response(op::QUIT, 0, 5, 0, b"", b"", b"")]
    );
    assert_eq!(h.close_reason(id), Some(CloseReason::Quit));
    assert!(matches!(h.log.last(), Some(Output::Close(c, CloseReason::Quit)) if *c == id));
    // Nothing after QUIT ran, and later input is ignored.
    h.send(id, &simple(op::NOOP));
    assert!(h.take_output(id).is_empty());
    let other = h.accept();
    assert_eq!(fetch(&mut h, other, b"k"), None);
}

#[test]
fn quitq_closes_without_reply_after_running_earlier_commands() {
    let (mut h, id) = setup();
    let mut stream = store(op::SETQ, b"k", b"v", 0, 0, 0);
    stream.extend(simple(op::QUITQ));
    stream.extend(simple(op::NOOP));
    h.send(id, &stream);
    assert!(h.take_output(id).is_empty());
    assert_eq!(h.close_reason(id), Some(CloseReason::Quit));
    assert_eq!(h.log, vec![Output::Close(id, CloseReason::Quit)]);
    let other = h.accept();
    assert_eq!(fetch(&mut h, other, b"k").unwrap().1, b"v");
}

// §9 STAT ----------------------------------------------------------------------------------------

fn stat_packets(h: &mut Harness, id: keel_core::ConnId, group: &[u8], opaque: u32) -> Vec<Packet> {
    h.call(id, &request(op::STAT, &[], group, &[], 0, opaque))
}

#[test]
fn stat_general_stream_shape() {
    let (mut h, id) = setup();
    h.call1(id, &simple(op::FLUSH));
    let packets = stat_packets(&mut h, id, b"", 0x5151);
    assert!(packets.len() > 10);
    for p in &packets {
        assert_eq!(
            (p.magic, p.opcode, p.status, p.data_type),
            (0x81, op::STAT, 0, 0)
        );
        assert_eq!((p.opaque, p.cas, p.extras.len()), (0x5151, 0, 0));
    }
    let terminator = packets.last().unwrap();
    assert!(terminator.key.is_empty() && terminator.value.is_empty());
    assert!(
        packets[..packets.len() - 1]
            .iter()
            .all(|p| !p.key.is_empty())
    );
    let find = |name: &str| {
        packets
            .iter()
            .find(|p| p.key == name.as_bytes())
            .map(|p| String::from_utf8(p.value.clone()).unwrap())
    };
    assert_eq!(find("cmd_flush").as_deref(), Some("1"));
    assert_eq!(find("curr_connections").as_deref(), Some("1"));
    assert_eq!(find("total_connections").as_deref(), Some("1"));
    assert_eq!(find("version").as_deref(), Some("1.6.18"));
    assert_eq!(find("time").as_deref(), Some(T0_SECS.to_string().as_str()));
    assert!(find("curr_items").is_some());
    assert!(find("get_hits").is_some());
}

#[test]
fn stat_settings_values() {
    let (mut h, id) = setup();
    let packets = stat_packets(&mut h, id, b"settings", 0);
    let find = |name: &str| {
        packets
            .iter()
            .find(|p| p.key == name.as_bytes())
            .map(|p| String::from_utf8(p.value.clone()).unwrap())
    };
    assert_eq!(find("maxconns").as_deref(), Some("1024"));
    assert_eq!(find("domain_socket").as_deref(), Some("NULL"));
    assert_eq!(find("evictions").as_deref(), Some("on"));
    assert_eq!(find("cas_enabled").as_deref(), Some("yes"));
    assert_eq!(find("flush_enabled").as_deref(), Some("yes"));
    assert_eq!(find("item_size_max").as_deref(), Some("1048576"));
    assert_eq!(
        packets.last().unwrap().to_bytes(),
        header_bytes(0x81, op::STAT, 0, 0, 0, 0, 0, 0, 0)
    );
}

#[test]
fn stat_reset_returns_terminator_and_zeroes_counters() {
    let (mut h, id) = setup();
    fetch(&mut h, id, b"x");
    assert_eq!(h.stat(b"", "cmd_get").as_deref(), Some("1"));
    let packets = stat_packets(&mut h, id, b"reset", 9);
    assert_eq!(
        packets,
        vec![Packet::response(op::STAT, 0, 9, 0, b"", b"", b"")]
    );
    assert_eq!(h.stat(b"", "cmd_get").as_deref(), Some("0"));
    assert_eq!(h.stat(b"", "get_misses").as_deref(), Some("0"));
    assert_eq!(h.stat(b"", "curr_connections").as_deref(), Some("2"));
}

#[test]
fn stat_detail_on_and_dump() {
    let (mut h, id) = setup();
    let terminator = Packet::response(op::STAT, 0, 0, 0, b"", b"", b"");
    assert_eq!(
        stat_packets(&mut h, id, b"detail on", 0),
        vec![terminator.clone()]
    );
    assert_eq!(
        stat_packets(&mut h, id, b"detail off", 0),
        vec![terminator.clone()]
    );
    let packets = stat_packets(&mut h, id, b"detail dump", 0);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].key, b"detailed");
    assert!(packets[0].value.ends_with(b"END\r\n"));
    assert_eq!(packets[0].status, 0);
    assert_eq!(packets[1], terminator);
}

#[test]
fn stat_unknown_group_is_one_not_found_without_terminator() {
    let (mut h, id) = setup();
    for group in [&b"conns"[..], b"extstore", b"garbage", b"detail bogus"] {
        let mut stream = request(op::STAT, &[], group, &[], 0, 4);
        stream.extend(simple(op::NOOP));
        assert_eq!(
            h.call(id, &stream),
            vec![
                Packet::error(op::STAT, status::KEY_ENOENT, 4),
                Packet::response(op::NOOP, 0, 0, 0, b"", b"", b""),
            ],
            "group {group:?}"
        );
    }
    assert_open(&h, id);
}

#[test]
fn verbosity_answers_success_deliberately() {
    // memcached 1.6 answers 0x81 (VERBOSITY is not implemented there); keel answers success and
    // records the level, a documented deliberate difference.
    let (mut h, id) = setup();
    let p = h.call1(
        id,
        &request(op::VERBOSITY, &3u32.to_be_bytes(), b"", b"", 0, 8),
    );
    assert_eq!(p, Packet::response(op::VERBOSITY, 0, 8, 0, b"", b"", b""));
    assert_eq!(h.stat(b"settings", "verbosity").as_deref(), Some("3"));
}

// §1, §2 framing and errors ----------------------------------------------------------------------

#[test]
fn unknown_opcode_answered_connection_stays_open_body_skipped_exactly() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"v", 0, 0);
    let mut stream = request(0x30, &[1, 2, 3], b"ab", b"wxyz", 77, 0x99);
    stream.extend(request(op::SASL_LIST_MECHS, &[], &[], &[], 0, 1));
    stream.extend(request(op::SASL_AUTH, &[], b"PLAIN", b"\0user\0pass", 0, 2));
    stream.extend(get(op::GET, b"k"));
    // Split one byte at a time so the skip crosses every boundary.
    h.send_chunked(id, &stream, 1);
    let packets = h.packets(id);
    assert_eq!(packets.len(), 4);
    assert_eq!(
        packets[0],
        Packet::error(0x30, status::UNKNOWN_COMMAND, 0x99)
    );
    assert_eq!(
        packets[1],
        Packet::error(op::SASL_LIST_MECHS, status::UNKNOWN_COMMAND, 1)
    );
    assert_eq!(
        packets[2],
        Packet::error(op::SASL_AUTH, status::UNKNOWN_COMMAND, 2)
    );
    assert_eq!(
        (packets[3].opcode, packets[3].status, &packets[3].value[..]),
        (op::GET, 0, &b"v"[..])
    );
    assert_open(&h, id);
}

#[test]
fn opaque_echoed_on_every_packet() {
    let (mut h, id) = setup();
    let reqs: Vec<Req> = vec![
        Req::new(op::SET)
            .extras(&store_extras(0, 0))
            .key(b"k")
            .value(b"1"),
        Req::new(op::GET).key(b"k"),
        Req::new(op::GET).key(b"missing"),
        Req::new(op::GETK).key(b"missing"),
        Req::new(op::ADD).extras(&store_extras(0, 0)).key(b"k"),
        Req::new(op::INCR)
            .extras(&counter_extras(1, 0, 0))
            .key(b"k"),
        Req::new(op::APPEND).key(b"nope").value(b"x"),
        Req::new(op::TOUCH).extras(&[0; 4]).key(b"k"),
        Req::new(op::DELETE).key(b"k"),
        Req::new(op::VERSION),
        Req::new(0x40),
        Req::new(op::FLUSH),
        Req::new(op::NOOP),
    ];
    let mut stream = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        stream.extend(r.clone().opaque(0xdead_0000 + i as u32).bytes());
    }
    let packets = h.call(id, &stream);
    assert_eq!(packets.len(), reqs.len());
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.opaque, 0xdead_0000 + i as u32, "{p:?}");
        assert_eq!(p.opcode, reqs[i].opcode);
    }
    let stats = h.call(id, &request(op::STAT, &[], b"", b"", 0, 0x0bad_cafe));
    assert!(stats.iter().all(|p| p.opaque == 0x0bad_cafe));
}

#[test]
fn datatype_always_zero_and_request_datatype_vbucket_ignored() {
    let (mut h, id) = setup();
    let mut r = Req::new(op::SET)
        .extras(&store_extras(1, 0))
        .key(b"k")
        .value(b"v");
    r.data_type = 0xff;
    r.vbucket = 0x1234;
    let mut stream = r.bytes();
    let mut g = Req::new(op::GET).key(b"k");
    g.data_type = 0x01;
    stream.extend(g.bytes());
    stream.extend(get(op::GET, b"nope"));
    let packets = h.call(id, &stream);
    assert_eq!(packets.len(), 3);
    assert!(packets.iter().all(|p| p.data_type == 0 && p.magic == 0x81));
    assert_eq!(packets[1].value, b"v");
}

#[test]
fn error_packets_have_no_extras_no_key_and_cas_zero() {
    let (mut h, id) = setup();
    let cas = put(&mut h, id, b"k", b"abc", 0, 0);
    let mut stream = Vec::new();
    stream.extend(request(op::ADD, &store_extras(0, 0), b"k", b"", 0, 0));
    stream.extend(request(op::SET, &store_extras(0, 0), b"k", b"", cas + 9, 0));
    stream.extend(counter(op::INCR, b"k", 1, 0, 0, 0));
    stream.extend(request(op::PREPEND, &[], b"zz", b"x", 0, 0));
    stream.extend(store(op::REPLACE, b"zz", b"", 0, 0, 0));
    stream.extend(touch(op::TOUCH, b"zz", 0));
    stream.extend(simple(0x41));
    let expected = [
        (op::ADD, status::KEY_EEXISTS),
        (op::SET, status::KEY_EEXISTS),
        (op::INCR, status::DELTA_BADVAL),
        (op::PREPEND, status::NOT_STORED),
        (op::REPLACE, status::KEY_ENOENT),
        (op::TOUCH, status::KEY_ENOENT),
        (0x41, status::UNKNOWN_COMMAND),
    ];
    let packets = h.call(id, &stream);
    assert_eq!(packets.len(), expected.len());
    for (p, (opcode, st)) in packets.iter().zip(expected) {
        assert_eq!(*p, Packet::error(opcode, st, 0));
        assert!(p.extras.is_empty() && p.key.is_empty() && p.cas == 0 && !p.value.is_empty());
    }
}

// Malformed input ---------------------------------------------------------------------------------

/// Sends `bytes` on a binary connection and expects `reply` (possibly empty) followed by a
/// protocol close. The connection is made binary first with a NOOP, since a fresh connection picks
/// its protocol from its first byte (PROTOCOL.md §1).
fn expect_protocol_close(bytes: &[u8], reply: &[u8], error: FrameError) {
    let (mut h, id) = setup();
    assert_eq!(h.call(id, &simple(op::NOOP)).len(), 1);
    h.send(id, bytes);
    assert_eq!(h.take_output(id), reply);
    assert_eq!(h.close_reason(id), Some(CloseReason::Protocol(error)));
    assert!(
        matches!(h.log.last(), Some(Output::Close(c, CloseReason::Protocol(e))) if *c == id && *e == error)
    );
    assert_eq!(h.server.connection_count(), 0);
    // Nothing more happens for it.
    h.send(id, &simple(op::NOOP));
    assert!(h.take_output(id).is_empty());
}

fn error_bytes(opcode: u8, status: u16, opaque: u32) -> Vec<u8> {
    Packet::error(opcode, status, opaque).to_bytes()
}

#[test]
fn bad_magic_closes_without_reply() {
    let mut bytes = get(op::GET, b"k");
    bytes[0] = 0x00;
    expect_protocol_close(&bytes, b"", FrameError::BadMagic(0x00));
    // Text on a binary connection: 24 bytes of it are a bad header.
    expect_protocol_close(
        b"get foo\r\nget bar\r\nget baz\r\n",
        b"",
        FrameError::BadMagic(b'g'),
    );
}

#[test]
fn short_garbage_waits_for_a_full_header() {
    let (mut h, id) = setup();
    assert_eq!(h.call(id, &simple(op::NOOP)).len(), 1);
    h.send(id, b"get x\r\n");
    assert!(h.take_output(id).is_empty());
    assert_eq!(h.close_reason(id), None);
    assert_eq!(h.server.state(id), Some(ConnState::ReadingHeader));
}

#[test]
fn response_magic_in_request_closes_without_reply() {
    let mut bytes = simple(op::NOOP);
    bytes[0] = 0x81;
    expect_protocol_close(&bytes, b"", FrameError::BadMagic(0x81));
}

#[test]
fn fresh_connection_starting_with_0x81_is_not_binary() {
    // memcached's -B auto: only a first byte of 0x80 makes a connection binary; 0x81 is parsed as
    // text and just waits for a newline.
    let (mut h, id) = setup();
    // (A GET header: no 0x0a byte in it, which text would read as the end of a line.)
    let mut bytes = get(op::GET, b"k");
    bytes[0] = 0x81;
    h.send(id, &bytes);
    let out = h.take_output(id);
    assert!(
        out.is_empty(),
        "{:?} {:?}",
        String::from_utf8_lossy(&out),
        h.close_reason(id)
    );
    assert_eq!(h.close_reason(id), None);
}

#[test]
fn key_and_extras_beyond_body_unknown_command_then_close() {
    // GET with keylen 5 but bodylen 3.
    let bytes = header_bytes(0x80, op::GET, 5, 0, 0, 0, 3, 0x42, 0);
    expect_protocol_close(
        &bytes,
        &error_bytes(op::GET, status::UNKNOWN_COMMAND, 0x42),
        FrameError::InconsistentLengths {
            key_len: 5,
            extras_len: 0,
            body_len: 3,
        },
    );
    // SET with extras 8 + key 4 in a body of 10.
    let bytes = header_bytes(0x80, op::SET, 4, 8, 0, 0, 10, 0, 0);
    expect_protocol_close(
        &bytes,
        &error_bytes(op::SET, status::UNKNOWN_COMMAND, 0),
        FrameError::InconsistentLengths {
            key_len: 4,
            extras_len: 8,
            body_len: 10,
        },
    );
}

#[test]
fn key_of_251_bytes_invalid_then_close() {
    let mut bytes = request(op::GET, &[], &[b'k'; 251], &[], 0, 0x251);
    // Answered from the header alone, before the body.
    bytes.truncate(24);
    expect_protocol_close(
        &bytes,
        &error_bytes(op::GET, status::EINVAL, 0x251),
        FrameError::KeyTooLong(251),
    );
    let bytes = store(op::SET, &[b'k'; 365], b"v", 0, 0, 0);
    expect_protocol_close(
        &bytes,
        &error_bytes(op::SET, status::EINVAL, 0),
        FrameError::KeyTooLong(365),
    );
}

#[test]
fn wrong_extras_lengths_invalid_then_close() {
    let cases: Vec<(Vec<u8>, u8)> = vec![
        (request(op::GET, &[0; 4], b"k", &[], 0, 0), op::GET),
        (request(op::GETK, &[0; 4], b"k", &[], 0, 0), op::GETK),
        (request(op::SET, &[0; 4], b"k", b"v", 0, 0), op::SET),
        (request(op::SET, &[], b"k", b"v", 0, 0), op::SET),
        (request(op::ADD, &[0; 12], b"k", b"v", 0, 0), op::ADD),
        (request(op::INCR, &[0; 8], b"k", &[], 0, 0), op::INCR),
        (request(op::DECR, &[], b"k", &[], 0, 0), op::DECR),
        (request(op::DELETE, &[0; 4], b"k", &[], 0, 0), op::DELETE),
        (request(op::FLUSH, &[0; 8], b"", &[], 0, 0), op::FLUSH),
        (request(op::FLUSH, &[0; 2], b"", &[], 0, 0), op::FLUSH),
        (request(op::APPEND, &[0; 8], b"k", b"v", 0, 0), op::APPEND),
        (request(op::TOUCH, &[], b"k", &[], 0, 0), op::TOUCH),
        (request(op::GAT, &[0; 8], b"k", &[], 0, 0), op::GAT),
        // Shapes beyond the extras: missing key, unexpected key/value.
        (request(op::GET, &[], b"", &[], 0, 0), op::GET),
        (request(op::GET, &[], b"k", b"v", 0, 0), op::GET),
        (request(op::NOOP, &[], b"k", &[], 0, 0), op::NOOP),
        (request(op::FLUSH, &[], b"", b"x", 0, 0), op::FLUSH),
        (
            request(op::INCR, &counter_extras(1, 1, 0), b"k", b"v", 0, 0),
            op::INCR,
        ),
    ];
    for (bytes, opcode) in cases {
        expect_protocol_close(
            &bytes,
            &error_bytes(opcode, status::EINVAL, 0),
            FrameError::BadShape {
                opcode: Opcode(opcode),
            },
        );
    }
}

#[test]
fn huge_total_body_invalid_then_close() {
    let bytes = header_bytes(0x80, op::SET, 1, 8, 0, 0, (1 << 30) + 1, 3, 0);
    expect_protocol_close(
        &bytes,
        &error_bytes(op::SET, status::EINVAL, 3),
        FrameError::BodyTooLarge((1 << 30) + 1),
    );
    let bytes = header_bytes(0x80, 0x55, 0, 0, 0, 0, u32::MAX, 0, 0);
    expect_protocol_close(
        &bytes,
        &error_bytes(0x55, status::EINVAL, 0),
        FrameError::BodyTooLarge(u32::MAX),
    );
}

#[test]
fn too_large_set_discarded_while_streaming_connection_usable_old_item_gone() {
    let (mut h, id) = setup();
    put(&mut h, id, b"k", b"old", 0, 0);
    let value = vec![b'x'; 1_048_517];
    let mut stream = request(op::SET, &store_extras(0, 0), b"k", &value, 0, 0x77);
    stream.extend(get(op::GET, b"k"));
    let (head, rest) = stream.split_at(24 + 8 + 1 + 100);
    h.send(id, head);
    // Answered as soon as the header, extras and key are in; the value is skipped as it arrives.
    assert_eq!(
        h.packets(id),
        vec![Packet::error(op::SET, status::E2BIG, 0x77)]
    );
    assert_eq!(h.server.state(id), Some(ConnState::Discarding));
    for piece in rest.chunks(4096) {
        h.send(id, piece);
    }
    assert_eq!(
        h.packets(id),
        vec![Packet::error(op::GET, status::KEY_ENOENT, 0)]
    );
    assert_open(&h, id);
    // SETQ also sends E2BIG.
    let mut stream = request(op::SETQ, &store_extras(0, 0), b"q", &value, 0, 0);
    stream.extend(simple(op::NOOP));
    assert_eq!(
        h.call(id, &stream),
        vec![
            Packet::error(op::SETQ, status::E2BIG, 0),
            Packet::response(op::NOOP, 0, 0, 0, b"", b"", b""),
        ]
    );
}

#[test]
fn largest_value_accepted_and_flags_count() {
    let (mut h, id) = setup();
    let value = vec![b'y'; 1_048_516];
    let mut stream = store(op::SET, b"k", &value, 0, 0, 0);
    let p = {
        h.send_chunked(id, &std::mem::take(&mut stream), 65_536);
        let mut packets = h.packets(id);
        assert_eq!(packets.len(), 1);
        packets.pop().unwrap()
    };
    assert_eq!(p.status, status::SUCCESS);
    let got = fetch(&mut h, id, b"k").unwrap();
    assert_eq!((got.1.len(), got.2), (1_048_516, p.cas));
    // Non-zero flags take 4 more bytes: the same value no longer fits.
    let p = h.call1(id, &store(op::SET, b"k", &value, 1, 0, 0));
    assert_eq!(p, Packet::error(op::SET, status::E2BIG, 0));
    assert_eq!(fetch(&mut h, id, b"k"), None);
    let p = h.call1(id, &store(op::SET, b"k", &value[4..], 1, 0, 0));
    assert_eq!(p.status, status::SUCCESS);
}

#[test]
fn eof_mid_request_delivers_pending_then_closes() {
    let (mut h, id) = setup();
    let mut stream = set(b"k", b"v");
    stream.extend(get(op::GET, b"k"));
    let partial = get(op::GET, b"other");
    stream.extend(&partial[..20]);
    // The driver has not written anything yet when the peer half-closes.
    h.feed(id, &stream);
    h.server.handle_eof(id, h.now);
    let first = h.server.poll_output();
    assert_eq!(first, Some(Output::Transmit(id)));
    assert_eq!(h.server.state(id), Some(ConnState::Closing));
    assert!(!h.server.interest(id).read);
    let out = h.server.outbound(id).to_vec();
    let packets = parse_all(&out);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1].value, b"v");
    // Partial consumption keeps the connection until everything is written.
    h.server.consume_outbound(id, 10, h.now);
    assert_eq!(h.server.poll_output(), None);
    h.server.consume_outbound(id, out.len() - 10, h.now);
    assert_eq!(
        h.server.poll_output(),
        Some(Output::Close(id, CloseReason::PeerClosed))
    );
    assert_eq!(h.server.poll_output(), None);
    assert_eq!(h.server.connection_count(), 0);
}

#[test]
fn eof_on_idle_connection_closes_at_once() {
    let (mut h, id) = setup();
    h.eof(id);
    assert_eq!(h.close_reason(id), Some(CloseReason::PeerClosed));
    assert_eq!(h.log, vec![Output::Close(id, CloseReason::PeerClosed)]);
}

#[test]
fn requests_split_at_every_byte_give_the_same_bytes() {
    let mut stream = store(op::SET, b"key", b"some value", 3, 0, 0);
    stream.extend(get(op::GETK, b"key"));
    stream.extend(counter(op::INCR, b"n", 1, 5, 0, 0));
    stream.extend(touch(op::GAT, b"key", 0));
    stream.extend(request(0x33, &[1], b"k", b"v", 0, 0));
    stream.extend(simple(op::NOOP));
    let mut whole = Harness::new();
    let wid = whole.accept();
    whole.send(wid, &stream);
    let expected = whole.take_output(wid);
    assert_eq!(parse_all(&expected).len(), 6);
    for split in 1..stream.len() {
        let mut h = Harness::new();
        let id = h.accept();
        h.send(id, &stream[..split]);
        h.send(id, &stream[split..]);
        assert_eq!(h.take_output(id), expected, "split at {split}");
    }
}
