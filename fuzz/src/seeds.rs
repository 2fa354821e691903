//! The seed corpus, as Rust values: every opcode, pipelined streams, partial reads, malformed
//! frames (bad magic, long key, inconsistent lengths, wrong extras, unknown opcode, oversized
//! body and value), expiry, eviction, backpressure, idle timeouts and shutdown.
//!
//! `cargo test --manifest-path fuzz/Cargo.toml -- --ignored write_seed_corpus` writes them to
//! `fuzz/corpus/<target>/seed-<name>`; the structured ones are written with `wire`, the inverse of
//! `arbitrary`'s parsing.

use crate::connection::{Advance, ConnectionInput, Requests, Step};
use crate::request::{
    Cas, ConcatOp, CounterOp, Exptime, Framed, GetOp, Key, Magic, Number, Request, StatGroup,
    StoreOp, TouchOp, Value, encode_all,
};
use crate::server::{Op, SHUTDOWN_KEY, ServerInput};
use crate::text_request::{
    DeleteForm, LongKind, Meta, MetaCmd, MetaFlag, MetaKey, Num, RetrieveOp, StoreCmd, TextCmd,
    TextMsg, TextTime, encode_text,
};
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

/// A command ending in "\r\n".
fn line(cmd: TextCmd) -> TextMsg {
    TextMsg { cmd, eol: 0 }
}

fn tstore(op: StoreCmd, key: Key, value: Value, cas: u8, noreply: bool) -> TextCmd {
    TextCmd::Store {
        op,
        key,
        flags: Num::Small(0),
        exptime: TextTime::Never,
        cas: Num::Small(cas),
        value,
        announce: 0,
        trailer: 0,
        noreply,
    }
}

fn tget(op: RetrieveOp, keys: &[Key]) -> TextCmd {
    let mut k = [Key::Empty; 3];
    k[..keys.len()].copy_from_slice(keys);
    TextCmd::Get {
        op,
        exptime: TextTime::Seconds(9),
        keys: k,
        count: keys.len() as u8,
    }
}

fn meta(cmd: MetaCmd, key: MetaKey, flags: &[MetaFlag]) -> TextCmd {
    let mut f = [MetaFlag::B; 6];
    f[..flags.len()].copy_from_slice(flags);
    TextCmd::Meta(Meta {
        cmd,
        key,
        flags: f,
        nflags: flags.len() as u8,
        value: small(3),
        announce: 0,
        trailer: 0,
    })
}

fn counter_line(decr: bool, key: Key, delta: u8, noreply: bool) -> TextMsg {
    line(TextCmd::Counter {
        decr,
        key,
        delta: Num::Small(delta),
        noreply,
    })
}

/// (name, text commands) pairs for the `connection` and `text` seeds.
fn text_streams() -> Vec<(&'static str, Vec<TextMsg>)> {
    use MetaCmd as M;
    use MetaFlag as F;
    use RetrieveOp::*;
    use StoreCmd::*;
    let k2 = Key::Short(2);
    let every = vec![
        line(TextCmd::Version),
        line(tstore(Set, K0, small(5), 0, false)),
        line(tstore(Set, K1, Value::Number(41), 0, false)),
        line(tstore(Add, K0, small(1), 0, false)),
        line(tstore(Add, k2, small(2), 0, false)),
        line(tstore(Replace, K0, small(3), 0, false)),
        line(tstore(Replace, Key::Short(3), small(3), 0, false)),
        line(tstore(Append, K0, small(2), 0, false)),
        line(tstore(Prepend, K0, small(2), 0, false)),
        line(tget(Get, &[K0, K1, Key::Short(7)])),
        line(tget(Gets, &[K0])),
        line(tstore(Cas, K0, small(1), 3, false)),
        line(tstore(Cas, K0, small(1), 200, false)),
        line(tstore(Cas, Key::Short(9), small(1), 1, false)),
        line(tget(Gat, &[K0, k2])),
        line(tget(Gats, &[K1])),
        counter_line(false, K1, 1, false),
        counter_line(true, K1, 50, false),
        counter_line(false, K0, 1, false),
        counter_line(false, Key::Short(4), 1, false),
        line(TextCmd::Touch {
            key: K0,
            exptime: TextTime::Seconds(5),
            noreply: false,
        }),
        line(TextCmd::Delete {
            key: K1,
            form: DeleteForm::Plain,
            noreply: false,
        }),
        line(TextCmd::Delete {
            key: K1,
            form: DeleteForm::Zero,
            noreply: false,
        }),
        line(TextCmd::Delete {
            key: K0,
            form: DeleteForm::Hold(4),
            noreply: false,
        }),
        line(TextCmd::Verbosity {
            level: Some(Num::Small(1)),
            noreply: false,
        }),
        line(TextCmd::Verbosity {
            level: None,
            noreply: false,
        }),
        line(TextCmd::Stats(StatGroup::General)),
        line(TextCmd::FlushAll {
            delay: Some(TextTime::Seconds(1)),
            noreply: false,
        }),
        line(TextCmd::FlushAll {
            delay: None,
            noreply: false,
        }),
        line(meta(M::Noop, MetaKey::Missing, &[])),
        line(TextCmd::Quit),
        line(TextCmd::Version),
    ];
    let noreply = vec![
        line(tstore(Set, K0, small(1), 0, true)),
        line(tstore(Add, K0, small(1), 0, true)),
        line(tstore(Cas, K0, small(1), 9, true)),
        line(tstore(Set, K1, Value::Number(7), 0, true)),
        counter_line(false, K1, 3, true),
        counter_line(true, K0, 3, true),
        line(TextCmd::Touch {
            key: K1,
            exptime: TextTime::Negative(0),
            noreply: true,
        }),
        line(TextCmd::Delete {
            key: K0,
            form: DeleteForm::Zero,
            noreply: true,
        }),
        line(TextCmd::Delete {
            key: K0,
            form: DeleteForm::Hold(1),
            noreply: true,
        }),
        line(TextCmd::Verbosity {
            level: Some(Num::Junk(1)),
            noreply: true,
        }),
        line(TextCmd::FlushAll {
            delay: Some(TextTime::Junk(1)),
            noreply: true,
        }),
        line(tget(Get, &[K0, K1])),
    ];
    let meta_flow = vec![
        line(meta(
            M::Set,
            MetaKey::Plain(K0),
            &[
                F::T(TextTime::Seconds(29)),
                F::F(Num::Small(5)),
                F::LowerC,
                F::LowerK,
                F::O(3),
            ],
        )),
        line(meta(
            M::Get,
            MetaKey::Plain(K0),
            &[F::V, F::LowerK, F::LowerC, F::LowerF, F::LowerT, F::LowerS],
        )),
        line(meta(
            M::Get,
            MetaKey::Plain(K0),
            &[F::H, F::LowerL, F::O(5), F::Q],
        )),
        line(meta(M::Get, MetaKey::Plain(Key::Short(9)), &[F::Q, F::V])),
        line(meta(
            M::Get,
            MetaKey::Plain(Key::Short(9)),
            &[F::N(TextTime::Seconds(29)), F::V, F::LowerC],
        )),
        line(meta(
            M::Get,
            MetaKey::Plain(Key::Short(9)),
            &[F::V, F::R(TextTime::Seconds(99)), F::LowerT],
        )),
        line(meta(
            M::Arithmetic,
            MetaKey::Plain(Key::Short(3)),
            &[
                F::N(TextTime::Never),
                F::J(Num::Small(10)),
                F::D(Num::Small(5)),
                F::V,
            ],
        )),
        line(meta(
            M::Arithmetic,
            MetaKey::Plain(Key::Short(3)),
            &[F::M(12), F::D(Num::Small(100)), F::V, F::LowerT, F::LowerC],
        )),
        line(meta(M::Arithmetic, MetaKey::Plain(K0), &[F::Q])),
        line(meta(
            M::Set,
            MetaKey::Plain(K0),
            &[F::M(2), F::C(Num::Small(1)), F::E(Num::Small(77))],
        )),
        line(meta(M::Set, MetaKey::Plain(K0), &[F::I, F::M(1)])),
        line(meta(
            M::Delete,
            MetaKey::Plain(K0),
            &[F::I, F::T(TextTime::Seconds(30)), F::LowerK],
        )),
        line(meta(M::Get, MetaKey::Plain(K0), &[F::V, F::LowerC])),
        line(meta(M::Delete, MetaKey::Plain(K0), &[F::Q])),
        line(meta(M::Delete, MetaKey::Plain(K0), &[F::O(2)])),
        line(meta(M::Debug, MetaKey::Plain(Key::Short(3)), &[])),
        line(meta(M::Debug, MetaKey::Base64(Key::Short(3)), &[])),
        line(meta(M::Set, MetaKey::Base64(K1), &[F::LowerK])),
        line(meta(M::Get, MetaKey::Plain(K1), &[F::V])),
        line(meta(M::Set, MetaKey::Binary(b' ', b'\n', 0), &[F::LowerK, F::U])),
        line(meta(M::Get, MetaKey::Binary(b' ', b'\n', 0), &[F::LowerK, F::V])),
        line(meta(M::Get, MetaKey::BadBase64(0), &[F::V])),
        line(meta(M::Noop, MetaKey::Missing, &[])),
    ];
    let meta_errors = vec![
        line(meta(M::Get, MetaKey::Plain(K0), &[F::V, F::V])),
        line(meta(M::Get, MetaKey::Plain(K0), &[F::Other(b'x', 0)])),
        line(meta(M::Get, MetaKey::Plain(K0), &[F::Other(0xff, 1)])),
        line(meta(M::Get, MetaKey::Plain(K0), &[F::T(TextTime::Junk(1))])),
        line(meta(M::Set, MetaKey::Plain(K0), &[F::M(240)])),
        line(meta(M::Set, MetaKey::Plain(K0), &[F::M(14)])),
        line(meta(M::Set, MetaKey::Plain(K0), &[F::O(39)])),
        line(meta(M::Get, MetaKey::Plain(K0), &[F::O(39)])),
        line(meta(M::Arithmetic, MetaKey::Plain(K0), &[F::M(15)])),
        line(meta(M::Arithmetic, MetaKey::Plain(K0), &[F::D(Num::Junk(1))])),
        line(meta(M::Delete, MetaKey::Plain(K0), &[F::C(Num::Junk(2)), F::Q])),
        line(meta(M::Set, MetaKey::Plain(K0), &[F::F(Num::U32Edge(3))])),
        line(meta(M::Get, MetaKey::Plain(Key::TooLong(0)), &[])),
        line(meta(M::Get, MetaKey::Base64(Key::Max(0)), &[])),
        line(meta(M::Get, MetaKey::Missing, &[])),
        line(meta(M::Other(b'x'), MetaKey::Plain(K0), &[])),
        line(TextCmd::Meta(Meta {
            cmd: M::Get,
            key: MetaKey::Plain(K0),
            flags: [F::V, F::LowerK, F::LowerC, F::LowerF, F::LowerS, F::LowerT],
            nflags: 23,
            value: small(1),
            announce: 0,
            trailer: 0,
        })),
        line(TextCmd::Meta(Meta {
            cmd: M::Set,
            key: MetaKey::Plain(K0),
            flags: [F::V; 6],
            nflags: 2,
            value: small(4),
            announce: 0,
            trailer: 0,
        })),
        line(TextCmd::Meta(Meta {
            cmd: M::Set,
            key: MetaKey::Plain(K0),
            flags: [F::LowerC; 6],
            nflags: 1,
            value: small(4),
            announce: 0,
            trailer: 250,
        })),
        line(meta(M::Noop, MetaKey::Missing, &[])),
    ];
    let malformed = vec![
        line(TextCmd::Empty),
        TextMsg {
            cmd: TextCmd::Empty,
            eol: 210,
        },
        TextMsg {
            cmd: tstore(Set, K0, small(2), 0, false),
            eol: 210,
        },
        TextMsg {
            cmd: tget(Get, &[K0]),
            eol: 235,
        },
        TextMsg {
            cmd: TextCmd::Version,
            eol: 245,
        },
        line(TextCmd::Version),
        line(TextCmd::Unknown(0)),
        line(TextCmd::Unknown(3)),
        line(TextCmd::Garbage {
            len: 9,
            bytes: *b"\x00\x80\xff\r\t get\x01k0\0\0\0\0",
        }),
        line(TextCmd::Store {
            op: Set,
            key: K0,
            flags: Num::Small(1),
            exptime: TextTime::Never,
            cas: Num::Small(0),
            value: small(3),
            announce: 0,
            trailer: 250,
            noreply: false,
        }),
        line(TextCmd::Store {
            op: Set,
            key: K0,
            flags: Num::Small(1),
            exptime: TextTime::Never,
            cas: Num::Small(0),
            value: small(3),
            announce: 0,
            trailer: 250,
            noreply: true,
        }),
        line(TextCmd::Store {
            op: Add,
            key: K1,
            flags: Num::Negative(0),
            exptime: TextTime::Junk(1),
            cas: Num::Small(0),
            value: small(3),
            announce: 126,
            trailer: 0,
            noreply: false,
        }),
        line(tstore(Set, Key::TooLong(1), small(3), 0, false)),
        line(TextCmd::Store {
            op: Set,
            key: K0,
            flags: Num::Small(1),
            exptime: TextTime::Never,
            cas: Num::Small(0),
            value: small(3),
            announce: -103,
            trailer: 0,
            noreply: false,
        }),
        counter_line(false, K0, 1, false),
        line(TextCmd::Counter {
            decr: false,
            key: K0,
            delta: Num::Junk(1),
            noreply: false,
        }),
        line(TextCmd::Touch {
            key: K0,
            exptime: TextTime::Junk(2),
            noreply: false,
        }),
        line(TextCmd::Get {
            op: Gat,
            exptime: TextTime::Junk(1),
            keys: [K0; 3],
            count: 1,
        }),
        line(TextCmd::Stats(StatGroup::DetailOther)),
        line(TextCmd::Stats(StatGroup::Unknown(1))),
        line(TextCmd::LongLine {
            kind: LongKind::Plain,
            len: 2100,
            fill: b'z',
        }),
        line(TextCmd::Version),
    ];
    let multiget = vec![
        line(tstore(Set, K0, small(1), 0, false)),
        line(tstore(Set, Key::Max(0), small(1), 0, false)),
        line(TextCmd::Get {
            op: Gets,
            exptime: TextTime::Never,
            keys: [K0, K1, Key::Max(0)],
            count: 0xc0 + 12,
        }),
        line(TextCmd::LongLine {
            kind: LongKind::MultiGet,
            len: 2500,
            fill: 0,
        }),
        line(TextCmd::LongLine {
            kind: LongKind::Spaces(100),
            len: 2500,
            fill: 1,
        }),
        line(TextCmd::LongLine {
            kind: LongKind::Get,
            len: 300,
            fill: b'g',
        }),
        line(TextCmd::LongLine {
            kind: LongKind::Spaces(101),
            len: 2500,
            fill: 1,
        }),
        line(TextCmd::Version),
    ];
    let too_large = vec![
        line(tstore(
            Set,
            K0,
            Value::Large {
                units: 255,
                fill: b'x',
            },
            0,
            false,
        )),
        line(tstore(Set, K1, Value::NearLimit { delta: 1 }, 0, false)),
        line(tstore(Set, K1, Value::NearLimit { delta: 0 }, 0, false)),
        line(tstore(Append, K1, small(1), 0, false)),
        line(TextCmd::Meta(Meta {
            cmd: M::Set,
            key: MetaKey::Plain(K0),
            flags: [F::LowerK; 6],
            nflags: 1,
            value: Value::Large {
                units: 250,
                fill: b'y',
            },
            announce: 0,
            trailer: 0,
        })),
        line(tget(Get, &[K0, K1])),
    ];
    vec![
        ("text-every-command", every),
        ("text-noreply", noreply),
        ("text-meta", meta_flow),
        ("text-meta-errors", meta_errors),
        ("text-malformed", malformed),
        ("text-multiget", multiget),
        ("text-too-large", too_large),
        (
            "text-http",
            vec![line(TextCmd::Version), line(TextCmd::Http)],
        ),
        (
            "text-binary-first-byte",
            vec![
                line(TextCmd::Garbage {
                    len: 1,
                    bytes: [0x80; 16],
                }),
                line(TextCmd::Version),
            ],
        ),
    ]
}

/// Raw byte seeds for the `text` target: the text streams that stay small, and single lines.
pub fn text_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = text_streams()
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "text-multiget" | "text-too-large"))
        .map(|(name, reqs)| (name.trim_start_matches("text-").to_owned(), encode_text(&reqs)))
        .collect();
    let lines: [(&str, &[u8]); 8] = [
        ("ms-bad-flags-swallow", b"ms k0 3 v v\r\nabc\r\nmn\r\n"),
        ("gat-no-keys", b"gat 10\r\ngats 1 k0\r\n"),
        ("delete-forms", b"delete k0 0 noreply\r\ndelete k0 5\r\ndelete k0 noreply\r\n"),
        ("flush-forms", b"flush_all -1\r\nflush_all 10 noreply\r\nflush_all noreply\r\n"),
        ("cr-only-line", b"\r\n\r\r\n \r\nget\r\n"),
        ("me-base64", b"me azA= b\r\nme k0\r\nme\r\n"),
        ("store-len-edges", b"set k0 0 0 2147483647\r\nset k0 0 0 -1\r\nadd k0 0 0 0\r\n\r\n"),
        ("bget", b"bget k0 k1\r\nget k0 noreply\r\n"),
    ];
    for (name, bytes) in lines {
        seeds.push((name.to_owned(), bytes.to_vec()));
    }
    let many: String = (0..40).map(|i| format!(" k{i}")).collect();
    seeds.push(("get-40-keys".to_owned(), format!("get{many}\r\n").into_bytes()));
    seeds
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
                requests: Requests::Binary(requests),
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
            requests: Requests::Binary(vec![
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
            ]),
        },
    ));
    inputs.push((
        "backpressure-1-byte-limit".to_owned(),
        ConnectionInput {
            output_limit: 0,
            steps: vec![whole],
            requests: Requests::Binary(
                std::iter::once(set(
                    StoreOp::Set,
                    K0,
                    Value::Large {
                        units: 50,
                        fill: b'z',
                    },
                ))
                .chain(std::iter::repeat_n(get(GetOp::Get, K0), 8))
                .collect(),
            ),
        },
    ));
    for (i, (name, requests)) in text_streams().into_iter().enumerate() {
        let steps = match i % 3 {
            0 => vec![whole],
            1 => vec![bytes1],
            _ => mixed.clone(),
        };
        inputs.push((
            name.to_owned(),
            ConnectionInput {
                output_limit: if i % 2 == 0 { 20 } else { 7 },
                steps,
                requests: Requests::Text(requests),
            },
        ));
    }
    inputs.push((
        "text-expiry".to_owned(),
        ConnectionInput {
            output_limit: 12,
            steps: vec![Step {
                len: 0x8000 | 30,
                advance: Advance::Seconds(2),
                write: 0,
            }],
            requests: Requests::Text(vec![
                line(TextCmd::Store {
                    op: StoreCmd::Set,
                    key: K0,
                    flags: Num::Small(3),
                    exptime: TextTime::Seconds(0),
                    cas: Num::Small(0),
                    value: small(2),
                    announce: 0,
                    trailer: 0,
                    noreply: false,
                }),
                line(tget(RetrieveOp::Get, &[K0])),
                line(meta(
                    MetaCmd::Set,
                    MetaKey::Plain(K1),
                    &[MetaFlag::T(TextTime::Seconds(2)), MetaFlag::LowerT],
                )),
                line(meta(
                    MetaCmd::Get,
                    MetaKey::Plain(K1),
                    &[MetaFlag::LowerT, MetaFlag::LowerL, MetaFlag::H, MetaFlag::V],
                )),
                line(TextCmd::Touch {
                    key: K1,
                    exptime: TextTime::Seconds(30),
                    noreply: false,
                }),
                line(meta(MetaCmd::Debug, MetaKey::Plain(K1), &[])),
                line(tget(RetrieveOp::Gets, &[K0, K1])),
            ]),
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
    let send_text = |conn: u8, cmd: TextCmd| Op::SendText {
        conn,
        request: line(cmd),
        limit: 0,
    };
    inputs.push((
        "text-and-binary",
        vec![
            Op::Accept,
            Op::Accept,
            send_text(0, tstore(StoreCmd::Set, K0, small(4), 0, false)),
            send(1, get(GetK, K0)),
            send_text(
                0,
                meta(
                    MetaCmd::Get,
                    MetaKey::Plain(K0),
                    &[MetaFlag::V, MetaFlag::LowerC],
                ),
            ),
            send_text(0, TextCmd::Stats(StatGroup::General)),
            send(0, Request::Noop),
            send_text(1, TextCmd::Version),
            write(0),
            write(1),
        ],
    ));
    inputs.push((
        "text-every-command",
        std::iter::once(Op::Accept)
            .chain(
                text_streams()
                    .swap_remove(0)
                    .1
                    .into_iter()
                    .map(|request| Op::SendText {
                        conn: 0,
                        request,
                        limit: 0,
                    }),
            )
            .chain([write(0)])
            .collect(),
    ));
    inputs.push((
        "text-partial-and-timeouts",
        vec![
            Op::Accept,
            Op::Accept,
            Op::SendText {
                conn: 0,
                request: line(tstore(StoreCmd::Set, K0, small(30), 0, false)),
                limit: 9,
            },
            Op::SendText {
                conn: 1,
                request: line(TextCmd::Stats(StatGroup::Settings)),
                limit: 3,
            },
            Op::Advance(Advance::Seconds(31)),
            Op::Timeout { jump: false },
            Op::Read {
                conn: 1,
                limit: 0,
                force: false,
            },
            Op::Write { conn: 1, n: 40 },
            Op::Timeout { jump: true },
            write(1),
        ],
    ));
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
        "text" => text_seeds(),
        _ => panic!("unknown target {target}"),
    }
}
