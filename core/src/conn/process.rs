//! The request loop: turns a connection's input into responses, one complete request at a time,
//! stopping at a partial request, at the backpressure bound, or when the connection starts closing.
//! The first byte of a connection picks its protocol for life, as memcached's `-B auto` does.

use super::{Connection, Phase, Proto, binary, text};
use crate::config::ProtocolMode;
use crate::dispatch::Dispatch;
use crate::protocol::REQUEST_MAGIC;
use crate::service::Service;

/// What one step of a protocol's parser did with the bytes in front of it.
pub(crate) enum Step {
    /// Used this many bytes (possibly none, when only the phase moved on).
    Used(usize),
    /// Nothing can happen until more bytes arrive.
    NeedMore,
}

/// Processes what `buf` holds (the connection's buffered input or a fresh read) and returns how
/// many bytes were used up. Unused bytes always start at a request boundary, or are the part of a
/// request that has not been answered yet, so the caller keeps them for the next call. After
/// `reqs_per_event` answered requests with more input waiting, the connection yields: it is marked
/// `yielded` and the rest waits for its next turn.
pub(crate) fn process<S: Service>(
    conn: &mut Connection,
    buf: &[u8],
    d: &mut Dispatch<'_, S>,
) -> usize {
    let mut pos = 0;
    let budget = d.config.reqs_per_event.unwrap_or(usize::MAX);
    // Requests begun in this call: counted where a request starts, at a boundary with bytes
    // after it, so the one check of the phase serves the way out and the count alike.
    let mut begun = 0;
    while conn.closing.is_none() {
        if let Phase::Discard(remaining) = conn.phase {
            let take = remaining.min((buf.len() - pos) as u64);
            pos += take as usize;
            conn.phase = Phase::skipping(remaining - take);
            if take < remaining {
                return pos;
            }
            continue;
        }
        if matches!(conn.phase, Phase::Header) {
            if pos == buf.len() {
                // At a request boundary with nothing left: the usual way out.
                return pos;
            }
            if begun == budget {
                conn.yielded = true;
                return pos;
            }
            begun += 1;
        }
        if matches!(conn.phase, Phase::Header | Phase::MultiGet(_))
            && conn.over_limit(d.output_limit())
        {
            return pos;
        }
        let proto = match conn.proto {
            Some(proto) => proto,
            None => {
                let Some(&first) = buf.get(pos) else {
                    return pos;
                };
                let proto = match d.config.protocol {
                    // SASL is a binary-protocol feature: memcached refuses text while it is on.
                    _ if d.config.sasl.is_some() => Proto::Binary,
                    // So is `-Y` a text-protocol one: memcached makes every connection text.
                    _ if d.config.text_auth.is_some() => Proto::Text,
                    ProtocolMode::Binary => Proto::Binary,
                    ProtocolMode::Ascii => Proto::Text,
                    ProtocolMode::Auto if first == REQUEST_MAGIC => Proto::Binary,
                    ProtocolMode::Auto => Proto::Text,
                };
                conn.proto = Some(proto);
                proto
            }
        };
        let step = match proto {
            Proto::Binary => binary::step(conn, &buf[pos..], d),
            Proto::Text => {
                let step = text::step(conn, &buf[pos..], d);
                if d.side.conns_report {
                    // `stats conns`: the server writes the report; the rest of the input waits.
                    if let Step::Used(n) = step {
                        pos += n;
                    }
                    return pos;
                }
                step
            }
        };
        match step {
            Step::Used(n) => pos += n,
            Step::NeedMore => return pos,
        }
    }
    // A closing connection reads nothing more: the rest of the input is dropped.
    buf.len()
}
