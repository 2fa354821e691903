//! The `connection` target: one connection of a `Server<Cache>` fed a request stream cut into
//! arbitrary chunks at arbitrary (fake-clock) times, its output taken in arbitrary partial writes.
//! The stream is binary requests or text commands; the server picks the protocol by the first
//! byte, so a text stream that starts with garbage may still turn out binary, and the other way.
//!
//! Invariants:
//! - nothing panics;
//! - the output bytes and the close reason are the same as a second server's that gets the same
//!   bytes in one piece per clock instant (requests are answered at the time their deciding byte
//!   arrives, so chunking within an instant, and across instants, must not change a byte), except
//!   for the values of the bytes_read and bytes_written statistics, which count traffic so far;
//! - pending output never exceeds `output_limit + item_size_max + 1 KiB`, or for a text stream
//!   `output_limit + n * (item_size_max + 1 KiB)` with `n` the most words on one of its lines (one
//!   response may overshoot the limit, and a text multi-get answers many keys at once);
//! - output is only ever pending after a `Transmit` for it, write interest matches pending
//!   output, and a `Close` comes once, last.

use arbitrary::{Arbitrary, Unstructured};
use keel_core::protocol::{HEADER_LEN, Header, Opcode, RESPONSE_MAGIC};
use keel_core::{Cache, CacheConfig, CloseReason, Config, ConnId, Output, Server, Timestamp};

use crate::request::{ITEM_SIZE_MAX, MEMORY_LIMIT, Request, START_SECS, encode_all};
use crate::text_request::{TextMsg, encode_text};
use crate::wire::{Emit, Enc};

/// The structured input.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInput {
    /// `Config::output_limit` is `2^(n % 21)` bytes: 1 byte (every response stalls the reader)
    /// up to 1 MiB.
    pub output_limit: u8,
    /// How the stream is cut, applied in a cycle.
    pub steps: Vec<Step>,
    /// The request stream.
    pub requests: Requests,
}

/// A connection's request stream, in one protocol or the other.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum Requests {
    Binary(Vec<Request>),
    Text(Vec<TextMsg>),
}

impl Requests {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Requests::Binary(r) => encode_all(r),
            Requests::Text(r) => encode_text(r),
        }
    }
}

/// One read: how many bytes arrive, how far the clock moves first, how big the writes are.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Below 0x8000: 1..=97 bytes; otherwise `(len & 0x7fff) + 1`.
    pub len: u16,
    pub advance: Advance,
    /// Bytes per `consume_outbound` call, 0 meaning all that is pending.
    pub write: u16,
}

/// How far the fake clock moves.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    None,
    Millis(u16),
    Seconds(u8),
    Hours(u8),
}

impl Advance {
    pub fn millis(self) -> u64 {
        match self {
            Advance::None => 0,
            Advance::Millis(n) => u64::from(n),
            Advance::Seconds(n) => u64::from(n) * 1000,
            Advance::Hours(n) => u64::from(n) * 3_600_000,
        }
    }
}

impl Step {
    pub fn chunk_len(self) -> usize {
        if self.len & 0x8000 == 0 {
            usize::from(self.len % 97) + 1
        } else {
            usize::from(self.len & 0x7fff) + 1
        }
    }
}

/// The server both sides of the comparison run.
pub fn new_server(
    output_limit: usize,
    max_connections: usize,
    idle_timeout: Option<std::time::Duration>,
) -> Server<Cache> {
    server_with(Config {
        max_connections,
        idle_timeout,
        output_limit,
        ..Config::default()
    })
}

/// A server with `config` over the targets' small cache.
pub fn server_with(config: Config) -> Server<Cache> {
    let cache = Cache::new(CacheConfig {
        memory_limit: MEMORY_LIMIT,
        item_size_max: ITEM_SIZE_MAX,
        ..CacheConfig::default()
    });
    Server::new(config, cache, Timestamp::from_secs(START_SECS))
}

/// How much output may be pending: the limit plus one response of `items` items at most.
pub fn response_bound(output_limit: usize, items: usize) -> usize {
    output_limit + items.max(1) * (ITEM_SIZE_MAX + 1024)
}

/// An upper bound on the keys one text command in `stream` can name: the most space-separated
/// words on one line.
pub fn max_words_per_line(stream: &[u8]) -> usize {
    stream
        .split(|&b| b == b'\n')
        .map(|line| line.split(|&b| b == b' ').filter(|w| !w.is_empty()).count())
        .max()
        .unwrap_or(0)
}

/// One connection as a driver sees it: what it received, and whether it was closed.
pub(crate) struct Peer {
    pub(crate) id: ConnId,
    pub(crate) received: Vec<u8>,
    pub(crate) closed: Option<CloseReason>,
    /// A `Transmit` was returned since the output was last fully taken.
    transmit_seen: bool,
    bound: usize,
}

impl Peer {
    pub(crate) fn new(server: &mut Server<Cache>, now: Timestamp) -> Peer {
        let id = server
            .accept(now)
            .expect("the first connection is accepted");
        let bound = response_bound(server.config().output_limit, 1);
        Peer {
            id,
            received: Vec::new(),
            closed: None,
            transmit_seen: false,
            bound,
        }
    }

    /// Allows responses of `n` items at once (a text multi-get) past the output limit.
    pub(crate) fn allow_items(&mut self, server: &Server<Cache>, n: usize) {
        self.bound = response_bound(server.config().output_limit, n);
    }

    /// Acts on every output, then writes everything pending in writes of `write` bytes (0: all),
    /// until the server has nothing more to say.
    pub(crate) fn drain(&mut self, server: &mut Server<Cache>, now: Timestamp, write: usize) {
        loop {
            while let Some(out) = server.poll_output() {
                assert!(self.closed.is_none(), "{out:?} after the Close");
                match out {
                    Output::Transmit(id) => {
                        assert_eq!(id, self.id);
                        self.transmit_seen = true;
                    }
                    Output::Close(id, reason) => {
                        assert_eq!(id, self.id);
                        self.closed = Some(reason);
                    }
                }
            }
            if self.closed.is_some() {
                assert!(server.outbound(self.id).is_empty(), "output after Close");
                assert_eq!(server.connection_count(), 0);
                return;
            }
            let pending = server.outbound(self.id);
            assert!(
                pending.len() <= self.bound,
                "pending output {} exceeds the bound {}",
                pending.len(),
                self.bound
            );
            assert_eq!(
                server.interest(self.id).write,
                !pending.is_empty(),
                "write interest"
            );
            if pending.is_empty() {
                return;
            }
            assert!(self.transmit_seen, "output pending without a Transmit");
            let n = if write == 0 {
                pending.len()
            } else {
                write.min(pending.len())
            };
            self.received.extend_from_slice(&pending[..n]);
            let emptied = n == pending.len();
            server.consume_outbound(self.id, n, now);
            if emptied {
                self.transmit_seen = false;
            }
        }
    }
}

/// Runs the `connection` target on one input.
pub fn connection(data: &[u8]) {
    let Ok(input) = ConnectionInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    run(&input);
}

/// Runs one structured input.
pub fn run(input: &ConnectionInput) {
    let stream = input.requests.encode();
    let output_limit = 1usize << (input.output_limit % 21);
    let start = Timestamp::from_secs(START_SECS);

    let mut chunked = new_server(output_limit, 4, None);
    let mut whole = new_server(output_limit, 4, None);
    let mut a = Peer::new(&mut chunked, start);
    let mut b = Peer::new(&mut whole, start);
    if let Requests::Text(_) = input.requests {
        let words = max_words_per_line(&stream);
        a.allow_items(&chunked, words);
        b.allow_items(&whole, words);
    }

    let default_step = [Step {
        len: 0xffff,
        advance: Advance::None,
        write: 0,
    }];
    let steps: &[Step] = if input.steps.is_empty() {
        &default_step
    } else {
        &input.steps
    };
    let mut now = start;
    let mut pos = 0;
    // Bytes of the current clock instant, for the one-piece server.
    let mut instant: Vec<u8> = Vec::new();
    for step in steps.iter().cycle() {
        if pos >= stream.len() {
            break;
        }
        let advance = step.advance.millis();
        if advance > 0 {
            whole.handle_input(b.id, now, &instant);
            b.drain(&mut whole, now, 0);
            instant.clear();
            now = now.saturating_add_millis(advance);
        }
        let end = stream.len().min(pos + step.chunk_len());
        let chunk = &stream[pos..end];
        pos = end;
        chunked.handle_input(a.id, now, chunk);
        a.drain(&mut chunked, now, usize::from(step.write));
        instant.extend_from_slice(chunk);
    }
    whole.handle_input(b.id, now, &instant);
    b.drain(&mut whole, now, 0);

    chunked.handle_eof(a.id, now);
    a.drain(&mut chunked, now, 0);
    whole.handle_eof(b.id, now);
    b.drain(&mut whole, now, 0);

    let (got, want) = (normalize(&a.received), normalize(&b.received));
    if got != want {
        let at = got.iter().zip(&want).position(|(x, y)| x != y);
        panic!(
            "output differs with chunking: {} vs {} bytes, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
    assert_eq!(a.closed, b.closed, "close reason differs with chunking");
    if crate::tracing() {
        eprintln!(
            "{} stream bytes, {} output bytes, {:?}; {:?}",
            stream.len(),
            a.received.len(),
            a.closed,
            chunked.service().stats()
        );
    }
    assert!(a.closed.is_some(), "EOF with all output taken must close");
    chunked.service().check_invariants();
    whole.service().check_invariants();
}

/// STAT statistics whose values depend on how the bytes were cut (they count traffic so far).
const TRAFFIC_STATS: [&[u8]; 2] = [b"bytes_read", b"bytes_written"];

/// The output with the values of `TRAFFIC_STATS` removed, in binary packets (the output starts
/// with the response magic) or text `STAT name value` lines (a connection whose first byte is not
/// 0x80 speaks the text protocol).
pub fn normalize(out: &[u8]) -> Vec<u8> {
    let mut norm = Vec::with_capacity(out.len());
    if out.first() == Some(&RESPONSE_MAGIC) {
        let mut rest = out;
        while let Some(h) = Header::parse(rest) {
            let total = HEADER_LEN + h.body_len as usize;
            let Some(packet) = rest.get(..total) else {
                break;
            };
            let key_start = HEADER_LEN + usize::from(h.extras_len);
            let key = packet
                .get(key_start..key_start + usize::from(h.key_len))
                .unwrap_or(&[]);
            if h.opcode == Opcode::STAT.0 && TRAFFIC_STATS.contains(&key) {
                let mut h2 = h;
                h2.body_len = u32::from(h.extras_len) + u32::from(h.key_len);
                norm.extend_from_slice(&h2.to_bytes());
                norm.extend_from_slice(&packet[HEADER_LEN..key_start + key.len()]);
            } else {
                norm.extend_from_slice(packet);
            }
            rest = &rest[total..];
        }
        norm.extend_from_slice(rest);
    } else {
        for line in out.split_inclusive(|&b| b == b'\n') {
            let stat = TRAFFIC_STATS.iter().find(|name| {
                line.strip_prefix(b"STAT ".as_slice())
                    .and_then(|l| l.strip_prefix(**name))
                    .is_some_and(|l| l.first() == Some(&b' '))
            });
            match stat {
                Some(name) => {
                    norm.extend_from_slice(b"STAT ");
                    norm.extend_from_slice(name);
                    norm.extend_from_slice(b"\r\n");
                }
                None => norm.extend_from_slice(line),
            }
        }
    }
    norm
}

impl Emit for Advance {
    fn emit(&self, e: &mut Enc) {
        match *self {
            Advance::None => e.variant(0, 4),
            Advance::Millis(n) => e.variant(1, 4).u16(n),
            Advance::Seconds(n) => e.variant(2, 4).u8(n),
            Advance::Hours(n) => e.variant(3, 4).u8(n),
        };
    }
}

impl Emit for Step {
    fn emit(&self, e: &mut Enc) {
        e.u16(self.len);
        self.advance.emit(e);
        e.u16(self.write);
    }
}

impl Emit for ConnectionInput {
    fn emit(&self, e: &mut Enc) {
        e.u8(self.output_limit);
        e.vec(&self.steps, false);
        match &self.requests {
            Requests::Binary(r) => e.variant(0, 2).vec(r, true),
            Requests::Text(r) => e.variant(1, 2).vec(r, true),
        };
    }
}
