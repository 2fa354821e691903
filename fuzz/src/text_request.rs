//! Structured text-protocol requests for the stateful targets: an `arbitrary` enum of memcached
//! text and meta command lines (with their data blocks) that encode to wire bytes, biased toward
//! valid commands on the same small key space as the binary `request`s, mixed with malformed
//! lines (over-long, without "\r", empty, binary garbage), wrong data-block lengths and trailers,
//! and meta flag sets with duplicates and invalid flags.
//!
//! Several choices are a byte mapped to a biased outcome (`eol`, `trailer`, `announce`) rather
//! than a derived enum, so a random byte mostly gives the well-formed case.

use arbitrary::Arbitrary;
use keel_core::protocol::text::base64;

use crate::request::{Key, START_SECS, StatGroup, Value};
use crate::wire::{Emit, Enc};

/// Bytes that are not a number where a number belongs (the empty one drops the token).
const JUNK: [&str; 8] = [
    "",
    "x",
    "1x",
    "+1",
    "0x10",
    "2147483648",
    "99999999999999999999",
    "-",
];

/// A text exptime / TTL token (a signed 32-bit number in memcached).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextTime {
    Never,
    /// 1..=256 seconds from now.
    Seconds(u8),
    /// Exactly 30 days: the last relative value.
    Month,
    /// 30 days + 1: an absolute time in 1970, so already expired.
    Past,
    /// -1 - n: expired at once.
    Negative(u8),
    /// An absolute time `n` seconds after the fake clock's start.
    Absolute(u8),
    Raw(i32),
    Junk(u8),
}

impl TextTime {
    pub fn write(self, out: &mut Vec<u8>) {
        let s = match self {
            TextTime::Never => "0".to_owned(),
            TextTime::Seconds(n) => (u32::from(n) + 1).to_string(),
            TextTime::Month => "2592000".to_owned(),
            TextTime::Past => "2592001".to_owned(),
            TextTime::Negative(n) => (-1 - i32::from(n)).to_string(),
            TextTime::Absolute(n) => (START_SECS + u64::from(n)).to_string(),
            TextTime::Raw(n) => n.to_string(),
            TextTime::Junk(n) => JUNK[usize::from(n) % JUNK.len()].to_owned(),
        };
        out.extend_from_slice(s.as_bytes());
    }
}

/// A number token: flags, deltas, CAS values, verbosity levels.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Num {
    Small(u8),
    /// Around 2^32: the edge of 32-bit fields.
    U32Edge(u8),
    /// `u64::MAX - n`: the wrap-around edge.
    NearMax(u8),
    Raw(u64),
    Negative(u8),
    Junk(u8),
}

impl Num {
    pub fn write(self, out: &mut Vec<u8>) {
        let s = match self {
            Num::Small(n) => n.to_string(),
            Num::U32Edge(n) => (u64::from(u32::MAX) - 1 + u64::from(n % 4)).to_string(),
            Num::NearMax(n) => (u64::MAX - u64::from(n)).to_string(),
            Num::Raw(n) => n.to_string(),
            Num::Negative(n) => format!("-{}", u16::from(n) + 1),
            Num::Junk(n) => JUNK[usize::from(n) % JUNK.len()].to_owned(),
        };
        out.extend_from_slice(s.as_bytes());
    }

    /// The value as client flags, for sizing `Value::NearLimit`.
    fn flags(self) -> u32 {
        match self {
            Num::Small(n) => u32::from(n),
            Num::U32Edge(_) | Num::NearMax(_) => u32::MAX,
            Num::Raw(n) => n as u32,
            Num::Negative(_) | Num::Junk(_) => 0,
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetrieveOp {
    Get,
    Gets,
    Gat,
    Gats,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCmd {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// `delete`'s optional hold-time token.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteForm {
    Plain,
    /// "0": accepted.
    Zero,
    /// A non-zero hold time: refused.
    Hold(u8),
}

/// How an over-long line is made.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongKind {
    /// `len` copies of the fill byte.
    Plain,
    /// "get " and `len` copies of the fill byte (one huge key, or spaces).
    Get,
    /// "get k0 k1 ..." to `len` bytes: a multi-get may run past 2048 bytes.
    MultiGet,
    /// `n % 128` spaces, then a multi-get: the long-line exception holds for at most 100 spaces.
    Spaces(u8),
}

/// Which meta command.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaCmd {
    Get,
    Set,
    Delete,
    Arithmetic,
    Debug,
    Noop,
    /// "m" and an arbitrary second letter.
    Other(u8),
}

/// A meta command's key token.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKey {
    Plain(Key),
    /// The key's base64 form, then the `b` flag: the same item as `Plain`.
    Base64(Key),
    /// base64 of three arbitrary bytes (spaces, newlines, controls), then the `b` flag.
    Binary(u8, u8, u8),
    /// Not base64, then the `b` flag.
    BadBase64(u8),
    Missing,
}

/// One meta flag token, valid or not.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaFlag {
    B,
    LowerC,
    LowerF,
    H,
    LowerK,
    LowerL,
    /// An opaque of `n % 40` bytes: past 32 is too long.
    O(u8),
    Q,
    LowerS,
    LowerT,
    T(TextTime),
    V,
    N(TextTime),
    I,
    E(Num),
    /// A mode: one of "SEAPRseaprI+D-xZ", or two letters when `n >= 240`.
    M(u8),
    D(Num),
    J(Num),
    C(Num),
    U,
    R(TextTime),
    F(Num),
    /// An arbitrary flag byte (space, CR and LF become 'x') and `n` as an argument when odd.
    Other(u8, u8),
}

impl MetaFlag {
    pub fn write(self, out: &mut Vec<u8>) {
        let unit = |out: &mut Vec<u8>, c: u8| out.push(c);
        match self {
            MetaFlag::B => unit(out, b'b'),
            MetaFlag::LowerC => unit(out, b'c'),
            MetaFlag::LowerF => unit(out, b'f'),
            MetaFlag::H => unit(out, b'h'),
            MetaFlag::LowerK => unit(out, b'k'),
            MetaFlag::LowerL => unit(out, b'l'),
            MetaFlag::O(n) => {
                out.push(b'O');
                out.extend(std::iter::repeat_n(b'o', usize::from(n % 40)));
            }
            MetaFlag::Q => unit(out, b'q'),
            MetaFlag::LowerS => unit(out, b's'),
            MetaFlag::LowerT => unit(out, b't'),
            MetaFlag::T(t) => {
                out.push(b'T');
                t.write(out);
            }
            MetaFlag::V => unit(out, b'v'),
            MetaFlag::N(t) => {
                out.push(b'N');
                t.write(out);
            }
            MetaFlag::I => unit(out, b'I'),
            MetaFlag::E(n) => {
                out.push(b'E');
                n.write(out);
            }
            MetaFlag::M(n) => {
                const MODES: &[u8; 16] = b"SEAPRseaprI+D-xZ";
                out.push(b'M');
                out.push(MODES[usize::from(n % 16)]);
                if n >= 240 {
                    out.push(b'S');
                }
            }
            MetaFlag::D(n) => {
                out.push(b'D');
                n.write(out);
            }
            MetaFlag::J(n) => {
                out.push(b'J');
                n.write(out);
            }
            MetaFlag::C(n) => {
                out.push(b'C');
                n.write(out);
            }
            MetaFlag::U => unit(out, b'u'),
            MetaFlag::R(t) => {
                out.push(b'R');
                t.write(out);
            }
            MetaFlag::F(n) => {
                out.push(b'F');
                n.write(out);
            }
            MetaFlag::Other(c, arg) => {
                out.push(match c {
                    b' ' | b'\r' | b'\n' => b'x',
                    c => c,
                });
                if arg % 2 == 1 {
                    out.extend_from_slice(arg.to_string().as_bytes());
                }
            }
        }
    }
}

/// A meta command line and, for `ms`, its data block.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub cmd: MetaCmd,
    pub key: MetaKey,
    /// The flag tokens are `flags[i % 6]` for `i < nflags % 24`: long lists repeat (duplicates)
    /// and pass memcached's 20-token limit.
    pub flags: [MetaFlag; 6],
    pub nflags: u8,
    /// `ms` only: the data block.
    pub value: Value,
    pub announce: i8,
    pub trailer: u8,
}

/// One text command (its line without the end-of-line, plus any data block).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextCmd {
    /// get/gets/gat/gats of `count % 4` of `keys`; a `count` of 0xc0 or more adds
    /// `(count - 0xbf) * 2` keys cycling through `keys` (past memcached's 24 tokens).
    Get {
        op: RetrieveOp,
        exptime: TextTime,
        keys: [Key; 3],
        count: u8,
    },
    Store {
        op: StoreCmd,
        key: Key,
        flags: Num,
        exptime: TextTime,
        /// `cas` only.
        cas: Num,
        value: Value,
        /// The announced length: see `announced`.
        announce: i8,
        /// What follows the data block: see `trailer`.
        trailer: u8,
        noreply: bool,
    },
    Delete {
        key: Key,
        form: DeleteForm,
        noreply: bool,
    },
    Counter {
        decr: bool,
        key: Key,
        delta: Num,
        noreply: bool,
    },
    Touch {
        key: Key,
        exptime: TextTime,
        noreply: bool,
    },
    FlushAll {
        delay: Option<TextTime>,
        noreply: bool,
    },
    Version,
    Verbosity {
        level: Option<Num>,
        noreply: bool,
    },
    /// `stats` and a group (never `reset`: see the server target).
    Stats(StatGroup),
    Quit,
    Meta(Meta),
    /// Nothing before the end of line.
    Empty,
    /// A line of `len % 8192` bytes (the limit is 2048 unless it is a multi-get).
    LongLine {
        kind: LongKind,
        len: u16,
        fill: u8,
    },
    /// An HTTP request line: closed without a reply.
    Http,
    /// An unknown or misspelt command.
    Unknown(u8),
    /// Up to 16 arbitrary bytes before the end of line.
    Garbage {
        len: u8,
        bytes: [u8; 16],
    },
}

/// A command and how its line ends.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextMsg {
    pub cmd: TextCmd,
    /// 0..=199 "\r\n", 200..=231 "\n", 232..=239 " \r\n", 240..=247 "\r" (the line goes on
    /// with the next command), 248..=255 nothing.
    pub eol: u8,
}

const UNKNOWN: [&str; 10] = [
    "bogus k0",
    "x",
    "GET k0",
    "gett k0",
    "stat",
    "m",
    "mgx k0",
    "getsx",
    "incr",
    "verbosity",
];

fn eol(b: u8) -> &'static [u8] {
    match b {
        0..=199 => b"\r\n",
        200..=231 => b"\n",
        232..=239 => b" \r\n",
        240..=247 => b"\r",
        248..=255 => b"",
    }
}

/// What follows a data block: 0..=215 "\r\n", then "\n", nothing, "\r\r\n", "XY".
fn trailer(b: u8) -> &'static [u8] {
    match b {
        0..=215 => b"\r\n",
        216..=231 => b"\n",
        232..=239 => b"",
        240..=247 => b"\r\r\n",
        248..=255 => b"XY",
    }
}

/// The length token for a data block of `actual` bytes: exact for -100..=100, up to 27 more or
/// 28 less beyond, or (125..=127) "-1", "x", "2147483648".
fn announced(a: i8, actual: usize, out: &mut Vec<u8>) {
    let s = match a {
        -100..=100 => actual.to_string(),
        101..=124 => (actual + (a - 100) as usize).to_string(),
        125 => "-1".to_owned(),
        126 => "x".to_owned(),
        127 => "2147483648".to_owned(),
        -128..=-101 => actual.saturating_sub((-(a + 100)) as usize).to_string(),
    };
    out.extend_from_slice(s.as_bytes());
}

fn space(out: &mut Vec<u8>) {
    out.push(b' ');
}

fn noreply(on: bool, out: &mut Vec<u8>) {
    if on {
        out.extend_from_slice(b" noreply");
    }
}

/// " <key>" (nothing for an empty key).
fn key(k: Key, out: &mut Vec<u8>) {
    if !k.is_empty() {
        space(out);
        k.write(out);
    }
}

impl TextMsg {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.cmd.encode(eol(self.eol), out);
    }
}

impl TextCmd {
    /// Appends the command line ending in `eol`, and any data block.
    pub fn encode(&self, eol: &[u8], out: &mut Vec<u8>) {
        match *self {
            TextCmd::Get {
                op,
                exptime,
                keys,
                count,
            } => {
                out.extend_from_slice([&b"get"[..], b"gets", b"gat", b"gats"][op as usize]);
                if matches!(op, RetrieveOp::Gat | RetrieveOp::Gats) {
                    space(out);
                    exptime.write(out);
                }
                let extra = if count >= 0xc0 {
                    usize::from(count - 0xbf) * 2
                } else {
                    0
                };
                let n = usize::from(count % 4) + extra;
                for i in 0..n {
                    key(keys[i % 3], out);
                }
                out.extend_from_slice(eol);
            }
            TextCmd::Store {
                op,
                key: k,
                flags,
                exptime,
                cas,
                value,
                announce,
                trailer: t,
                noreply: nr,
            } => {
                let name: [&[u8]; 6] = [b"set", b"add", b"replace", b"append", b"prepend", b"cas"];
                out.extend_from_slice(name[op as usize]);
                key(k, out);
                let mut data = Vec::new();
                value.write(k.len(), flags.flags(), &mut data);
                space(out);
                flags.write(out);
                space(out);
                exptime.write(out);
                space(out);
                announced(announce, data.len(), out);
                if op == StoreCmd::Cas {
                    space(out);
                    cas.write(out);
                }
                noreply(nr, out);
                out.extend_from_slice(eol);
                out.extend_from_slice(&data);
                out.extend_from_slice(trailer(t));
            }
            TextCmd::Delete {
                key: k,
                form,
                noreply: nr,
            } => {
                out.extend_from_slice(b"delete");
                key(k, out);
                match form {
                    DeleteForm::Plain => {}
                    DeleteForm::Zero => out.extend_from_slice(b" 0"),
                    DeleteForm::Hold(n) => {
                        out.extend_from_slice(format!(" {}", u16::from(n) + 1).as_bytes())
                    }
                }
                noreply(nr, out);
                out.extend_from_slice(eol);
            }
            TextCmd::Counter {
                decr,
                key: k,
                delta,
                noreply: nr,
            } => {
                out.extend_from_slice(if decr { b"decr" } else { b"incr" });
                key(k, out);
                space(out);
                delta.write(out);
                noreply(nr, out);
                out.extend_from_slice(eol);
            }
            TextCmd::Touch {
                key: k,
                exptime,
                noreply: nr,
            } => {
                out.extend_from_slice(b"touch");
                key(k, out);
                space(out);
                exptime.write(out);
                noreply(nr, out);
                out.extend_from_slice(eol);
            }
            TextCmd::FlushAll { delay, noreply: nr } => {
                out.extend_from_slice(b"flush_all");
                if let Some(d) = delay {
                    space(out);
                    d.write(out);
                }
                noreply(nr, out);
                out.extend_from_slice(eol);
            }
            TextCmd::Version => {
                out.extend_from_slice(b"version");
                out.extend_from_slice(eol);
            }
            TextCmd::Verbosity { level, noreply: nr } => {
                out.extend_from_slice(b"verbosity");
                if let Some(l) = level {
                    space(out);
                    l.write(out);
                }
                noreply(nr, out);
                out.extend_from_slice(eol);
            }
            TextCmd::Stats(group) => {
                out.extend_from_slice(b"stats");
                let name = group.name();
                if !name.is_empty() {
                    space(out);
                    out.extend_from_slice(&name);
                }
                out.extend_from_slice(eol);
            }
            TextCmd::Quit => {
                out.extend_from_slice(b"quit");
                out.extend_from_slice(eol);
            }
            TextCmd::Meta(m) => m.encode(eol, out),
            TextCmd::Empty => out.extend_from_slice(eol),
            TextCmd::LongLine { kind, len, fill } => {
                let len = usize::from(len % 8192);
                let start = out.len();
                match kind {
                    LongKind::Plain => {}
                    LongKind::Get => out.extend_from_slice(b"get "),
                    LongKind::MultiGet => out.extend_from_slice(b"get"),
                    LongKind::Spaces(n) => {
                        out.extend(std::iter::repeat_n(b' ', usize::from(n % 128)));
                        out.extend_from_slice(b"get");
                    }
                }
                match kind {
                    LongKind::Plain | LongKind::Get => {
                        let fill = if fill == b'\n' { b'n' } else { fill };
                        out.extend(std::iter::repeat_n(fill, len));
                    }
                    LongKind::MultiGet | LongKind::Spaces(_) => {
                        let mut i = usize::from(fill);
                        while out.len() - start < len {
                            out.extend_from_slice(format!(" k{}", i % 32).as_bytes());
                            i += 1;
                        }
                    }
                }
                out.extend_from_slice(eol);
            }
            TextCmd::Http => {
                out.extend_from_slice(b"GET / HTTP/1.1");
                out.extend_from_slice(eol);
            }
            TextCmd::Unknown(n) => {
                out.extend_from_slice(UNKNOWN[usize::from(n) % UNKNOWN.len()].as_bytes());
                out.extend_from_slice(eol);
            }
            TextCmd::Garbage { len, bytes } => {
                out.extend_from_slice(&bytes[..usize::from(len) % (bytes.len() + 1)]);
                out.extend_from_slice(eol);
            }
        }
    }
}

impl Meta {
    pub fn encode(&self, eol: &[u8], out: &mut Vec<u8>) {
        out.push(b'm');
        out.push(match self.cmd {
            MetaCmd::Get => b'g',
            MetaCmd::Set => b's',
            MetaCmd::Delete => b'd',
            MetaCmd::Arithmetic => b'a',
            MetaCmd::Debug => b'e',
            MetaCmd::Noop => b'n',
            MetaCmd::Other(c) => match c {
                b' ' | b'\r' | b'\n' => b'x',
                c => c,
            },
        });
        if self.cmd != MetaCmd::Noop {
            let mut raw = Vec::new();
            let b_flag = match self.key {
                MetaKey::Plain(k) => {
                    k.write(&mut raw);
                    false
                }
                MetaKey::Base64(k) => {
                    let mut bytes = Vec::new();
                    k.write(&mut bytes);
                    base64::encode(&bytes, &mut raw);
                    true
                }
                MetaKey::Binary(a, b, c) => {
                    base64::encode(&[a, b, c], &mut raw);
                    true
                }
                MetaKey::BadBase64(n) => {
                    const BAD: [&str; 6] = ["a", "====", "ab=c", "a!bc", "Zm9", "Zg==Zg=="];
                    raw.extend_from_slice(BAD[usize::from(n) % BAD.len()].as_bytes());
                    true
                }
                MetaKey::Missing => false,
            };
            let key_len = raw.len();
            if !raw.is_empty() {
                space(out);
                out.extend_from_slice(&raw);
            }
            if self.cmd == MetaCmd::Set {
                let mut data = Vec::new();
                self.value.write(key_len, 0, &mut data);
                space(out);
                announced(self.announce, data.len(), out);
                self.flags_line(b_flag, out);
                out.extend_from_slice(eol);
                out.extend_from_slice(&data);
                out.extend_from_slice(trailer(self.trailer));
                return;
            }
            self.flags_line(b_flag, out);
        } else {
            self.flags_line(false, out);
        }
        out.extend_from_slice(eol);
    }

    fn flags_line(&self, b_flag: bool, out: &mut Vec<u8>) {
        if b_flag {
            out.extend_from_slice(b" b");
        }
        for i in 0..usize::from(self.nflags % 24) {
            space(out);
            self.flags[i % self.flags.len()].write(out);
        }
    }
}

/// Encodes a text request sequence.
pub fn encode_text(requests: &[TextMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in requests {
        r.encode(&mut out);
    }
    out
}

// The inverse of `arbitrary`'s derive, for writing seed inputs (see `wire`).

impl Emit for TextTime {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 8;
        match *self {
            TextTime::Never => e.variant(0, N),
            TextTime::Seconds(n) => e.variant(1, N).u8(n),
            TextTime::Month => e.variant(2, N),
            TextTime::Past => e.variant(3, N),
            TextTime::Negative(n) => e.variant(4, N).u8(n),
            TextTime::Absolute(n) => e.variant(5, N).u8(n),
            TextTime::Raw(n) => e.variant(6, N).u32(n as u32),
            TextTime::Junk(n) => e.variant(7, N).u8(n),
        };
    }
}

impl Emit for Num {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 6;
        match *self {
            Num::Small(n) => e.variant(0, N).u8(n),
            Num::U32Edge(n) => e.variant(1, N).u8(n),
            Num::NearMax(n) => e.variant(2, N).u8(n),
            Num::Raw(n) => e.variant(3, N).u64(n),
            Num::Negative(n) => e.variant(4, N).u8(n),
            Num::Junk(n) => e.variant(5, N).u8(n),
        };
    }
}

impl Emit for DeleteForm {
    fn emit(&self, e: &mut Enc) {
        match *self {
            DeleteForm::Plain => e.variant(0, 3),
            DeleteForm::Zero => e.variant(1, 3),
            DeleteForm::Hold(n) => e.variant(2, 3).u8(n),
        };
    }
}

impl Emit for LongKind {
    fn emit(&self, e: &mut Enc) {
        match *self {
            LongKind::Plain => e.variant(0, 4),
            LongKind::Get => e.variant(1, 4),
            LongKind::MultiGet => e.variant(2, 4),
            LongKind::Spaces(n) => e.variant(3, 4).u8(n),
        };
    }
}

impl Emit for MetaCmd {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 7;
        match *self {
            MetaCmd::Get => e.variant(0, N),
            MetaCmd::Set => e.variant(1, N),
            MetaCmd::Delete => e.variant(2, N),
            MetaCmd::Arithmetic => e.variant(3, N),
            MetaCmd::Debug => e.variant(4, N),
            MetaCmd::Noop => e.variant(5, N),
            MetaCmd::Other(c) => e.variant(6, N).u8(c),
        };
    }
}

impl Emit for MetaKey {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 5;
        match *self {
            MetaKey::Plain(k) => {
                e.variant(0, N);
                k.emit(e);
            }
            MetaKey::Base64(k) => {
                e.variant(1, N);
                k.emit(e);
            }
            MetaKey::Binary(a, b, c) => {
                e.variant(2, N).u8(a).u8(b).u8(c);
            }
            MetaKey::BadBase64(n) => {
                e.variant(3, N).u8(n);
            }
            MetaKey::Missing => {
                e.variant(4, N);
            }
        }
    }
}

impl Emit for MetaFlag {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 23;
        match *self {
            MetaFlag::B => e.variant(0, N),
            MetaFlag::LowerC => e.variant(1, N),
            MetaFlag::LowerF => e.variant(2, N),
            MetaFlag::H => e.variant(3, N),
            MetaFlag::LowerK => e.variant(4, N),
            MetaFlag::LowerL => e.variant(5, N),
            MetaFlag::O(n) => e.variant(6, N).u8(n),
            MetaFlag::Q => e.variant(7, N),
            MetaFlag::LowerS => e.variant(8, N),
            MetaFlag::LowerT => e.variant(9, N),
            MetaFlag::T(t) => {
                e.variant(10, N);
                t.emit(e);
                e
            }
            MetaFlag::V => e.variant(11, N),
            MetaFlag::N(t) => {
                e.variant(12, N);
                t.emit(e);
                e
            }
            MetaFlag::I => e.variant(13, N),
            MetaFlag::E(n) => {
                e.variant(14, N);
                n.emit(e);
                e
            }
            MetaFlag::M(n) => e.variant(15, N).u8(n),
            MetaFlag::D(n) => {
                e.variant(16, N);
                n.emit(e);
                e
            }
            MetaFlag::J(n) => {
                e.variant(17, N);
                n.emit(e);
                e
            }
            MetaFlag::C(n) => {
                e.variant(18, N);
                n.emit(e);
                e
            }
            MetaFlag::U => e.variant(19, N),
            MetaFlag::R(t) => {
                e.variant(20, N);
                t.emit(e);
                e
            }
            MetaFlag::F(n) => {
                e.variant(21, N);
                n.emit(e);
                e
            }
            MetaFlag::Other(c, a) => e.variant(22, N).u8(c).u8(a),
        };
    }
}

impl Emit for Meta {
    fn emit(&self, e: &mut Enc) {
        self.cmd.emit(e);
        self.key.emit(e);
        for f in &self.flags {
            f.emit(e);
        }
        e.u8(self.nflags);
        self.value.emit(e);
        e.u8(self.announce as u8).u8(self.trailer);
    }
}

impl Emit for TextCmd {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 16;
        match *self {
            TextCmd::Get {
                op,
                exptime,
                keys,
                count,
            } => {
                e.variant(0, N).variant(op as u32, 4);
                exptime.emit(e);
                for k in keys {
                    k.emit(e);
                }
                e.u8(count);
            }
            TextCmd::Store {
                op,
                key,
                flags,
                exptime,
                cas,
                value,
                announce,
                trailer,
                noreply,
            } => {
                e.variant(1, N).variant(op as u32, 6);
                key.emit(e);
                flags.emit(e);
                exptime.emit(e);
                cas.emit(e);
                value.emit(e);
                e.u8(announce as u8).u8(trailer).bool(noreply);
            }
            TextCmd::Delete { key, form, noreply } => {
                e.variant(2, N);
                key.emit(e);
                form.emit(e);
                e.bool(noreply);
            }
            TextCmd::Counter {
                decr,
                key,
                delta,
                noreply,
            } => {
                e.variant(3, N).bool(decr);
                key.emit(e);
                delta.emit(e);
                e.bool(noreply);
            }
            TextCmd::Touch {
                key,
                exptime,
                noreply,
            } => {
                e.variant(4, N);
                key.emit(e);
                exptime.emit(e);
                e.bool(noreply);
            }
            TextCmd::FlushAll { delay, noreply } => {
                e.variant(5, N);
                match delay {
                    Some(d) => {
                        e.bool(true);
                        d.emit(e);
                    }
                    None => {
                        e.bool(false);
                    }
                }
                e.bool(noreply);
            }
            TextCmd::Version => {
                e.variant(6, N);
            }
            TextCmd::Verbosity { level, noreply } => {
                e.variant(7, N);
                match level {
                    Some(l) => {
                        e.bool(true);
                        l.emit(e);
                    }
                    None => {
                        e.bool(false);
                    }
                }
                e.bool(noreply);
            }
            TextCmd::Stats(group) => {
                e.variant(8, N);
                group.emit(e);
            }
            TextCmd::Quit => {
                e.variant(9, N);
            }
            TextCmd::Meta(m) => {
                e.variant(10, N);
                m.emit(e);
            }
            TextCmd::Empty => {
                e.variant(11, N);
            }
            TextCmd::LongLine { kind, len, fill } => {
                e.variant(12, N);
                kind.emit(e);
                e.u16(len).u8(fill);
            }
            TextCmd::Http => {
                e.variant(13, N);
            }
            TextCmd::Unknown(n) => {
                e.variant(14, N).u8(n);
            }
            TextCmd::Garbage { len, bytes } => {
                e.variant(15, N).u8(len).bytes(&bytes);
            }
        }
    }
}

impl Emit for TextMsg {
    fn emit(&self, e: &mut Enc) {
        self.cmd.emit(e);
        e.u8(self.eol);
    }
}
