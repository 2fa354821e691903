//! Parsing one text command line into a `TextRequest`, with memcached's token-count rules and
//! its exact error lines (`proto_text.c process_command_ascii`).

use super::admin::{self, AdminRequest};
use super::meta::{MAX_META_TOKENS, MetaFlags, parse_flags};
use super::numbers::{parse_i32, parse_u32, parse_u64};
use super::tokens::Tokens;
use crate::cache::RELATIVE_EXPTIME_MAX;
use crate::protocol::{CounterMode, MAX_KEY_LEN, StoreMode};

/// The line memcached answers a malformed command line with.
pub const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";

/// The largest data length memcached accepts on a command line (`INT_MAX - 2`: the length plus
/// its "\r\n" must fit an int). Anything longer is a malformed line, answered at once; shorter
/// ones over the item size limit are refused and their data swallowed.
pub const MAX_DATA_LEN: usize = i32::MAX as usize - 2;

/// A storage command's data length token, or `None` (memcached's bad command line format).
fn data_len(token: &[u8]) -> Option<usize> {
    parse_i32(token)
        .and_then(|l| usize::try_from(l).ok())
        .filter(|&l| l <= MAX_DATA_LEN)
}

/// A text exptime as the binary protocol's: memcached maps any negative value to an absolute time
/// long past (EXPTIME_TO_POSITIVE_TIME), so the item is dead at once.
pub fn text_exptime(t: i32) -> u32 {
    u32::try_from(t).unwrap_or(RELATIVE_EXPTIME_MAX + 1)
}

/// Which meta command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKind {
    /// `mg`.
    Get,
    /// `ms`.
    Set,
    /// `md`.
    Delete,
    /// `ma`.
    Arithmetic,
}

/// One parsed text command line. Keys and tokens borrow the line.
#[derive(Clone, Copy, Debug)]
pub enum TextRequest<'a> {
    /// get/gets/gat/gats: `tokens[first_key..]` then `rest` are the keys.
    Get {
        /// The line's tokens.
        tokens: Tokens<'a>,
        /// Index of the first key token.
        first_key: usize,
        /// `gets`/`gats`: answer with CAS values.
        cas: bool,
        /// `gat`/`gats`: the new expiry, an exptime (see [`crate::protocol::Command`]).
        touch: Option<u32>,
    },
    /// A storage command; `len` data bytes plus "\r\n" follow the line.
    Store {
        /// Which store (`set`, `add`, `replace`, `append`, `prepend`, `cas`).
        mode: StoreMode,
        /// The key (checked: at most 250 bytes).
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// The expiry, an exptime (see [`crate::protocol::Command`]).
        exptime: u32,
        /// Data bytes that follow the line (before their "\r\n").
        len: usize,
        /// `cas`: the CAS the item must have; 0 for the others.
        cas: u64,
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`.
    Delete {
        /// The key (checked: at most 250 bytes).
        key: &'a [u8],
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `incr`/`decr`.
    Arithmetic {
        /// Up or down.
        mode: CounterMode,
        /// The key (checked: at most 250 bytes).
        key: &'a [u8],
        /// The delta.
        delta: u64,
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `touch <key> <exptime>`.
    Touch {
        /// The key (checked: at most 250 bytes).
        key: &'a [u8],
        /// The expiry, an exptime (see [`crate::protocol::Command`]).
        exptime: u32,
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `delay` is `None` when it does not parse.
    FlushAll {
        /// Seconds from now until the flush takes effect.
        delay: Option<u32>,
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `verbosity <level>`.
    Verbosity {
        /// The level asked for.
        level: u32,
        /// `noreply`: send no answer.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// memcached's `refresh_certs`: reload the TLS certificate and key (answered even with
    /// `noreply`, as memcached does).
    RefreshCerts,
    /// `quit`.
    Quit,
    /// `stats [group]`.
    Stats {
        /// The line's tokens: `tokens.at(1)` names the group.
        tokens: Tokens<'a>,
    },
    /// A meta command: the key is `tokens.at(1)`, flags from `tokens[flags_from..]`.
    Meta {
        /// Which meta command.
        kind: MetaKind,
        /// The line's tokens.
        tokens: Tokens<'a>,
        /// Index of the first flag token.
        flags_from: usize,
        /// The flags, parsed.
        flags: MetaFlags,
        /// `ms` only: the data length.
        len: usize,
    },
    /// `mn`: the meta no-op.
    MetaNoop,
    /// `me <key> [b]`: the item's debug line.
    MetaDebug {
        /// The key, as sent.
        key: &'a [u8],
        /// `b`: the key is base64-encoded.
        base64: bool,
    },
    /// Answered with this line, unless `noreply` (memcached's out_string honours noreply even for
    /// errors of classic commands). `swallow` data bytes follow and are discarded.
    Reply {
        /// The line to answer (without "\r\n").
        line: &'static str,
        /// `noreply`: send no answer.
        noreply: bool,
        /// Data bytes to discard after the line.
        swallow: usize,
    },
    /// Close the connection without a reply (an HTTP request line).
    Close,
    /// An operator command (`shutdown`, `cache_memlimit`, `lru_crawler metadump`).
    Admin(AdminRequest),
}

fn reply<'a>(line: &'static str) -> TextRequest<'a> {
    TextRequest::Reply {
        line,
        noreply: false,
        swallow: 0,
    }
}

fn reply_noreply<'a>(line: &'static str, noreply: bool) -> TextRequest<'a> {
    TextRequest::Reply {
        line,
        noreply,
        swallow: 0,
    }
}

/// Parses a command line (without its "\r\n").
pub fn parse_line(line: &[u8]) -> TextRequest<'_> {
    let t = Tokens::split(line);
    let ntokens = t.ntokens();
    let cmd = t.at(0);
    if ntokens < 2 || cmd.len() < 2 {
        return reply("ERROR");
    }
    // memcached's set_noreply_maybe: the last token.
    let noreply = t.as_slice().last().is_some_and(|l| *l == b"noreply");
    let want = |ok: bool| if ok { None } else { Some(reply("ERROR")) };
    if cmd.len() == 2 && cmd[0] == b'm' {
        return parse_meta(cmd[1], t);
    }
    let wrong_count = match cmd {
        b"get" | b"gets" | b"gat" | b"gats" | b"bget" => want(ntokens >= 3),
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => want(ntokens == 6 || ntokens == 7),
        b"cas" => want(ntokens == 7 || ntokens == 8),
        b"incr" | b"decr" | b"touch" => want(ntokens == 4 || ntokens == 5),
        b"delete" => want((3..=5).contains(&ntokens)),
        b"flush_all" => want((2..=4).contains(&ntokens)),
        b"verbosity" => want(ntokens == 3 || ntokens == 4),
        _ => None,
    };
    if let Some(error) = wrong_count {
        return error;
    }
    match cmd {
        b"get" | b"bget" => get(t, false, false),
        b"gets" => get(t, true, false),
        b"gat" => get(t, false, true),
        b"gats" => get(t, true, true),
        b"set" => store(t, StoreMode::Set, false, noreply),
        b"add" => store(t, StoreMode::Add, false, noreply),
        b"replace" => store(t, StoreMode::Replace, false, noreply),
        b"append" => store(t, StoreMode::Append, false, noreply),
        b"prepend" => store(t, StoreMode::Prepend, false, noreply),
        b"cas" => store(t, StoreMode::Cas, true, noreply),
        b"incr" | b"decr" => {
            let mode = if cmd == b"incr" {
                CounterMode::Incr
            } else {
                CounterMode::Decr
            };
            let key = t.at(1);
            if key.len() > MAX_KEY_LEN {
                return reply_noreply(BAD_FORMAT, noreply);
            }
            match parse_u64(t.at(2)) {
                Some(delta) => TextRequest::Arithmetic {
                    mode,
                    key,
                    delta,
                    noreply,
                },
                None => reply_noreply("CLIENT_ERROR invalid numeric delta argument", noreply),
            }
        }
        b"touch" => {
            let key = t.at(1);
            if key.len() > MAX_KEY_LEN {
                return reply_noreply(BAD_FORMAT, noreply);
            }
            match parse_i32(t.at(2)) {
                Some(e) => TextRequest::Touch {
                    key,
                    exptime: text_exptime(e),
                    noreply,
                },
                None => reply_noreply("CLIENT_ERROR invalid exptime argument", noreply),
            }
        }
        b"delete" => {
            if ntokens > 3 {
                let hold_is_zero = t.at(2) == b"0";
                let valid = (ntokens == 4 && (hold_is_zero || noreply))
                    || (ntokens == 5 && hold_is_zero && noreply);
                if !valid {
                    return reply_noreply(
                        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
                        noreply,
                    );
                }
            }
            let key = t.at(1);
            if key.len() > MAX_KEY_LEN {
                return reply_noreply(BAD_FORMAT, noreply);
            }
            TextRequest::Delete { key, noreply }
        }
        b"flush_all" => {
            // A delay that does not parse still reaches the cache, which counts the command.
            let delay = if ntokens == if noreply { 3 } else { 2 } {
                Some(0)
            } else {
                parse_i32(t.at(1)).map(|d| u32::try_from(d).unwrap_or(0))
            };
            TextRequest::FlushAll { delay, noreply }
        }
        b"verbosity" => match parse_u32(t.at(1)) {
            Some(level) => TextRequest::Verbosity { level, noreply },
            None => reply_noreply(BAD_FORMAT, noreply),
        },
        b"version" => TextRequest::Version,
        b"refresh_certs" => TextRequest::RefreshCerts,
        b"quit" => TextRequest::Quit,
        b"stats" => TextRequest::Stats { tokens: t },
        b"shutdown" => TextRequest::Admin(admin::shutdown(&t)),
        b"cache_memlimit" => {
            admin::memlimit(&t, noreply).map_or(reply("ERROR"), TextRequest::Admin)
        }
        b"lru_crawler" => admin::lru_crawler(&t).map_or(reply("ERROR"), TextRequest::Admin),
        _ if t.as_slice().last().is_some_and(|l| l.starts_with(b"HTTP/")) => TextRequest::Close,
        _ => reply("ERROR"),
    }
}

fn get(t: Tokens<'_>, cas: bool, touch: bool) -> TextRequest<'_> {
    let mut first_key = 1;
    let mut exptime = None;
    if touch {
        match parse_i32(t.at(1)) {
            Some(e) => exptime = Some(text_exptime(e)),
            None => return reply("CLIENT_ERROR invalid exptime argument"),
        }
        first_key = 2;
    }
    let mut keys = t.as_slice()[first_key..]
        .iter()
        .copied()
        .chain(super::tokens::words(t.rest()));
    if keys.any(|key| key.len() > MAX_KEY_LEN) {
        return reply(BAD_FORMAT);
    }
    TextRequest::Get {
        tokens: t,
        first_key,
        cas,
        touch: exptime,
    }
}

fn store(t: Tokens<'_>, mode: StoreMode, with_cas: bool, noreply: bool) -> TextRequest<'_> {
    let key = t.at(1);
    if key.len() > MAX_KEY_LEN {
        return reply_noreply(BAD_FORMAT, noreply);
    }
    let (Some(flags), Some(exptime), Some(len)) =
        (parse_u32(t.at(2)), parse_i32(t.at(3)), data_len(t.at(4)))
    else {
        return reply_noreply(BAD_FORMAT, noreply);
    };
    let cas = if with_cas {
        match parse_u64(t.at(5)) {
            Some(c) => c,
            None => return reply_noreply(BAD_FORMAT, noreply),
        }
    } else {
        0
    };
    TextRequest::Store {
        mode,
        key,
        flags,
        exptime: text_exptime(exptime),
        len,
        cas,
        noreply,
    }
}

fn parse_meta(which: u8, t: Tokens<'_>) -> TextRequest<'_> {
    let kind = match which {
        b'g' => MetaKind::Get,
        b's' => MetaKind::Set,
        b'd' => MetaKind::Delete,
        b'a' => MetaKind::Arithmetic,
        b'n' => return TextRequest::MetaNoop,
        b'e' => {
            let key = t.at(1);
            if t.ntokens() < 3 || key.len() > MAX_KEY_LEN {
                return reply(BAD_FORMAT);
            }
            return TextRequest::MetaDebug {
                key,
                base64: t.ntokens() >= 4 && t.at(2) == b"b",
            };
        }
        _ => return reply("ERROR"),
    };
    let ntokens = t.ntokens();
    if ntokens < 3 {
        return reply("ERROR");
    }
    if t.at(1).len() > MAX_KEY_LEN {
        return reply(BAD_FORMAT);
    }
    let mut flags_from = 2;
    let mut len = 0;
    if kind == MetaKind::Set {
        if ntokens == 3 {
            return reply(BAD_FORMAT);
        }
        if ntokens > MAX_META_TOKENS {
            return reply("CLIENT_ERROR options flags too long");
        }
        match data_len(t.at(2)) {
            Some(l) => len = l,
            None => return reply(BAD_FORMAT),
        }
        flags_from = 3;
    } else if ntokens > MAX_META_TOKENS {
        return reply(match kind {
            MetaKind::Get => "CLIENT_ERROR options flags are too long",
            _ => "CLIENT_ERROR options flags too long",
        });
    }
    match parse_flags(&t.as_slice()[flags_from..]) {
        Ok(flags) => TextRequest::Meta {
            kind,
            tokens: t,
            flags_from,
            flags,
            len,
        },
        Err(line) => {
            // md and ma report any flag error the same way; ms swallows its data block.
            let line = match kind {
                MetaKind::Delete | MetaKind::Arithmetic => "CLIENT_ERROR invalid or duplicate flag",
                _ => line,
            };
            TextRequest::Reply {
                line,
                noreply: false,
                swallow: if kind == MetaKind::Set { len + 2 } else { 0 },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(r: TextRequest<'_>) -> Option<&'static str> {
        match r {
            TextRequest::Reply { line, .. } => Some(line),
            _ => None,
        }
    }

    #[test]
    fn token_counts_and_errors() {
        assert_eq!(line_of(parse_line(b"")), Some("ERROR"));
        assert_eq!(line_of(parse_line(b"bogus")), Some("ERROR"));
        assert_eq!(line_of(parse_line(b"set a 0 0")), Some("ERROR"));
        assert_eq!(line_of(parse_line(b"set a 0 0 -1")), Some(BAD_FORMAT));
        // memcached's INT_MAX - 2 bound: longer is a malformed line, not a too-large value.
        assert_eq!(
            line_of(parse_line(b"set a 0 0 2147483647")),
            Some(BAD_FORMAT)
        );
        assert_eq!(
            line_of(parse_line(b"set a 0 0 2147483646")),
            Some(BAD_FORMAT)
        );
        assert!(matches!(
            parse_line(b"set a 0 0 2147483645"),
            TextRequest::Store {
                len: MAX_DATA_LEN,
                ..
            }
        ));
        assert_eq!(line_of(parse_line(b"ms a 2147483646 T0")), Some(BAD_FORMAT));
        assert_eq!(
            line_of(parse_line(b"cas a 0 0 2147483647 1")),
            Some(BAD_FORMAT)
        );
        assert_eq!(
            line_of(parse_line(b"incr a x")),
            Some("CLIENT_ERROR invalid numeric delta argument")
        );
        assert_eq!(
            line_of(parse_line(b"delete a 5")),
            Some("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
        );
        assert!(matches!(
            parse_line(b"flush_all abc"),
            TextRequest::FlushAll {
                delay: None,
                noreply: false
            }
        ));
        assert_eq!(
            line_of(parse_line(b"gat x k")),
            Some("CLIENT_ERROR invalid exptime argument")
        );
        assert_eq!(line_of(parse_line(b"gat")), Some("ERROR"));
        assert!(matches!(parse_line(b"GET / HTTP/1.1"), TextRequest::Close));
        let long = format!("get {}", "k".repeat(251));
        assert_eq!(line_of(parse_line(long.as_bytes())), Some(BAD_FORMAT));
    }

    #[test]
    fn storage_lines() {
        match parse_line(b"cas k 5 -1 10 77 noreply") {
            TextRequest::Store {
                mode,
                key,
                flags,
                exptime,
                len,
                cas,
                noreply,
            } => {
                assert_eq!(
                    (mode, key, flags, len, cas, noreply),
                    (StoreMode::Cas, &b"k"[..], 5, 10, 77, true)
                );
                assert_eq!(exptime, RELATIVE_EXPTIME_MAX + 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line(b"delete k 0 noreply"),
            TextRequest::Delete { noreply: true, .. }
        ));
        assert!(matches!(
            parse_line(b"flush_all -1"),
            TextRequest::FlushAll {
                delay: Some(0),
                noreply: false
            }
        ));
        assert!(matches!(
            parse_line(b"flush_all 10 noreply"),
            TextRequest::FlushAll {
                delay: Some(10),
                noreply: true
            }
        ));
    }

    #[test]
    fn meta_lines() {
        match parse_line(b"ms foo 3 T0 F5 c k") {
            TextRequest::Meta {
                kind,
                flags_from,
                len,
                flags,
                tokens,
            } => {
                assert_eq!(
                    (kind, flags_from, len, flags.client_flags),
                    (MetaKind::Set, 3, 3, 5)
                );
                assert_eq!(tokens.at(1), b"foo");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(line_of(parse_line(b"ms foo S3")), Some(BAD_FORMAT));
        match parse_line(b"ms foo 3 v v") {
            TextRequest::Reply { line, swallow, .. } => {
                assert_eq!((line, swallow), ("CLIENT_ERROR duplicate flag", 5));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            line_of(parse_line(b"md k v v")),
            Some("CLIENT_ERROR invalid or duplicate flag")
        );
        assert!(matches!(parse_line(b"mn"), TextRequest::MetaNoop));
        assert_eq!(line_of(parse_line(b"mx k")), Some("ERROR"));
    }
}
