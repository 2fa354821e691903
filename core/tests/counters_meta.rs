//! Regressions for counters and meta commands, through the pure core with the exact bytes
//! memcached 1.6.18 answers (checked against a live memcached, one command per round trip):
//! INCR/DECR on an item too large to be a number (memcached holds it in chunks and says so before
//! it looks at the CAS), base64 keys echoed in base64, append/prepend with `I` and an older CAS,
//! `ms … b` refused as too large, and an in-place `ma` keeping the item's marks.

mod support;

use keel_core::ConnId;
use support::{Harness, Packet, Req, op, status};

fn call(h: &mut Harness, id: ConnId, bytes: &[u8]) -> String {
    h.send(id, bytes);
    String::from_utf8(h.take_output(id)).expect("text replies are UTF-8 here")
}

/// A value of `len` bytes that reads as the number 1: memcached's chunk limit, not the digits,
/// decides.
fn one_padded(len: usize) -> Vec<u8> {
    let mut v = vec![b' '; len];
    v[0] = b'1';
    v
}

/// memcached's default slab chunk maximum is 512 KiB; an item of key "big" (3 bytes), flags 0,
/// is chunked past a value of 524226 bytes (48 + 3 + 1 + value + 2 + 8 > 524288).
const LARGEST_UNCHUNKED: usize = 524_226;

#[test]
fn counters_on_chunked_values_are_non_numeric_before_the_cas_is_checked() {
    let mut h = Harness::new();
    let id = h.accept();
    for (len, numeric) in [(LARGEST_UNCHUNKED, true), (LARGEST_UNCHUNKED + 1, false)] {
        let mut set = format!("set big 0 0 {len}\r\n").into_bytes();
        set.extend_from_slice(&one_padded(len));
        set.extend_from_slice(b"\r\n");
        assert_eq!(call(&mut h, id, &set), "STORED\r\n");
        let want = if numeric {
            "2\r\nEX\r\nHD\r\n"
        } else {
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
             CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
             CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        };
        assert_eq!(
            call(&mut h, id, b"incr big 1\r\nma big C999\r\nma big\r\n"),
            want,
            "value of {len} bytes"
        );
    }
    // The binary protocol: a mismatched CAS on the chunked value is Non-numeric, not Exists.
    let id = h.accept();
    let req = Req::new(op::INCR)
        .key(b"big")
        .extras(&support::counter_extras(1, 0, 0))
        .cas(999)
        .bytes();
    assert_eq!(
        h.call(id, &req),
        vec![Packet::error(op::INCR, status::DELTA_BADVAL, 0)]
    );
}

#[test]
fn a_smaller_item_size_limit_lowers_the_chunk_limit_to_half_of_it() {
    let cache = keel_core::CacheConfig {
        item_size_max: 4096,
        ..keel_core::CacheConfig::default()
    };
    let config = keel_core::Config {
        idle_timeout: None,
        ..keel_core::Config::default()
    };
    let mut h = Harness::with_config(config, cache);
    let id = h.accept();
    // 48 + 1 + 1 + value + 2 + 8 > 2048 past a value of 1988 bytes (memcached -o slab_chunk_max=2048).
    for (len, want) in [
        (1988, "2\r\n"),
        (
            1989,
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        ),
    ] {
        let mut set = format!("set k 0 0 {len}\r\n").into_bytes();
        set.extend_from_slice(&one_padded(len));
        set.extend_from_slice(b"\r\nincr k 1\r\n");
        assert_eq!(call(&mut h, id, &set), format!("STORED\r\n{want}"));
    }
}

#[test]
fn a_key_given_in_base64_is_echoed_in_base64_whatever_touched_the_item() {
    let mut h = Harness::new();
    let id = h.accept();
    // "czk=" is "s9"; "czg=" is "s8"; "YQpi" is "a\nb".
    assert_eq!(call(&mut h, id, b"ms czk= 2 b\r\n10\r\n"), "HD\r\n");
    // In place (10 -> 9): the item keeps its base64 mark, so even a plain mg encodes it.
    assert_eq!(call(&mut h, id, b"ma czk= b MD k\r\n"), "HD kczk= b\r\n");
    assert_eq!(
        call(&mut h, id, b"mg czk= b k v\r\nmg s9 k v\r\n"),
        "VA 2 kczk= b\r\n9 \r\nVA 2 kczk= b\r\n9 \r\n"
    );
    // A longer number is a new item (memcached drops the mark); a base64 request still gets
    // base64 back, never the decoded bytes.
    assert_eq!(call(&mut h, id, b"ms czg= 1 b\r\n9\r\n"), "HD\r\n");
    assert_eq!(call(&mut h, id, b"ma czg= b k\r\n"), "HD kczg= b\r\n");
    assert_eq!(
        call(&mut h, id, b"mg czg= b k v\r\nmg s8 k v\r\n"),
        "VA 2 kczg= b\r\n10\r\nVA 2 ks8\r\n10\r\n"
    );
    // A key with a newline, created by ma and read back by mg: the reply stream stays intact.
    assert_eq!(call(&mut h, id, b"ma YQpi b N0 J5 v\r\n"), "VA 1\r\n5\r\n");
    assert_eq!(call(&mut h, id, b"ma YQpi b D10 k\r\n"), "HD kYQpi b\r\n");
    assert_eq!(
        call(&mut h, id, b"mg YQpi b k v\r\nme YQpi b\r\n")
            .lines()
            .take(2)
            .collect::<Vec<_>>(),
        ["VA 2 kYQpi b", "15"]
    );
    assert!(call(&mut h, id, b"me YQpi b\r\n").starts_with("ME YQpi exp=-1 "));
    // An item stored under a plain key, asked for in base64.
    assert_eq!(
        call(&mut h, id, b"set s7 0 0 1\r\n1\r\nmg czc= b k v\r\n"),
        "STORED\r\nVA 1 kczc= b\r\n1\r\n"
    );
}

#[test]
fn append_and_prepend_with_invalidate_need_an_exact_cas() {
    let mut h = Harness::new();
    let id = h.accept();
    assert_eq!(call(&mut h, id, b"ms s1 1 c\r\na\r\n"), "HD c1\r\n");
    assert_eq!(call(&mut h, id, b"ms s1 1 c\r\nb\r\n"), "HD c2\r\n");
    for mode in ["MA", "MP"] {
        assert_eq!(
            call(
                &mut h,
                id,
                format!("ms s1 1 {mode} I C1\r\nx\r\n").as_bytes()
            ),
            "EX\r\n",
            "{mode}"
        );
        assert_eq!(
            call(&mut h, id, b"mg s1 v c\r\n"),
            "VA 1 c2\r\nb\r\n",
            "{mode}"
        );
    }
    // Set mode still takes the older CAS, marking the item stale.
    assert_eq!(call(&mut h, id, b"ms s1 1 I C1\r\nz\r\n"), "HD\r\n");
    assert_eq!(call(&mut h, id, b"mg s1 v\r\n"), "VA 1 X W\r\nz\r\n");
    // An exact CAS appends whatever `I` says.
    let cas = call(&mut h, id, b"mg s1 c\r\n");
    let cas = cas
        .trim_end()
        .trim_start_matches("HD c")
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(
        call(
            &mut h,
            id,
            format!("ms s1 1 MA I C{cas}\r\n!\r\nmg s1 v\r\n").as_bytes()
        ),
        "HD\r\nVA 2\r\nz!\r\n"
    );
}

#[test]
fn ms_in_base64_refused_as_too_large_drops_the_decoded_key() {
    let mut h = Harness::new();
    let id = h.accept();
    let big = vec![b'x'; 2 << 20];
    // "a2s=" is "kk"; whatever the mode, memcached drops the old item.
    for mode in ["", " MA", " MP", " ME", " MR"] {
        assert_eq!(call(&mut h, id, b"ms a2s= 2 b\r\nhi\r\n"), "HD\r\n");
        let mut req = format!("ms a2s= {} b{mode}\r\n", big.len()).into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\nmg kk v\r\n");
        assert_eq!(
            call(&mut h, id, &req),
            "SERVER_ERROR object too large for cache\r\nEN\r\n",
            "mode{mode}"
        );
    }
    // A key that is not base64 is answered as such, before the size, and its data swallowed.
    let mut req = format!("ms a2s {} b\r\n", big.len()).into_bytes();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\nmn\r\n");
    assert_eq!(
        call(&mut h, id, &req),
        "CLIENT_ERROR error decoding key\r\nMN\r\n"
    );
}

#[test]
fn an_in_place_counter_keeps_stale_marks_and_the_fetched_bit() {
    let mut h = Harness::new();
    let id = h.accept();
    // Invalidated, then decremented in place: still stale, and the first reader wins.
    assert_eq!(
        call(&mut h, id, b"ms s2 2\r\n10\r\nmd s2 I\r\n"),
        "HD\r\nHD\r\n"
    );
    assert_eq!(call(&mut h, id, b"ma s2 MD v\r\n"), "VA 1\r\n9\r\n");
    assert_eq!(call(&mut h, id, b"mg s2 v\r\n"), "VA 2 X W\r\n9 \r\n");
    assert_eq!(call(&mut h, id, b"mg s2 v h\r\n"), "VA 2 h1 Z X\r\n9 \r\n");
    // The recache token handed out stays with the item too.
    assert_eq!(
        call(&mut h, id, b"ms s3 2\r\n10\r\nmd s3 I\r\n"),
        "HD\r\nHD\r\n"
    );
    assert_eq!(call(&mut h, id, b"mg s3 v\r\n"), "VA 2 X W\r\n10\r\n");
    assert_eq!(call(&mut h, id, b"ma s3 MD v\r\n"), "VA 1\r\n9\r\n");
    assert_eq!(call(&mut h, id, b"mg s3 v\r\n"), "VA 2 Z X\r\n9 \r\n");
    // Fetched survives an in-place write, not a longer number (a new item in memcached).
    assert_eq!(
        call(&mut h, id, b"ms s5 2\r\n10\r\nmg s5 h\r\nmg s5 h\r\n"),
        "HD\r\nHD h0\r\nHD h1\r\n"
    );
    assert_eq!(
        call(&mut h, id, b"ma s5 MD\r\nmg s5 h\r\n"),
        "HD\r\nHD h1\r\n"
    );
    assert_eq!(
        call(
            &mut h,
            id,
            b"ms s6 1\r\n9\r\nmg s6 h\r\nma s6\r\nmg s6 h\r\n"
        ),
        "HD\r\nHD h0\r\nHD\r\nHD h0\r\n"
    );
    // A stale item whose number grows becomes a fresh item.
    assert_eq!(
        call(
            &mut h,
            id,
            b"ms s4 1\r\n9\r\nmd s4 I\r\nma s4 v\r\nmg s4 v\r\n"
        ),
        "HD\r\nHD\r\nVA 2\r\n10\r\nVA 2\r\n10\r\n"
    );
}

#[test]
fn me_changes_nothing_and_counts_nothing() {
    let mut h = Harness::new();
    let id = h.accept();
    assert_eq!(
        call(&mut h, id, b"ms z 1\r\n1\r\nmd z I\r\n"),
        "HD\r\nHD\r\n"
    );
    let before = call(&mut h, id, b"stats\r\n");
    let me = call(&mut h, id, b"me z\r\nme z\r\n");
    assert_eq!(me.matches("fetch=no").count(), 2, "{me}");
    assert_eq!(
        call(&mut h, id, b"stats\r\n")
            .lines()
            .filter(|l| l.starts_with("STAT cmd_get") || l.starts_with("STAT get_"))
            .collect::<Vec<_>>(),
        before
            .lines()
            .filter(|l| l.starts_with("STAT cmd_get") || l.starts_with("STAT get_"))
            .collect::<Vec<_>>()
    );
    // The recache token is still there for the first real reader.
    assert_eq!(call(&mut h, id, b"mg z v\r\n"), "VA 1 X W\r\n1\r\n");
    assert_eq!(
        call(&mut h, id, b"me z\r\n").matches("fetch=yes").count(),
        1
    );
}
