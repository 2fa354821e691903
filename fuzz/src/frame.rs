//! The `frame` target: arbitrary bytes into `keel_core::protocol::decode`, frame after frame as a
//! pipelined stream would be read.
//!
//! Invariants:
//! - `decode` never panics;
//! - an accepted frame is `24 + body_len` bytes, passed `classify`, re-encodes with
//!   `encode_request` to exactly the consumed bytes, and is a known command exactly when
//!   `classify` says so (`Command::from_frame` returns `None` only for `RequestShape::Unknown`);
//! - a rejection is a `FrameError` decided by the 24-byte header alone (the same error for the
//!   header without its body, and the one `classify` gives);
//! - `Incomplete { needed }` is exact: `needed > 0`; `k < needed` more bytes give
//!   `Incomplete { needed - k }`; once the header is in, `needed` more bytes give a frame of
//!   exactly the buffer plus those bytes.

use keel_core::protocol::{
    Command, Decoded, HEADER_LEN, Header, MAX_BODY_LEN, RequestShape, classify, decode,
    encode_request,
};

/// Extensions past this are checked arithmetically instead of by allocating the bytes.
const MAX_EXTENSION: usize = 64 << 10;

/// Runs the `frame` target on one input.
pub fn frame(data: &[u8]) {
    let mut rest = data;
    loop {
        match check_one(rest) {
            Some(consumed) => rest = &rest[consumed..],
            None => return,
        }
    }
}

/// Checks `decode(buf)`; returns the bytes consumed when a frame was decoded.
fn check_one(buf: &[u8]) -> Option<usize> {
    match decode(buf) {
        Ok(Decoded::Frame { frame, consumed }) => {
            assert!(
                consumed <= buf.len(),
                "consumed {consumed} of {} bytes",
                buf.len()
            );
            assert!(consumed >= HEADER_LEN);
            let header = Header::parse(buf).expect("a frame has a header");
            assert_eq!(frame.header, header, "frame header differs from the bytes");
            assert_eq!(consumed, HEADER_LEN + header.body_len as usize);
            let shape = classify(&header).expect("an accepted frame passes classify");
            let mut again = Vec::with_capacity(consumed);
            encode_request(&frame, &mut again);
            assert!(
                again == buf[..consumed],
                "re-encoding differs from the consumed bytes"
            );
            assert_eq!(
                Command::from_frame(&frame).is_none(),
                shape == RequestShape::Unknown,
                "from_frame disagrees with classify ({shape:?}) for {:?}",
                frame.header
            );
            // One byte short is one byte needed.
            assert_eq!(
                decode(&buf[..consumed - 1]),
                Ok(Decoded::Incomplete { needed: 1 }),
                "a frame minus its last byte"
            );
            Some(consumed)
        }
        Ok(Decoded::Incomplete { needed }) => {
            assert!(needed > 0, "Incomplete with nothing needed");
            let header = Header::parse(buf);
            match header {
                None => assert_eq!(needed, HEADER_LEN - buf.len(), "header bytes needed"),
                Some(h) => {
                    assert!(classify(&h).is_ok(), "a body is awaited after a bad header");
                    assert!(h.body_len <= MAX_BODY_LEN);
                    assert_eq!(
                        buf.len() + needed,
                        HEADER_LEN + h.body_len as usize,
                        "body bytes needed"
                    );
                }
            }
            check_extensions(buf, needed, header.is_some());
            None
        }
        Err(error) => {
            assert!(
                buf.len() >= HEADER_LEN,
                "{error:?} before the header was complete"
            );
            let header = Header::parse(buf).expect("header is complete");
            assert_eq!(
                classify(&header),
                Err(error),
                "decode and classify disagree"
            );
            assert_eq!(
                decode(&buf[..HEADER_LEN]),
                Err(error),
                "the header alone decides"
            );
            assert_eq!(
                error.reply().is_none(),
                header.magic != 0x80,
                "only bad magic closes silently"
            );
            None
        }
    }
}

/// Feeds `needed - 1`, about half of `needed`, and exactly `needed` more bytes (filled from the
/// input itself, so the fuzzer controls the header that completes).
fn check_extensions(buf: &[u8], needed: usize, header_in: bool) {
    let extend = |k: usize| -> Vec<u8> {
        let mut v = Vec::with_capacity(buf.len() + k);
        v.extend_from_slice(buf);
        let fill: &[u8] = if buf.is_empty() { &[0x80] } else { buf };
        v.extend(fill.iter().cycle().take(k));
        v
    };
    for k in [needed - 1, needed / 2] {
        if k == 0 || k > MAX_EXTENSION {
            continue;
        }
        let longer = extend(k);
        assert_eq!(
            decode(&longer),
            Ok(Decoded::Incomplete { needed: needed - k }),
            "{k} of {needed} needed bytes added"
        );
    }
    if needed <= MAX_EXTENSION {
        let full = extend(needed);
        match decode(&full) {
            Ok(Decoded::Frame { consumed, .. }) => assert_eq!(consumed, full.len()),
            Ok(Decoded::Incomplete { needed: more }) => {
                assert!(
                    !header_in,
                    "the body was complete but {more} more bytes are needed"
                );
                assert!(more > 0);
            }
            Err(e) => assert!(!header_in, "a validated header was rejected later: {e:?}"),
        }
    }
}
