//! The seed corpus, as Rust values: every opcode, pipelined streams, partial reads, malformed
//! frames (bad magic, long key, inconsistent lengths, wrong extras, unknown opcode, oversized
//! body and value), expiry, eviction, backpressure, idle timeouts and shutdown.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml -- --ignored write_seed_corpus` writes them to
//! `fuzz/corpus/<target>/seed-<name>`; the structured ones are written with `wire`, the inverse of
//! `arbitrary`'s parsing.

use crate::connection::{Advance, ConnectionInput, Step};
use crate::request::{
    Cas, ConcatOp, CounterOp, Exptime, Framed, GetOp, Key, Magic, Number, Request, StatGroup,
    StoreOp, TouchOp, Value, encode_all,
};
use crate::server::{Op, SHUTDOWN_KEY, ServerInput};
use crate::wire::{Emit, Enc};

const K0: Key = Key::Short(0);
const K1: Key = Key::Short(1);

fn set(op: StoreOp, key: Key, value: Value) -> Request {
    Request::Store {
        op,
        key,
        flags: 0,
        exptime: Exptime::Never,
        cas: Cas::Zero,
        value,
    }
}

fn small(len: u8) -> Value {
    Value::Small { len, fill: b'v' }
}

fn get(op: GetOp, key: Key) -> Request {
    Request::Get { op, key }
}

fn counter(op: CounterOp, key: Key, delta: u8, initial: u8) -> Request {
    Request::Counter {
        op,
        key,
        delta: Number::Small(delta),
        initial: Number::Small(initial),
        exptime: Exptime::Never,
        cas: Cas::Zero,
    }
}

fn touch(op: TouchOp, key: Key, trailing: u8) -> Request {
    Request::Touch {
        op,
        key,
        exptime: Exptime::Seconds(9),
        trailing,
    }
}

fn framed(
    magic: Magic,
    opcode: u8,
    extras_len: u8,
    key_len: u16,
    value_len: u16,
    body_adjust: i8,
) -> Request {
    Request::Framed(Framed {
        magic,
        opcode,
        extras_len,
        key_len,
        value_len,
        body_adjust,
        fill: b'f',
    })
}

/// Every opcode keel serves, loud and quiet, in an order that hits and misses.
pub fn every_opcode() -> Vec<Request> {
    use CounterOp::*;
    use GetOp::*;
    use StoreOp::*;
    use TouchOp::*;
    vec![
        Request::Version,
        Request::Noop,
        set(Set, K0, small(5)),
        set(SetQ, K1, Value::Number(41)),
        set(Add, K0, small(1)),
        set(AddQ, Key::Short(2), small(2)),
        set(Replace, K0, small(3)),
        set(ReplaceQ, Key::Short(3), small(3)),
        Request::Concat {
            op: ConcatOp::Append,
            key: K0,
            cas: Cas::Zero,
            value: small(2),
        },
        Request::Concat {
            op: ConcatOp::PrependQ,
            key: K0,
            cas: Cas::Small(3),
            value: small(2),
        },
        Request::Concat {
            op: ConcatOp::AppendQ,
            key: Key::Short(9),
            cas: Cas::Zero,
            value: small(2),
        },
        Request::Concat {
            op: ConcatOp::Prepend,
            key: K0,
            cas: Cas::Zero,
            value: small(2),
        },
        get(Get, K0),
        get(GetQ, Key::Short(7)),
        get(GetK, Key::Short(7)),
        get(GetKQ, K0),
        counter(Incr, K1, 1, 0),
        counter(IncrQ, K1, 2, 0),
        counter(Decr, K1, 50, 0),
        counter(DecrQ, Key::Short(4), 1, 10),
        touch(Touch, K0, 0),
        touch(Gat, K0, 0),
        touch(GatQ, Key::Short(8), 0),
        touch(GatK, Key::Short(8), 0),
        touch(GatKQ, K0, 0),
        Request::Delete {
            quiet: false,
            key: K1,
            cas: Cas::Zero,
        },
        Request::Delete {
            quiet: true,
            key: K1,
            cas: Cas::Zero,
        },
        Request::Verbosity(1),
        Request::Stat {
            group: StatGroup::General,
            trailing: 0,
        },
        Request::Flush {
            quiet: false,
            delay: Some(2),
        },
        Request::Flush {
            quiet: true,
            delay: None,
        },
        framed(Magic::Request, 0x20, 0, 0, 0, 0),
        Request::Noop,
        Request::Quit { quiet: false },
    ]
}

/// (name, requests) pairs shared by the `frame` and `connection` seeds.
fn streams() -> Vec<(&'static str, Vec<Request>)> {
    use GetOp::*;
    use StoreOp::*;
    let quiet_gets: Vec<Request> = (0..20)
        .map(|i| get(if i % 2 == 0 { GetKQ } else { GetQ }, Key::Short(i)))
        .chain([
            set(SetQ, Key::Short(4), small(9)),
            get(GetKQ, Key::Short(4)),
            Request::Noop,
        ])
        .collect();
    vec![
        ("every-opcode", every_opcode()),
        ("pipelined-quiet-gets", quiet_gets),
        (
            "cas-flow",
            vec![
                set(Set, K0, small(4)),
                get(Get, K0),
                Request::Store {
                    op: Set,
                    key: K0,
                    flags: 7,
                    exptime: Exptime::Never,
                    cas: Cas::Small(1),
                    value: small(6),
                },
                Request::Store {
                    op: Add,
                    key: K0,
                    flags: 0,
                    exptime: Exptime::Never,
                    cas: Cas::Small(2),
                    value: small(6),
                },
                Request::Delete {
                    quiet: false,
                    key: K0,
                    cas: Cas::Small(9),
                },
                get(GetK, K0),
            ],
        ),
        (
            "counters",
            vec![
                set(Set, K0, Value::Number(u64::MAX)),
                Request::Counter {
                    op: CounterOp::Incr,
                    key: K0,
                    delta: Number::Small(2),
                    initial: Number::Small(0),
                    exptime: Exptime::Never,
                    cas: Cas::Zero,
                },
                counter(CounterOp::Decr, K0, 9, 0),
                Request::Counter {
                    op: CounterOp::Incr,
                    key: K1,
                    delta: Number::NearMax(0),
                    initial: Number::Raw(12),
                    exptime: Exptime::NoCreate,
                    cas: Cas::Zero,
                },
                set(Set, K1, small(3)),
                counter(CounterOp::Incr, K1, 1, 0),
                get(Get, K0),
            ],
        ),
        (
            "stat-groups",
            [
                StatGroup::Settings,
                StatGroup::Items,
                StatGroup::Slabs,
                StatGroup::Sizes,
                StatGroup::DetailOn,
                StatGroup::DetailOff,
                StatGroup::DetailDump,
                StatGroup::DetailOther,
                StatGroup::Unknown(1),
            ]
            .into_iter()
            .map(|group| Request::Stat {
                group,
                trailing: 230,
            })
            .chain([Request::Noop])
            .collect(),
        ),
        (
            "too-large-value",
            vec![
                set(Set, K0, small(3)),
                set(
                    Set,
                    K0,
                    Value::Large {
                        units: 255,
                        fill: b'x',
                    },
                ),
                get(Get, K0),
                set(SetQ, K1, Value::NearLimit { delta: 1 }),
                set(Set, K1, Value::NearLimit { delta: 0 }),
                Request::Concat {
                    op: ConcatOp::Append,
                    key: K1,
                    cas: Cas::Zero,
                    value: small(1),
                },
                Request::Noop,
            ],
        ),
        (
            "large-values",
            vec![
                set(
                    Set,
                    Key::Max(0),
                    Value::Large {
                        units: 200,
                        fill: b'a',
                    },
                ),
                set(
                    Set,
                    Key::Max(1),
                    Value::Large {
                        units: 100,
                        fill: b'b',
                    },
                ),
                get(GetK, Key::Max(0)),
                get(Get, Key::Max(1)),
            ],
        ),
        (
            "touch-with-value",
            vec![
                set(Set, K0, small(2)),
                touch(TouchOp::Touch, K0, 240),
                touch(TouchOp::GatK, K0, 255),
                Request::Noop,
            ],
        ),
        (
            "bad-magic",
            vec![
                Request::Noop,
                framed(Magic::Other(0x00), 0x0a, 0, 0, 0, 0),
                Request::Noop,
            ],
        ),
        (
            "response-magic",
            vec![framed(Magic::Response, 0x00, 0, 1, 0, 0)],
        ),
        (
            "key-too-long",
            vec![get(Get, Key::TooLong(0)), Request::Noop],
        ),
        (
            "inconsistent-lengths",
            vec![framed(Magic::Request, 0x00, 4, 10, 0, -8), Request::Noop],
        ),
        (
            "wrong-extras",
            vec![framed(Magic::Request, 0x01, 4, 1, 3, 0), Request::Noop],
        ),
        (
            "delete-with-extras",
            vec![framed(Magic::Request, 0x04, 4, 1, 0, 0)],
        ),
        (
            "get-with-value",
            vec![framed(Magic::Request, 0x00, 0, 1, 2, 0)],
        ),
        ("empty-key", vec![get(Get, Key::Empty), Request::Noop]),
        (
            "unknown-opcode",
            vec![
                framed(Magic::Request, 0x55, 3, 4, 100, 0),
                Request::Noop,
                framed(Magic::Request, 0x30, 0, 0, 0, 0),
            ],
        ),
        (
            "body-too-large",
            vec![
                Request::Noop,
                Request::Huge {
                    opcode: 0x01,
                    excess: 0,
                },
            ],
        ),
        (
            "quitq-then-more",
            vec![
                set(StoreOp::SetQ, K0, small(1)),
                Request::Quit { quiet: true },
                get(Get, K0),
            ],
        ),
        (
            "misaligned-body",
            vec![
                framed(Magic::Request, 0x01, 8, 2, 4, 3),
                Request::Noop,
                Request::Noop,
            ],
        ),
        (
            "garbage",
            vec![
                Request::Garbage {
                    len: 7,
                    bytes: *b"get x\r\n\0\0\0\0\0\0\0\0\0",
                },
                Request::RawHeader([0x80; 24]),
            ],
        ),
    ]
}

/// Raw byte seeds for the `frame` target.
pub fn frame_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = streams()
        .into_iter()
        .filter(|(name, _)| *name != "large-values" && *name != "too-large-value")
        .map(|(name, reqs)| (name.to_owned(), encode_all(&reqs)))
        .collect();
    // One request per opcode group, and partial frames.
    let single = [
        ("set", set(StoreOp::Set, K0, small(3))),
        ("incr", counter(CounterOp::Incr, K0, 1, 1)),
        ("gat", touch(TouchOp::Gat, K0, 0)),
    ];
    for (name, r) in single {
        let bytes = encode_all(&[r]);
        seeds.push((
            format!("{name}-truncated-body"),
            bytes[..bytes.len() - 1].to_vec(),
        ));
        seeds.push((name.to_owned(), bytes));
    }
    seeds.push((
        "truncated-header".to_owned(),
        encode_all(&[Request::Noop])[..10].to_vec(),
    ));
    seeds
}

/// Structured seeds for the `connection` target.
pub fn connection_inputs() -> Vec<(String, ConnectionInput)> {
    let whole = Step {
        len: 0xffff,
        advance: Advance::None,
        write: 0,
    };
    let bytes1 = Step {
        len: 0,
        advance: Advance::None,
        write: 1,
    };
    let mixed = vec![
        Step {
            len: 23,
            advance: Advance::None,
            write: 5,
        },
        Step {
            len: 0x8000 | 700,
            advance: Advance::Millis(400),
            write: 0,
        },
        Step {
            len: 2,
            advance: Advance::None,
            write: 100,
        },
    ];
    let mut inputs = Vec::new();
    for (i, (name, requests)) in streams().into_iter().enumerate() {
        let steps = match i % 3 {
            0 => vec![whole],
            1 => vec![bytes1],
            _ => mixed.clone(),
        };
        inputs.push((
            name.to_owned(),
            ConnectionInput {
                output_limit: if i % 2 == 0 { 20 } else { 6 },
                steps,
                requests,
            },
        ));
    }
    inputs.push((
        "expiry".to_owned(),
        ConnectionInput {
            output_limit: 12,
            steps: vec![Step {
                len: 0x8000 | 40,
                advance: Advance::Seconds(2),
                write: 0,
            }],
            requests: vec![
                Request::Store {
                    op: StoreOp::Set,
                    key: K0,
                    flags: 1,
                    exptime: Exptime::Seconds(1),
                    cas: Cas::Zero,
                    value: Value::Empty,
                },
                get(GetOp::Get, K0),
                Request::Flush {
                    quiet: false,
                    delay: Some(3),
                },
                get(GetOp::Get, K0),
                Request::Noop,
            ],
        },
    ));
    inputs.push((
        "backpressure-1-byte-limit".to_owned(),
        ConnectionInput {
            output_limit: 0,
            steps: vec![whole],
            requests: std::iter::once(set(
                StoreOp::Set,
                K0,
                Value::Large {
                    units: 50,
                    fill: b'z',
                },
            ))
            .chain(std::iter::repeat_n(get(GetOp::Get, K0), 8))
            .collect(),
        },
    ));
    inputs
}

/// Structured seeds for the `server` target.
pub fn server_inputs() -> Vec<(String, ServerInput)> {
    use GetOp::*;
    use StoreOp::*;
    let send = |conn: u8, request: Request| Op::Send {
        conn,
        request,
        limit: 0,
    };
    let write = |conn: u8| Op::Write { conn, n: 0 };
    let mut inputs: Vec<(&str, Vec<Op>)> = vec![
        (
            "set-get",
            vec![
                Op::Accept,
                send(0, set(Set, K0, small(4))),
                send(0, get(Get, K0)),
                write(0),
            ],
        ),
        (
            "every-opcode",
            std::iter::once(Op::Accept)
                .chain(every_opcode().into_iter().map(|r| send(0, r)))
                .chain([write(0)])
                .collect(),
        ),
        (
            "over-capacity",
            std::iter::repeat_n(Op::Accept, 10)
                .chain([Op::Eof { conn: 3 }, Op::Accept, Op::Accept])
                .collect(),
        ),
        (
            "idle-timeout",
            vec![
                Op::Accept,
                Op::Accept,
                Op::Advance(Advance::Seconds(59)),
                send(1, Request::Noop),
                Op::Advance(Advance::Seconds(2)),
                Op::Timeout { jump: false },
                Op::Timeout { jump: true },
                write(1),
                Op::Timeout { jump: true },
            ],
        ),
        (
            "backpressure",
            std::iter::once(Op::Accept)
                .chain([send(
                    0,
                    set(
                        Set,
                        K0,
                        Value::Large {
                            units: 60,
                            fill: b'q',
                        },
                    ),
                )])
                .chain(std::iter::repeat_n(send(0, get(Get, K0)), 6))
                .chain([
                    Op::Write { conn: 0, n: 5000 },
                    Op::Read {
                        conn: 0,
                        limit: 0,
                        force: false,
                    },
                    Op::Write { conn: 0, n: 30000 },
                    Op::Read {
                        conn: 0,
                        limit: 10,
                        force: true,
                    },
                    write(0),
                    Op::Read {
                        conn: 0,
                        limit: 0,
                        force: false,
                    },
                    Op::Write { conn: 0, n: 1 },
                    Op::Read {
                        conn: 0,
                        limit: 0,
                        force: false,
                    },
                ])
                .collect(),
        ),
        (
            "eviction",
            std::iter::repeat_n(Op::Accept, 2)
                .chain((0..48u8).map(|i| {
                    let units = if i % 4 == 3 { 40 } else { 210 };
                    send(
                        i % 2,
                        set(Set, Key::Short(i), Value::Large { units, fill: i }),
                    )
                }))
                .chain([send(0, get(GetK, Key::Short(1))), write(0), write(1)])
                .collect(),
        ),
        (
            "partial-reads",
            vec![
                Op::Accept,
                Op::Send {
                    conn: 0,
                    request: set(Set, K0, small(40)),
                    limit: 30,
                },
                Op::Read {
                    conn: 0,
                    limit: 1,
                    force: false,
                },
                Op::Eof { conn: 0 },
                write(0),
            ],
        ),
        (
            "eof-with-output",
            vec![
                Op::Accept,
                send(0, Request::Version),
                Op::Eof { conn: 0 },
                Op::Write { conn: 0, n: 3 },
                write(0),
            ],
        ),
        (
            "io-error",
            vec![
                Op::Accept,
                Op::Accept,
                send(0, Request::Version),
                Op::IoError { conn: 0 },
                Op::IoError { conn: 0 },
                send(1, Request::Noop),
            ],
        ),
        (
            "stale-ids",
            vec![
                Op::Accept,
                send(0, Request::Quit { quiet: false }),
                write(0),
                send(0, Request::Noop),
                Op::Read {
                    conn: 0,
                    limit: 0,
                    force: true,
                },
                write(0),
                Op::Eof { conn: 0 },
                Op::Accept,
                send(1, Request::Noop),
            ],
        ),
        (
            "shutdown",
            vec![
                Op::Accept,
                Op::Accept,
                send(
                    0,
                    Request::Stat {
                        group: StatGroup::General,
                        trailing: 0,
                    },
                ),
                Op::Shutdown(SHUTDOWN_KEY),
                Op::Accept,
                send(0, Request::Noop),
                Op::Write { conn: 0, n: 100 },
                write(0),
            ],
        ),
        (
            "protocol-error",
            vec![
                Op::Accept,
                send(0, Request::Noop),
                send(0, get(Get, Key::TooLong(3))),
                send(0, Request::Noop),
                write(0),
            ],
        ),
        (
            "expiry-and-flush",
            vec![
                Op::Accept,
                send(
                    0,
                    Request::Store {
                        op: Set,
                        key: K0,
                        flags: 0,
                        exptime: Exptime::Seconds(0),
                        cas: Cas::Zero,
                        value: small(1),
                    },
                ),
                Op::Advance(Advance::Seconds(3)),
                send(0, get(Get, K0)),
                send(
                    0,
                    Request::Flush {
                        quiet: true,
                        delay: Some(1),
                    },
                ),
                Op::Advance(Advance::Hours(1)),
                send(0, get(GetK, K1)),
                write(0),
                Op::Timeout { jump: false },
            ],
        ),
    ];
    inputs.push((
        "interleaved-clients",
        (0..4)
            .map(|_| Op::Accept)
            .chain((0..24u8).map(|i| Op::Send {
                conn: i % 4,
                request: if i % 2 == 0 {
                    set(SetQ, Key::Short(i % 5), small(i))
                } else {
                    get(GetKQ, Key::Short(i % 5))
                },
                limit: u16::from(i) + 1,
            }))
            .chain((0..4).map(write))
            .collect(),
    ));
    inputs
        .into_iter()
        .map(|(name, ops)| (name.to_owned(), ServerInput { ops }))
        .collect()
}

/// Every seed of a target as (file name, bytes).
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    fn encode<T: Emit>(v: &T) -> Vec<u8> {
        let mut e = Enc::default();
        v.emit(&mut e);
        e.out
    }
    match target {
        "frame" => frame_seeds(),
        "connection" => connection_inputs()
            .into_iter()
            .map(|(n, v)| (n, encode(&v)))
            .collect(),
        "server" => server_inputs()
            .into_iter()
            .map(|(n, v)| (n, encode(&v)))
            .collect(),
        _ => panic!("unknown target {target}"),
    }
}
