//! One step of the text protocol's request stream: a command line up to "\n", then for storage
//! commands a data block of the announced length and "\r\n".

use super::process::Step;
use super::{Connection, Phase};
use crate::dispatch::{Dispatch, Flow, MultiGet};
use crate::output::CloseReason;
use crate::protocol::text::{MAX_LINE_LEN, MetaKind, TextRequest, parse_line};
use crate::service::Service;

/// How long a line may grow: memcached lets a multi-get (a line starting with "get " or "gets "
/// after at most 100 spaces) run past `MAX_LINE_LEN`.
fn line_limit(buf: &[u8]) -> usize {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    let rest = &buf[spaces..];
    if spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
        MAX_MULTIGET_LINE_LEN
    } else {
        MAX_LINE_LEN
    }
}

/// A multi-get line may run past `MAX_LINE_LEN` (memcached lets it grow without bound); keel stops
/// at this, which holds some 4,000 keys of 250 bytes.
const MAX_MULTIGET_LINE_LEN: usize = 1 << 20;

pub(crate) fn step<S: Service>(conn: &mut Connection, buf: &[u8], d: &mut Dispatch<'_, S>) -> Step {
    if !conn.authenticated {
        return super::text_auth::step(conn, buf, d);
    }
    let nl = buf.iter().position(|&b| b == b'\n');
    // The limit applies to the line before its "\n", however the bytes were split into reads.
    let line_so_far = nl.unwrap_or(buf.len());
    if line_so_far > MAX_LINE_LEN && line_so_far > line_limit(buf) {
        conn.output
            .extend_from_slice(b"CLIENT_ERROR line too long\r\n");
        conn.closing = Some(CloseReason::LineTooLong);
        return Step::Used(buf.len());
    }
    let Some(nl) = nl else {
        return Step::NeedMore;
    };
    // memcached strips a "\r" before the "\n" only when the line has something before it.
    let end = if nl > 1 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let request = parse_line(&buf[..end]);
    let line_len = nl + 1;
    let data_len = match request {
        TextRequest::Store { len, .. } => Some(len),
        TextRequest::Meta {
            kind: MetaKind::Set,
            len,
            ..
        } => Some(len),
        _ => None,
    };
    let mut cursor = MultiGet {
        next_key: match conn.phase {
            Phase::MultiGet(next) => next,
            _ => 0,
        },
        stop_at: conn.sent + d.output_limit(),
    };
    let (used, flow) = match (request, data_len) {
        (TextRequest::Reply { swallow, .. }, _) => {
            conn.phase = Phase::skipping(swallow as u64);
            (
                line_len,
                d.run_text(&request, &[], &mut conn.output, &mut cursor),
            )
        }
        (_, Some(len)) => {
            if let Some(flow) = d.refuse_text_store(&request, &mut conn.output) {
                // Too large to ever store: answered now, the data block swallowed as it streams in.
                conn.phase = Phase::skipping(len as u64 + 2);
                (line_len, flow)
            } else {
                let total = line_len + len + 2;
                if buf.len() < total {
                    return Step::NeedMore;
                }
                let data = &buf[line_len..line_len + len];
                if &buf[line_len + len..total] != b"\r\n" {
                    d.bad_data_chunk(&request, &mut conn.output);
                    return Step::Used(total);
                }
                (
                    total,
                    d.run_text(&request, data, &mut conn.output, &mut cursor),
                )
            }
        }
        _ => (
            line_len,
            d.run_text(&request, &[], &mut conn.output, &mut cursor),
        ),
    };
    match flow {
        Flow::Close(reason) => conn.closing = Some(reason),
        Flow::Paused => {
            // The line stays in the input until the multi-get has answered every key.
            conn.phase = Phase::MultiGet(cursor.next_key);
            return Step::Used(0);
        }
        Flow::Continue | Flow::Authenticated => {}
    }
    if let Phase::MultiGet(_) = conn.phase {
        conn.phase = Phase::Header;
    }
    Step::Used(used)
}
