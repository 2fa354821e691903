//! Property test against a reference model: random request sequences over a small key space (every
//! data opcode, quiet twins included, CAS taken from the model's current items or random), random
//! fake-clock steps (0–3 s) that may fall in the middle of a request, and the byte stream cut into
//! random chunks. The core's response packets must equal the model's prediction, and the output
//! bytes must be identical whether each time segment is fed in one piece or in random chunks.

mod support;

use std::collections::HashMap;

use keel_core::{CacheConfig, Config};
use proptest::prelude::*;
use support::*;

const KEYS: [&[u8]; 4] = [b"a", b"bb", b"key:3", b"\x00\xff"];
const RELATIVE_MAX: u32 = 2_592_000;

#[derive(Clone, Copy, Debug)]
enum Exp {
    Never,
    Rel(u32),
    /// Absolute, `T0 + n` seconds (may be in the past once the clock has moved).
    Abs(u32),
    /// Absolute, before T0.
    Past,
    /// 0xffffffff: far future for stores, "do not create" for counters.
    Max,
}

impl Exp {
    fn raw(self) -> u32 {
        match self {
            Exp::Never => 0,
            Exp::Rel(n) => n,
            Exp::Abs(n) => T0_SECS as u32 + n,
            Exp::Past => T0_SECS as u32 - 100,
            Exp::Max => u32::MAX,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum CasPick {
    Zero,
    /// The model's CAS of the key's live item (or a random one when there is none).
    Current(u64),
    /// The model's CAS of the key plus one: a mismatch.
    Stale,
    Random(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Get {
        opcode: u8,
        key: usize,
    },
    Gat {
        opcode: u8,
        key: usize,
        exp: Exp,
    },
    Touch {
        key: usize,
        exp: Exp,
    },
    Store {
        opcode: u8,
        key: usize,
        flags: u32,
        exp: Exp,
        cas: CasPick,
        value: Vec<u8>,
    },
    Delete {
        quiet: bool,
        key: usize,
        cas: CasPick,
    },
    Counter {
        opcode: u8,
        key: usize,
        delta: u64,
        initial: u64,
        exp: Exp,
        cas: CasPick,
    },
    Flush {
        quiet: bool,
        delay: Option<u32>,
    },
    Noop,
    Version,
}

fn exp_strategy() -> impl Strategy<Value = Exp> {
    prop_oneof![
        3 => Just(Exp::Never),
        3 => (1u32..5).prop_map(Exp::Rel),
        1 => (0u32..20).prop_map(Exp::Abs),
        1 => Just(Exp::Past),
        1 => Just(Exp::Max),
    ]
}

fn cas_strategy() -> impl Strategy<Value = CasPick> {
    prop_oneof![
        4 => Just(CasPick::Zero),
        3 => any::<u64>().prop_map(CasPick::Current),
        1 => Just(CasPick::Stale),
        1 => (1u64..40).prop_map(CasPick::Random),
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"",
        b"0",
        b"1",
        b"10",
        b"99",
        b"18446744073709551615",
        b"18446744073709551614",
        b"abc",
        b" 7",
        b"5 ",
        b"-0",
        b"-1",
        b"12abc",
        b"+3",
    ];
    prop_oneof![
        2 => proptest::sample::select(fixed).prop_map(|v| v.to_vec()),
        1 => proptest::collection::vec(proptest::sample::select(b"019 xz\r\n\0".to_vec()), 0..6),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (proptest::sample::select(vec![op::GET, op::GETQ, op::GETK, op::GETKQ]), key.clone())
            .prop_map(|(opcode, key)| Op::Get { opcode, key }),
        1 => (proptest::sample::select(vec![op::GAT, op::GATQ, op::GATK, op::GATKQ]), key.clone(), exp_strategy())
            .prop_map(|(opcode, key, exp)| Op::Gat { opcode, key, exp }),
        1 => (key.clone(), exp_strategy()).prop_map(|(key, exp)| Op::Touch { key, exp }),
        6 => (
            proptest::sample::select(vec![
                op::SET, op::SETQ, op::ADD, op::ADDQ, op::REPLACE, op::REPLACEQ, op::APPEND,
                op::APPENDQ, op::PREPEND, op::PREPENDQ,
            ]),
            key.clone(),
            prop_oneof![Just(0u32), Just(1), any::<u32>()],
            exp_strategy(),
            cas_strategy(),
            value_strategy(),
        )
            .prop_map(|(opcode, key, flags, exp, cas, value)| Op::Store { opcode, key, flags, exp, cas, value }),
        2 => (any::<bool>(), key.clone(), cas_strategy()).prop_map(|(quiet, key, cas)| Op::Delete { quiet, key, cas }),
        4 => (
            proptest::sample::select(vec![op::INCR, op::INCRQ, op::DECR, op::DECRQ]),
            key,
            prop_oneof![0u64..20, Just(u64::MAX), any::<u64>()],
            prop_oneof![0u64..20, any::<u64>()],
            exp_strategy(),
            cas_strategy(),
        )
            .prop_map(|(opcode, key, delta, initial, exp, cas)| Op::Counter { opcode, key, delta, initial, exp, cas }),
        1 => (any::<bool>(), prop_oneof![Just(None), Just(Some(0u32)), (1u32..5).prop_map(Some)])
            .prop_map(|(quiet, delay)| Op::Flush { quiet, delay }),
        1 => Just(Op::Noop),
        1 => Just(Op::Version),
    ]
}

/// The request's wire length, which does not depend on the CAS or model state.
fn wire_len(op: &Op) -> usize {
    24 + match op {
        Op::Get { key, .. } | Op::Delete { key, .. } => KEYS[*key].len(),
        Op::Gat { key, .. } | Op::Touch { key, .. } => 4 + KEYS[*key].len(),
        Op::Store {
            opcode, key, value, ..
        } => {
            let extras = if is_append(*opcode) { 0 } else { 8 };
            extras + KEYS[*key].len() + value.len()
        }
        Op::Counter { key, .. } => 20 + KEYS[*key].len(),
        Op::Flush { delay, .. } => delay.map_or(0, |_| 4),
        Op::Noop | Op::Version => 0,
    }
}

fn is_append(opcode: u8) -> bool {
    matches!(
        opcode,
        op::APPEND | op::APPENDQ | op::PREPEND | op::PREPENDQ
    )
}

fn is_quiet(opcode: u8) -> bool {
    matches!(
        opcode,
        op::GETQ
            | op::GETKQ
            | op::GATQ
            | op::GATKQ
            | op::SETQ
            | op::ADDQ
            | op::REPLACEQ
            | op::APPENDQ
            | op::PREPENDQ
            | op::DELETEQ
            | op::INCRQ
            | op::DECRQ
            | op::FLUSHQ
    )
}

#[derive(Clone, Debug)]
struct Item {
    value: Vec<u8>,
    flags: u32,
    /// Absolute Unix seconds, 0 = never.
    exptime: u32,
    cas: u64,
}

/// The reference cache: memcached's rules, written independently of the core.
#[derive(Default)]
struct Model {
    items: HashMap<Vec<u8>, Item>,
    next_cas: u64,
    /// A delayed flush takes effect at this Unix second.
    pending_flush: Option<u32>,
}

/// memcached's `realtime()`.
fn absolute(exptime: u32, now: u32) -> u32 {
    match exptime {
        0 => 0,
        e if e <= RELATIVE_MAX => now + e,
        e => e,
    }
}

/// memcached's `safe_strtoull` over the item data (which ends in "\r\n").
fn strtoull(value: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < value.len() && matches!(value[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let negative = value.get(i) == Some(&b'-');
    if matches!(value.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let start = i;
    let mut n: u64 = 0;
    while i < value.len() && value[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(u64::from(value[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        // No digits: strtoull's end pointer is the start of the string.
        return None;
    }
    // The end must be white space, NUL, or the item's own "\r\n".
    match value.get(i) {
        None | Some(b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0) => {}
        Some(_) => return None,
    }
    let n = if negative { n.wrapping_neg() } else { n };
    if negative && n >= 1 << 63 {
        return None;
    }
    Some(n)
}

impl Model {
    fn new() -> Model {
        Model {
            next_cas: 1,
            ..Model::default()
        }
    }

    fn take_cas(&mut self) -> u64 {
        let cas = self.next_cas;
        self.next_cas += 1;
        cas
    }

    fn catch_up(&mut self, now: u32) {
        if self.pending_flush.is_some_and(|at| now >= at) {
            self.pending_flush = None;
            self.items.clear();
        }
    }

    fn live(&mut self, key: &[u8], now: u32) -> Option<&mut Item> {
        let dead = self
            .items
            .get(key)
            .is_some_and(|it| it.exptime != 0 && it.exptime <= now);
        if dead {
            self.items.remove(key);
        }
        self.items.get_mut(key)
    }

    fn current_cas(&mut self, key: &[u8], now: u32) -> Option<u64> {
        self.live(key, now).map(|it| it.cas)
    }

    fn resolve(&mut self, pick: CasPick, key: &[u8], now: u32) -> u64 {
        match pick {
            CasPick::Zero => 0,
            CasPick::Current(fallback) => self.current_cas(key, now).unwrap_or(fallback.max(1)),
            CasPick::Stale => self.current_cas(key, now).map_or(7, |c| c + 1),
            CasPick::Random(c) => c,
        }
    }

    /// Runs one request at `now` (Unix seconds); returns its wire bytes (CAS resolved) and the
    /// expected response packets.
    fn run(&mut self, op: &Op, opaque: u32, now: u32) -> (Vec<u8>, Vec<Packet>) {
        let ok = |opcode: u8, cas: u64| Packet::response(opcode, 0, opaque, cas, b"", b"", b"");
        let err = |opcode: u8, st: u16| Packet::error(opcode, st, opaque);
        let mut out = Vec::new();
        let bytes;
        match *op {
            Op::Get { opcode, key } => {
                let k = KEYS[key];
                bytes = request(opcode, &[], k, &[], 0, opaque);
                self.catch_up(now);
                out.extend(self.read(opcode, k, None, opaque, now));
            }
            Op::Gat { opcode, key, exp } => {
                let k = KEYS[key];
                bytes = request(opcode, &exp.raw().to_be_bytes(), k, &[], 0, opaque);
                self.catch_up(now);
                out.extend(self.read(opcode, k, Some(exp.raw()), opaque, now));
            }
            Op::Touch { key, exp } => {
                let k = KEYS[key];
                bytes = request(op::TOUCH, &exp.raw().to_be_bytes(), k, &[], 0, opaque);
                self.catch_up(now);
                match self.live(k, now) {
                    Some(it) => {
                        it.exptime = absolute(exp.raw(), now);
                        out.push(Packet::response(
                            op::TOUCH,
                            0,
                            opaque,
                            it.cas,
                            &it.flags.to_be_bytes(),
                            b"",
                            b"",
                        ));
                    }
                    None => out.push(err(op::TOUCH, status::KEY_ENOENT)),
                }
            }
            Op::Store {
                opcode,
                key,
                flags,
                exp,
                cas,
                ref value,
            } => {
                let k = KEYS[key];
                self.catch_up(now);
                let cas = self.resolve(cas, k, now);
                let append = is_append(opcode);
                let extras = if append {
                    Vec::new()
                } else {
                    store_extras(flags, exp.raw())
                };
                bytes = request(opcode, &extras, k, value, cas, opaque);
                let existing = self.live(k, now).cloned();
                let result: Result<u64, u16> = if append {
                    match existing {
                        None => Err(status::NOT_STORED),
                        Some(old) if cas != 0 && old.cas != cas => Err(status::KEY_EEXISTS),
                        Some(old) => {
                            let new_value = if matches!(opcode, op::APPEND | op::APPENDQ) {
                                [&old.value[..], value].concat()
                            } else {
                                [&value[..], &old.value[..]].concat()
                            };
                            let cas = self.take_cas();
                            self.items.insert(
                                k.to_vec(),
                                Item {
                                    value: new_value,
                                    cas,
                                    ..old
                                },
                            );
                            Ok(cas)
                        }
                    }
                } else {
                    let add = matches!(opcode, op::ADD | op::ADDQ);
                    let replace = matches!(opcode, op::REPLACE | op::REPLACEQ);
                    let verdict = match (&existing, cas) {
                        (None, c) if c != 0 => Err(status::KEY_ENOENT),
                        (Some(old), c) if c != 0 && old.cas != c => Err(status::KEY_EEXISTS),
                        (Some(_), 0) if add => Err(status::KEY_EEXISTS),
                        (None, _) if replace => Err(status::KEY_ENOENT),
                        _ => Ok(()),
                    };
                    verdict.map(|()| {
                        let cas = self.take_cas();
                        let exptime = absolute(exp.raw(), now);
                        self.items.insert(
                            k.to_vec(),
                            Item {
                                value: value.clone(),
                                flags,
                                exptime,
                                cas,
                            },
                        );
                        cas
                    })
                };
                match result {
                    Ok(cas) if !is_quiet(opcode) => out.push(ok(opcode, cas)),
                    Ok(_) => {}
                    Err(st) => out.push(err(opcode, st)),
                }
            }
            Op::Delete { quiet, key, cas } => {
                let k = KEYS[key];
                let opcode = if quiet { op::DELETEQ } else { op::DELETE };
                self.catch_up(now);
                let cas = self.resolve(cas, k, now);
                bytes = request(opcode, &[], k, &[], cas, opaque);
                match self.live(k, now) {
                    None => out.push(err(opcode, status::KEY_ENOENT)),
                    Some(it) if cas != 0 && it.cas != cas => {
                        out.push(err(opcode, status::KEY_EEXISTS))
                    }
                    Some(_) => {
                        self.items.remove(k);
                        if !quiet {
                            out.push(ok(opcode, 0));
                        }
                    }
                }
            }
            Op::Counter {
                opcode,
                key,
                delta,
                initial,
                exp,
                cas,
            } => {
                let k = KEYS[key];
                self.catch_up(now);
                let cas = self.resolve(cas, k, now);
                bytes = request(
                    opcode,
                    &counter_extras(delta, initial, exp.raw()),
                    k,
                    &[],
                    cas,
                    opaque,
                );
                let incr = matches!(opcode, op::INCR | op::INCRQ);
                let result: Result<(u64, u64), u16> = match self.live(k, now).cloned() {
                    None if exp.raw() == u32::MAX => Err(status::KEY_ENOENT),
                    None => {
                        let cas = self.take_cas();
                        let exptime = absolute(exp.raw(), now);
                        let value = initial.to_string().into_bytes();
                        self.items.insert(
                            k.to_vec(),
                            Item {
                                value,
                                flags: 0,
                                exptime,
                                cas,
                            },
                        );
                        Ok((initial, cas))
                    }
                    Some(old) if old.value.is_empty() => Err(status::DELTA_BADVAL),
                    Some(old) if cas != 0 && old.cas != cas => Err(status::KEY_EEXISTS),
                    Some(old) => match strtoull(&old.value) {
                        None => Err(status::DELTA_BADVAL),
                        Some(n) => {
                            let n = if incr {
                                n.wrapping_add(delta)
                            } else {
                                n.saturating_sub(delta)
                            };
                            let mut value = n.to_string().into_bytes();
                            if value.len() < old.value.len() {
                                value.resize(old.value.len(), b' ');
                            }
                            let cas = self.take_cas();
                            self.items.insert(k.to_vec(), Item { value, cas, ..old });
                            Ok((n, cas))
                        }
                    },
                };
                match result {
                    Ok((n, cas)) if !is_quiet(opcode) => out.push(Packet::response(
                        opcode,
                        0,
                        opaque,
                        cas,
                        b"",
                        b"",
                        &n.to_be_bytes(),
                    )),
                    Ok(_) => {}
                    Err(st) => out.push(err(opcode, st)),
                }
            }
            Op::Flush { quiet, delay } => {
                let opcode = if quiet { op::FLUSHQ } else { op::FLUSH };
                let extras = delay.map(u32::to_be_bytes);
                bytes = request(
                    opcode,
                    extras.as_ref().map_or(&[][..], |e| &e[..]),
                    b"",
                    b"",
                    0,
                    opaque,
                );
                self.catch_up(now);
                match delay.unwrap_or(0) {
                    0 => {
                        self.pending_flush = None;
                        self.items.clear();
                    }
                    d => {
                        self.pending_flush = Some(absolute(d, now) - 1);
                        self.catch_up(now);
                    }
                }
                if !quiet {
                    out.push(ok(opcode, 0));
                }
            }
            Op::Noop => {
                bytes = request(op::NOOP, &[], &[], &[], 0, opaque);
                out.push(ok(op::NOOP, 0));
            }
            Op::Version => {
                bytes = request(op::VERSION, &[], &[], &[], 0, opaque);
                out.push(Packet::response(
                    op::VERSION,
                    0,
                    opaque,
                    0,
                    b"",
                    b"",
                    b"1.6.18",
                ));
            }
        }
        (bytes, out)
    }

    /// GET/GETQ/GETK/GETKQ and the GAT family (`touch` = the new exptime).
    fn read(
        &mut self,
        opcode: u8,
        key: &[u8],
        touch: Option<u32>,
        opaque: u32,
        now: u32,
    ) -> Option<Packet> {
        let with_key = matches!(opcode, op::GETK | op::GETKQ | op::GATK | op::GATKQ);
        let echo: &[u8] = if with_key { key } else { b"" };
        match self.live(key, now) {
            Some(it) => {
                if let Some(exptime) = touch {
                    it.exptime = absolute(exptime, now);
                }
                Some(Packet::response(
                    opcode,
                    0,
                    opaque,
                    it.cas,
                    &it.flags.to_be_bytes(),
                    echo,
                    &it.value,
                ))
            }
            None if is_quiet(opcode) => None,
            None if with_key => Some(Packet::response(
                opcode,
                status::KEY_ENOENT,
                opaque,
                0,
                b"",
                key,
                b"",
            )),
            None => Some(Packet::error(opcode, status::KEY_ENOENT, opaque)),
        }
    }
}

/// One generated case.
#[derive(Clone, Debug)]
struct Case {
    ops: Vec<Op>,
    /// (position in the stream as a fraction of 2^16, clock advance in ms) pairs.
    steps: Vec<(u16, u16)>,
    /// Chunk sizes for the chunked feeding, used cyclically.
    chunks: Vec<usize>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(op_strategy(), 1..48),
        proptest::collection::vec((any::<u16>(), 0u16..=3000), 0..12),
        proptest::collection::vec(1usize..40, 1..8),
    )
        .prop_map(|(ops, steps, chunks)| Case { ops, steps, chunks })
}

/// A time segment: bytes `start..end` of the stream are fed at `at_ms` after T0.
struct Segment {
    start: usize,
    end: usize,
    at_ms: u64,
}

fn segments(case: &Case, total: usize) -> Vec<Segment> {
    let mut cuts: Vec<(usize, u64)> = case
        .steps
        .iter()
        .map(|&(pos, adv)| (pos as usize * total / 65_536, u64::from(adv)))
        .collect();
    cuts.sort_by_key(|c| c.0);
    let mut out = Vec::new();
    let (mut start, mut at_ms) = (0, 0);
    for (cut, adv) in cuts {
        out.push(Segment {
            start,
            end: cut,
            at_ms,
        });
        start = cut;
        at_ms += adv;
    }
    out.push(Segment {
        start,
        end: total,
        at_ms,
    });
    out
}

fn new_server() -> Harness {
    let config = Config {
        idle_timeout: None,
        ..Config::default()
    };
    // Large memory: nothing is ever evicted, so the model needs no eviction rule.
    let cache = CacheConfig {
        memory_limit: 256 << 20,
        ..CacheConfig::default()
    };
    Harness::with_config(config, cache)
}

/// Feeds the stream segment by segment, each in one piece or in the case's chunks.
fn feed(stream: &[u8], segs: &[Segment], chunks: Option<&[usize]>) -> Vec<u8> {
    let mut h = new_server();
    let id = h.accept();
    let mut sizes = chunks.map(|c| c.iter().cycle());
    for seg in segs {
        h.at_ms(seg.at_ms);
        let mut pos = seg.start;
        while pos < seg.end {
            let n = sizes.as_mut().map_or(seg.end - pos, |s| *s.next().unwrap());
            let end = (pos + n).min(seg.end);
            h.send(id, &stream[pos..end]);
            pos = end;
        }
    }
    let stats = h.server.service().store_stats();
    h.server.service().check_invariants();
    assert_eq!(h.server.stats().curr_connections, 1);
    assert_eq!(stats.evictions, 0);
    assert_eq!(h.close_reason(id), None);
    h.take_output(id)
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    // Request boundaries do not depend on CAS values, so times can be assigned first.
    let lens: Vec<usize> = case.ops.iter().map(wire_len).collect();
    let total: usize = lens.iter().sum();
    let segs = segments(case, total);
    let mut model = Model::new();
    let mut stream = Vec::with_capacity(total);
    let mut expected = Vec::new();
    let mut end = 0;
    for (i, op) in case.ops.iter().enumerate() {
        end += lens[i];
        // A request runs when its last byte arrives.
        let seg = segs
            .iter()
            .find(|s| s.start < end && end <= s.end)
            .expect("segment");
        let now = (T0_SECS + seg.at_ms / 1000) as u32;
        let (bytes, packets) = model.run(op, i as u32, now);
        prop_assert_eq!(bytes.len(), lens[i]);
        stream.extend(bytes);
        expected.extend(packets);
    }
    let whole = feed(&stream, &segs, None);
    let got = parse_all(&whole);
    prop_assert_eq!(got.len(), expected.len(), "packet count");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        prop_assert_eq!(g, e, "packet {}", i);
    }
    let chunked = feed(&stream, &segs, Some(&case.chunks));
    prop_assert!(chunked == whole, "chunked feeding changed the output bytes");
    Ok(())
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_matches_model_under_any_chunking(case in case_strategy()) {
        check(&case)?;
    }
}

/// A fixed scenario through the same machinery, so a model regression shows up without proptest.
#[test]
fn model_smoke_scenario() {
    let ops = vec![
        Op::Counter {
            opcode: op::INCR,
            key: 0,
            delta: 1,
            initial: 10,
            exp: Exp::Never,
            cas: CasPick::Zero,
        },
        Op::Counter {
            opcode: op::DECR,
            key: 0,
            delta: 1,
            initial: 0,
            exp: Exp::Never,
            cas: CasPick::Current(0),
        },
        Op::Get {
            opcode: op::GETK,
            key: 0,
        },
        Op::Store {
            opcode: op::APPENDQ,
            key: 0,
            flags: 0,
            exp: Exp::Never,
            cas: CasPick::Zero,
            value: b"x".to_vec(),
        },
        Op::Get {
            opcode: op::GETQ,
            key: 0,
        },
        Op::Store {
            opcode: op::SET,
            key: 1,
            flags: 5,
            exp: Exp::Rel(1),
            cas: CasPick::Zero,
            value: b"v".to_vec(),
        },
        Op::Get {
            opcode: op::GET,
            key: 1,
        },
        Op::Flush {
            quiet: true,
            delay: Some(2),
        },
        Op::Get {
            opcode: op::GETKQ,
            key: 1,
        },
        Op::Get {
            opcode: op::GET,
            key: 0,
        },
        Op::Noop,
    ];
    let case = Case {
        ops,
        steps: vec![(40_000, 1500), (60_000, 1000)],
        chunks: vec![3, 7],
    };
    check(&case).unwrap();
}
