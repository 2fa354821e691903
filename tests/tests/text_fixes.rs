//! Over real sockets, against memcached 1.6.18 as the oracle (both keel drivers): numeric fields
//! of the text and meta commands (a length past `INT_MAX - 2` is a bad line and the connection
//! keeps working), INCR/DECR on an item too large to be a number answering Non-numeric before
//! the CAS is checked (binary and text/meta), and the meta corrections (base64 key echo, append/
//! prepend with `I` and an older CAS, `ms … b` refused as too large, in-place `ma` keeping the
//! item's marks, `me` changing nothing). One command per round trip, as the replies of memcached's
//! counters depend on it (see `text_differential.rs`).
//!
//! Where keel differs on purpose (numbers that do not fit their 32-bit field, which memcached
//! truncates; `mg … b k` on an item memcached does not remember as base64-keyed), keel's own
//! bytes are asserted and memcached's are checked to still be what the README says.

use keel_tests::client::{Request, op, status};
use keel_tests::text::TextConn;
use keel_tests::text_oracle::{Compare, Ending, Part, Side, Step};
use keel_tests::{Client, Kind, Server, server_tests};

fn step(name: &str, text: &[u8]) -> Step {
    Step {
        name: name.to_string(),
        parts: vec![Part::Bytes(text.to_vec())],
        ending: Ending::Sync,
        compare: Compare::Exact,
    }
}

/// Runs each `(name, bytes)` as one step on both servers; the normalised replies must match.
fn same_as_memcached(oracle: &Server, keel: &Server, steps: &[(&str, &[u8])]) {
    let mut mc = Side::new(oracle);
    let mut kl = Side::new(keel);
    for (i, (name, bytes)) in steps.iter().enumerate() {
        let s = step(name, bytes);
        let (want, got) = (mc.run(i, &s), kl.run(i, &s));
        assert_eq!(
            String::from_utf8_lossy(&kl.normalise(&got)),
            String::from_utf8_lossy(&mc.normalise(&want)),
            "{}: step {name:?}",
            keel.kind.name()
        );
    }
}

/// The reply to `bytes` (up to the sentinel `mn`), on a fresh connection.
fn reply(server: &Server, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&TextConn::connect(server.port).call(bytes)).into_owned()
}

fn numeric_fields(kind: Kind) {
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    let steps: &[(&str, &[u8])] = &[
        ("seed", b"set k 0 0 1\r\n5\r\n"),
        ("INT_MAX", b"set k 0 0 2147483647\r\nget k\r\n"),
        ("INT_MAX - 1", b"add k 0 0 2147483646\r\nget k\r\n"),
        ("past INT_MAX", b"append k 0 0 2147483648\r\nget k\r\n"),
        ("negative", b"prepend k 0 0 -1\r\nget k\r\n"),
        ("cas INT_MAX", b"cas k 0 0 2147483647 1\r\nget k\r\n"),
        ("ms INT_MAX", b"ms k 2147483647 T0\r\nmg k v\r\n"),
        ("ms INT_MAX - 1", b"ms k 2147483646\r\nmg k v\r\n"),
        ("strtol spaces", b"set t +7 \t0 1\r\nx\r\nget t\r\n"),
        ("minus zero", b"set t -0 0 1\r\nx\r\nget t\r\n"),
        ("negative flags", b"set t -1 0 1\r\nx\r\n"),
        ("negated magnitude", b"incr k -18446744073709551615\r\n"),
        (
            "bad deltas",
            b"incr k 18446744073709551616\r\nincr k -1\r\ndecr k 1x\r\n",
        ),
        (
            "bad cas",
            b"cas k 0 0 1 18446744073709551616\r\nx\r\ncas k 0 0 1 -1\r\nx\r\n",
        ),
        (
            "meta numeric flags",
            b"ma k D18446744073709551616\r\nma k J-1\r\nmd k C-1\r\nmg k C1x\r\n",
        ),
        ("ms bad C swallows", b"ms k 1 C-5\r\nx\r\nmg k v\r\n"),
        ("signs in meta", b"ma k D-0 v\r\nma k D+2 v\r\n"),
        ("still working", b"get k t\r\n"),
    ];
    same_as_memcached(&oracle, &keel, steps);

    // Numbers past their 32-bit field: memcached truncates, keel refuses (README).
    let truncated = b"set t 4294967296 0 1\r\nx\r\nget t\r\n";
    assert_eq!(
        reply(&oracle, truncated),
        "STORED\r\nVALUE t 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        reply(&keel, truncated),
        "CLIENT_ERROR bad command line format\r\nERROR\r\nVALUE t 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        reply(
            &keel,
            b"touch k 2147483648\r\nms t 1 T2147483648\r\nx\r\nmg k v\r\n"
        ),
        "CLIENT_ERROR invalid exptime argument\r\n\
         CLIENT_ERROR bad token in command line format\r\nVA 1\r\n8\r\n"
    );
}

server_tests!(numeric_fields: mio, poll, uring);

/// A value of `len` bytes reading as the number 1.
fn one_padded(len: usize) -> Vec<u8> {
    let mut v = vec![b' '; len];
    v[0] = b'1';
    v
}

fn chunked_counters(kind: Kind) {
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    // memcached's default slab chunk maximum is 512 KiB: key "big" is chunked past 524226 bytes.
    for (len, numeric) in [(524_226, true), (524_227, false)] {
        let mut set = format!("set big 0 0 {len}\r\n").into_bytes();
        set.extend_from_slice(&one_padded(len));
        set.extend_from_slice(b"\r\n");
        let counters: &[u8] = b"incr big 1\r\nma big C999\r\nma big MD\r\n";
        same_as_memcached(&oracle, &keel, &[("store", &set), ("counters", counters)]);
        let text = reply(&keel, counters);
        assert_eq!(text.contains("non-numeric"), !numeric, "{len}: {text}");
        // Binary: a mismatched CAS is Exists on a number, Non-numeric on a chunked item.
        let want = if numeric {
            status::KEY_EEXISTS
        } else {
            status::DELTA_BADVAL
        };
        for server in [&oracle, &keel] {
            let mut client = Client::connect(server.port).expect("connect");
            for opcode in [op::INCREMENT, op::DECREMENT] {
                let req = Request::counter(opcode, b"big", 1, 0, 0).cas(999);
                assert_eq!(
                    client.call(&req).status,
                    want,
                    "{} {len} {opcode:#x}",
                    server.kind.name()
                );
            }
        }
    }
}

server_tests!(chunked_counters: mio, poll, uring);

fn meta_corrections(kind: Kind) {
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    let big = vec![b'x'; 2 << 20];
    let too_large = |mode: &str| {
        let mut req = format!("ms a2s= {} b{mode}\r\n", big.len()).into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\nmg kk v\r\n");
        req
    };
    let (set_mode, append_mode) = (too_large(""), too_large(" MA"));
    let steps: &[(&str, &[u8])] = &[
        // (a) in place, the base64 mark stays and a plain mg echoes base64 too.
        ("b64 store", b"ms czk= 2 b\r\n10\r\n"),
        ("b64 ma in place", b"ma czk= b MD k\r\n"),
        ("b64 mg", b"mg czk= b k v\r\n"),
        ("plain mg of b64 item", b"mg s9 k v\r\n"),
        ("b64 append", b"ms czk= 1 b MA\r\n!\r\n"),
        ("plain mg after b64 append", b"mg s9 k v\r\n"),
        // (b) append/prepend with I and an older CAS: EX, item untouched.
        ("store a", b"ms s1 1\r\na\r\n"),
        ("store b", b"ms s1 1\r\nb\r\n"),
        ("append I older", b"ms s1 1 MA I C1\r\nx\r\n"),
        ("prepend I older", b"ms s1 1 MP I C1\r\nx\r\n"),
        ("untouched", b"mg s1 v\r\n"),
        ("set I older", b"ms s1 1 I C1\r\nz\r\n"),
        ("stale", b"mg s1 v\r\n"),
        // (c) ms b refused as too large drops the decoded key, in set and append mode.
        ("b64 kk", b"ms a2s= 2 b\r\nhi\r\n"),
        ("too large set", &set_mode),
        ("b64 kk again", b"ms a2s= 2 b\r\nhi\r\n"),
        ("too large append", &append_mode),
        // (d) an in-place counter keeps stale marks, the token and the fetched bit.
        ("s2", b"ms s2 2\r\n10\r\n"),
        ("s2 invalidate", b"md s2 I\r\n"),
        ("s2 ma", b"ma s2 MD v\r\n"),
        ("s2 stale", b"mg s2 v\r\n"),
        ("s2 token", b"mg s2 v h\r\n"),
        ("s5", b"ms s5 2\r\n10\r\n"),
        ("s5 fetch", b"mg s5 h\r\n"),
        ("s5 fetched", b"mg s5 h\r\n"),
        ("s5 ma", b"ma s5 MD\r\n"),
        // me neither hands out the token nor marks the item fetched.
        ("s3", b"ms s3 1\r\n1\r\n"),
        ("s3 invalidate", b"md s3 I\r\n"),
        ("s3 me", b"me s3\r\n"),
        ("s3 first reader wins", b"mg s3 v\r\n"),
    ];
    same_as_memcached(&oracle, &keel, steps);
    // After the in-place `ma` on s5 the fetched bit stays (keel always rewrites a counter in
    // place). memcached does so only when no other thread holds the item, which its background
    // threads make a matter of timing: it answers `h1` or `h0` (as `text_differential.rs` notes).
    assert_eq!(reply(&keel, b"mg s5 h\r\n"), "HD h1\r\n");
    let memcached = reply(&oracle, b"mg s5 h\r\n");
    assert!(
        memcached == "HD h1\r\n" || memcached == "HD h0\r\n",
        "{memcached:?}"
    );

    // mg … b k on an item memcached does not remember as base64-keyed: memcached echoes the
    // decoded bytes ("s7"), keel the base64 it was asked with (README).
    let plain_item = b"set s7 0 0 1\r\n1\r\nmg czc= b k v\r\n";
    assert_eq!(reply(&oracle, plain_item), "STORED\r\nVA 1 ks7\r\n1\r\n");
    assert_eq!(reply(&keel, plain_item), "STORED\r\nVA 1 kczc= b\r\n1\r\n");
}

server_tests!(meta_corrections: mio, poll, uring);
