//! The `text` target: arbitrary bytes into the text protocol's `parse_line`, and into a server that
//! speaks only text (`ProtocolMode::Ascii`), fed in one piece and byte by byte.
//!
//! Invariants:
//! - `parse_line` never panics, on the whole input and on each of its lines (split at "\n", with
//!   a "\r" before it stripped as the connection does);
//! - what it returns agrees with the line: the command token names it, every key (each key of a
//!   multi-get, past the 23rd token too) is 1..=250 bytes without spaces, a storage command's
//!   data length is what the line says and fits an `i32`, a CAS is only parsed for `cas`, meta
//!   commands have at most 20 tokens and flags that `parse_flags` gives again, `noreply` is only
//!   set by a last token "noreply", error replies are one line of an error kind, data is only
//!   swallowed after `ms`;
//! - spaces before and after the line do not change the parse;
//! - the server's output (with the traffic statistics blanked) and its close reason are the same
//!   whether the bytes arrive in one piece or one at a time, EOF closes the connection, and the
//!   pending output stays within the limit plus one response (as in `connection`).

use keel_core::protocol::text::{
    AdminRequest, MetaKind, TextRequest, Tokens, parse_flags, parse_i32, parse_line, parse_u32,
    words,
};
use keel_core::protocol::{MAX_KEY_LEN, StoreMode};
use keel_core::{Config, ProtocolMode, Timestamp};

use crate::connection::{Peer, max_words_per_line, normalize, server_with};
use crate::request::START_SECS;

/// memcached's limit on a meta command's tokens, the terminal one included (MFLAG_MAX_OPT_LENGTH).
const MAX_META_TOKENS: usize = 20;
/// The servers' output bound: small, so backpressure holds requests back.
const OUTPUT_LIMIT: usize = 256;
/// Bytes per `consume_outbound` on the byte-by-byte side.
const WRITE: usize = 7;

/// Runs the `text` target on one input.
pub fn text(data: &[u8]) {
    check_line(data);
    for line in data.split(|&b| b == b'\n') {
        // The connection strips a "\r" before the "\n" only when something precedes it.
        let line = match line {
            [rest @ .., b'\r'] if !rest.is_empty() => rest,
            _ => line,
        };
        check_line(line);
    }
    check_server(data);
}

fn check_key(what: &str, key: &[u8]) {
    assert!(!key.is_empty(), "{what}: empty key");
    assert!(
        key.len() <= MAX_KEY_LEN,
        "{what}: key of {} bytes accepted",
        key.len()
    );
    assert!(!key.contains(&b' '), "{what}: key with a space");
}

/// The parse as plain data, independent of what the tokens borrow.
fn describe(r: &TextRequest<'_>) -> String {
    match *r {
        TextRequest::Get {
            tokens,
            first_key,
            cas,
            touch,
        } => {
            let keys: Vec<&[u8]> = tokens.as_slice()[first_key..]
                .iter()
                .copied()
                .chain(words(tokens.rest()))
                .collect();
            format!(
                "Get {:?} {keys:?} {first_key} {cas} {touch:?}",
                tokens.at(0)
            )
        }
        TextRequest::Stats { tokens } => format!("Stats {:?}", tokens.as_slice()),
        TextRequest::Meta {
            kind,
            tokens,
            flags_from,
            flags,
            len,
        } => format!(
            "Meta {kind:?} {:?} {:?} {flags_from} {flags:?} {len}",
            tokens.as_slice(),
            tokens.rest()
        ),
        ref other => format!("{other:?}"),
    }
}

/// Checks `parse_line(line)` against the line.
fn check_line(line: &[u8]) {
    let request = parse_line(line);
    let t = Tokens::split(line);
    let cmd = t.at(0);
    let last = t.as_slice().last().copied().unwrap_or(&[]);
    let mut padded = Vec::with_capacity(line.len() + 4);
    padded.extend_from_slice(b"  ");
    padded.extend_from_slice(line);
    padded.extend_from_slice(b"  ");
    assert_eq!(
        describe(&parse_line(&padded)),
        describe(&request),
        "spaces around the line change the parse"
    );
    match request {
        TextRequest::Get {
            tokens,
            first_key,
            cas,
            touch,
        } => {
            let (want_cas, want_touch) = match cmd {
                b"get" | b"bget" => (false, false),
                b"gets" => (true, false),
                b"gat" => (false, true),
                b"gats" => (true, true),
                other => panic!("Get from {other:?}"),
            };
            assert_eq!((cas, touch.is_some()), (want_cas, want_touch), "{cmd:?}");
            assert_eq!(first_key, if want_touch { 2 } else { 1 });
            let mut n = 0;
            for key in tokens.as_slice()[first_key..]
                .iter()
                .copied()
                .chain(words(tokens.rest()))
            {
                check_key("get", key);
                n += 1;
            }
            assert!(want_touch || n > 0, "a get without keys");
        }
        TextRequest::Store {
            mode,
            key,
            flags,
            len,
            cas,
            noreply,
            ..
        } => {
            let want = match cmd {
                b"set" => StoreMode::Set,
                b"add" => StoreMode::Add,
                b"replace" => StoreMode::Replace,
                b"append" => StoreMode::Append,
                b"prepend" => StoreMode::Prepend,
                b"cas" => StoreMode::Cas,
                other => panic!("Store from {other:?}"),
            };
            assert_eq!(mode, want);
            check_key("store", key);
            assert_eq!(key, t.at(1));
            assert_eq!(Some(flags), parse_u32(t.at(2)), "flags");
            assert!(len <= i32::MAX as usize, "data length {len}");
            assert_eq!(Some(len as i32), parse_i32(t.at(4)), "data length");
            assert!(len.checked_add(line.len() + 4).is_some());
            assert!(mode == StoreMode::Cas || cas == 0, "a CAS for {mode:?}");
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::Delete { key, noreply } => {
            assert_eq!(cmd, b"delete");
            check_key("delete", key);
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::Arithmetic { key, noreply, .. } => {
            assert!(cmd == b"incr" || cmd == b"decr", "Arithmetic from {cmd:?}");
            check_key("incr/decr", key);
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::Touch { key, noreply, .. } => {
            assert_eq!(cmd, b"touch");
            check_key("touch", key);
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::FlushAll { noreply, .. } => {
            assert_eq!(cmd, b"flush_all");
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::Verbosity { noreply, .. } => {
            assert_eq!(cmd, b"verbosity");
            assert_eq!(noreply, last == b"noreply", "noreply");
        }
        TextRequest::Version => assert_eq!(cmd, b"version"),
        TextRequest::RefreshCerts => assert_eq!(cmd, b"refresh_certs"),
        TextRequest::Quit => assert_eq!(cmd, b"quit"),
        TextRequest::Stats { tokens } => assert_eq!(tokens.at(0), b"stats"),
        TextRequest::Meta {
            kind,
            tokens,
            flags_from,
            flags,
            len,
        } => {
            let want = match cmd {
                b"mg" => MetaKind::Get,
                b"ms" => MetaKind::Set,
                b"md" => MetaKind::Delete,
                b"ma" => MetaKind::Arithmetic,
                other => panic!("Meta from {other:?}"),
            };
            assert_eq!(kind, want);
            check_key("meta", tokens.at(1));
            assert!(
                tokens.ntokens() <= MAX_META_TOKENS,
                "{} meta tokens",
                tokens.ntokens()
            );
            assert!(tokens.rest().is_empty());
            let set = kind == MetaKind::Set;
            assert_eq!(flags_from, if set { 3 } else { 2 });
            if set {
                assert!(len <= i32::MAX as usize, "data length {len}");
                assert_eq!(Some(len as i32), parse_i32(tokens.at(2)), "ms length");
            } else {
                assert_eq!(len, 0, "a data length for {kind:?}");
            }
            assert_eq!(
                parse_flags(&tokens.as_slice()[flags_from..]),
                Ok(flags),
                "flags parse differently again"
            );
        }
        TextRequest::MetaNoop => assert_eq!(cmd, b"mn"),
        TextRequest::MetaDebug { key, base64 } => {
            assert_eq!(cmd, b"me");
            check_key("me", key);
            assert_eq!(base64, t.ntokens() >= 4 && t.at(2) == b"b");
        }
        TextRequest::Reply {
            line: reply,
            noreply,
            swallow,
        } => {
            assert!(
                ["ERROR", "CLIENT_ERROR ", "SERVER_ERROR "]
                    .iter()
                    .any(|p| reply.starts_with(p)),
                "reply {reply:?}"
            );
            assert!(
                !reply.bytes().any(|b| b == b'\r' || b == b'\n'),
                "reply {reply:?}"
            );
            assert!(!noreply || last == b"noreply", "noreply without the token");
            if swallow > 0 {
                assert_eq!(cmd, b"ms", "data swallowed after {cmd:?}");
                assert!(swallow >= 2);
                assert_eq!(
                    parse_i32(t.at(2)).map(|l| l as usize + 2),
                    Some(swallow),
                    "swallowed length"
                );
            }
        }
        TextRequest::Close => assert!(last.starts_with(b"HTTP/"), "closed for {last:?}"),
        TextRequest::Admin(admin) => {
            let want: &[u8] = match admin {
                AdminRequest::Shutdown(_) => b"shutdown",
                AdminRequest::MemLimit { noreply, .. } => {
                    assert_eq!(noreply, last == b"noreply", "noreply");
                    b"cache_memlimit"
                }
                AdminRequest::Metadump { .. } => b"lru_crawler",
            };
            assert_eq!(cmd, want);
        }
    }
}

/// The same bytes to two text-only servers, one in one piece and one byte by byte.
fn check_server(data: &[u8]) {
    let config = || Config {
        max_connections: 4,
        idle_timeout: None,
        read_timeout: None,
        output_limit: OUTPUT_LIMIT,
        protocol: ProtocolMode::Ascii,
        ..Config::default()
    };
    let now = Timestamp::from_secs(START_SECS);
    let words = max_words_per_line(data);

    let mut whole = server_with(config());
    let mut a = Peer::new(&mut whole, now);
    a.allow_items(&whole, words);
    whole.handle_input(a.id, now, data);
    a.drain(&mut whole, now, 0);
    whole.handle_eof(a.id, now);
    a.drain(&mut whole, now, 0);

    let mut bytes = server_with(config());
    let mut b = Peer::new(&mut bytes, now);
    b.allow_items(&bytes, words);
    for byte in data.chunks(1) {
        if b.closed.is_some() {
            break;
        }
        bytes.handle_input(b.id, now, byte);
        b.drain(&mut bytes, now, WRITE);
    }
    if b.closed.is_none() {
        bytes.handle_eof(b.id, now);
        b.drain(&mut bytes, now, WRITE);
    }

    let (got, want) = (normalize(&b.received), normalize(&a.received));
    if got != want {
        let at = got.iter().zip(&want).position(|(x, y)| x != y);
        panic!(
            "text output differs byte by byte: {} vs {} bytes, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
    assert_eq!(a.closed, b.closed, "close reason differs byte by byte");
    assert!(a.closed.is_some(), "EOF with all output taken must close");
    whole.service().check_invariants();
    bytes.service().check_invariants();
}
