//! Meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): flags are echoed in the order the request
//! gave them, as memcached 1.6 writes its responses.

use std::io::Write as _;

use super::{Dispatch, Flow};
use crate::group::Counter;
use crate::protocol::text::{MAX_OPAQUE_LEN, MetaFlags, MetaKind, TextRequest, Tokens, base64};
use crate::protocol::{Command, CounterMode, Status, StoreMode};
use crate::service::{ItemView, Outcome, Service};

const OPAQUE_TOO_LONG: &str = "CLIENT_ERROR opaque token too long";

/// A decoded request key: the token itself, or its base64 decoding (`b` flag).
struct Key<'k> {
    bytes: &'k [u8],
    binary: bool,
}

impl<S: Service> Dispatch<'_, S> {
    pub(crate) fn run_meta(
        &mut self,
        request: &TextRequest<'_>,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Flow {
        match *request {
            TextRequest::MetaNoop => out.extend_from_slice(b"MN\r\n"),
            TextRequest::MetaDebug { key, base64: b64 } => {
                // memcached 1.6 counts `me` alone as `cmd_meta`.
                self.count(Counter::CmdMeta);
                self.meta_debug(key, b64, out)
            }
            TextRequest::Meta {
                kind,
                tokens,
                flags_from,
                flags,
                ..
            } => {
                let mut key_buf = std::mem::take(self.bytes);
                let result = match decode_key(tokens.at(1), flags.base64_key, &mut key_buf) {
                    Some(key) => {
                        let flag_tokens = &tokens.as_slice()[flags_from..];
                        match kind {
                            MetaKind::Get => self.meta_get(&key, &flags, flag_tokens, out),
                            MetaKind::Set => self.meta_set(&key, &flags, flag_tokens, data, out),
                            MetaKind::Delete => self.meta_delete(&key, &flags, flag_tokens, out),
                            MetaKind::Arithmetic => {
                                self.meta_arithmetic(&key, &flags, flag_tokens, out)
                            }
                        }
                    }
                    None => Err("CLIENT_ERROR error decoding key"),
                };
                *self.bytes = key_buf;
                if let Err(line) = result {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
            _ => {}
        }
        Flow::Continue
    }

    /// Checks an `ms` before its data block is read: an answer here means the block is swallowed.
    pub(crate) fn refuse_meta_set(
        &mut self,
        tokens: Tokens<'_>,
        flags: &MetaFlags,
        len: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut key_buf = std::mem::take(self.bytes);
        let key = decode_key(tokens.at(1), flags.base64_key, &mut key_buf);
        let error = if key.is_none() {
            // memcached decodes the key while it reads the flags, before anything else.
            Some("CLIENT_ERROR error decoding key")
        } else if flags.mode.is_some_and(|m| store_mode(m).is_none()) {
            Some("CLIENT_ERROR invalid mode for ms M token")
        } else if tokens.as_slice()[3..]
            .iter()
            .any(|t| t[0] == b'O' && t.len() > MAX_OPAQUE_LEN)
        {
            Some(OPAQUE_TOO_LONG)
        } else if let Some(key) =
            key.filter(|k| !self.admits(k.bytes.len(), len, flags.client_flags))
        {
            // memcached's ms drops the item under the (decoded) key whatever the mode, so no
            // stale value outlives a refused store: the drop is asked for as a SET's.
            self.service
                .reject_too_large(StoreMode::Set, key.bytes, self.now);
            Some("SERVER_ERROR object too large for cache")
        } else {
            None
        };
        *self.bytes = key_buf;
        if let Some(line) = error {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        error.is_some()
    }

    fn meta_get(
        &mut self,
        key: &Key<'_>,
        f: &MetaFlags,
        flag_tokens: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        check_opaque(flag_tokens)?;
        let command = Command::MetaGet {
            key: key.bytes,
            ttl: f.ttl,
            vivify: f.vivify,
            recache: f.recache,
            no_update: f.no_update,
        };
        let now = self.now.as_secs();
        match self.service.execute(&command, self.now) {
            Outcome::Item(item) => {
                // A key asked for in base64 is echoed in base64; so is one stored that way
                // (memcached only looks at the item, and echoes a key decoded from `b` raw when
                // the item was not stored by `ms … b`, which can put a newline in the reply).
                let key = &Key {
                    bytes: key.bytes,
                    binary: item.binary_key || key.binary,
                };
                if f.value {
                    let _ = write!(out, "VA {}", item.value.len());
                } else {
                    out.extend_from_slice(b"HD");
                }
                for token in flag_tokens {
                    match token[0] {
                        b's' => {
                            let _ = write!(out, " s{}", item.value.len());
                        }
                        b't' => write_ttl(&item, now, out),
                        b'c' => {
                            let _ = write!(out, " c{}", item.cas);
                        }
                        b'f' => {
                            let _ = write!(out, " f{}", item.flags);
                        }
                        b'l' => {
                            let _ = write!(out, " l{}", item.idle_secs);
                        }
                        b'h' => {
                            let _ = write!(out, " h{}", u8::from(item.fetched));
                        }
                        b'O' => write_opaque(token, out),
                        b'k' => write_key(key, out),
                        _ => {}
                    }
                }
                if item.token_sent {
                    out.extend_from_slice(b" Z");
                }
                if item.stale {
                    out.extend_from_slice(b" X");
                }
                if item.won {
                    out.extend_from_slice(b" W");
                }
                out.extend_from_slice(b"\r\n");
                if f.value {
                    out.extend_from_slice(item.value);
                    out.extend_from_slice(b"\r\n");
                }
            }
            _ => {
                if !f.quiet {
                    write_status("EN", key, flag_tokens, out);
                }
            }
        }
        Ok(())
    }

    fn meta_set(
        &mut self,
        key: &Key<'_>,
        f: &MetaFlags,
        flag_tokens: &[&[u8]],
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        let mode = f.mode.and_then(store_mode).unwrap_or(StoreMode::Set);
        // memcached upgrades SET and REPLACE with a CAS to a compare-and-swap; ADD ignores it.
        let mode = match (mode, f.compare_cas) {
            (StoreMode::Set | StoreMode::Replace, Some(_)) => StoreMode::Cas,
            (mode, _) => mode,
        };
        let command = Command::MetaStore {
            mode,
            key: key.bytes,
            flags: f.client_flags,
            exptime: f.ttl.unwrap_or(0),
            compare_cas: if mode == StoreMode::Add {
                None
            } else {
                f.compare_cas
            },
            new_cas: f.explicit_cas,
            invalidate: f.invalidate,
            binary_key: key.binary,
            value: data,
        };
        let (code, cas) = match self.service.execute(&command, self.now) {
            Outcome::Done { cas } => ("HD", cas),
            Outcome::Failed(Status::KeyExists) if mode != StoreMode::Add => ("EX", 0),
            Outcome::Failed(Status::KeyNotFound) if mode == StoreMode::Cas => ("NF", 0),
            Outcome::Failed(Status::TooLarge) => {
                return Err("SERVER_ERROR object too large for cache");
            }
            Outcome::Failed(Status::OutOfMemory) => {
                return Err("SERVER_ERROR out of memory storing object");
            }
            _ => ("NS", 0),
        };
        if code == "HD" && f.quiet {
            return Ok(());
        }
        out.extend_from_slice(code.as_bytes());
        for token in flag_tokens {
            match token[0] {
                b'O' => write_opaque(token, out),
                b'k' => write_key(key, out),
                b'c' => {
                    let _ = write!(out, " c{cas}");
                }
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn meta_delete(
        &mut self,
        key: &Key<'_>,
        f: &MetaFlags,
        flag_tokens: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        check_opaque(flag_tokens)?;
        let command = Command::MetaDelete {
            key: key.bytes,
            compare_cas: f.compare_cas,
            invalidate: f.invalidate,
            ttl: f.ttl,
        };
        let code = match self.service.execute(&command, self.now) {
            Outcome::Done { .. } => {
                if f.quiet {
                    return Ok(());
                }
                "HD"
            }
            Outcome::Failed(Status::KeyExists) => "EX",
            _ => "NF",
        };
        write_status(code, key, flag_tokens, out);
        Ok(())
    }

    fn meta_arithmetic(
        &mut self,
        key: &Key<'_>,
        f: &MetaFlags,
        flag_tokens: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        let mode = match f.mode {
            None | Some(b'I' | b'+') => CounterMode::Incr,
            Some(b'D' | b'-') => CounterMode::Decr,
            Some(_) => return Err("CLIENT_ERROR invalid mode for ma M token"),
        };
        check_opaque(flag_tokens)?;
        let command = Command::MetaArithmetic {
            mode,
            key: key.bytes,
            delta: f.delta.unwrap_or(1),
            initial: f.initial.unwrap_or(0),
            vivify: f.vivify,
            compare_cas: f.compare_cas,
            new_cas: f.explicit_cas,
            ttl: f.ttl,
        };
        let now = self.now.as_secs();
        match self.service.execute(&command, self.now) {
            Outcome::Item(item) => {
                if f.quiet {
                    return Ok(());
                }
                // The stored number may carry memcached's space padding; the reply is the number.
                let digits = item.value.trim_ascii_end();
                if f.value {
                    let _ = write!(out, "VA {}", digits.len());
                } else {
                    out.extend_from_slice(b"HD");
                }
                for token in flag_tokens {
                    match token[0] {
                        b'c' => {
                            let _ = write!(out, " c{}", item.cas);
                        }
                        b't' => write_ttl(&item, now, out),
                        b'O' => write_opaque(token, out),
                        b'k' => write_key(key, out),
                        _ => {}
                    }
                }
                out.extend_from_slice(b"\r\n");
                if f.value {
                    out.extend_from_slice(digits);
                    out.extend_from_slice(b"\r\n");
                }
            }
            Outcome::Failed(Status::DeltaBadValue) => {
                return Err("CLIENT_ERROR cannot increment or decrement non-numeric value");
            }
            Outcome::Failed(Status::OutOfMemory) => return Err("SERVER_ERROR out of memory"),
            Outcome::Failed(status) => {
                let code = match status {
                    Status::KeyExists => "EX",
                    Status::NotStored => "NS",
                    _ => "NF",
                };
                write_status(code, key, flag_tokens, out);
            }
            _ => {}
        }
        Ok(())
    }

    fn meta_debug(&mut self, token: &[u8], b64: bool, out: &mut Vec<u8>) {
        let mut key_buf = std::mem::take(self.bytes);
        let Some(key) = decode_key(token, b64, &mut key_buf) else {
            *self.bytes = key_buf;
            out.extend_from_slice(b"CLIENT_ERROR bad command line format\r\n");
            return;
        };
        let command = Command::MetaDebug { key: key.bytes };
        let now = self.now.as_secs();
        match self.service.execute(&command, self.now) {
            Outcome::Item(item) => {
                out.extend_from_slice(b"ME ");
                if item.binary_key || key.binary {
                    base64::encode(key.bytes, out);
                } else {
                    out.extend_from_slice(key.bytes);
                }
                // memcached prints now minus the expiry, so a live item shows a negative number.
                let exp = if item.exptime == 0 {
                    -1
                } else {
                    now as i64 - i64::from(item.exptime)
                };
                let _ = write!(
                    out,
                    " exp={exp} la={} cas={} fetch={} cls=1 size={}\r\n",
                    item.idle_secs,
                    item.cas,
                    if item.fetched { "yes" } else { "no" },
                    item.size
                );
            }
            _ => out.extend_from_slice(b"EN\r\n"),
        }
        *self.bytes = key_buf;
    }
}

fn store_mode(m: u8) -> Option<StoreMode> {
    Some(match m {
        b'S' => StoreMode::Set,
        b'E' => StoreMode::Add,
        b'A' => StoreMode::Append,
        b'P' => StoreMode::Prepend,
        b'R' => StoreMode::Replace,
        _ => return None,
    })
}

fn decode_key<'k>(token: &'k [u8], binary: bool, buf: &'k mut Vec<u8>) -> Option<Key<'k>> {
    if !binary {
        return Some(Key {
            bytes: token,
            binary,
        });
    }
    base64::decode(token, buf).then_some(Key { bytes: buf, binary })
}

fn check_opaque(flag_tokens: &[&[u8]]) -> Result<(), &'static str> {
    if flag_tokens
        .iter()
        .any(|t| t[0] == b'O' && t.len() > MAX_OPAQUE_LEN)
    {
        Err(OPAQUE_TOO_LONG)
    } else {
        Ok(())
    }
}

fn write_opaque(token: &[u8], out: &mut Vec<u8>) {
    out.push(b' ');
    out.extend_from_slice(token);
}

fn write_key(key: &Key<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b" k");
    if key.binary {
        base64::encode(key.bytes, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key.bytes);
    }
}

/// A status line with only the opaque and key echoed: a miss, a failure, or a plain HD.
fn write_status(code: &str, key: &Key<'_>, flag_tokens: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(code.as_bytes());
    for token in flag_tokens {
        match token[0] {
            b'O' => write_opaque(token, out),
            b'k' => write_key(key, out),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn write_ttl(item: &ItemView<'_>, now: u64, out: &mut Vec<u8>) {
    if item.exptime == 0 {
        out.extend_from_slice(b" t-1");
    } else {
        let _ = write!(out, " t{}", u64::from(item.exptime).saturating_sub(now));
    }
}
