//! Numeric fields of the text and meta commands through the pure core: every field is parsed with
//! memcached's `safe_strto*` rules, a data length over memcached's `INT_MAX - 2` bound is a
//! malformed line (answered at once, nothing swallowed, the connection keeps working), and a
//! number that does not fit its 32-bit field is refused rather than truncated (the one deliberate
//! difference, in the README's compatibility table). The expected lines are memcached 1.6.18's
//! for the same input, checked against a live memcached.

mod support;

use keel_core::ConnId;
use support::Harness;

fn call(h: &mut Harness, id: ConnId, bytes: &[u8]) -> String {
    h.send(id, bytes);
    String::from_utf8(h.take_output(id)).expect("text replies are UTF-8 here")
}

/// The reply to `bytes` on a fresh connection whose cache holds `k` = "5".
fn reply(bytes: &[u8]) -> String {
    let mut h = Harness::new();
    let id = h.accept();
    assert_eq!(call(&mut h, id, b"set k 0 0 1\r\n5\r\n"), "STORED\r\n");
    call(&mut h, id, bytes)
}

#[test]
fn a_length_past_int_max_minus_two_is_a_bad_line_and_nothing_is_swallowed() {
    for len in ["2147483647", "2147483646", "2147483648", "4294967297", "-1"] {
        for cmd in ["set", "add", "replace", "append", "prepend"] {
            assert_eq!(
                reply(format!("{cmd} k 0 0 {len}\r\nget k\r\n").as_bytes()),
                "CLIENT_ERROR bad command line format\r\nVALUE k 0 1\r\n5\r\nEND\r\n",
                "{cmd} with length {len}"
            );
        }
        assert_eq!(
            reply(format!("cas k 0 0 {len} 1\r\nget k\r\n").as_bytes()),
            "CLIENT_ERROR bad command line format\r\nVALUE k 0 1\r\n5\r\nEND\r\n",
            "cas with length {len}"
        );
        assert_eq!(
            reply(format!("ms k {len} T0\r\nmg k v\r\n").as_bytes()),
            "CLIENT_ERROR bad command line format\r\nVA 1\r\n5\r\n",
            "ms with length {len}"
        );
    }
}

#[test]
fn the_longest_accepted_length_is_refused_as_too_large_and_swallowed() {
    let mut h = Harness::new();
    let id = h.accept();
    // INT_MAX - 2 is a well-formed length: refused as too large, its data block swallowed.
    assert_eq!(
        call(&mut h, id, b"set k 0 0 2147483645\r\nget k\r\n"),
        "SERVER_ERROR object too large for cache\r\n"
    );
    assert_eq!(call(&mut h, id, b"get k\r\n"), "", "still swallowing");
}

#[test]
fn numbers_follow_strtol() {
    // Leading white space and a plus sign are accepted, trailing white space ends the number.
    assert_eq!(
        reply(b"set t +7 \t0 1\r\nx\r\nget t\r\n"),
        "STORED\r\nVALUE t 7 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        reply(b"set t 7\tjunk 0 1\r\nx\r\nget t\r\n"),
        "STORED\r\nVALUE t 7 1\r\nx\r\nEND\r\n"
    );
    // "-0" is zero; any other negative flags value is refused.
    assert_eq!(
        reply(b"set t -0 0 1\r\nx\r\nget t\r\n"),
        "STORED\r\nVALUE t 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        reply(b"set t -1 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // strtoull negates the magnitude: memcached takes "-18446744073709551615" as 1.
    assert_eq!(reply(b"incr k -18446744073709551615\r\n"), "6\r\n");
    assert_eq!(
        reply(b"incr k 18446744073709551616\r\nincr k -1\r\nincr k 1x\r\n"),
        "CLIENT_ERROR invalid numeric delta argument\r\n".repeat(3)
    );
    assert_eq!(
        reply(b"cas k 0 0 1 18446744073709551616\r\nx\r\ncas k 0 0 1 -1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n".repeat(2)
    );
}

#[test]
fn numbers_that_do_not_fit_their_field_are_refused_not_truncated() {
    // memcached truncates these 64-bit values to 32 bits; keel refuses them (README).
    assert_eq!(
        reply(b"set t 4294967296 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        reply(b"set t 0 2147483648 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        reply(b"touch k 2147483648\r\ngat -2147483649 k\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n".repeat(2)
    );
    assert_eq!(
        reply(b"verbosity 4294967296\r\nflush_all 2147483648\r\nget k\r\n"),
        "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR invalid exptime argument\r\n\
         VALUE k 0 1\r\n5\r\nEND\r\n"
    );
    assert_eq!(
        reply(b"ms t 1 F4294967296\r\nx\r\nms t 1 T2147483648\r\nx\r\nmg t\r\n"),
        "CLIENT_ERROR bad command line format\r\n\
         CLIENT_ERROR bad token in command line format\r\nEN\r\n"
    );
    assert_eq!(
        reply(b"mg k N2147483648\r\nmg k R-2147483649\r\nmg k T99999999999\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n".repeat(3)
    );
}

#[test]
fn meta_numeric_flags_answer_memcached_lines() {
    assert_eq!(
        reply(b"ma k D18446744073709551616\r\nma k J-1\r\nma k C18446744073709551616\r\n"),
        "CLIENT_ERROR invalid or duplicate flag\r\n".repeat(3)
    );
    assert_eq!(
        reply(b"md k C18446744073709551616\r\nmd k C-1\r\nmg k v\r\n"),
        "CLIENT_ERROR invalid or duplicate flag\r\n".repeat(2) + "VA 1\r\n5\r\n"
    );
    assert_eq!(
        reply(b"mg k C1x\r\nms k 1 C-5\r\nx\r\nmg k v\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n".repeat(2) + "VA 1\r\n5\r\n"
    );
    assert_eq!(
        reply(b"ma k D-0 v\r\nma k D+2 v\r\n"),
        "VA 1\r\n5\r\nVA 1\r\n7\r\n"
    );
}
