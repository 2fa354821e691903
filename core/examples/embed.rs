//! Embedding keel-core in your own loop: no sockets, a fake clock, an in-memory byte stream. A
//! client pipelines SET, GET, INCR, a GETK miss and NOOP, sent in two chunks split mid-request;
//! the example drives the core as a driver would and prints each decoded response.
//!
//! Run with `cargo run -p keel-core --example embed`.

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
    // The caller owns time: here a fixed Unix time, advanced by hand.
    let mut now = Timestamp::from_secs(1_700_000_000);
    let mut server = Server::new(Config::default(), Cache::new(CacheConfig::default()), now);
    let conn = server.accept(now).expect("below the connection limit");

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
        println!("-> {} bytes in", chunk.len());
        server.handle_input(conn, now, chunk);
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit(id) => {
                    let bytes = server.outbound(id);
                    let n = bytes.len();
                    wire_out.extend_from_slice(bytes);
                    server.consume_outbound(id, n, now);
                }
                Output::Close(id, reason) => println!("close {id:?}: {reason:?}"),
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
        let shown = if h.opcode == Opcode::INCREMENT.0 && value.len() == 8 {
            u64::from_be_bytes(value.try_into().unwrap()).to_string()
        } else {
            format!("{:?}", String::from_utf8_lossy(value))
        };
        let flags = match extras {
            [a, b, c, d] => format!(" flags={:#x}", u32::from_be_bytes([*a, *b, *c, *d])),
            _ => String::new(),
        };
        println!(
            "<- {:<10} opaque={} status={:?} cas={} key={:?}{flags} value={shown}",
            Opcode(h.opcode).name().unwrap_or("?"),
            h.opaque,
            status.unwrap_or(Status::UnknownCommand),
            h.cas,
            String::from_utf8_lossy(key),
        );
        rest = &rest[HEADER_LEN + h.body_len as usize..];
    }
    println!(
        "connections={} bytes_read={} bytes_written={}",
        server.stats().curr_connections,
        server.stats().bytes_read,
        server.stats().bytes_written
    );
}
