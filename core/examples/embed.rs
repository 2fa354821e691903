//! Embedding keel-core in your own loop: no sockets, a fake clock, an in-memory byte stream. A
//! client pipelines SET, GET, INCR, a GETK miss and NOOP, sent in two chunks split mid-request;
//! the example drives the core as a driver would and prints each decoded response.
//!
//! Run with `cargo run -p keel-core --example embed`; `cargo test -p keel-core --example embed`
//! checks what it prints.

use keel_core::protocol::{
    Frame, HEADER_LEN, Header, Opcode, REQUEST_MAGIC, Status, encode_request,
};
use keel_core::{Cache, CacheConfig, Config, Output, Server, Timestamp};

fn request(
    opcode: Opcode,
    opaque: u32,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) {
    let header = Header {
        magic: REQUEST_MAGIC,
        opcode: opcode.0,
        opaque,
        ..Header::default()
    };
    encode_request(
        &Frame {
            header,
            extras,
            key,
            value,
        },
        out,
    );
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}

/// Drives the core through the script; returns the lines `main` prints.
fn run() -> Vec<String> {
    let mut lines = Vec::new();
    // The caller owns time: here a fixed Unix time, advanced by hand.
    let mut now = Timestamp::from_secs(1_700_000_000);
    let mut server = Server::new(Config::default(), Cache::new(CacheConfig::default()), now);
    let Ok(conn) = server.accept(now) else {
        unreachable!("a new server is below its connection limit");
    };

    let mut stream = Vec::new();
    let set_extras = [0xca, 0xfe, 0, 0, /* exptime */ 0, 0, 0, 0];
    request(
        Opcode::SET,
        1,
        &set_extras,
        b"greeting",
        b"hello, keel",
        &mut stream,
    );
    request(Opcode::GET, 2, &[], b"greeting", &[], &mut stream);
    let mut incr = Vec::new();
    incr.extend_from_slice(&5u64.to_be_bytes()); // delta
    incr.extend_from_slice(&100u64.to_be_bytes()); // initial
    incr.extend_from_slice(&0u32.to_be_bytes()); // exptime
    request(Opcode::INCREMENT, 3, &incr, b"counter", &[], &mut stream);
    request(Opcode::INCREMENT, 4, &incr, b"counter", &[], &mut stream);
    request(Opcode::GETK, 5, &[], b"missing", &[], &mut stream);
    request(Opcode::NOOP, 6, &[], &[], &[], &mut stream);

    // Two reads, the first ending in the middle of the INCR request.
    let split = stream.len() / 2;
    let mut wire_out = Vec::new();
    for chunk in [&stream[..split], &stream[split..]] {
        lines.push(format!("-> {} bytes in", chunk.len()));
        server.handle_input(conn, now, chunk);
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit(id) => {
                    let bytes = server.outbound(id);
                    let n = bytes.len();
                    wire_out.extend_from_slice(bytes);
                    server.consume_outbound(id, n, now);
                }
                Output::Close(id, reason) => lines.push(format!("close {id:?}: {reason:?}")),
            }
        }
        now = now.saturating_add_millis(1);
    }

    let mut rest = &wire_out[..];
    while let Some(h) = Header::parse(rest) {
        let body = &rest[HEADER_LEN..HEADER_LEN + h.body_len as usize];
        let (extras, tail) = body.split_at(usize::from(h.extras_len));
        let (key, value) = tail.split_at(usize::from(h.key_len));
        let status = Status::from_code(h.vbucket_or_status);
        let shown = match <[u8; 8]>::try_from(value) {
            Ok(counter) if h.opcode == Opcode::INCREMENT.0 => {
                u64::from_be_bytes(counter).to_string()
            }
            _ => format!("{:?}", String::from_utf8_lossy(value)),
        };
        let flags = match extras {
            [a, b, c, d] => format!(" flags={:#x}", u32::from_be_bytes([*a, *b, *c, *d])),
            _ => String::new(),
        };
        lines.push(format!(
            "<- {:<10} opaque={} status={:?} cas={} key={:?}{flags} value={shown}",
            Opcode(h.opcode).name().unwrap_or("?"),
            h.opaque,
            status.unwrap_or(Status::UnknownCommand),
            h.cas,
            String::from_utf8_lossy(key),
        ));
        rest = &rest[HEADER_LEN + h.body_len as usize..];
    }
    lines.push(format!(
        "connections={} bytes_read={} bytes_written={}",
        server.stats().curr_connections,
        server.stats().bytes_read,
        server.stats().bytes_written
    ));
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_request_is_answered_across_the_split() {
        assert_eq!(
            super::run(),
            [
                "-> 120 bytes in",
                "-> 120 bytes in",
                r#"<- SET        opaque=1 status=Success cas=1 key="" value="""#,
                r#"<- GET        opaque=2 status=Success cas=1 key="" flags=0xcafe0000 value="hello, keel""#,
                r#"<- INCREMENT  opaque=3 status=Success cas=2 key="" value=100"#,
                r#"<- INCREMENT  opaque=4 status=Success cas=3 key="" value=105"#,
                r#"<- GETK       opaque=5 status=KeyNotFound cas=0 key="missing" value="""#,
                r#"<- NOOP       opaque=6 status=Success cas=0 key="" value="""#,
                "connections=1 bytes_read=240 bytes_written=182",
            ]
        );
    }
}
