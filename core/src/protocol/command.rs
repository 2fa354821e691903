//! Typed commands: what a validated frame asks for, independent of how it was framed, so the cache
//! behind it serves the text protocol the same way later.

use super::frame::Frame;
use super::opcode::Opcode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only over a live item whose CAS equals the request's, even a CAS of 0 (which never
    /// matches): the text `cas` command. The binary protocol says this with any store whose CAS
    /// is nonzero.
    Cas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterMode {
    Incr,
    Decr,
}

/// A request the server understands. `quiet` means success is not answered; `with_key` means a
/// hit (and a GETK miss) carries the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Get {
        key: &'a [u8],
        quiet: bool,
        with_key: bool,
    },
    GetAndTouch {
        key: &'a [u8],
        exptime: u32,
        quiet: bool,
        with_key: bool,
    },
    Touch {
        key: &'a [u8],
        exptime: u32,
    },
    /// SET/ADD/REPLACE carry flags and exptime; APPEND/PREPEND have neither and keep the item's.
    Store {
        mode: StoreMode,
        key: &'a [u8],
        flags: u32,
        exptime: u32,
        cas: u64,
        value: &'a [u8],
        quiet: bool,
    },
    Delete {
        key: &'a [u8],
        cas: u64,
        quiet: bool,
    },
    Counter {
        mode: CounterMode,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        exptime: u32,
        cas: u64,
        quiet: bool,
    },
    /// `delay` is `None` when a text `flush_all` gave one that does not parse: memcached still
    /// counts the command, then refuses it.
    Flush {
        delay: Option<u32>,
        quiet: bool,
    },
    Noop,
    Version,
    Quit {
        quiet: bool,
    },
    Stat {
        group: &'a [u8],
    },
    Verbosity {
        level: u32,
    },
    /// SASL LIST_MECHS.
    SaslListMechs,
    /// SASL AUTH (`step` false) or STEP: a mechanism name and its data.
    SaslAuth {
        mechanism: &'a [u8],
        data: &'a [u8],
        step: bool,
    },
    /// `mg`: a lookup that may touch (`ttl`), create on miss (`vivify`), hand out a recache token
    /// (`recache`), or leave the item's fetched/LRU state alone (`no_update`).
    MetaGet {
        key: &'a [u8],
        ttl: Option<u32>,
        vivify: Option<u32>,
        recache: Option<u32>,
        no_update: bool,
    },
    /// `me`: the item's state for debugging, read without touching it (no fetched mark, no
    /// recache token, no statistics).
    MetaDebug {
        key: &'a [u8],
    },
    /// `ms`: a store with a compare CAS (`C`), an explicit new CAS (`E`), and invalidation (`I`:
    /// a CAS older than the item's still stores, marked stale).
    MetaStore {
        mode: StoreMode,
        key: &'a [u8],
        flags: u32,
        exptime: u32,
        compare_cas: Option<u64>,
        new_cas: Option<u64>,
        invalidate: bool,
        /// The key came base64-encoded (`b`): remember it, so replies show it that way.
        binary_key: bool,
        value: &'a [u8],
    },
    /// `md`: delete, or with `invalidate` mark stale (new CAS, optional new TTL).
    MetaDelete {
        key: &'a [u8],
        compare_cas: Option<u64>,
        invalidate: bool,
        ttl: Option<u32>,
    },
    /// `ma`: incr/decr that may create the item (`vivify`) with `initial`.
    MetaArithmetic {
        mode: CounterMode,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        vivify: Option<u32>,
        compare_cas: Option<u64>,
        new_cas: Option<u64>,
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
