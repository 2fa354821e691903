//! Structured requests for the stateful targets: an `arbitrary` enum of request kinds that encode
//! to wire bytes, biased toward valid memcached binary requests on a small key space (so items are
//! hit, replaced, counted and evicted), mixed with malformed frames and raw garbage.
//!
//! Large values are described (length and fill byte) rather than carried, so a fuzz input of a few
//! hundred bytes can store megabytes and drive the cache into eviction.

use arbitrary::Arbitrary;
use keel_core::protocol::{Frame, HEADER_LEN, Header, MAX_BODY_LEN, REQUEST_MAGIC, encode_request};

use crate::wire::{Emit, Enc};

/// The fake clock's start: a realistic Unix time, so absolute expiry times behave as in production.
pub const START_SECS: u64 = 1_700_000_000;
/// `CacheConfig::item_size_max` in the stateful targets: small, so E2BIG and large items are cheap.
pub const ITEM_SIZE_MAX: usize = 64 << 10;
/// `CacheConfig::memory_limit` in the stateful targets: two slab pages, so eviction happens.
pub const MEMORY_LIMIT: usize = 2 << 20;
/// memcached's per-item overhead without key, value and flags (PROTOCOL.md §12).
const ITEM_OVERHEAD: usize = 48 + 1 + 2 + 8;
/// Bytes per unit of `Value::Large`: 255 units reach past `ITEM_SIZE_MAX`.
const LARGE_UNIT: usize = 300;

/// A key from a small set, or one at or past the 250-byte limit, or none at all.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// One of 32 short keys.
    Short(u8),
    /// One of 4 keys of exactly 250 bytes.
    Max(u8),
    /// 251..=506 bytes: refused with EINVAL and a close.
    TooLong(u8),
    Empty,
}

impl Key {
    pub fn write(self, out: &mut Vec<u8>) {
        match self {
            Key::Short(n) => {
                out.push(b'k');
                out.extend_from_slice((n % 32).to_string().as_bytes());
            }
            Key::Max(n) => {
                out.extend(std::iter::repeat_n(b'm', 249));
                out.push(b'a' + n % 4);
            }
            Key::TooLong(n) => out.extend(std::iter::repeat_n(b'L', 251 + usize::from(n))),
            Key::Empty => {}
        }
    }

    pub fn len(self) -> usize {
        let mut v = Vec::new();
        self.write(&mut v);
        v.len()
    }

    pub fn is_empty(self) -> bool {
        self == Key::Empty
    }
}

/// A value, described rather than carried.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Empty,
    /// `len` copies of `fill`.
    Small {
        len: u8,
        fill: u8,
    },
    /// A decimal number, for INCR/DECR to parse.
    Number(u64),
    /// `units * 300` copies of `fill`: up to 76,500 bytes, past the 64 KiB item limit.
    Large {
        units: u8,
        fill: u8,
    },
    /// The largest value that fits with this key and flags, plus `delta` (so -1, 0, +1 probe the
    /// E2BIG boundary).
    NearLimit {
        delta: i8,
    },
}

impl Value {
    pub fn write(self, key_len: usize, flags: u32, out: &mut Vec<u8>) {
        match self {
            Value::Empty => {}
            Value::Small { len, fill } => out.extend(std::iter::repeat_n(fill, usize::from(len))),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Large { units, fill } => {
                out.extend(std::iter::repeat_n(fill, usize::from(units) * LARGE_UNIT))
            }
            Value::NearLimit { delta } => {
                let flags_len = if flags != 0 { 4 } else { 0 };
                let max = ITEM_SIZE_MAX.saturating_sub(ITEM_OVERHEAD + key_len + flags_len);
                let len = max.saturating_add_signed(isize::from(delta));
                out.extend(std::iter::repeat_n(b'v', len));
            }
        }
    }
}

/// An exptime field (PROTOCOL.md §7).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exptime {
    Never,
    /// 1..=256 seconds from now.
    Seconds(u8),
    /// Exactly 30 days: the last relative value.
    Month,
    /// 30 days + 1: an absolute time in 1970, so already expired.
    Past,
    /// An absolute time `n` seconds after the fake clock's start.
    Absolute(u8),
    /// INCR/DECR's "do not create" marker (0xffffffff), an absolute time in 2106 elsewhere.
    NoCreate,
    Raw(u32),
}

impl Exptime {
    pub fn value(self) -> u32 {
        match self {
            Exptime::Never => 0,
            Exptime::Seconds(n) => u32::from(n) + 1,
            Exptime::Month => 2_592_000,
            Exptime::Past => 2_592_001,
            Exptime::Absolute(n) => START_SECS as u32 + u32::from(n),
            Exptime::NoCreate => u32::MAX,
            Exptime::Raw(n) => n,
        }
    }
}

/// A CAS field: mostly 0, or small (CAS values are a counter from 1, so small ones match).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cas {
    Zero,
    Small(u8),
    Raw(u64),
}

impl Cas {
    pub fn value(self) -> u64 {
        match self {
            Cas::Zero => 0,
            Cas::Small(n) => u64::from(n),
            Cas::Raw(n) => n,
        }
    }
}

/// A number for counters and flags: small values, the wrap-around edge, or anything.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    Small(u8),
    NearMax(u8),
    Raw(u64),
}

impl Number {
    pub fn value(self) -> u64 {
        match self {
            Number::Small(n) => u64::from(n),
            Number::NearMax(n) => u64::MAX - u64::from(n),
            Number::Raw(n) => n,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetOp {
    Get,
    GetQ,
    GetK,
    GetKQ,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchOp {
    Touch,
    Gat,
    GatQ,
    GatK,
    GatKQ,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Set,
    SetQ,
    Add,
    AddQ,
    Replace,
    ReplaceQ,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcatOp {
    Append,
    AppendQ,
    Prepend,
    PrependQ,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterOp {
    Incr,
    IncrQ,
    Decr,
    DecrQ,
}

/// STAT groups. `reset` is deliberately absent: it is the one request that may move counters
/// backwards, and the server target checks that they never do.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatGroup {
    General,
    Settings,
    Items,
    Slabs,
    Sizes,
    DetailOn,
    DetailOff,
    DetailDump,
    DetailOther,
    /// An unknown group: one Not found packet, no terminator.
    Unknown(u8),
}

impl StatGroup {
    /// The group's name as STAT's key or the text `stats` argument.
    pub fn name(self) -> Vec<u8> {
        match self {
            StatGroup::General => Vec::new(),
            StatGroup::Settings => b"settings".to_vec(),
            StatGroup::Items => b"items".to_vec(),
            StatGroup::Slabs => b"slabs".to_vec(),
            StatGroup::Sizes => b"sizes".to_vec(),
            StatGroup::DetailOn => b"detail on".to_vec(),
            StatGroup::DetailOff => b"detail off".to_vec(),
            StatGroup::DetailDump => b"detail dump".to_vec(),
            StatGroup::DetailOther => b"detail x".to_vec(),
            StatGroup::Unknown(n) => format!("conns{n}").into_bytes(),
        }
    }
}

/// A header's first byte.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic {
    Request,
    Response,
    Other(u8),
}

/// A frame built field by field, valid or not: wrong extras for an opcode, unknown opcodes,
/// lengths that disagree with the bytes that follow, bad magic.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed {
    pub magic: Magic,
    /// Below 0x40: one of the 37 opcodes up to GATKQ (so shape errors are likely); else as is.
    pub opcode: u8,
    /// Taken modulo 32.
    pub extras_len: u8,
    /// Taken modulo 300: past 250 is too long.
    pub key_len: u16,
    /// Taken modulo 4096.
    pub value_len: u16,
    /// Added to the announced body length (the bytes sent stay extras + key + value).
    pub body_adjust: i8,
    pub fill: u8,
}

/// One request's worth of bytes on a connection.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Get {
        op: GetOp,
        key: Key,
    },
    /// TOUCH and GAT*; `trailing` > 223 adds unexpected value bytes, which keel skips.
    Touch {
        op: TouchOp,
        key: Key,
        exptime: Exptime,
        trailing: u8,
    },
    Store {
        op: StoreOp,
        key: Key,
        flags: u8,
        exptime: Exptime,
        cas: Cas,
        value: Value,
    },
    Concat {
        op: ConcatOp,
        key: Key,
        cas: Cas,
        value: Value,
    },
    Delete {
        quiet: bool,
        key: Key,
        cas: Cas,
    },
    Counter {
        op: CounterOp,
        key: Key,
        delta: Number,
        initial: Number,
        exptime: Exptime,
        cas: Cas,
    },
    Flush {
        quiet: bool,
        delay: Option<u8>,
    },
    Noop,
    Version,
    Quit {
        quiet: bool,
    },
    Verbosity(u8),
    Stat {
        group: StatGroup,
        trailing: u8,
    },
    Framed(Framed),
    /// A header announcing a body past `MAX_BODY_LEN` (refused before any of it is read).
    Huge {
        opcode: u8,
        excess: u16,
    },
    /// 24 arbitrary bytes where a header belongs.
    RawHeader([u8; HEADER_LEN]),
    /// Up to 16 arbitrary bytes.
    Garbage {
        len: u8,
        bytes: [u8; 16],
    },
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Appends one well-formed request.
fn push(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let frame = Frame {
        header: Header {
            magic: REQUEST_MAGIC,
            opcode,
            opaque,
            cas,
            ..Header::default()
        },
        extras,
        key,
        value,
    };
    encode_request(&frame, out);
}

impl Request {
    /// Appends the request's wire bytes; `opaque` tags the request (responses echo it).
    pub fn encode(&self, opaque: u32, out: &mut Vec<u8>) {
        let mut key = Vec::new();
        let mut value = Vec::new();
        match *self {
            Request::Get { op, key: k } => {
                k.write(&mut key);
                let opcode = [0x00, 0x09, 0x0c, 0x0d][op as usize];
                push(out, opcode, opaque, 0, &[], &key, &[]);
            }
            Request::Touch {
                op,
                key: k,
                exptime,
                trailing,
            } => {
                k.write(&mut key);
                let opcode = [0x1c, 0x1d, 0x1e, 0x23, 0x24][op as usize];
                let trailing = usize::from(trailing.saturating_sub(223));
                value.resize(trailing, b't');
                push(out, opcode, opaque, 0, &be32(exptime.value()), &key, &value);
            }
            Request::Store {
                op,
                key: k,
                flags,
                exptime,
                cas,
                value: v,
            } => {
                k.write(&mut key);
                let flags = u32::from(flags).wrapping_mul(0x0101_0101);
                v.write(key.len(), flags, &mut value);
                let opcode = [0x01, 0x11, 0x02, 0x12, 0x03, 0x13][op as usize];
                let mut extras = [0u8; 8];
                extras[..4].copy_from_slice(&be32(flags));
                extras[4..].copy_from_slice(&be32(exptime.value()));
                push(out, opcode, opaque, cas.value(), &extras, &key, &value);
            }
            Request::Concat {
                op,
                key: k,
                cas,
                value: v,
            } => {
                k.write(&mut key);
                v.write(key.len(), 0, &mut value);
                let opcode = [0x0e, 0x19, 0x0f, 0x1a][op as usize];
                push(out, opcode, opaque, cas.value(), &[], &key, &value);
            }
            Request::Delete { quiet, key: k, cas } => {
                k.write(&mut key);
                let opcode = if quiet { 0x14 } else { 0x04 };
                push(out, opcode, opaque, cas.value(), &[], &key, &[]);
            }
            Request::Counter {
                op,
                key: k,
                delta,
                initial,
                exptime,
                cas,
            } => {
                k.write(&mut key);
                let opcode = [0x05, 0x15, 0x06, 0x16][op as usize];
                let mut extras = [0u8; 20];
                extras[..8].copy_from_slice(&delta.value().to_be_bytes());
                extras[8..16].copy_from_slice(&initial.value().to_be_bytes());
                extras[16..].copy_from_slice(&be32(exptime.value()));
                push(out, opcode, opaque, cas.value(), &extras, &key, &[]);
            }
            Request::Flush { quiet, delay } => {
                let opcode = if quiet { 0x18 } else { 0x08 };
                match delay {
                    Some(d) => push(out, opcode, opaque, 0, &be32(u32::from(d)), &[], &[]),
                    None => push(out, opcode, opaque, 0, &[], &[], &[]),
                }
            }
            Request::Noop => push(out, 0x0a, opaque, 0, &[], &[], &[]),
            Request::Version => push(out, 0x0b, opaque, 0, &[], &[], &[]),
            Request::Quit { quiet } => push(
                out,
                if quiet { 0x17 } else { 0x07 },
                opaque,
                0,
                &[],
                &[],
                &[],
            ),
            Request::Verbosity(level) => {
                push(out, 0x1b, opaque, 0, &be32(u32::from(level)), &[], &[])
            }
            Request::Stat { group, trailing } => {
                let trailing = usize::from(trailing.saturating_sub(223));
                value.resize(trailing, b's');
                push(out, 0x10, opaque, 0, &[], &group.name(), &value);
            }
            Request::Framed(f) => f.encode(opaque, out),
            Request::Huge { opcode, excess } => {
                let header = Header {
                    magic: REQUEST_MAGIC,
                    opcode,
                    key_len: 1,
                    extras_len: 0,
                    body_len: MAX_BODY_LEN + 1 + u32::from(excess),
                    opaque,
                    ..Header::default()
                };
                out.extend_from_slice(&header.to_bytes());
                out.extend_from_slice(b"huge");
            }
            Request::RawHeader(bytes) => out.extend_from_slice(&bytes),
            Request::Garbage { len, bytes } => {
                out.extend_from_slice(&bytes[..usize::from(len) % (bytes.len() + 1)])
            }
        }
    }
}

impl Framed {
    pub fn encode(&self, opaque: u32, out: &mut Vec<u8>) {
        let magic = match self.magic {
            Magic::Request => REQUEST_MAGIC,
            Magic::Response => 0x81,
            Magic::Other(b) => b,
        };
        let opcode = if self.opcode < 0x40 {
            self.opcode % 0x25
        } else {
            self.opcode
        };
        let extras_len = self.extras_len % 32;
        let key_len = self.key_len % 300;
        let value_len = self.value_len % 4096;
        let sent = u32::from(extras_len) + u32::from(key_len) + u32::from(value_len);
        let header = Header {
            magic,
            opcode,
            key_len,
            extras_len,
            body_len: sent.saturating_add_signed(i32::from(self.body_adjust)),
            opaque,
            ..Header::default()
        };
        out.extend_from_slice(&header.to_bytes());
        out.extend(std::iter::repeat_n(self.fill, sent as usize));
    }
}

/// Encodes a request sequence, tagging each with its index as the opaque.
pub fn encode_all(requests: &[Request]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        r.encode(i as u32, &mut out);
    }
    out
}

// The inverse of `arbitrary`'s derive, for writing seed inputs (see `wire`).

impl Emit for Key {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Key::Short(n) => e.variant(0, 4).u8(n),
            Key::Max(n) => e.variant(1, 4).u8(n),
            Key::TooLong(n) => e.variant(2, 4).u8(n),
            Key::Empty => e.variant(3, 4),
        };
    }
}

impl Emit for Value {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Value::Empty => e.variant(0, 5),
            Value::Small { len, fill } => e.variant(1, 5).u8(len).u8(fill),
            Value::Number(n) => e.variant(2, 5).u64(n),
            Value::Large { units, fill } => e.variant(3, 5).u8(units).u8(fill),
            Value::NearLimit { delta } => e.variant(4, 5).u8(delta as u8),
        };
    }
}

impl Emit for Exptime {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Exptime::Never => e.variant(0, 7),
            Exptime::Seconds(n) => e.variant(1, 7).u8(n),
            Exptime::Month => e.variant(2, 7),
            Exptime::Past => e.variant(3, 7),
            Exptime::Absolute(n) => e.variant(4, 7).u8(n),
            Exptime::NoCreate => e.variant(5, 7),
            Exptime::Raw(n) => e.variant(6, 7).u32(n),
        };
    }
}

impl Emit for Cas {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Cas::Zero => e.variant(0, 3),
            Cas::Small(n) => e.variant(1, 3).u8(n),
            Cas::Raw(n) => e.variant(2, 3).u64(n),
        };
    }
}

impl Emit for Number {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Number::Small(n) => e.variant(0, 3).u8(n),
            Number::NearMax(n) => e.variant(1, 3).u8(n),
            Number::Raw(n) => e.variant(2, 3).u64(n),
        };
    }
}

impl Emit for StatGroup {
    fn emit(&self, e: &mut Enc) {
        let i = match *self {
            StatGroup::General => 0,
            StatGroup::Settings => 1,
            StatGroup::Items => 2,
            StatGroup::Slabs => 3,
            StatGroup::Sizes => 4,
            StatGroup::DetailOn => 5,
            StatGroup::DetailOff => 6,
            StatGroup::DetailDump => 7,
            StatGroup::DetailOther => 8,
            StatGroup::Unknown(n) => {
                e.variant(9, 10).u8(n);
                return;
            }
        };
        e.variant(i, 10);
    }
}

impl Emit for Magic {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Magic::Request => e.variant(0, 3),
            Magic::Response => e.variant(1, 3),
            Magic::Other(b) => e.variant(2, 3).u8(b),
        };
    }
}

impl Emit for Framed {
    fn emit(&self, e: &mut Enc) {
        self.magic.emit(e);
        e.u8(self.opcode)
            .u8(self.extras_len)
            .u16(self.key_len)
            .u16(self.value_len)
            .u8(self.body_adjust as u8)
            .u8(self.fill);
    }
}

impl Emit for Request {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 16;
        match *self {
            Request::Get { op, key } => {
                e.variant(0, N).variant(op as u32, 4);
                key.emit(e);
            }
            Request::Touch {
                op,
                key,
                exptime,
                trailing,
            } => {
                e.variant(1, N).variant(op as u32, 5);
                key.emit(e);
                exptime.emit(e);
                e.u8(trailing);
            }
            Request::Store {
                op,
                key,
                flags,
                exptime,
                cas,
                value,
            } => {
                e.variant(2, N).variant(op as u32, 6);
                key.emit(e);
                e.u8(flags);
                exptime.emit(e);
                cas.emit(e);
                value.emit(e);
            }
            Request::Concat {
                op,
                key,
                cas,
                value,
            } => {
                e.variant(3, N).variant(op as u32, 4);
                key.emit(e);
                cas.emit(e);
                value.emit(e);
            }
            Request::Delete { quiet, key, cas } => {
                e.variant(4, N).bool(quiet);
                key.emit(e);
                cas.emit(e);
            }
            Request::Counter {
                op,
                key,
                delta,
                initial,
                exptime,
                cas,
            } => {
                e.variant(5, N).variant(op as u32, 4);
                key.emit(e);
                delta.emit(e);
                initial.emit(e);
                exptime.emit(e);
                cas.emit(e);
            }
            Request::Flush { quiet, delay } => {
                e.variant(6, N).bool(quiet);
                match delay {
                    Some(d) => e.bool(true).u8(d),
                    None => e.bool(false),
                };
            }
            Request::Noop => {
                e.variant(7, N);
            }
            Request::Version => {
                e.variant(8, N);
            }
            Request::Quit { quiet } => {
                e.variant(9, N).bool(quiet);
            }
            Request::Verbosity(level) => {
                e.variant(10, N).u8(level);
            }
            Request::Stat { group, trailing } => {
                e.variant(11, N);
                group.emit(e);
                e.u8(trailing);
            }
            Request::Framed(f) => {
                e.variant(12, N);
                f.emit(e);
            }
            Request::Huge { opcode, excess } => {
                e.variant(13, N).u8(opcode).u16(excess);
            }
            Request::RawHeader(bytes) => {
                e.variant(14, N).bytes(&bytes);
            }
            Request::Garbage { len, bytes } => {
                e.variant(15, N).u8(len).bytes(&bytes);
            }
        }
    }
}
