//! `-C` (CAS disabled) and `-M` (evictions disabled) over real sockets: the exact replies memcached
//! 1.6.18 gives under those flags, which `core/tests/no_cas_no_evictions.rs` asserts of keel's
//! core (`CacheConfig::cas_enabled`, `evictions_enabled`).
//!
//! The scenarios take any server kind: memcached and keel on both drivers run the same
//! assertions.

use keel_tests::text::TextConn;
use keel_tests::{Kind, Options, Server, server_tests};

fn start(kind: Kind, args: &[&str], memory_mib: Option<u32>) -> Server {
    let opts = Options {
        memory_mib,
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..Options::default()
    };
    Server::start_with(kind, &opts)
}

fn cas_disabled(kind: Kind) {
    let server = start(kind, &["-C"], None);
    let mut conn = TextConn::connect(server.port);
    let script: &[(&str, &str)] = &[
        ("set k 0 0 1\r\n5\r\n", "STORED\r\n"),
        ("gets k\r\n", "VALUE k 0 1 0\r\n5\r\nEND\r\n"),
        ("cas k 0 0 1 0\r\n6\r\n", "EXISTS\r\n"),
        ("cas k 0 0 1 5\r\n6\r\n", "EXISTS\r\n"),
        ("cas nokey 0 0 1 5\r\n6\r\n", "NOT_FOUND\r\n"),
        ("incr k 1\r\n", "6\r\n"),
        ("mg k c v\r\n", "VA 1 c0\r\n6\r\n"),
        ("ms k 1 C0\r\n7\r\n", "EX\r\n"),
        ("ms k 1 I C1\r\n7\r\n", "EX\r\n"),
        ("ms k 1 MA C1\r\n7\r\n", "HD\r\n"),
        ("ms k 1 MP C0 c\r\n8\r\n", "HD c0\r\n"),
        ("ma k C1\r\n", "EX\r\n"),
        ("ma k C0 c v\r\n", "VA 3 c0\r\n868\r\n"),
        ("md k C1\r\n", "EX\r\n"),
        ("md k C0\r\n", "HD\r\n"),
        ("ms k 1 c\r\n1\r\n", "HD c0\r\n"),
        ("md k I\r\n", "HD\r\n"),
        ("mg k c v\r\n", "VA 1 c0 X W\r\n1\r\n"),
    ];
    for (request, want) in script {
        let got = conn.call(request.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&got),
            *want,
            "{}: {request:?}",
            kind.name()
        );
    }
    let settings = String::from_utf8_lossy(&conn.call(b"stats settings\r\n")).into_owned();
    assert!(settings.contains("STAT cas_enabled no\r\n"), "{settings}");
}

server_tests!(cas_disabled: mio, poll, uring, memcached);

fn evictions_disabled(kind: Kind) {
    let server = start(kind, &["-M"], Some(2));
    let mut conn = TextConn::connect(server.port);
    let value = vec![b'x'; 100_000];
    let (mut stored, mut refused) = (0, 0);
    for i in 0..40 {
        let mut req = format!("set k{i} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        match String::from_utf8_lossy(&conn.call(&req)).as_ref() {
            "STORED\r\n" if refused == 0 => stored += 1,
            "SERVER_ERROR out of memory storing object\r\n" => refused += 1,
            other => panic!("k{i}: {other:?} after {stored} stored, {refused} refused"),
        }
    }
    assert!(
        stored >= 10 && refused >= 10,
        "{stored} stored, {refused} refused"
    );
    for i in 0..stored {
        let reply = conn.call(format!("mg k{i} s\r\n").as_bytes());
        assert_eq!(String::from_utf8_lossy(&reply), "HD s100000\r\n", "k{i}");
    }
    assert_eq!(conn.stat("evictions"), "0");
    let settings = String::from_utf8_lossy(&conn.call(b"stats settings\r\n")).into_owned();
    assert!(settings.contains("STAT evictions off\r\n"), "{settings}");
}

server_tests!(evictions_disabled: mio, poll, uring, memcached);
