//! Crashes and invariant failures found by the cargo-fuzz targets in `fuzz/`, reduced to plain
//! tests of the public API so they run with the core's own suite. The raw inputs live in
//! `fuzz/regressions/<target>/` and are replayed by `cargo test --manifest-path fuzz/Cargo.toml`.
//!
//! A test for a bug that is not fixed yet is `#[ignore]`d with the reason; remove the attribute
//! with the fix.

use keel_core::protocol::{Frame, Header, REQUEST_MAGIC, encode_request};
use keel_core::{Cache, CacheConfig, CloseReason, Config, ConnId, Output, Server, Timestamp};

const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

fn server(config: Config) -> (Server<Cache>, ConnId) {
    let mut s = Server::new(config, Cache::new(CacheConfig::default()), NOW);
    let id = s.accept(NOW).expect("accept");
    (s, id)
}

/// Feeds `stream` in chunks of `chunk` bytes, taking all output after each, then sends EOF.
/// Returns the output and how the connection closed.
fn feed(stream: &[u8], chunk: usize) -> (Vec<u8>, Option<CloseReason>) {
    let (mut s, id) = server(Config::default());
    let mut out = Vec::new();
    let mut closed = None;
    let mut take = |s: &mut Server<Cache>, out: &mut Vec<u8>| loop {
        while let Some(o) = s.poll_output() {
            if let Output::Close(_, reason) = o {
                closed = Some(reason);
            }
        }
        let pending = s.outbound(id).len();
        if pending == 0 {
            break;
        }
        out.extend_from_slice(s.outbound(id));
        s.consume_outbound(id, pending, NOW);
    };
    for piece in stream.chunks(chunk) {
        s.handle_input(id, NOW, piece);
        take(&mut s, &mut out);
    }
    s.handle_eof(id, NOW);
    take(&mut s, &mut out);
    (out, closed)
}

/// fuzz/regressions/connection/text-line-too-long-depends-on-chunking: a text command line
/// longer than `MAX_LINE_LEN` (2048) is refused with "CLIENT_ERROR line too long" and a close when
/// it arrives in pieces (the limit is checked only while no "\n" is buffered), but processed when
/// the whole line and its "\n" arrive in one read. The output must not depend on the chunking.
#[test]
fn text_line_limit_does_not_depend_on_chunking() {
    let mut stream = vec![b'f'; 2100];
    stream.extend_from_slice(b"\r\nversion\r\n");
    let whole = feed(&stream, usize::MAX);
    for chunk in [1, 1000, 2048, 2101] {
        assert_eq!(feed(&stream, chunk), whole, "chunks of {chunk} bytes");
    }
}

/// Found while checking the fuzz targets' EOF handling: requests that backpressure held back are
/// dropped when EOF arrives, although `handle_eof` promises that "what it sent has been
/// processed". A driver sees EOF without reading (POLLHUP, or data and EOF in one readiness
/// turn), so a client that pipelines and half-closes (`nc -N`) loses responses.
#[test]
fn eof_keeps_requests_held_back_by_backpressure() {
    let (mut s, id) = server(Config {
        output_limit: 64,
        ..Config::default()
    });
    let mut wire = Vec::new();
    for opaque in 0..10 {
        let frame = Frame {
            header: Header {
                magic: REQUEST_MAGIC,
                opcode: 0x0b, // VERSION
                opaque,
                ..Header::default()
            },
            extras: &[],
            key: &[],
            value: &[],
        };
        encode_request(&frame, &mut wire);
    }
    s.handle_input(id, NOW, &wire);
    assert!(!s.interest(id).read, "backpressure holds the rest back");
    s.handle_eof(id, NOW);
    let mut responses = 0;
    let mut closed = false;
    loop {
        while let Some(o) = s.poll_output() {
            closed |= matches!(o, Output::Close(..));
        }
        let out = s.outbound(id);
        if out.is_empty() {
            break;
        }
        responses += out.chunks(24 + 6).count(); // 24-byte header + "1.6.18"
        let n = out.len();
        s.consume_outbound(id, n, NOW);
    }
    assert!(closed, "the connection closes after EOF");
    assert_eq!(responses, 10, "every request sent before EOF is answered");
}

/// The same request stream, binary, gives the same bytes whatever the chunking (the property the
/// `connection` target checks; kept here as a cheap smoke test of the harness's premise).
#[test]
fn binary_stream_output_does_not_depend_on_chunking() {
    let mut wire = Vec::new();
    let mut push = |opcode: u8, extras: &[u8], key: &[u8], value: &[u8]| {
        let frame = Frame {
            header: Header {
                magic: REQUEST_MAGIC,
                opcode,
                ..Header::default()
            },
            extras,
            key,
            value,
        };
        encode_request(&frame, &mut wire);
    };
    push(0x01, &[0, 0, 0, 1, 0, 0, 0, 0], b"k", b"value"); // SET
    push(0x0c, &[], b"k", &[]); // GETK
    push(0x05, &[0; 20], b"n", &[]); // INCR creates
    push(0x1c, &[0, 0, 0, 9], b"k", b"ignored"); // TOUCH with value bytes
    push(0x55, &[1, 2], b"xy", b"body"); // unknown opcode
    push(0x0a, &[], &[], &[]); // NOOP
    let whole = feed(&wire, usize::MAX);
    assert_eq!(whole.1, Some(CloseReason::PeerClosed));
    for chunk in [1, 2, 7, 24, 25, 100] {
        assert_eq!(feed(&wire, chunk), whole, "chunks of {chunk} bytes");
    }
}
