//! Shared test harness for keel-core's integration tests: request builders for any opcode, a
//! response-stream parser, and `Harness`, which drives a `Server<Cache>` on a fake clock the way a
//! driver would (accept, feed bytes, drain `poll_output`, collect and consume each connection's
//! outbound bytes), with a bounded number of drain steps so a livelock fails fast.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use keel_core::{Cache, CacheConfig, CloseReason, Config, ConnId, Output, Server, Timestamp};

/// The fake clock starts at a realistic Unix time (whole second), so absolute exptimes mean
/// something: 2023-11-14T22:13:20Z.
pub const T0_SECS: u64 = 1_700_000_000;

/// Upper bound on `poll_output` results handled by one drain: a livelock fails instead of hanging.
pub const MAX_DRAIN_STEPS: usize = 100_000;

pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCR: u8 = 0x05;
    pub const DECR: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCRQ: u8 = 0x15;
    pub const DECRQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

pub mod status {
    pub const SUCCESS: u16 = 0x00;
    pub const KEY_ENOENT: u16 = 0x01;
    pub const KEY_EEXISTS: u16 = 0x02;
    pub const E2BIG: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const DELTA_BADVAL: u16 = 0x06;
    pub const AUTH_ERROR: u16 = 0x20;
    pub const UNKNOWN_COMMAND: u16 = 0x81;
}

/// memcached's error texts (PROTOCOL.md §2).
pub fn error_text(status: u16) -> &'static [u8] {
    match status {
        0x01 => b"Not found",
        0x02 => b"Data exists for key.",
        0x03 => b"Too large.",
        0x04 => b"Invalid arguments",
        0x05 => b"Not stored.",
        0x06 => b"Non-numeric server-side value for incr or decr",
        0x20 => b"Auth failure.",
        0x81 => b"Unknown command",
        0x82 => b"Out of memory",
        other => panic!("no text for status {other:#x}"),
    }
}

/// A request to encode: every header field is settable so malformed requests can be built too.
#[derive(Clone, Debug, Default)]
pub struct Req {
    pub magic: u8,
    pub opcode: u8,
    pub data_type: u8,
    pub vbucket: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Req {
    pub fn new(opcode: u8) -> Req {
        Req {
            magic: 0x80,
            opcode,
            ..Req::default()
        }
    }
    pub fn key(mut self, key: &[u8]) -> Req {
        self.key = key.to_vec();
        self
    }
    pub fn extras(mut self, extras: &[u8]) -> Req {
        self.extras = extras.to_vec();
        self
    }
    pub fn value(mut self, value: &[u8]) -> Req {
        self.value = value.to_vec();
        self
    }
    pub fn cas(mut self, cas: u64) -> Req {
        self.cas = cas;
        self
    }
    pub fn opaque(mut self, opaque: u32) -> Req {
        self.opaque = opaque;
        self
    }
    /// Header + extras + key + value, lengths computed from the parts.
    pub fn bytes(&self) -> Vec<u8> {
        packet_bytes(
            [self.magic, self.opcode, self.data_type],
            self.vbucket,
            self.opaque,
            self.cas,
            [&self.extras, &self.key, &self.value],
        )
    }
}

/// A whole packet, request or response: the header with its lengths taken from extras, key and
/// value (`[magic, opcode, data_type]`, then the vbucket or status), followed by those parts.
fn packet_bytes(
    [magic, opcode, data_type]: [u8; 3],
    vbucket_or_status: u16,
    opaque: u32,
    cas: u64,
    [extras, key, value]: [&[u8]; 3],
) -> Vec<u8> {
    let body = extras.len() + key.len() + value.len();
    let mut out = header_bytes(
        magic,
        opcode,
        key.len() as u16,
        extras.len() as u8,
        data_type,
        vbucket_or_status,
        body as u32,
        opaque,
        cas,
    );
    for part in [extras, key, value] {
        out.extend_from_slice(part);
    }
    out
}

/// A raw 24-byte header with arbitrary (possibly inconsistent) fields.
#[allow(clippy::too_many_arguments)]
pub fn header_bytes(
    magic: u8,
    opcode: u8,
    key_len: u16,
    extras_len: u8,
    data_type: u8,
    vbucket: u16,
    body_len: u32,
    opaque: u32,
    cas: u64,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.push(magic);
    b.push(opcode);
    b.extend_from_slice(&key_len.to_be_bytes());
    b.push(extras_len);
    b.push(data_type);
    b.extend_from_slice(&vbucket.to_be_bytes());
    b.extend_from_slice(&body_len.to_be_bytes());
    b.extend_from_slice(&opaque.to_be_bytes());
    b.extend_from_slice(&cas.to_be_bytes());
    b
}

/// Any request in wire form.
pub fn request(
    opcode: u8,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
    cas: u64,
    opaque: u32,
) -> Vec<u8> {
    Req::new(opcode)
        .extras(extras)
        .key(key)
        .value(value)
        .cas(cas)
        .opaque(opaque)
        .bytes()
}

/// SET/ADD/REPLACE extras: flags, exptime.
pub fn store_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// INCR/DECR extras: delta, initial, exptime.
pub fn counter_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

pub fn get(opcode: u8, key: &[u8]) -> Vec<u8> {
    request(opcode, &[], key, &[], 0, 0)
}

#[allow(clippy::too_many_arguments)]
pub fn store(opcode: u8, key: &[u8], value: &[u8], flags: u32, exptime: u32, cas: u64) -> Vec<u8> {
    request(opcode, &store_extras(flags, exptime), key, value, cas, 0)
}

pub fn set(key: &[u8], value: &[u8]) -> Vec<u8> {
    store(op::SET, key, value, 0, 0, 0)
}

pub fn counter(
    opcode: u8,
    key: &[u8],
    delta: u64,
    initial: u64,
    exptime: u32,
    cas: u64,
) -> Vec<u8> {
    request(
        opcode,
        &counter_extras(delta, initial, exptime),
        key,
        &[],
        cas,
        0,
    )
}

pub fn touch(opcode: u8, key: &[u8], exptime: u32) -> Vec<u8> {
    request(opcode, &exptime.to_be_bytes(), key, &[], 0, 0)
}

pub fn simple(opcode: u8) -> Vec<u8> {
    request(opcode, &[], &[], &[], 0, 0)
}

/// One decoded response packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub magic: u8,
    pub opcode: u8,
    pub data_type: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Packet {
    /// The response the core should send, for building expectations.
    pub fn response(
        opcode: u8,
        status: u16,
        opaque: u32,
        cas: u64,
        extras: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Packet {
        Packet {
            magic: 0x81,
            opcode,
            data_type: 0,
            status,
            opaque,
            cas,
            extras: extras.to_vec(),
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    /// memcached's error packet: no extras, no key, cas 0, the status text as value.
    pub fn error(opcode: u8, status: u16, opaque: u32) -> Packet {
        Packet::response(opcode, status, opaque, 0, &[], &[], error_text(status))
    }

    pub fn flags(&self) -> u32 {
        u32::from_be_bytes(self.extras[..4].try_into().expect("4 bytes of flags"))
    }

    pub fn counter_value(&self) -> u64 {
        u64::from_be_bytes(self.value[..].try_into().expect("8-byte counter value"))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        packet_bytes(
            [self.magic, self.opcode, self.data_type],
            self.status,
            self.opaque,
            self.cas,
            [&self.extras, &self.key, &self.value],
        )
    }
}

/// Parses a stream of complete response packets; returns them and the unparsed tail.
pub fn parse_stream(mut bytes: &[u8]) -> (Vec<Packet>, &[u8]) {
    let mut packets = Vec::new();
    while bytes.len() >= 24 {
        let h = &bytes[..24];
        let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let extras_len = usize::from(h[4]);
        let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        assert!(
            key_len + extras_len <= body_len,
            "inconsistent response header {h:?}"
        );
        if bytes.len() < 24 + body_len {
            break;
        }
        let body = &bytes[24..24 + body_len];
        packets.push(Packet {
            magic: h[0],
            opcode: h[1],
            data_type: h[5],
            status: u16::from_be_bytes([h[6], h[7]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes(h[16..24].try_into().unwrap()),
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
        });
        bytes = &bytes[24 + body_len..];
    }
    (packets, bytes)
}

/// Parses a stream that must consist of whole packets only.
pub fn parse_all(bytes: &[u8]) -> Vec<Packet> {
    let (packets, rest) = parse_stream(bytes);
    assert!(
        rest.is_empty(),
        "{} trailing bytes after {} packets",
        rest.len(),
        packets.len()
    );
    packets
}

/// A `Server<Cache>` driven like a driver would, on a fake clock.
pub struct Harness {
    pub server: Server<Cache>,
    pub now: Timestamp,
    /// Bytes each connection received so far (taken by `take_output`).
    pub received: HashMap<ConnId, Vec<u8>>,
    /// Connections the core closed, and why.
    pub closed: HashMap<ConnId, CloseReason>,
    /// Every output seen, in order.
    pub log: Vec<Output>,
    /// When false, `drain` records `Transmit`s but takes no bytes (a peer that does not read).
    pub auto_consume: bool,
}

impl Harness {
    /// Default server config, except no idle timeout; a default cache.
    pub fn new() -> Harness {
        let config = Config {
            idle_timeout: None,
            ..Config::default()
        };
        Harness::with_config(config, CacheConfig::default())
    }

    pub fn with_config(config: Config, cache: CacheConfig) -> Harness {
        let now = Timestamp::from_secs(T0_SECS);
        Harness {
            server: Server::new(config, Cache::new(cache), now),
            now,
            received: HashMap::new(),
            closed: HashMap::new(),
            log: Vec::new(),
            auto_consume: true,
        }
    }

    pub fn with_idle_timeout(timeout: Duration) -> Harness {
        let config = Config {
            idle_timeout: Some(timeout),
            ..Config::default()
        };
        Harness::with_config(config, CacheConfig::default())
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.now = self.now.saturating_add_millis(ms);
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.saturating_add_secs(secs);
    }

    /// Sets the clock to `T0 + ms`.
    pub fn at_ms(&mut self, ms: u64) {
        self.now = Timestamp::from_secs(T0_SECS).saturating_add_millis(ms);
    }

    pub fn accept(&mut self) -> ConnId {
        let id = self.server.accept(self.now).expect("accept");
        self.received.insert(id, Vec::new());
        id
    }

    /// Feeds bytes without draining.
    pub fn feed(&mut self, id: ConnId, bytes: &[u8]) {
        self.server.handle_input(id, self.now, bytes);
    }

    /// Feeds bytes and drains the outputs.
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) {
        self.feed(id, bytes);
        self.drain();
    }

    /// Feeds bytes in chunks of `chunk` bytes, draining after each.
    pub fn send_chunked(&mut self, id: ConnId, bytes: &[u8], chunk: usize) {
        for piece in bytes.chunks(chunk.max(1)) {
            self.send(id, piece);
        }
    }

    pub fn eof(&mut self, id: ConnId) {
        self.server.handle_eof(id, self.now);
        self.drain();
    }

    /// Handles every queued output: `Transmit` copies and consumes the outbound bytes (when
    /// `auto_consume`), `Close` is recorded. Checks that no output names a connection after its
    /// `Close`, and that the step count stays bounded.
    pub fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_STEPS {
            let Some(out) = self.server.poll_output() else {
                return;
            };
            self.log.push(out);
            match out {
                Output::Transmit(id) => {
                    assert!(
                        !self.closed.contains_key(&id),
                        "Transmit({id:?}) after its Close"
                    );
                    if self.auto_consume {
                        self.consume_all(id);
                    }
                }
                Output::Close(id, reason) => {
                    assert!(
                        self.closed.insert(id, reason).is_none(),
                        "second Close for {id:?}"
                    );
                    assert!(
                        self.server.state(id).is_none(),
                        "closed {id:?} still has a state"
                    );
                    assert!(
                        self.server.outbound(id).is_empty(),
                        "closed {id:?} has output"
                    );
                }
            }
        }
        panic!("drain did not finish within {MAX_DRAIN_STEPS} steps");
    }

    /// Takes everything `outbound(id)` holds (and whatever consuming unblocks), recording it.
    pub fn consume_all(&mut self, id: ConnId) {
        for _ in 0..MAX_DRAIN_STEPS {
            let bytes = self.server.outbound(id);
            if bytes.is_empty() {
                return;
            }
            let n = bytes.len();
            self.received
                .entry(id)
                .or_default()
                .extend_from_slice(bytes);
            self.server.consume_outbound(id, n, self.now);
        }
        panic!("consume_all did not finish within {MAX_DRAIN_STEPS} steps");
    }

    /// The bytes received by `id` since the last call.
    pub fn take_output(&mut self, id: ConnId) -> Vec<u8> {
        std::mem::take(self.received.entry(id).or_default())
    }

    /// The packets received by `id` since the last call (must be whole packets).
    pub fn packets(&mut self, id: ConnId) -> Vec<Packet> {
        let bytes = self.take_output(id);
        parse_all(&bytes)
    }

    /// Sends a request stream and returns the packets it produced.
    pub fn call(&mut self, id: ConnId, bytes: &[u8]) -> Vec<Packet> {
        self.send(id, bytes);
        self.packets(id)
    }

    /// Sends one request that must produce exactly one packet.
    pub fn call1(&mut self, id: ConnId, bytes: &[u8]) -> Packet {
        let mut packets = self.call(id, bytes);
        assert_eq!(packets.len(), 1, "expected one packet, got {packets:#?}");
        packets.pop().unwrap()
    }

    pub fn close_reason(&self, id: ConnId) -> Option<CloseReason> {
        self.closed.get(&id).copied()
    }

    /// The value of a general STAT, read over a fresh connection.
    pub fn stat(&mut self, group: &[u8], name: &str) -> Option<String> {
        let id = self.accept();
        let packets = self.call(id, &request(op::STAT, &[], group, &[], 0, 0));
        self.server.handle_eof(id, self.now);
        self.drain();
        packets
            .iter()
            .find(|p| p.key == name.as_bytes())
            .map(|p| String::from_utf8(p.value.clone()).unwrap())
    }
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

/// A small deterministic PRNG (splitmix64) for simulations: no external crate, reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
