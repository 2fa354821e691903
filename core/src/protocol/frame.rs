//! Request framing: validating a header before any of its body is buffered, and the pure
//! `decode` / `encode_request` pair used by fuzzers, tests and embedders.

use super::header::{HEADER_LEN, Header, REQUEST_MAGIC};
use super::opcode::Opcode;
use super::status::Status;
use super::{MAX_BODY_LEN, MAX_KEY_LEN};

/// Why a header cannot start a request. Every variant is fatal for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first byte is not `REQUEST_MAGIC`.
    #[error("bad magic byte {0:#04x}")]
    BadMagic(u8),
    /// The key and extras lengths do not fit in the body length.
    #[error("key ({key_len}) and extras ({extras_len}) exceed the body ({body_len})")]
    InconsistentLengths {
        /// The header's key length.
        key_len: u16,
        /// The header's extras length.
        extras_len: u8,
        /// The header's body length.
        body_len: u32,
    },
    /// The body length is over `MAX_BODY_LEN`.
    #[error("body of {0} bytes exceeds the limit")]
    BodyTooLarge(u32),
    /// The key length is over `MAX_KEY_LEN`.
    #[error("key of {0} bytes exceeds 250")]
    KeyTooLong(u16),
    /// The extras, key or value lengths are wrong for the opcode.
    #[error("malformed {opcode:?} request")]
    BadShape {
        /// The request's opcode.
        opcode: Opcode,
    },
}

impl FrameError {
    /// The status memcached answers with before closing, or `None` when it closes silently.
    pub fn reply(self) -> Option<Status> {
        match self {
            FrameError::BadMagic(_) => None,
            FrameError::InconsistentLengths { .. } => Some(Status::UnknownCommand),
            FrameError::BodyTooLarge(_)
            | FrameError::KeyTooLong(_)
            | FrameError::BadShape { .. } => Some(Status::InvalidArguments),
        }
    }
}

/// What a valid header announces, decided from the header alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestShape {
    /// A command whose value (if any) is part of the request: storage commands.
    Command,
    /// A command whose value bytes mean nothing (TOUCH, GAT*, STAT): they are skipped, where
    /// memcached would misread them as the next header.
    CommandIgnoringValue,
    /// An opcode keel does not serve: answered with Unknown command, the body skipped.
    Unknown,
}

/// Validates a request header in memcached's order (PROTOCOL.md §1): magic, lengths, key length,
/// then the opcode's shape.
pub fn classify(h: &Header) -> Result<RequestShape, FrameError> {
    if h.magic != REQUEST_MAGIC {
        return Err(FrameError::BadMagic(h.magic));
    }
    if u32::from(h.key_len) + u32::from(h.extras_len) > h.body_len {
        return Err(FrameError::InconsistentLengths {
            key_len: h.key_len,
            extras_len: h.extras_len,
            body_len: h.body_len,
        });
    }
    if h.body_len > MAX_BODY_LEN {
        return Err(FrameError::BodyTooLarge(h.body_len));
    }
    if usize::from(h.key_len) > MAX_KEY_LEN {
        return Err(FrameError::KeyTooLong(h.key_len));
    }
    let op = Opcode(h.opcode);
    let (ext, key, body) = (h.extras_len, h.key_len, h.body_len);
    let no_value = body == u32::from(key) + u32::from(ext);
    let (valid, shape) = match op {
        Opcode::GET
        | Opcode::GETQ
        | Opcode::GETK
        | Opcode::GETKQ
        | Opcode::DELETE
        | Opcode::DELETEQ => (ext == 0 && key > 0 && no_value, RequestShape::Command),
        Opcode::SET
        | Opcode::SETQ
        | Opcode::ADD
        | Opcode::ADDQ
        | Opcode::REPLACE
        | Opcode::REPLACEQ => (ext == 8 && key > 0, RequestShape::Command),
        Opcode::APPEND | Opcode::APPENDQ | Opcode::PREPEND | Opcode::PREPENDQ => {
            (ext == 0 && key > 0, RequestShape::Command)
        }
        Opcode::INCREMENT | Opcode::INCREMENTQ | Opcode::DECREMENT | Opcode::DECREMENTQ => {
            (ext == 20 && key > 0 && no_value, RequestShape::Command)
        }
        Opcode::QUIT | Opcode::QUITQ | Opcode::NOOP | Opcode::VERSION => {
            (ext == 0 && key == 0 && body == 0, RequestShape::Command)
        }
        Opcode::FLUSH | Opcode::FLUSHQ => (
            (ext == 0 || ext == 4) && key == 0 && no_value,
            RequestShape::Command,
        ),
        Opcode::VERBOSITY => (ext == 4 && key == 0 && no_value, RequestShape::Command),
        Opcode::STAT => (ext == 0, RequestShape::CommandIgnoringValue),
        Opcode::SASL_LIST_MECHS => (ext == 0 && key == 0 && body == 0, RequestShape::Command),
        Opcode::SASL_AUTH | Opcode::SASL_STEP => (ext == 0 && key > 0, RequestShape::Command),
        Opcode::TOUCH | Opcode::GAT | Opcode::GATQ | Opcode::GATK | Opcode::GATKQ => {
            (ext == 4 && key > 0, RequestShape::CommandIgnoringValue)
        }
        _ => (true, RequestShape::Unknown),
    };
    if valid {
        Ok(shape)
    } else {
        Err(FrameError::BadShape { opcode: op })
    }
}

/// A complete request as it sits in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The validated header.
    pub header: Header,
    /// The extras (`header.extras_len` bytes).
    pub extras: &'a [u8],
    /// The key (`header.key_len` bytes).
    pub key: &'a [u8],
    /// The value: the rest of the body.
    pub value: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Splits `body` (exactly `header.body_len` bytes, or at least the extras and key when the value
    /// is not wanted) into its parts.
    pub(crate) fn split(header: Header, body: &'a [u8]) -> Frame<'a> {
        let ext = usize::from(header.extras_len);
        let key_end = ext + usize::from(header.key_len);
        Frame {
            header,
            extras: &body[..ext],
            key: &body[ext..key_end],
            value: &body[key_end..],
        }
    }
}

/// The result of `decode` on bytes that start at a request boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole request, and how many bytes it took.
    Frame {
        /// The request, borrowing the buffer.
        frame: Frame<'a>,
        /// Bytes of the buffer it took: header and body.
        consumed: usize,
    },
    /// At least `needed` more bytes must arrive before anything can be said.
    Incomplete {
        /// How many more bytes, at least.
        needed: usize,
    },
}

/// Decodes one request from the front of `buf`. The header is validated before the body is
/// awaited, so a bad header is reported as soon as its 24 bytes are in.
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, FrameError> {
    let Some(header) = Header::parse(buf) else {
        return Ok(Decoded::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    };
    classify(&header)?;
    let total = HEADER_LEN + header.body_len as usize;
    if buf.len() < total {
        return Ok(Decoded::Incomplete {
            needed: total - buf.len(),
        });
    }
    Ok(Decoded::Frame {
        frame: Frame::split(header, &buf[HEADER_LEN..total]),
        consumed: total,
    })
}

/// Appends the wire form of a request: its header as given, then extras, key and value.
/// `header.body_len` and the lengths are taken from the parts so the result is always consistent.
pub fn encode_request(frame: &Frame<'_>, out: &mut Vec<u8>) {
    let mut header = frame.header;
    header.extras_len = frame.extras.len() as u8;
    header.key_len = frame.key.len() as u16;
    header.body_len = (frame.extras.len() + frame.key.len() + frame.value.len()) as u32;
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(frame.extras);
    out.extend_from_slice(frame.key);
    out.extend_from_slice(frame.value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(op: Opcode, ext: u8, key: u16, body: u32) -> Header {
        Header {
            magic: REQUEST_MAGIC,
            opcode: op.0,
            key_len: key,
            extras_len: ext,
            body_len: body,
            ..Header::default()
        }
    }

    #[test]
    fn classify_checks_in_memcached_order() {
        let mut h = header(Opcode::GET, 0, 300, 10);
        h.magic = 0x81;
        assert_eq!(classify(&h), Err(FrameError::BadMagic(0x81)));
        h.magic = REQUEST_MAGIC;
        let inconsistent = classify(&h).unwrap_err();
        assert_eq!(inconsistent.reply(), Some(Status::UnknownCommand));
        let long_key = classify(&header(Opcode(0xee), 0, 251, 251)).unwrap_err();
        assert_eq!(long_key, FrameError::KeyTooLong(251));
        assert_eq!(long_key.reply(), Some(Status::InvalidArguments));
        assert_eq!(
            classify(&header(Opcode::SET, 0, 1, 1 << 31)),
            Err(FrameError::BodyTooLarge(1 << 31))
        );
    }

    #[test]
    fn shapes_per_opcode() {
        let ok = |op, ext, key, body| classify(&header(op, ext, key, body));
        assert_eq!(ok(Opcode::GET, 0, 3, 3), Ok(RequestShape::Command));
        assert_eq!(
            ok(Opcode::GET, 0, 3, 4),
            Err(FrameError::BadShape {
                opcode: Opcode::GET
            })
        );
        assert!(ok(Opcode::GET, 0, 0, 0).is_err());
        assert!(ok(Opcode::SET, 8, 1, 9).is_ok());
        assert!(ok(Opcode::SET, 4, 1, 9).is_err());
        assert!(ok(Opcode::APPEND, 0, 1, 100).is_ok());
        assert!(ok(Opcode::APPEND, 8, 1, 100).is_err());
        assert!(ok(Opcode::INCREMENT, 20, 1, 21).is_ok());
        assert!(ok(Opcode::INCREMENT, 20, 1, 22).is_err());
        assert!(ok(Opcode::DELETE, 4, 1, 5).is_err());
        assert!(ok(Opcode::FLUSH, 4, 0, 4).is_ok());
        assert!(ok(Opcode::FLUSH, 0, 0, 0).is_ok());
        assert!(ok(Opcode::FLUSH, 8, 0, 8).is_err());
        assert!(ok(Opcode::NOOP, 0, 0, 1).is_err());
        assert!(ok(Opcode::QUIT, 0, 1, 1).is_err());
        assert_eq!(
            ok(Opcode::STAT, 0, 0, 5),
            Ok(RequestShape::CommandIgnoringValue)
        );
        assert_eq!(
            ok(Opcode::TOUCH, 4, 1, 9),
            Ok(RequestShape::CommandIgnoringValue)
        );
        assert!(ok(Opcode::TOUCH, 0, 1, 1).is_err());
        assert!(ok(Opcode::GATK, 4, 0, 4).is_err());
        assert!(ok(Opcode::VERBOSITY, 4, 0, 4).is_ok());
        assert_eq!(ok(Opcode(0x30), 3, 2, 9), Ok(RequestShape::Unknown));
        assert_eq!(ok(Opcode::SASL_AUTH, 0, 5, 9), Ok(RequestShape::Command));
        assert!(ok(Opcode::SASL_AUTH, 0, 0, 9).is_err());
        assert!(ok(Opcode::SASL_LIST_MECHS, 0, 0, 1).is_err());
    }

    #[test]
    fn decode_waits_then_returns_frame() {
        let frame = Frame {
            header: header(Opcode::SET, 0, 0, 0),
            extras: &[0, 0, 0, 1, 0, 0, 0, 0],
            key: b"k",
            value: b"val",
        };
        let mut wire = Vec::new();
        encode_request(&frame, &mut wire);
        assert_eq!(wire.len(), 24 + 12);
        assert_eq!(decode(&wire[..10]), Ok(Decoded::Incomplete { needed: 14 }));
        assert_eq!(decode(&wire[..30]), Ok(Decoded::Incomplete { needed: 6 }));
        wire.extend_from_slice(b"next");
        let Ok(Decoded::Frame {
            frame: got,
            consumed,
        }) = decode(&wire)
        else {
            panic!("expected a frame")
        };
        assert_eq!(consumed, 36);
        assert_eq!(
            (got.extras, got.key, got.value),
            (frame.extras, &b"k"[..], &b"val"[..])
        );
        let mut again = Vec::new();
        encode_request(&got, &mut again);
        assert_eq!(again, wire[..36]);
    }

    #[test]
    fn decode_rejects_bad_header_without_body() {
        let mut wire = header(Opcode::GET, 0, 251, 251).to_bytes().to_vec();
        assert_eq!(decode(&wire), Err(FrameError::KeyTooLong(251)));
        wire[0] = 0x00;
        assert_eq!(decode(&wire), Err(FrameError::BadMagic(0)));
    }
}
