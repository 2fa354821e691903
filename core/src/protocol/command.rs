//! Typed commands: what a validated frame asks for, independent of how it was framed, so the cache
//! behind it serves the text protocol the same way later.

use super::frame::Frame;
use super::opcode::Opcode;

/// How a store treats an existing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only when the key holds no live item.
    Add,
    /// Store only over a live item.
    Replace,
    /// Add the data after a live item's value (flags and expiry stay).
    Append,
    /// Add the data before a live item's value (flags and expiry stay).
    Prepend,
    /// Store only over a live item whose CAS equals the request's, even a CAS of 0 (which never
    /// matches): the text `cas` command. The binary protocol says this with any store whose CAS
    /// is nonzero.
    Cas,
}

/// Which way a counter moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterMode {
    /// Add the delta, wrapping at 2^64 as memcached does.
    Incr,
    /// Subtract the delta, stopping at 0.
    Decr,
}

/// A request the server understands. `quiet` means success is not answered; `with_key` means a
/// hit (and a GETK miss) carries the key.
///
/// An exptime is memcached's: 0 never expires, up to 30 days (2,592,000) it counts seconds from
/// now, above that it is an absolute Unix time in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// GET, GETQ, GETK, GETKQ (and the text `get`/`gets`).
    Get {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// A miss is not answered.
        quiet: bool,
        /// Echo the key with the value.
        with_key: bool,
    },
    /// GAT and friends: a get that also sets a new expiry.
    GetAndTouch {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// The new expiry, an exptime (see [`Command`]).
        exptime: u32,
        /// A miss is not answered.
        quiet: bool,
        /// Echo the key with the value.
        with_key: bool,
    },
    /// TOUCH: set a new expiry without reading the value.
    Touch {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// The new expiry, an exptime (see [`Command`]).
        exptime: u32,
    },
    /// SET/ADD/REPLACE carry flags and exptime; APPEND/PREPEND have neither and keep the item's.
    Store {
        /// Which store.
        mode: StoreMode,
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// Opaque client flags, stored and returned with the value.
        flags: u32,
        /// The expiry, an exptime (see [`Command`]).
        exptime: u32,
        /// The CAS the item must still have, or 0 for no check (`StoreMode::Cas` compares even 0).
        cas: u64,
        /// The value, at most the cache's item size limit.
        value: &'a [u8],
        /// Answer only failures (a quiet opcode: success is not answered).
        quiet: bool,
    },
    /// DELETE / DELETEQ.
    Delete {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// The CAS the item must still have, or 0 for no check.
        cas: u64,
        /// Answer only failures (a quiet opcode: success is not answered).
        quiet: bool,
    },
    /// INCREMENT / DECREMENT of a decimal counter value.
    Counter {
        /// Up or down.
        mode: CounterMode,
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// How much to move the counter.
        delta: u64,
        /// The value a missing item is created with (binary protocol only).
        initial: u64,
        /// The new item's expiry when created; `u32::MAX` means a missing item is not created (the
        /// binary protocol's rule); an exptime (see [`Command`]).
        exptime: u32,
        /// The CAS the item must still have, or 0 for no check.
        cas: u64,
        /// Answer only failures (a quiet opcode: success is not answered).
        quiet: bool,
    },
    /// `delay` is `None` when a text `flush_all` gave one that does not parse: memcached still
    /// counts the command, then refuses it.
    Flush {
        /// Seconds from now until the flush takes effect (0: at once).
        delay: Option<u32>,
        /// Answer only failures (a quiet opcode: success is not answered).
        quiet: bool,
    },
    /// NOOP: answered with an empty success; ends a run of quiet commands.
    Noop,
    /// VERSION.
    Version,
    /// QUIT: close after the answer.
    Quit {
        /// Close without answering (QUITQ).
        quiet: bool,
    },
    /// STAT: statistics lines, then an empty terminating packet.
    Stat {
        /// The statistics group asked for; empty for the general ones.
        group: &'a [u8],
    },
    /// VERBOSITY.
    Verbosity {
        /// The verbosity level asked for.
        level: u32,
    },
    /// SASL LIST_MECHS.
    SaslListMechs,
    /// SASL AUTH (`step` false) or STEP: a mechanism name and its data.
    SaslAuth {
        /// The SASL mechanism name, e.g. `PLAIN`.
        mechanism: &'a [u8],
        /// The mechanism's data (for PLAIN: `authzid\0user\0password`).
        data: &'a [u8],
        /// SASL STEP rather than AUTH.
        step: bool,
    },
    /// `mg`: a lookup that may touch (`ttl`), create on miss (`vivify`), hand out a recache token
    /// (`recache`), or leave the item's fetched/LRU state alone (`no_update`).
    MetaGet {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// `T`: a new expiry to set, an exptime (see [`Command`]).
        ttl: Option<u32>,
        /// `N`: on a miss, create an empty item with this expiry.
        vivify: Option<u32>,
        /// `R`: hand out a recache token when the remaining TTL is below this many seconds.
        recache: Option<u32>,
        /// `u`: do not mark the item fetched or bump it.
        no_update: bool,
    },
    /// `me`: the item's state for debugging, read without touching it (no fetched mark, no
    /// recache token, no statistics).
    MetaDebug {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
    },
    /// `ms`: a store with a compare CAS (`C`), an explicit new CAS (`E`), and invalidation (`I`:
    /// a CAS older than the item's still stores, marked stale).
    MetaStore {
        /// Which store (`M` flag; `ms` defaults to set).
        mode: StoreMode,
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// `F`: the client flags to store.
        flags: u32,
        /// `T`: the expiry, an exptime (see [`Command`]).
        exptime: u32,
        /// `C`: store only if the item's CAS equals this.
        compare_cas: Option<u64>,
        /// `E`: give the stored item this CAS instead of a new one.
        new_cas: Option<u64>,
        /// `I`: invalidate mode (see above).
        invalidate: bool,
        /// The key came base64-encoded (`b`): remember it, so replies show it that way.
        binary_key: bool,
        /// The value.
        value: &'a [u8],
    },
    /// `md`: delete, or with `invalidate` mark stale (new CAS, optional new TTL).
    MetaDelete {
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// `C`: delete only if the item's CAS equals this.
        compare_cas: Option<u64>,
        /// `I`: mark stale instead of deleting.
        invalidate: bool,
        /// `T`: with `invalidate`, the stale item's new expiry.
        ttl: Option<u32>,
    },
    /// `ma`: incr/decr that may create the item (`vivify`) with `initial`.
    MetaArithmetic {
        /// Up or down (`M` flag).
        mode: CounterMode,
        /// The key: 1 to 250 bytes, no spaces or control bytes in the text protocol.
        key: &'a [u8],
        /// `D`: the delta (default 1).
        delta: u64,
        /// `J`: the value a vivified item starts at (default 0).
        initial: u64,
        /// `N`: on a miss, create the counter with this expiry.
        vivify: Option<u32>,
        /// `C`: apply only if the item's CAS equals this.
        compare_cas: Option<u64>,
        /// `E`: give the item this CAS instead of a new one.
        new_cas: Option<u64>,
        /// `T`: a new expiry for the item.
        ttl: Option<u32>,
    },
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl<'a> Command<'a> {
    /// A plain GET of `key`, as an embedder, a tool or a benchmark builds one by hand.
    pub fn get(key: &'a [u8]) -> Command<'a> {
        Command::Get {
            key,
            quiet: false,
            with_key: false,
        }
    }

    /// A plain SET of `key` to `value`: no flags, no expiry, no CAS.
    pub fn set(key: &'a [u8], value: &'a [u8]) -> Command<'a> {
        Command::Store {
            mode: StoreMode::Set,
            key,
            flags: 0,
            exptime: 0,
            cas: 0,
            value,
            quiet: false,
        }
    }

    /// The command a frame carries. The frame must have passed `classify`, which guarantees the
    /// extras lengths read here; `None` for opcodes keel does not serve.
    pub fn from_frame(frame: &Frame<'a>) -> Option<Command<'a>> {
        let h = &frame.header;
        let (key, ext, value, cas) = (frame.key, frame.extras, frame.value, h.cas);
        let op = Opcode(h.opcode);
        // GETs are most requests: answered before the general match, whose many-variant
        // construction costs every arm more than this one needs.
        let get = match op {
            Opcode::GET => Some((false, false)),
            Opcode::GETQ => Some((true, false)),
            Opcode::GETK => Some((false, true)),
            Opcode::GETKQ => Some((true, true)),
            _ => None,
        };
        if let Some((quiet, with_key)) = get {
            return Some(Command::Get {
                key,
                quiet,
                with_key,
            });
        }
        let store = |mode, quiet| {
            let (flags, exptime) = if ext.len() == 8 {
                (be_u32(ext, 0), be_u32(ext, 4))
            } else {
                (0, 0)
            };
            Command::Store {
                mode,
                key,
                flags,
                exptime,
                cas,
                value,
                quiet,
            }
        };
        let counter = |mode, quiet| Command::Counter {
            mode,
            key,
            delta: be_u64(ext, 0),
            initial: be_u64(ext, 8),
            exptime: be_u32(ext, 16),
            cas,
            quiet,
        };
        let gat = |quiet, with_key| Command::GetAndTouch {
            key,
            exptime: be_u32(ext, 0),
            quiet,
            with_key,
        };
        Some(match op {
            Opcode::GAT => gat(false, false),
            Opcode::GATQ => gat(true, false),
            Opcode::GATK => gat(false, true),
            Opcode::GATKQ => gat(true, true),
            Opcode::TOUCH => Command::Touch {
                key,
                exptime: be_u32(ext, 0),
            },
            Opcode::SET => store(StoreMode::Set, false),
            Opcode::SETQ => store(StoreMode::Set, true),
            Opcode::ADD => store(StoreMode::Add, false),
            Opcode::ADDQ => store(StoreMode::Add, true),
            Opcode::REPLACE => store(StoreMode::Replace, false),
            Opcode::REPLACEQ => store(StoreMode::Replace, true),
            Opcode::APPEND => store(StoreMode::Append, false),
            Opcode::APPENDQ => store(StoreMode::Append, true),
            Opcode::PREPEND => store(StoreMode::Prepend, false),
            Opcode::PREPENDQ => store(StoreMode::Prepend, true),
            Opcode::DELETE | Opcode::DELETEQ => Command::Delete {
                key,
                cas,
                quiet: op == Opcode::DELETEQ,
            },
            Opcode::INCREMENT => counter(CounterMode::Incr, false),
            Opcode::INCREMENTQ => counter(CounterMode::Incr, true),
            Opcode::DECREMENT => counter(CounterMode::Decr, false),
            Opcode::DECREMENTQ => counter(CounterMode::Decr, true),
            Opcode::FLUSH | Opcode::FLUSHQ => Command::Flush {
                delay: Some(if ext.len() == 4 { be_u32(ext, 0) } else { 0 }),
                quiet: op == Opcode::FLUSHQ,
            },
            Opcode::NOOP => Command::Noop,
            Opcode::VERSION => Command::Version,
            Opcode::QUIT | Opcode::QUITQ => Command::Quit {
                quiet: op == Opcode::QUITQ,
            },
            Opcode::STAT => Command::Stat { group: key },
            Opcode::VERBOSITY => Command::Verbosity {
                level: be_u32(ext, 0),
            },
            Opcode::SASL_LIST_MECHS => Command::SaslListMechs,
            Opcode::SASL_AUTH | Opcode::SASL_STEP => Command::SaslAuth {
                mechanism: key,
                data: value,
                step: op == Opcode::SASL_STEP,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Header, REQUEST_MAGIC};

    fn frame<'a>(
        op: Opcode,
        cas: u64,
        extras: &'a [u8],
        key: &'a [u8],
        value: &'a [u8],
    ) -> Frame<'a> {
        Frame {
            header: Header {
                magic: REQUEST_MAGIC,
                opcode: op.0,
                cas,
                ..Header::default()
            },
            extras,
            key,
            value,
        }
    }

    #[test]
    fn store_extras_are_big_endian_flags_then_exptime() {
        let ext = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0x0e, 0x10];
        let cmd = Command::from_frame(&frame(Opcode::ADDQ, 7, &ext, b"k", b"v"));
        assert_eq!(
            cmd,
            Some(Command::Store {
                mode: StoreMode::Add,
                key: b"k",
                flags: 0xdeadbeef,
                exptime: 3600,
                cas: 7,
                value: b"v",
                quiet: true
            })
        );
    }

    #[test]
    fn counter_extras() {
        let mut ext = Vec::new();
        ext.extend_from_slice(&5u64.to_be_bytes());
        ext.extend_from_slice(&10u64.to_be_bytes());
        ext.extend_from_slice(&u32::MAX.to_be_bytes());
        let cmd = Command::from_frame(&frame(Opcode::DECREMENT, 0, &ext, b"n", b""));
        assert_eq!(
            cmd,
            Some(Command::Counter {
                mode: CounterMode::Decr,
                key: b"n",
                delta: 5,
                initial: 10,
                exptime: u32::MAX,
                cas: 0,
                quiet: false
            })
        );
    }

    #[test]
    fn quiet_and_key_variants() {
        let ext = 9u32.to_be_bytes();
        assert_eq!(
            Command::from_frame(&frame(Opcode::GATKQ, 0, &ext, b"k", b"")),
            Some(Command::GetAndTouch {
                key: b"k",
                exptime: 9,
                quiet: true,
                with_key: true
            })
        );
        assert_eq!(
            Command::from_frame(&frame(Opcode::FLUSHQ, 0, &ext, b"", b"")),
            Some(Command::Flush {
                delay: Some(9),
                quiet: true
            })
        );
        assert_eq!(
            Command::from_frame(&frame(Opcode::FLUSH, 0, b"", b"", b"")),
            Some(Command::Flush {
                delay: Some(0),
                quiet: false
            })
        );
        assert_eq!(
            Command::from_frame(&frame(Opcode::APPEND, 3, b"", b"k", b"x")),
            Some(Command::Store {
                mode: StoreMode::Append,
                key: b"k",
                flags: 0,
                exptime: 0,
                cas: 3,
                value: b"x",
                quiet: false
            })
        );
        assert_eq!(
            Command::from_frame(&frame(Opcode(0x40), 0, b"", b"", b"")),
            None
        );
    }
}
