//! Micro-benchmarks of the pure core: the ceiling the drivers can approach.
//!
//! Every benchmark reports requests (or headers) per second through `Throughput::Elements`.
//! The `server/*` groups push binary-protocol requests through `Server::handle_input` and drain
//! the output exactly as a driver does (`poll_output`, `outbound`, `consume_outbound`), without
//! sockets. `depth1` hands one request per `handle_input` call (a client that does not
//! pipeline); `depth16` hands 16 requests per call.
//!
//! Run with `cargo bench -p keel-core --bench core` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keel_core::protocol::{
    Command, Decoded, Frame, HEADER_LEN, Header, Opcode, REQUEST_MAGIC, decode, encode_request,
};
use keel_core::{Cache, CacheConfig, Config, ConnId, Output, Server, Timestamp};

const KEYS: usize = 10_000;
const VALUE_LEN: usize = 32;

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes() // 16 bytes
}

fn request(opcode: Opcode, opaque: u32, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let header = Header {
        magic: REQUEST_MAGIC,
        opcode: opcode.0,
        opaque,
        ..Header::default()
    };
    let mut out = Vec::with_capacity(HEADER_LEN + extras.len() + key.len() + value.len());
    encode_request(
        &Frame {
            header,
            extras,
            key,
            value,
        },
        &mut out,
    );
    out
}

fn set_req(i: usize) -> Vec<u8> {
    let value = vec![b'a' + (i % 26) as u8; VALUE_LEN];
    request(
        Opcode::SET,
        i as u32,
        &[0, 0, 0, 0, 0, 0, 0, 0],
        &key(i),
        &value,
    )
}

fn get_req(i: usize) -> Vec<u8> {
    request(Opcode::GET, i as u32, &[], &key(i), &[])
}

fn get_miss_req(i: usize) -> Vec<u8> {
    request(
        Opcode::GET,
        i as u32,
        &[],
        format!("nokey:{i:010}").as_bytes(),
        &[],
    )
}

fn new_server(now: Timestamp) -> (Server<Cache>, ConnId) {
    let mut server = Server::new(Config::default(), Cache::new(CacheConfig::default()), now);
    let id = server.accept(now).expect("accept");
    (server, id)
}

/// What a driver does after `handle_input`: write every pending byte (here: count it).
#[inline]
fn drain(server: &mut Server<Cache>, now: Timestamp) -> usize {
    let mut total = 0;
    while let Some(out) = server.poll_output() {
        if let Output::Transmit(id) = out {
            let n = server.outbound(id).len();
            black_box(server.outbound(id));
            total += n;
            server.consume_outbound(id, n, now);
        }
    }
    total
}

fn populate(server: &mut Server<Cache>, id: ConnId, now: Timestamp) {
    for i in 0..KEYS {
        server.handle_input(id, now, &set_req(i));
        drain(server, now);
    }
}

/// Requests grouped `depth` per input chunk, cycling through the key space.
fn chunks(reqs: &[Vec<u8>], depth: usize) -> Vec<Vec<u8>> {
    reqs.chunks(depth).map(|c| c.concat()).collect()
}

fn bench_protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Elements(1));
    let set = set_req(7);
    let get = get_req(7);
    g.bench_function("header_parse", |b| {
        b.iter(|| Header::parse(black_box(&set[..])))
    });
    g.bench_function("decode_get", |b| {
        b.iter(|| match decode(black_box(&get[..])) {
            Ok(Decoded::Frame { frame, consumed }) => {
                black_box(Command::from_frame(&frame));
                consumed
            }
            _ => unreachable!(),
        })
    });
    g.bench_function("decode_set", |b| {
        b.iter(|| match decode(black_box(&set[..])) {
            Ok(Decoded::Frame { frame, consumed }) => {
                black_box(Command::from_frame(&frame));
                consumed
            }
            _ => unreachable!(),
        })
    });
    g.finish();
}

fn bench_server(c: &mut Criterion) {
    let now = Timestamp::from_secs(1_700_000_000);
    let sets: Vec<Vec<u8>> = (0..KEYS).map(set_req).collect();
    let gets: Vec<Vec<u8>> = (0..KEYS).map(get_req).collect();
    let misses: Vec<Vec<u8>> = (0..KEYS).map(get_miss_req).collect();
    // 9:1 get:set over the same keys.
    let mixed: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| if i % 10 == 9 { set_req(i) } else { get_req(i) })
        .collect();

    for depth in [1usize, 16] {
        let mut g = c.benchmark_group(format!("server/depth{depth}"));
        g.throughput(Throughput::Elements(depth as u64));
        for (name, reqs, prepopulate) in [
            ("get_hit", &gets, true),
            ("get_miss", &misses, true),
            ("set", &sets, false),
            ("mixed_9to1", &mixed, true),
        ] {
            let batches = chunks(reqs, depth);
            let (mut server, id) = new_server(now);
            if prepopulate {
                populate(&mut server, id, now);
            }
            let mut next = 0usize;
            g.bench_function(name, |b| {
                b.iter(|| {
                    let chunk = &batches[next];
                    next += 1;
                    if next == batches.len() {
                        next = 0;
                    }
                    server.handle_input(id, now, chunk);
                    drain(&mut server, now)
                })
            });
        }
        g.finish();
    }

    // Accept + NOOP + close: the per-connection fixed cost in the core.
    let mut g = c.benchmark_group("server/conn");
    g.throughput(Throughput::Elements(1));
    let noop = request(Opcode::NOOP, 0, &[], &[], &[]);
    g.bench_function("accept_noop_eof", |b| {
        b.iter_batched_ref(
            || new_server(now).0,
            |server| {
                let id = server.accept(now).expect("accept");
                server.handle_input(id, now, &noop);
                drain(server, now);
                server.handle_eof(id, now);
                drain(server, now)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_protocol, bench_server);
criterion_main!(benches);
