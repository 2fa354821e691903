//! The request loop: turns a connection's input into responses, one complete request at a time,
//! stopping at a partial request, at the backpressure bound, or when the connection starts closing.

use super::{Connection, Phase};
use crate::dispatch::{Dispatch, Flow};
use crate::output::CloseReason;
use crate::protocol::{
    Command, Frame, HEADER_LEN, Header, RequestShape, ResponseWriter, Status, classify,
};
use crate::service::Service;

/// Processes what `buf` holds (the connection's buffered input or a fresh read) and returns how
/// many bytes were used up. Unused bytes always start at a request boundary, or are the part of a
/// request that has not been answered yet, so the caller keeps them for the next call.
pub(crate) fn process<S: Service>(conn: &mut Connection, buf: &[u8], d: &mut Dispatch<'_, S>) -> usize {
    let mut pos = 0;
    while conn.closing.is_none() {
        match conn.phase {
            Phase::Discard(remaining) => {
                let take = remaining.min((buf.len() - pos) as u64);
                pos += take as usize;
                conn.phase = Phase::skipping(remaining - take);
                if take < remaining {
                    return pos;
                }
            }
            Phase::Header => {
                if conn.over_limit(d.output_limit()) {
                    return pos;
                }
                let Some(header) = Header::parse(&buf[pos..]) else {
                    return pos;
                };
                match classify(&header) {
                    Ok(shape) => conn.phase = Phase::Payload(header, shape),
                    Err(error) => {
                        if let Some(status) = error.reply() {
                            ResponseWriter::new(&mut conn.output, header.opcode, header.opaque).error(status);
                        }
                        conn.closing = Some(CloseReason::Protocol(error));
                    }
                }
            }
            Phase::Payload(header, shape) => {
                let body = &buf[pos + HEADER_LEN..];
                let prefix = header.prefix_len();
                if body.len() < prefix {
                    return pos;
                }
                let value_len = u64::from(header.value_len());
                let head = Frame::split(header, &body[..prefix]);
                let flow = match shape {
                    RequestShape::Unknown => {
                        ResponseWriter::new(&mut conn.output, header.opcode, header.opaque)
                            .error(Status::UnknownCommand);
                        pos += HEADER_LEN;
                        conn.phase = Phase::skipping(u64::from(header.body_len));
                        Flow::Continue
                    }
                    RequestShape::CommandIgnoringValue => {
                        pos += HEADER_LEN + prefix;
                        conn.phase = Phase::skipping(value_len);
                        run(&head, &mut conn.output, d)
                    }
                    RequestShape::Command => match Command::from_frame(&head) {
                        Some(Command::Store { mode, key, flags, .. })
                            if !d.admits(key.len(), value_len as usize, flags) =>
                        {
                            pos += HEADER_LEN + prefix;
                            conn.phase = Phase::skipping(value_len);
                            d.reject_too_large(&header, mode, key, &mut conn.output)
                        }
                        _ => {
                            let total = header.body_len as usize;
                            if body.len() < total {
                                return pos;
                            }
                            let frame = Frame::split(header, &body[..total]);
                            pos += HEADER_LEN + total;
                            conn.phase = Phase::Header;
                            run(&frame, &mut conn.output, d)
                        }
                    },
                };
                if let Flow::Close(reason) = flow {
                    conn.closing = Some(reason);
                }
            }
        }
    }
    // A closing connection reads nothing more: the rest of the input is dropped.
    buf.len()
}

fn run<S: Service>(frame: &Frame<'_>, out: &mut Vec<u8>, d: &mut Dispatch<'_, S>) -> Flow {
    match Command::from_frame(frame) {
        Some(command) => d.run(&frame.header, &command, out),
        None => {
            // classify() only lets known opcodes through as commands.
            ResponseWriter::new(out, frame.header.opcode, frame.header.opaque).error(Status::UnknownCommand);
            Flow::Continue
        }
    }
}
