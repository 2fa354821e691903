//! The text protocol's side of dispatch: classic commands answered with memcached's exact lines.

use std::io::Write as _;

use super::{Dispatch, Flow};
use crate::output::CloseReason;
use crate::protocol::text::{MetaKind, TextRequest, Tokens, words};
use crate::protocol::{Command, CounterMode, Status, StoreMode};
use crate::service::{Outcome, Service, StatGroup, StatSink};

/// An INCR/DECR that must not create a missing item (the text protocol never does).
const NO_CREATE: u32 = u32::MAX;

fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl<S: Service> Dispatch<'_, S> {
    /// Runs a parsed text request. `data` is a storage command's data block (its "\r\n" checked).
    /// A multi-get starts at key `cursor.next_key` and pauses (`Flow::Paused`, the cursor moved on)
    /// once the output passes `cursor.stop_at` bytes.
    pub(crate) fn run_text(
        &mut self,
        request: &TextRequest<'_>,
        data: &[u8],
        out: &mut Vec<u8>,
        cursor: &mut MultiGet,
    ) -> Flow {
        match *request {
            TextRequest::Get {
                tokens,
                first_key,
                cas,
                touch,
            } => return self.text_get(tokens, first_key, cas, touch, cursor, out),
            TextRequest::Store {
                mode,
                key,
                flags,
                exptime,
                cas,
                noreply,
                ..
            } => {
                let text_cas = mode == StoreMode::Cas;
                let command = Command::Store {
                    mode,
                    key,
                    flags,
                    exptime,
                    cas,
                    value: data,
                    quiet: noreply,
                };
                let reply = match self.service.execute(&command, self.now) {
                    Outcome::Done { .. } => "STORED",
                    Outcome::Failed(Status::KeyExists) if text_cas => "EXISTS",
                    Outcome::Failed(Status::KeyNotFound) if text_cas => "NOT_FOUND",
                    Outcome::Failed(Status::TooLarge) => "SERVER_ERROR object too large for cache",
                    Outcome::Failed(Status::OutOfMemory) => {
                        "SERVER_ERROR out of memory storing object"
                    }
                    _ => "NOT_STORED",
                };
                reply_unless(noreply, reply, out);
            }
            TextRequest::Delete { key, noreply } => {
                let command = Command::Delete {
                    key,
                    cas: 0,
                    quiet: noreply,
                };
                let reply = match self.service.execute(&command, self.now) {
                    Outcome::Done { .. } => "DELETED",
                    _ => "NOT_FOUND",
                };
                reply_unless(noreply, reply, out);
            }
            TextRequest::Arithmetic {
                mode,
                key,
                delta,
                noreply,
            } => self.text_arithmetic(mode, key, delta, noreply, out),
            TextRequest::Touch {
                key,
                exptime,
                noreply,
            } => {
                let reply = match self
                    .service
                    .execute(&Command::Touch { key, exptime }, self.now)
                {
                    Outcome::Touched { .. } => "TOUCHED",
                    _ => "NOT_FOUND",
                };
                reply_unless(noreply, reply, out);
            }
            TextRequest::FlushAll { delay, noreply } => {
                let reply = match self.service.execute(
                    &Command::Flush {
                        delay,
                        quiet: noreply,
                    },
                    self.now,
                ) {
                    Outcome::Failed(Status::AuthError) => "CLIENT_ERROR flush_all not allowed",
                    Outcome::Failed(_) => "CLIENT_ERROR invalid exptime argument",
                    _ => "OK",
                };
                reply_unless(noreply, reply, out);
            }
            TextRequest::Verbosity { level, noreply } => {
                self.config.verbosity = level;
                reply_unless(noreply, "OK", out);
            }
            TextRequest::Version => {
                out.extend_from_slice(b"VERSION ");
                line(out, &self.config.version);
            }
            TextRequest::RefreshCerts => match &self.config.tls {
                Some(tls) => match tls.0.refresh_certs(self.now) {
                    Ok(()) => line(out, "OK"),
                    Err(error) => line(out, &error),
                },
                None => line(out, crate::tls::TLS_NOT_ENABLED),
            },
            TextRequest::Quit => return Flow::Close(CloseReason::Quit),
            TextRequest::Close => return Flow::Close(CloseReason::HttpRequest),
            TextRequest::Stats { tokens } => self.text_stats(tokens, out),
            TextRequest::Reply {
                line: text,
                noreply,
                ..
            } => reply_unless(noreply, text, out),
            TextRequest::Meta { .. } | TextRequest::MetaNoop | TextRequest::MetaDebug { .. } => {
                return self.run_meta(request, data, out);
            }
            TextRequest::Admin(admin) => return self.run_admin(admin, out, cursor),
        }
        Flow::Continue
    }

    fn text_get(
        &mut self,
        tokens: Tokens<'_>,
        first_key: usize,
        with_cas: bool,
        touch: Option<u32>,
        cursor: &mut MultiGet,
        out: &mut Vec<u8>,
    ) -> Flow {
        let keys = tokens.as_slice()[first_key..]
            .iter()
            .copied()
            .chain(words(tokens.rest()))
            .skip(usize::try_from(cursor.next_key).unwrap_or(usize::MAX));
        for key in keys {
            if out.len() > cursor.stop_at {
                return Flow::Paused;
            }
            cursor.next_key += 1;
            let command = match touch {
                Some(exptime) => Command::GetAndTouch {
                    key,
                    exptime,
                    quiet: true,
                    with_key: false,
                },
                None => Command::Get {
                    key,
                    quiet: true,
                    with_key: false,
                },
            };
            if let Outcome::Value { flags, cas, value } = self.service.execute(&command, self.now) {
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(key);
                // Writing to a Vec cannot fail.
                let _ = write!(out, " {flags} {}", value.len());
                if with_cas {
                    let _ = write!(out, " {cas}");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"END\r\n");
        Flow::Continue
    }

    fn text_arithmetic(
        &mut self,
        mode: CounterMode,
        key: &[u8],
        delta: u64,
        noreply: bool,
        out: &mut Vec<u8>,
    ) {
        let command = Command::Counter {
            mode,
            key,
            delta,
            initial: 0,
            exptime: NO_CREATE,
            cas: 0,
            quiet: noreply,
        };
        match self.service.execute(&command, self.now) {
            Outcome::Counter { value, .. } => {
                if !noreply {
                    let _ = write!(out, "{value}\r\n");
                }
            }
            Outcome::Failed(Status::DeltaBadValue) => reply_unless(
                noreply,
                "CLIENT_ERROR cannot increment or decrement non-numeric value",
                out,
            ),
            Outcome::Failed(Status::OutOfMemory) => {
                reply_unless(noreply, "SERVER_ERROR out of memory", out)
            }
            _ => reply_unless(noreply, "NOT_FOUND", out),
        }
    }

    /// memcached's text `stats`: exact sub-command names, unknown ones answered ERROR.
    fn text_stats(&mut self, tokens: Tokens<'_>, out: &mut Vec<u8>) {
        let group = match tokens.get(1) {
            None => StatGroup::General,
            Some(b"reset") => {
                self.reset_stats();
                return line(out, "RESET");
            }
            Some(b"detail") => {
                return match tokens.get(2) {
                    Some(b"on") | Some(b"off") => line(out, "OK"),
                    Some(b"dump") => line(out, "END"),
                    _ => line(out, "CLIENT_ERROR usage: stats detail on|off|dump"),
                };
            }
            Some(b"settings") => StatGroup::Settings,
            Some(b"items") => StatGroup::Items,
            Some(b"slabs") => StatGroup::Slabs,
            Some(b"sizes") => StatGroup::Sizes,
            Some(b"cachedump") => return self.cachedump(tokens, out),
            Some(b"conns") => {
                // The server, which holds every connection, writes the report.
                self.side.conns_report = true;
                return;
            }
            Some(_) => return line(out, "ERROR"),
        };
        let mut sink = TextStats { out };
        self.write_stats(group, &mut sink);
        line(sink.out, "END");
    }
}

impl<S: Service> Dispatch<'_, S> {
    /// Checks a storage command before its data block is read. `Some` means it was answered and
    /// the block is to be swallowed: memcached refuses a value too large to store up front.
    pub(crate) fn refuse_text_store(
        &mut self,
        request: &TextRequest<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Flow> {
        match *request {
            TextRequest::Store {
                mode,
                key,
                flags,
                len,
                noreply,
                ..
            } => {
                if self.admits(key.len(), len, flags) {
                    return None;
                }
                self.service.reject_too_large(mode, key, self.now);
                reply_unless(noreply, "SERVER_ERROR object too large for cache", out);
                Some(Flow::Continue)
            }
            TextRequest::Meta {
                kind: MetaKind::Set,
                tokens,
                flags,
                len,
                ..
            } => self
                .refuse_meta_set(tokens, &flags, len, out)
                .then_some(Flow::Continue),
            _ => None,
        }
    }

    /// A data block not followed by "\r\n": nothing is stored (meta commands always answer).
    pub(crate) fn bad_data_chunk(&mut self, request: &TextRequest<'_>, out: &mut Vec<u8>) {
        let noreply = matches!(request, TextRequest::Store { noreply: true, .. });
        reply_unless(noreply, "CLIENT_ERROR bad data chunk", out);
    }
}

/// How far a multi-get has got. Its hits are copied into the output, so one line naming a large
/// item thousands of times could buffer gigabytes; it stops at the backpressure bound instead and
/// goes on from the next key once the peer has taken some output. A metadump pauses the same
/// way, `next_key` then being the service's key-walk cursor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MultiGet {
    pub(crate) next_key: u64,
    /// Output length past which the multi-get pauses.
    pub(crate) stop_at: usize,
}

fn reply_unless(noreply: bool, text: &str, out: &mut Vec<u8>) {
    if !noreply {
        line(out, text);
    }
}

struct TextStats<'o> {
    out: &'o mut Vec<u8>,
}

impl StatSink for TextStats<'_> {
    fn stat(&mut self, name: &str, value: &dyn std::fmt::Display) {
        // Writing to a Vec cannot fail.
        let _ = write!(self.out, "STAT {name} {value}\r\n");
    }
}
