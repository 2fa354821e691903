//! Property test of the text protocol: random streams of classic and meta commands (with data
//! blocks, noreply, meta flags, malformed lines) over a small key space. The reply lines of the
//! classic storage, retrieval, delete and counter commands must equal a small reference model's,
//! and the output bytes must be identical whether the stream is fed in one piece or in random
//! chunks, as the binary model test checks for the binary protocol.

mod support;

use std::collections::HashMap;

use proptest::prelude::*;
use support::Harness;

const KEYS: [&str; 3] = ["a", "bb", "k:3"];

#[derive(Clone, Debug)]
enum Cmd {
    Set {
        key: usize,
        flags: u32,
        data: Vec<u8>,
        noreply: bool,
    },
    Add {
        key: usize,
        data: Vec<u8>,
    },
    Replace {
        key: usize,
        data: Vec<u8>,
    },
    Append {
        key: usize,
        data: Vec<u8>,
    },
    Get {
        keys: Vec<usize>,
    },
    Delete {
        key: usize,
        noreply: bool,
    },
    Incr {
        key: usize,
        delta: u64,
    },
    Decr {
        key: usize,
        delta: u64,
    },
    /// Commands whose replies carry CAS values or meta state: checked only by chunking.
    Opaque(String),
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(b"xyz 0123\r\n".to_vec()), 0..12),
        (0u64..200).prop_map(|n| n.to_string().into_bytes()),
    ]
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let opaque = prop_oneof![
        key().prop_map(|k| format!("gets {}\r\n", KEYS[k])),
        key().prop_map(|k| format!("mg {} v c f s t k Oab\r\n", KEYS[k])),
        (key(), data()).prop_map(|(k, d)| format!(
            "ms {} {} T0 F7 c\r\n{}\r\n",
            KEYS[k],
            d.len(),
            String::from_utf8_lossy(&d)
        )),
        key().prop_map(|k| format!("md {} q\r\n", KEYS[k])),
        key().prop_map(|k| format!("ma {} N0 J5 v\r\n", KEYS[k])),
        key().prop_map(|k| format!("touch {} 100\r\n", KEYS[k])),
        Just("mn\r\n".to_owned()),
        Just("version\r\n".to_owned()),
        Just("bogus line\r\n".to_owned()),
        Just("set a 0 0 2\r\nabcd\r\n".to_owned()),
        Just("get\r\n".to_owned()),
    ];
    prop_oneof![
        (key(), 0u32..4, data(), any::<bool>()).prop_map(|(key, flags, data, noreply)| Cmd::Set {
            key,
            flags,
            data,
            noreply
        }),
        (key(), data()).prop_map(|(key, data)| Cmd::Add { key, data }),
        (key(), data()).prop_map(|(key, data)| Cmd::Replace { key, data }),
        (key(), data()).prop_map(|(key, data)| Cmd::Append { key, data }),
        prop::collection::vec(key(), 1..4).prop_map(|keys| Cmd::Get { keys }),
        (key(), any::<bool>()).prop_map(|(key, noreply)| Cmd::Delete { key, noreply }),
        (key(), 0u64..1000).prop_map(|(key, delta)| Cmd::Incr { key, delta }),
        (key(), 0u64..1000).prop_map(|(key, delta)| Cmd::Decr { key, delta }),
        opaque.prop_map(Cmd::Opaque),
    ]
}

fn storage(verb: &str, key: usize, flags: u32, data: &[u8], noreply: bool) -> Vec<u8> {
    let mut line = format!("{verb} {} {flags} 0 {}", KEYS[key], data.len()).into_bytes();
    if noreply {
        line.extend_from_slice(b" noreply");
    }
    line.extend_from_slice(b"\r\n");
    line.extend_from_slice(data);
    line.extend_from_slice(b"\r\n");
    line
}

fn wire(cmd: &Cmd) -> Vec<u8> {
    match cmd {
        Cmd::Set {
            key,
            flags,
            data,
            noreply,
        } => storage("set", *key, *flags, data, *noreply),
        Cmd::Add { key, data } => storage("add", *key, 0, data, false),
        Cmd::Replace { key, data } => storage("replace", *key, 0, data, false),
        Cmd::Append { key, data } => storage("append", *key, 0, data, false),
        Cmd::Get { keys } => {
            let names: Vec<&str> = keys.iter().map(|&k| KEYS[k]).collect();
            format!("get {}\r\n", names.join(" ")).into_bytes()
        }
        Cmd::Delete { key, noreply } => format!(
            "delete {}{}\r\n",
            KEYS[*key],
            if *noreply { " noreply" } else { "" }
        )
        .into_bytes(),
        Cmd::Incr { key, delta } => format!("incr {} {delta}\r\n", KEYS[*key]).into_bytes(),
        Cmd::Decr { key, delta } => format!("decr {} {delta}\r\n", KEYS[*key]).into_bytes(),
        Cmd::Opaque(line) => line.clone().into_bytes(),
    }
}

/// memcached's `safe_strtoull` on a stored value: optional leading white space and sign, at least
/// one digit, then the end, white space or NUL; no negative numbers.
fn counter(value: &[u8]) -> Option<u64> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = value.iter().take_while(|b| space(b)).count();
    let rest = &value[start..];
    let (negative, rest) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits).is_some_and(|b| !space(b) && *b != 0) {
        return None;
    }
    let n: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    (!negative || n == 0).then_some(n)
}

/// The reply the model expects; `None` for commands it does not model.
fn model(items: &mut HashMap<usize, (u32, Vec<u8>)>, cmd: &Cmd) -> Option<Vec<u8>> {
    let line = |s: &str| Some(format!("{s}\r\n").into_bytes());
    match cmd {
        Cmd::Set {
            key,
            flags,
            data,
            noreply,
        } => {
            items.insert(*key, (*flags, data.clone()));
            if *noreply {
                Some(Vec::new())
            } else {
                line("STORED")
            }
        }
        Cmd::Add { key, data } => {
            if items.contains_key(key) {
                line("NOT_STORED")
            } else {
                items.insert(*key, (0, data.clone()));
                line("STORED")
            }
        }
        Cmd::Replace { key, data } => match items.get_mut(key) {
            Some(item) => {
                *item = (0, data.clone());
                line("STORED")
            }
            None => line("NOT_STORED"),
        },
        Cmd::Append { key, data } => match items.get_mut(key) {
            Some(item) => {
                item.1.extend_from_slice(data);
                line("STORED")
            }
            None => line("NOT_STORED"),
        },
        Cmd::Get { keys } => {
            let mut out = Vec::new();
            for k in keys {
                if let Some((flags, value)) = items.get(k) {
                    out.extend_from_slice(
                        format!("VALUE {} {flags} {}\r\n", KEYS[*k], value.len()).as_bytes(),
                    );
                    out.extend_from_slice(value);
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b"END\r\n");
            Some(out)
        }
        Cmd::Delete { key, noreply } => {
            let found = items.remove(key).is_some();
            if *noreply {
                Some(Vec::new())
            } else {
                line(if found { "DELETED" } else { "NOT_FOUND" })
            }
        }
        Cmd::Incr { key, delta } | Cmd::Decr { key, delta } => {
            let Some((_, value)) = items.get_mut(key) else {
                return line("NOT_FOUND");
            };
            let Some(n) = counter(value) else {
                return line("CLIENT_ERROR cannot increment or decrement non-numeric value");
            };
            let n = match cmd {
                Cmd::Incr { .. } => n.wrapping_add(*delta),
                _ => n.saturating_sub(*delta),
            };
            let mut stored = n.to_string().into_bytes();
            if stored.len() < value.len() {
                stored.resize(value.len(), b' ');
            }
            *value = stored;
            line(&n.to_string())
        }
        Cmd::Opaque(_) => None,
    }
}

fn run(stream: &[u8], chunks: Option<&[usize]>) -> Vec<u8> {
    let mut h = Harness::new();
    let id = h.accept();
    match chunks {
        None => h.send(id, stream),
        Some(sizes) => {
            let mut at = 0;
            for &size in sizes.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + size).min(stream.len());
                h.send(id, &stream[at..end]);
                at = end;
            }
        }
    }
    h.take_output(id)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_replies_match_the_model_under_any_chunking(
        cmds in prop::collection::vec(cmd(), 1..40),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        // Model-checked prefix: up to the first command the model does not cover, the output is
        // exactly the concatenation of the model's replies.
        let mut items = HashMap::new();
        let mut expected = Vec::new();
        let mut modelled = Vec::new();
        for c in &cmds {
            match model(&mut items, c) {
                Some(reply) => {
                    modelled.extend_from_slice(&wire(c));
                    expected.extend_from_slice(&reply);
                }
                None => break,
            }
        }
        let got = run(&modelled, None);
        prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
        // The whole stream, opaque commands included: the same bytes however it is split.
        let stream: Vec<u8> = cmds.iter().flat_map(wire).collect();
        let whole = run(&stream, None);
        let chunked = run(&stream, Some(&chunks));
        prop_assert!(chunked == whole, "chunked feeding changed the output");
    }
}
