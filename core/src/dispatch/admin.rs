//! Operator commands and key listing in the text protocol: `shutdown`, `cache_memlimit`,
//! `lru_crawler metadump` and `stats cachedump`, answered as memcached answers them.
//!
//! A metadump streams: it writes batches of lines until the output passes the backpressure
//! bound, then pauses (`Flow::Paused`) with the service's cursor kept as the connection's
//! position, and goes on when the peer has read some. No key set is ever held, and other
//! connections are served between batches.

use std::io::Write as _;

use super::text::MultiGet;
use super::{Dispatch, Flow};
use crate::output::{CloseReason, ShutdownMode};
use crate::protocol::text::{AdminRequest, ShutdownKind, Tokens, parse_u32};
use crate::service::{KeyEntry, Service};

/// Items asked of the service per call while listing keys: small, so that a paused metadump
/// overshoots the output bound by a few KiB at most (16 lines of a 250-byte key).
const WALK_BATCH: usize = 16;
/// memcached caps a cachedump reply at 2 MiB.
const CACHEDUMP_MAX_BYTES: usize = 2 << 20;
/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`.
const CLASS_IDS: u32 = 64;
/// memcached refuses a memory limit under 8 MiB, and one over this many megabytes as a
/// probable byte count.
const MEMLIMIT_MIN_MB: u32 = 8;
const MEMLIMIT_MAX_MB: u32 = 1_000_000_000;

fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl<S: Service> Dispatch<'_, S> {
    pub(crate) fn run_admin(
        &mut self,
        request: AdminRequest,
        out: &mut Vec<u8>,
        cursor: &mut MultiGet,
    ) -> Flow {
        match request {
            AdminRequest::Shutdown(kind) => return self.shutdown(kind, out),
            AdminRequest::MemLimit { megabytes, noreply } => {
                let reply = self.memlimit(megabytes);
                if !noreply {
                    line(out, reply);
                }
            }
            // -X: memcached refuses before it looks at the class.
            AdminRequest::Metadump { .. } if !self.config.dump_enabled => {
                line(out, "ERROR metadump not allowed")
            }
            AdminRequest::Metadump { classes: None } => line(out, "BADCLASS invalid class id"),
            AdminRequest::Metadump {
                classes: Some(classes),
            } => return self.metadump(classes, out, cursor),
        }
        Flow::Continue
    }

    fn shutdown(&mut self, kind: Option<ShutdownKind>, out: &mut Vec<u8>) -> Flow {
        if !self.config.shutdown_enabled {
            line(out, "ERROR: shutdown not enabled");
            return Flow::Continue;
        }
        let Some(kind) = kind else {
            line(out, "CLIENT_ERROR invalid shutdown mode");
            return Flow::Continue;
        };
        self.side.shutdown = Some(match kind {
            ShutdownKind::Immediate => ShutdownMode::Immediate,
            ShutdownKind::Graceful => ShutdownMode::Graceful,
        });
        // memcached closes the asking connection without a reply.
        Flow::Close(CloseReason::Shutdown)
    }

    fn memlimit(&mut self, megabytes: Option<u32>) -> &'static str {
        let Some(megabytes) = megabytes else {
            return "ERROR";
        };
        if megabytes < MEMLIMIT_MIN_MB {
            return "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m";
        }
        if megabytes > MEMLIMIT_MAX_MB {
            return "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes";
        }
        let bytes = usize::try_from(megabytes)
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20));
        match bytes {
            Some(bytes) if self.service.set_memory_limit(bytes, self.now) => "OK",
            _ => "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust",
        }
    }

    /// `lru_crawler metadump`: one line per live item of the chosen classes, then `END`.
    fn metadump(&mut self, classes: u64, out: &mut Vec<u8>, cursor: &mut MultiGet) -> Flow {
        loop {
            if out.len() > cursor.stop_at {
                return Flow::Paused;
            }
            let next = self.service.walk_keys(
                classes,
                cursor.next_key,
                WALK_BATCH,
                self.now,
                &mut |entry| metadump_line(entry, out),
            );
            match next {
                Some(next) => cursor.next_key = next,
                None => {
                    line(out, "END");
                    return Flow::Continue;
                }
            }
        }
    }

    /// `stats cachedump <class> <limit>`: up to `limit` items of one class (0: all, within
    /// memcached's 2 MiB cap), as `ITEM key [N b; EXPTIME s]`.
    pub(crate) fn cachedump(&mut self, tokens: Tokens<'_>, out: &mut Vec<u8>) {
        if !self.config.dump_enabled {
            return line(out, "CLIENT_ERROR stats cachedump not allowed");
        }
        if tokens.ntokens() < 5 {
            return line(out, "CLIENT_ERROR bad command line");
        }
        let (Some(id), Some(limit)) = (parse_u32(tokens.at(2)), parse_u32(tokens.at(3))) else {
            return line(out, "CLIENT_ERROR bad command line format");
        };
        if id >= CLASS_IDS {
            return line(out, "CLIENT_ERROR Illegal slab id");
        }
        // 0 lists everything; a u32 fits usize on every platform keel builds for.
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let start = out.len();
        let mut shown = 0;
        let mut cursor = 0;
        while shown < limit && out.len() - start < CACHEDUMP_MAX_BYTES {
            let max = (limit - shown).min(WALK_BATCH);
            let next = self
                .service
                .walk_keys(1 << id, cursor, max, self.now, &mut |entry| {
                    if out.len() - start < CACHEDUMP_MAX_BYTES {
                        out.extend_from_slice(b"ITEM ");
                        out.extend_from_slice(entry.key);
                        // Writing to a Vec cannot fail.
                        let _ = write!(out, " [{} b; {} s]\r\n", entry.value_len, entry.exptime);
                        shown += 1;
                    }
                });
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        line(out, "END");
    }
}

/// memcached's metadump line; the key URI-encoded as memcached encodes it.
fn metadump_line(entry: &KeyEntry<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"key=");
    for &b in entry.key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    let exp = if entry.exptime == 0 {
        -1
    } else {
        i64::from(entry.exptime)
    };
    let fetch = if entry.fetched { "yes" } else { "no" };
    let _ = writeln!(
        out,
        " exp={exp} la={} cas={} fetch={fetch} cls={} size={}",
        entry.last_access, entry.cas, entry.class_id, entry.size
    );
}
