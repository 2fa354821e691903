//! `CacheConfig::cas_enabled` off (memcached `-C`) and `evictions_enabled` off (memcached `-M`),
//! through the pure core, with the bytes memcached 1.6.18 answers under the same flags (checked
//! against a live `memcached -C` and `memcached -M`).

mod support;

use keel_core::{CacheConfig, Config, ConnId};
use support::{Harness, Packet, Req, op, status};

/// memcached's binary status for a store that found no memory.
const OUT_OF_MEMORY: u16 = 0x82;

fn call(h: &mut Harness, id: ConnId, bytes: &[u8]) -> String {
    h.send(id, bytes);
    String::from_utf8(h.take_output(id)).expect("text replies are UTF-8 here")
}

fn harness(cache: CacheConfig) -> Harness {
    let config = Config {
        idle_timeout: None,
        ..Config::default()
    };
    Harness::with_config(config, cache)
}

fn no_cas() -> Harness {
    harness(CacheConfig {
        cas_enabled: false,
        ..CacheConfig::default()
    })
}

#[test]
fn without_cas_every_cas_is_zero_and_compare_and_swap_never_matches() {
    let mut h = no_cas();
    let id = h.accept();
    let script: &[(&str, &str)] = &[
        ("set k 0 0 1\r\n5\r\n", "STORED\r\n"),
        ("gets k\r\n", "VALUE k 0 1 0\r\n5\r\nEND\r\n"),
        // A text cas fails even against the 0 that gets reported.
        ("cas k 0 0 1 0\r\n6\r\n", "EXISTS\r\n"),
        ("cas k 0 0 1 5\r\n6\r\n", "EXISTS\r\n"),
        ("cas nokey 0 0 1 5\r\n6\r\n", "NOT_FOUND\r\n"),
        ("incr k 1\r\n", "6\r\n"),
        ("gats 0 k\r\n", "VALUE k 0 1 0\r\n6\r\nEND\r\n"),
        ("mg k c v\r\n", "VA 1 c0\r\n6\r\n"),
        // ms with C in set mode is a compare-and-swap: it fails, `I` or not.
        ("ms k 1 C0\r\n7\r\n", "EX\r\n"),
        ("ms k 1 I C1\r\n7\r\n", "EX\r\n"),
        // Append and prepend ignore a CAS they cannot compare.
        ("ms k 1 MA C1\r\n7\r\n", "HD\r\n"),
        ("ms k 1 MP C0 c\r\n8\r\n", "HD c0\r\n"),
        // ma and md compare against 0.
        ("ma k C1\r\n", "EX\r\n"),
        ("ma k C0 c v\r\n", "VA 3 c0\r\n868\r\n"),
        ("md k C1\r\n", "EX\r\n"),
        ("md k C0\r\n", "HD\r\n"),
        ("mg k\r\n", "EN\r\n"),
        ("ms k 1 c\r\n1\r\n", "HD c0\r\n"),
        ("md k I\r\n", "HD\r\n"),
        ("mg k c v\r\n", "VA 1 c0 X W\r\n1\r\n"),
        ("ms n 1 ME C3\r\n1\r\n", "HD\r\n"),
        ("mg n c\r\n", "HD c0\r\n"),
    ];
    for (request, want) in script {
        assert_eq!(&call(&mut h, id, request.as_bytes()), want, "{request:?}");
    }
    let settings = call(&mut h, id, b"stats settings\r\n");
    assert!(settings.contains("STAT cas_enabled no\r\n"), "{settings}");
    assert!(settings.contains("STAT evictions on\r\n"), "{settings}");
}

#[test]
fn without_cas_binary_commands_report_zero_and_compare_against_it() {
    let mut h = no_cas();
    let id = h.accept();
    let set = |cas| {
        Req::new(op::SET)
            .key(b"b")
            .extras(&support::store_extras(0, 0))
            .value(b"1")
            .cas(cas)
            .bytes()
    };
    // A SET's CAS is ignored (memcached's new item cannot hold one): it stores.
    for cas in [0, 77] {
        let reply = h.call1(id, &set(cas));
        assert_eq!((reply.status, reply.cas), (status::SUCCESS, 0), "cas {cas}");
    }
    let get = h.call1(id, &support::get(op::GET, b"b"));
    assert_eq!(
        (get.status, get.cas, get.value),
        (status::SUCCESS, 0, b"1".to_vec())
    );
    // So are ADD's, REPLACE's and APPEND's.
    for (opcode, key, value) in [(op::ADD, b"a", b"1"), (op::REPLACE, b"b", b"2")] {
        let req = Req::new(opcode)
            .key(key)
            .extras(&support::store_extras(0, 0))
            .value(value)
            .cas(5)
            .bytes();
        assert_eq!(h.call1(id, &req).status, status::SUCCESS, "{opcode:#x}");
    }
    let append = Req::new(op::APPEND).key(b"b").value(b"3").cas(9).bytes();
    assert_eq!(h.call1(id, &append).status, status::SUCCESS);
    let get = h.call1(id, &support::get(op::GET, b"b"));
    assert_eq!(
        (get.status, get.cas, get.value),
        (status::SUCCESS, 0, b"23".to_vec())
    );
    assert_eq!(h.call1(id, &set(0)).status, status::SUCCESS);
    let incr = |cas| {
        Req::new(op::INCR)
            .key(b"b")
            .extras(&support::counter_extras(1, 0, 0))
            .cas(cas)
            .bytes()
    };
    assert_eq!(h.call1(id, &incr(5)).status, status::KEY_EEXISTS);
    let ok = h.call1(id, &incr(0));
    assert_eq!(
        (ok.status, ok.cas, ok.counter_value()),
        (status::SUCCESS, 0, 2)
    );
    let delete = |cas| Req::new(op::DELETE).key(b"b").cas(cas).bytes();
    assert_eq!(h.call1(id, &delete(9)).status, status::KEY_EEXISTS);
    assert_eq!(h.call1(id, &delete(0)).status, status::SUCCESS);
}

#[test]
fn a_flush_still_works_without_cas() {
    let mut h = no_cas();
    let id = h.accept();
    assert_eq!(
        call(
            &mut h,
            id,
            b"set a 0 0 1\r\n1\r\nflush_all\r\nset b 0 0 1\r\n2\r\nget a b\r\n"
        ),
        "STORED\r\nOK\r\nSTORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n"
    );
}

#[test]
fn without_evictions_a_full_cache_refuses_stores_and_keeps_its_items() {
    let mut h = harness(CacheConfig {
        memory_limit: 2 << 20,
        evictions_enabled: false,
        ..CacheConfig::default()
    });
    let id = h.accept();
    let value = vec![b'x'; 100_000];
    let set = |key: &str| {
        let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        req
    };
    let mut stored = 0;
    let mut refused = 0;
    for i in 0..40 {
        match call(&mut h, id, &set(&format!("k{i}"))).as_str() {
            "STORED\r\n" if refused == 0 => stored += 1,
            "SERVER_ERROR out of memory storing object\r\n" => refused += 1,
            other => panic!("k{i}: {other:?} after {stored} stored, {refused} refused"),
        }
    }
    assert!(
        stored >= 10 && refused >= 10,
        "{stored} stored, {refused} refused"
    );
    // Nothing was evicted: every stored item is still there, and none of the refused ones.
    for i in 0..40 {
        let reply = call(&mut h, id, format!("mg k{i} s\r\n").as_bytes());
        let want = if i < stored {
            "HD s100000\r\n"
        } else {
            "EN\r\n"
        };
        assert_eq!(reply, want, "k{i}");
    }
    assert_eq!(
        call(&mut h, id, b"ms big 100000 T0\r\n")
            + &call(&mut h, id, &[&value[..], b"\r\n"].concat()),
        "SERVER_ERROR out of memory storing object\r\n"
    );
    let bin = Req::new(op::SET)
        .key(b"bin")
        .extras(&support::store_extras(0, 0))
        .value(&value)
        .bytes();
    let binary = h.accept();
    assert_eq!(
        h.call(binary, &bin),
        vec![Packet::error(op::SET, OUT_OF_MEMORY, 0)]
    );
    assert_eq!(h.stat(b"", "evictions").as_deref(), Some("0"));
    let settings = call(&mut h, id, b"stats settings\r\n");
    assert!(settings.contains("STAT evictions off\r\n"), "{settings}");
    assert!(settings.contains("STAT cas_enabled yes\r\n"), "{settings}");
}
