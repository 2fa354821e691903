//! One step of the binary protocol's request stream: validate a header as soon as its 24 bytes
//! are in, then answer the request once its body is (or discard a body that can never be used).

use super::process::Step;
use super::{Connection, Phase};
use crate::dispatch::{Dispatch, Flow};
use crate::output::CloseReason;
use crate::protocol::{
    Command, Frame, FrameError, HEADER_LEN, Header, Opcode, RequestShape, ResponseWriter, Status,
    classify,
};
use crate::service::Service;

pub(crate) fn step<S: Service>(conn: &mut Connection, buf: &[u8], d: &mut Dispatch<'_, S>) -> Step {
    let (header, shape) = match conn.phase {
        Phase::Payload(header, shape) => (header, shape),
        _ => {
            let Some(header) = Header::parse(buf) else {
                return Step::NeedMore;
            };
            match admit(conn, &header) {
                Some(shape) => (header, shape),
                None => return Step::Used(0),
            }
        }
    };
    // Usually the whole request is already here; the phase records a header only when it is not.
    let body = &buf[HEADER_LEN..];
    let prefix = header.prefix_len();
    if body.len() < prefix {
        conn.phase = Phase::Payload(header, shape);
        return Step::NeedMore;
    }
    let value_len = u64::from(header.value_len());
    let (used, flow) = match shape {
        RequestShape::Unknown => {
            ResponseWriter::new(&mut conn.output, header.opcode, header.opaque)
                .error(Status::UnknownCommand);
            conn.phase = Phase::skipping(u64::from(header.body_len));
            (HEADER_LEN, Flow::Continue)
        }
        RequestShape::CommandIgnoringValue => {
            conn.phase = Phase::skipping(value_len);
            let head = Frame::split(header, &body[..prefix]);
            (HEADER_LEN + prefix, run(&head, &mut conn.output, d))
        }
        RequestShape::Command => {
            let total = header.body_len as usize;
            if body.len() < total {
                // The value is still arriving: one that can never be used is refused now and
                // discarded as it streams in, instead of being buffered.
                let head = Frame::split(header, &body[..prefix]);
                let refused = Command::from_frame(&head)
                    .and_then(|command| refuse(&header, &command, value_len, &mut conn.output, d));
                let Some(flow) = refused else {
                    conn.phase = Phase::Payload(header, shape);
                    return Step::NeedMore;
                };
                conn.phase = Phase::skipping(value_len);
                (HEADER_LEN + prefix, flow)
            } else {
                conn.phase = Phase::Header;
                let frame = Frame::split(header, &body[..total]);
                let flow = match Command::from_frame(&frame) {
                    // Only a request carrying a value can be one to refuse.
                    Some(command) if value_len > 0 => {
                        refuse(&header, &command, value_len, &mut conn.output, d)
                            .unwrap_or_else(|| d.run_binary(&header, &command, &mut conn.output))
                    }
                    Some(command) => d.run_binary(&header, &command, &mut conn.output),
                    None => unknown(&header, &mut conn.output),
                };
                (HEADER_LEN + total, flow)
            }
        }
    };
    match flow {
        Flow::Close(reason) => conn.closing = Some(reason),
        Flow::Authenticated => conn.authenticated = true,
        Flow::Continue | Flow::Paused => {}
    }
    Step::Used(used)
}

/// Validates a new header as soon as its 24 bytes are in; `None` when it was answered with an
/// error and the connection is closing.
fn admit(conn: &mut Connection, header: &Header) -> Option<RequestShape> {
    let classified = classify(header);
    let framed = !matches!(
        classified,
        Err(FrameError::BadMagic(_)
            | FrameError::InconsistentLengths { .. }
            | FrameError::BodyTooLarge(_))
    );
    if framed && !conn.authenticated && !Opcode(header.opcode).allowed_before_auth() {
        // memcached checks authentication right after the lengths and the 1 GiB bound.
        ResponseWriter::new(&mut conn.output, header.opcode, header.opaque)
            .error(Status::AuthError);
        conn.closing = Some(CloseReason::Unauthenticated);
        return None;
    }
    match classified {
        Ok(shape) => Some(shape),
        Err(error) => {
            if let Some(status) = error.reply() {
                ResponseWriter::new(&mut conn.output, header.opcode, header.opaque).error(status);
            }
            conn.closing = Some(CloseReason::Protocol(error));
            None
        }
    }
}

/// Answers a request whose value cannot be used, before or instead of running it: a store too
/// large to ever fit, or a SASL exchange that cannot proceed.
fn refuse<S: Service>(
    header: &Header,
    command: &Command<'_>,
    value_len: u64,
    out: &mut Vec<u8>,
    d: &mut Dispatch<'_, S>,
) -> Option<Flow> {
    match *command {
        Command::Store {
            mode, key, flags, ..
        } if !d.admits(key.len(), value_len as usize, flags) => {
            Some(d.reject_too_large(header, mode, key, out))
        }
        Command::SaslAuth { mechanism, .. } if d.refuse_sasl(header, mechanism, value_len, out) => {
            Some(Flow::Continue)
        }
        _ => None,
    }
}

fn run<S: Service>(frame: &Frame<'_>, out: &mut Vec<u8>, d: &mut Dispatch<'_, S>) -> Flow {
    match Command::from_frame(frame) {
        Some(command) => d.run_binary(&frame.header, &command, out),
        None => unknown(&frame.header, out),
    }
}

/// classify() lets only known opcodes through as commands; answered defensively all the same.
fn unknown(header: &Header, out: &mut Vec<u8>) -> Flow {
    ResponseWriter::new(out, header.opcode, header.opaque).error(Status::UnknownCommand);
    Flow::Continue
}
