//! The `server` target: an arbitrary sequence of driver events (accept, reads, EOF, socket errors,
//! partial writes, clock steps, timeouts, rarely shutdown) across up to 16 client slots of a
//! `Server<Cache>` with 8 connections at most, a 60 s idle timeout, a 4 KiB output bound and a
//! 2 MiB cache of 64 KiB items, so eviction, backpressure and idle sweeps all happen.
//!
//! Clients send binary requests (`Send`) or text commands (`SendText`); each connection's first
//! byte fixes its protocol, so sending the other kind later is garbage for it.
//!
//! Invariants, checked after every event once the outputs are drained:
//! - `stats().curr_connections == connection_count() <= max_connections`, and the open
//!   connections are exactly those accepted and not yet closed; `accept` refuses exactly when it
//!   must;
//! - no `Transmit` or `Close` for an id after its `Close`; output is pending only after a
//!   `Transmit`, within `output_limit + item_size_max + 1 KiB` (times the most words on a line
//!   sent, for a text connection's multi-gets), with write interest set; a closing
//!   connection (or any connection during shutdown) is gone once its output is taken;
//! - idle deadlines: `handle_timeout` closes exactly the connections idle for the timeout, and
//!   `poll_timeout` is never later than the earliest deadline;
//! - `service().check_invariants()` (store accounting, memory within the limit);
//! - counters never go backwards, and total_connections, rejected_connections, bytes_read and
//!   bytes_written equal what the driver did. Generated requests never ask for STAT `reset`; if
//!   raw bytes spell one out (found by decoding each binary connection's stream alongside the
//!   server, or seeing "reset" anywhere in a text one), the counter checks stop for the rest of
//!   the run.

use std::collections::HashSet;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use keel_core::cache::CacheStats;
use keel_core::protocol::{Decoded, Opcode, REQUEST_MAGIC, decode};
use keel_core::store::StoreStats;
use keel_core::{
    AcceptError, Cache, CloseReason, ConnId, ConnState, Output, Server, ServerStats, Timestamp,
};

use crate::connection::{Advance, max_words_per_line, new_server, response_bound};
use crate::request::{Request, START_SECS};
use crate::text_request::TextMsg;
use crate::wire::{Emit, Enc};

pub const SLOTS: usize = 16;
pub const MAX_CONNECTIONS: usize = 8;
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const OUTPUT_LIMIT: usize = 4 << 10;
/// `Shutdown` only acts with this byte, so it stays rare.
pub const SHUTDOWN_KEY: u8 = 0x5a;

/// The structured input.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct ServerInput {
    pub ops: Vec<Op>,
}

/// One driver event. `conn` names a client slot (modulo 16); a slot keeps its connection's id
/// after the close, so stale ids are exercised too.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Accept,
    /// The client sends a request; the driver then reads up to `limit` bytes (0: all) if the
    /// server wants to read.
    Send {
        conn: u8,
        request: Request,
        limit: u16,
    },
    /// The driver reads up to `limit` bytes (0: all) of what the client sent; `force` ignores the
    /// server's read interest, as a sloppy driver might.
    Read {
        conn: u8,
        limit: u16,
        force: bool,
    },
    /// The driver writes up to `n` bytes (0: all pending).
    Write {
        conn: u8,
        n: u16,
    },
    Eof {
        conn: u8,
    },
    IoError {
        conn: u8,
    },
    Advance(Advance),
    /// `handle_timeout`; with `jump` the clock first moves to `poll_timeout()`.
    Timeout {
        jump: bool,
    },
    /// `begin_shutdown`, only when the byte is `SHUTDOWN_KEY`.
    Shutdown(u8),
    /// As `Send`, with a text command.
    SendText {
        conn: u8,
        request: TextMsg,
        limit: u16,
    },
}

/// What the driver knows about one accepted connection.
struct Client {
    id: ConnId,
    /// Sent by the client, not yet read by the driver.
    unread: Vec<u8>,
    /// Read and given to the server but not yet a whole frame, for spotting STAT reset.
    shadow: Vec<u8>,
    /// The stream hit a framing error: the server closes it, nothing after counts.
    shadow_dead: bool,
    /// Whether the connection speaks text (its first byte is not 0x80), once known.
    text: Option<bool>,
    /// The most words on one line the client sent: a text multi-get may answer that many items
    /// in one response, past the output bound.
    words: usize,
    last_active: Timestamp,
    transmit_seen: bool,
}

impl Client {
    /// Counts the words per line of what was sent from `start` on (the line in progress before
    /// `start` counts again with its continuation).
    fn note_words(&mut self, start: usize) {
        let from = self.unread[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        self.words = self.words.max(max_words_per_line(&self.unread[from..]));
    }
}

struct Harness {
    server: Server<Cache>,
    slots: [Option<Client>; SLOTS],
    closed: HashSet<ConnId>,
    now: Timestamp,
    accepts: usize,
    shutting_down: bool,
    reset_possible: bool,
    expected: ServerStats,
    last_cache: CacheStats,
    last_store: StoreStats,
}

/// Runs the `server` target on one input.
pub fn server(data: &[u8]) {
    let Ok(input) = ServerInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    run(&input);
}

/// Runs one structured input.
pub fn run(input: &ServerInput) {
    let mut h = Harness::new();
    let trace = crate::tracing();
    for op in &input.ops {
        if trace {
            eprintln!("[{}] {op:?}", h.now);
        }
        h.step(*op);
        h.drain();
        h.check();
    }
    // Wind down: the driver reads what each client sent while the server wants it, then the
    // client closes and takes its output; everything must close.
    for slot in 0..SLOTS {
        while h.live(slot).is_some() {
            h.write_all(slot);
            let unread = h.slots[slot].as_ref().map_or(0, |c| c.unread.len());
            if unread == 0 || h.live(slot).is_none_or(|id| !h.server.interest(id).read) {
                break;
            }
            h.read(slot, 0, false);
            h.drain();
            h.check();
        }
        if let Some(id) = h.live(slot) {
            h.server.handle_eof(id, h.now);
            h.drain();
            h.write_all(slot);
            h.drain();
            h.check();
        }
    }
    assert_eq!(
        h.server.connection_count(),
        0,
        "connections left after EOF and a full drain"
    );
    if trace {
        eprintln!(
            "{:?}\n{:?}\n{:?}",
            h.server.stats(),
            h.server.service().stats(),
            h.server.service().store_stats()
        );
    }
}

fn bump<T: Copy + Into<u64>>(name: &str, before: T, after: T) {
    let (b, a) = (before.into(), after.into());
    assert!(a >= b, "counter {name} went backwards: {b} -> {a}");
}

impl Harness {
    fn new() -> Harness {
        let server = new_server(OUTPUT_LIMIT, MAX_CONNECTIONS, Some(IDLE_TIMEOUT));
        let last_cache = server.service().stats();
        let last_store = server.service().store_stats();
        Harness {
            server,
            slots: Default::default(),
            closed: HashSet::new(),
            now: Timestamp::from_secs(START_SECS),
            accepts: 0,
            shutting_down: false,
            reset_possible: false,
            expected: ServerStats::default(),
            last_cache,
            last_store,
        }
    }

    /// The slot's connection id if it is open.
    fn live(&self, slot: usize) -> Option<ConnId> {
        self.slots[slot]
            .as_ref()
            .map(|c| c.id)
            .filter(|id| !self.closed.contains(id))
    }

    fn live_count(&self) -> usize {
        (0..SLOTS).filter(|&s| self.live(s).is_some()).count()
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Accept => self.accept(),
            Op::Send {
                conn,
                request,
                limit,
            } => {
                let slot = usize::from(conn) % SLOTS;
                let Some(client) = self.slots[slot].as_mut() else {
                    return;
                };
                let start = client.unread.len();
                request.encode(self.accepts as u32, &mut client.unread);
                client.note_words(start);
                self.read(slot, limit, false);
            }
            Op::SendText {
                conn,
                request,
                limit,
            } => {
                let slot = usize::from(conn) % SLOTS;
                let Some(client) = self.slots[slot].as_mut() else {
                    return;
                };
                let start = client.unread.len();
                request.encode(&mut client.unread);
                client.note_words(start);
                self.read(slot, limit, false);
            }
            Op::Read { conn, limit, force } => self.read(usize::from(conn) % SLOTS, limit, force),
            Op::Write { conn, n } => self.write(usize::from(conn) % SLOTS, usize::from(n)),
            Op::Eof { conn } => {
                if let Some(c) = &self.slots[usize::from(conn) % SLOTS] {
                    self.server.handle_eof(c.id, self.now);
                }
            }
            Op::IoError { conn } => {
                if let Some(c) = &self.slots[usize::from(conn) % SLOTS] {
                    self.server.handle_io_error(c.id, self.now);
                }
            }
            Op::Advance(a) => {
                // The server learns the time with the next call; a sweep waits for `Timeout`.
                self.now = self.now.saturating_add_millis(a.millis());
            }
            Op::Timeout { jump } => {
                if jump {
                    if let Some(t) = self.server.poll_timeout() {
                        self.now = self.now.max(t);
                    }
                }
                self.server.handle_timeout(self.now);
                self.check_sweep();
            }
            Op::Shutdown(key) => {
                if key == SHUTDOWN_KEY {
                    self.shutting_down = true;
                    self.server.begin_shutdown(self.now);
                }
            }
        }
    }

    fn accept(&mut self) {
        let live = self.live_count();
        match self.server.accept(self.now) {
            Ok(id) => {
                assert!(!self.shutting_down, "accepted during shutdown");
                assert!(live < MAX_CONNECTIONS, "accepted past max_connections");
                assert!(
                    !self.closed.contains(&id),
                    "a closed id was handed out again"
                );
                self.expected.total_connections += 1;
                let start = self.accepts;
                self.accepts += 1;
                let slot = (0..SLOTS)
                    .map(|i| (start + i) % SLOTS)
                    .find(|&s| self.live(s).is_none())
                    .expect("fewer live connections than slots");
                self.slots[slot] = Some(Client {
                    id,
                    unread: Vec::new(),
                    shadow: Vec::new(),
                    shadow_dead: false,
                    text: None,
                    words: 0,
                    last_active: self.now,
                    transmit_seen: false,
                });
            }
            Err(AcceptError::ShuttingDown) => {
                assert!(self.shutting_down, "refused as shutting down")
            }
            Err(AcceptError::AtCapacity(max)) => {
                assert!(!self.shutting_down);
                assert_eq!(max, MAX_CONNECTIONS);
                assert_eq!(live, MAX_CONNECTIONS, "refused below max_connections");
                self.expected.rejected_connections += 1;
            }
        }
    }

    /// The driver reads from the client's socket into the server.
    fn read(&mut self, slot: usize, limit: u16, force: bool) {
        let live = self.live(slot).is_some();
        let Some(client) = self.slots[slot].as_mut() else {
            return;
        };
        if client.unread.is_empty() || !(force || self.server.interest(client.id).read) {
            return;
        }
        let n = match usize::from(limit) {
            0 => client.unread.len(),
            l => l.min(client.unread.len()),
        };
        let bytes: Vec<u8> = client.unread.drain(..n).collect();
        self.server.handle_input(client.id, self.now, &bytes);
        if live {
            self.expected.bytes_read += n as u64;
            client.last_active = self.now;
            if !client.shadow_dead {
                client.shadow.extend_from_slice(&bytes);
                self.reset_possible |= shadow_frames(client);
            }
        }
    }

    fn write(&mut self, slot: usize, n: usize) {
        let live = self.live(slot).is_some();
        let Some(client) = self.slots[slot].as_mut() else {
            return;
        };
        let pending = self.server.outbound(client.id).len();
        if !live {
            assert_eq!(pending, 0, "output for a closed connection");
        }
        let n = if n == 0 { pending } else { n };
        let taken = n.min(pending);
        self.server.consume_outbound(client.id, n, self.now);
        if live {
            self.expected.bytes_written += taken as u64;
            if taken > 0 {
                client.last_active = self.now;
            }
            if taken == pending {
                client.transmit_seen = false;
            }
        }
    }

    /// Writes until nothing is pending (output can grow as held-back input is processed).
    fn write_all(&mut self, slot: usize) {
        while let Some(id) = self.live(slot) {
            if self.server.outbound(id).is_empty() {
                return;
            }
            self.write(slot, 0);
            self.drain();
        }
    }

    fn client_mut(&mut self, id: ConnId) -> Option<&mut Client> {
        self.slots.iter_mut().flatten().find(|c| c.id == id)
    }

    /// Acts on every queued output.
    fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            if crate::tracing() {
                eprintln!("  -> {out:?}");
            }
            match out {
                Output::Transmit(id) => {
                    assert!(
                        !self.closed.contains(&id),
                        "Transmit({id:?}) after its Close"
                    );
                    let pending = !self.server.outbound(id).is_empty();
                    let closed = self.server.state(id) == Some(ConnState::Closed);
                    assert!(pending || closed, "Transmit({id:?}) with nothing to send");
                    self.client_mut(id)
                        .expect("Transmit for an unknown id")
                        .transmit_seen = true;
                }
                Output::Close(id, reason) => {
                    assert!(self.closed.insert(id), "second Close({id:?})");
                    let timeout = IDLE_TIMEOUT.as_millis() as u64;
                    let now = self.now;
                    let shutting_down = self.shutting_down;
                    let client = self.client_mut(id).expect("Close for an unknown id");
                    match reason {
                        CloseReason::IdleTimeout => assert!(
                            client.last_active.saturating_add_millis(timeout) <= now,
                            "{id:?} closed as idle at {now}, last active {}",
                            client.last_active
                        ),
                        CloseReason::Shutdown => assert!(shutting_down),
                        _ => {}
                    }
                    assert_eq!(self.server.state(id), None, "state after Close");
                    assert!(self.server.outbound(id).is_empty(), "outbound after Close");
                }
            }
        }
    }

    /// After `handle_timeout`: nobody idle past the deadline is left, and the next deadline is not
    /// later than the earliest one.
    fn check_sweep(&mut self) {
        self.drain();
        let timeout = IDLE_TIMEOUT.as_millis() as u64;
        let mut earliest: Option<Timestamp> = None;
        for slot in 0..SLOTS {
            if let Some(id) = self.live(slot) {
                let last = self.slots[slot]
                    .as_ref()
                    .map(|c| c.last_active)
                    .unwrap_or_default();
                let deadline = last.saturating_add_millis(timeout);
                assert!(
                    deadline > self.now,
                    "{id:?} idle since {last} survived a sweep at {}",
                    self.now
                );
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
        }
        if let Some(earliest) = earliest {
            match self.server.poll_timeout() {
                Some(t) => assert!(
                    t <= earliest,
                    "poll_timeout {t} after the earliest deadline {earliest}"
                ),
                None => panic!("no poll_timeout with a deadline at {earliest}"),
            }
        }
    }

    fn check(&mut self) {
        let s = &self.server;
        let stats = s.stats();
        let count = s.connection_count();
        assert_eq!(
            stats.curr_connections, count as u64,
            "curr_connections vs connection_count"
        );
        assert!(count <= MAX_CONNECTIONS, "{count} connections open");
        assert_eq!(count, self.live_count(), "open connections vs the driver's");
        let ids: HashSet<ConnId> = s.connections().collect();
        for slot in 0..SLOTS {
            let Some(client) = &self.slots[slot] else {
                continue;
            };
            let id = client.id;
            let pending = s.outbound(id).len();
            if self.closed.contains(&id) {
                assert!(!ids.contains(&id), "{id:?} listed after its Close");
                assert_eq!(pending, 0);
                assert_eq!(s.interest(id), Default::default());
                assert_eq!(s.state(id), None);
                continue;
            }
            assert!(ids.contains(&id), "{id:?} missing from connections()");
            let items = if client.text == Some(true) {
                client.words
            } else {
                1
            };
            let bound = response_bound(OUTPUT_LIMIT, items);
            assert!(
                pending <= bound,
                "{id:?} has {pending} bytes pending, bound {bound}"
            );
            let interest = s.interest(id);
            assert_eq!(interest.write, pending > 0, "write interest of {id:?}");
            if pending > 0 {
                assert!(
                    client.transmit_seen,
                    "{id:?} has output but no Transmit was issued"
                );
            }
            let state = s.state(id).expect("a live connection has a state");
            assert_ne!(
                state,
                ConnState::Closed,
                "{id:?} closed without a Close output"
            );
            if state == ConnState::Closing || self.shutting_down {
                assert!(
                    pending > 0,
                    "{id:?} is closing with nothing left to send ({state:?})"
                );
                assert!(!interest.read, "{id:?} reads while closing");
            }
            if pending > OUTPUT_LIMIT {
                assert!(!interest.read, "{id:?} reads past the output bound");
            }
        }
        s.service().check_invariants();

        let cache = s.service().stats();
        let store = s.service().store_stats();
        assert!(store.memory_used <= store.memory_limit);
        for (name, b, a) in [
            ("evictions", self.last_store.evictions, store.evictions),
            (
                "evicted_unfetched",
                self.last_store.evicted_unfetched,
                store.evicted_unfetched,
            ),
            (
                "expired_unfetched",
                self.last_store.expired_unfetched,
                store.expired_unfetched,
            ),
            ("reclaimed", self.last_store.reclaimed, store.reclaimed),
            (
                "total_items",
                self.last_store.total_items,
                store.total_items,
            ),
        ] {
            bump(name, b, a);
        }
        if !self.reset_possible {
            let e = &self.expected;
            assert_eq!(
                stats.total_connections, e.total_connections,
                "total_connections"
            );
            assert_eq!(
                stats.rejected_connections, e.rejected_connections,
                "rejected_connections"
            );
            assert_eq!(stats.bytes_read, e.bytes_read, "bytes_read");
            assert_eq!(stats.bytes_written, e.bytes_written, "bytes_written");
            check_cache_counters(&self.last_cache, &cache);
        }
        self.last_cache = cache;
        self.last_store = store;
    }
}

fn check_cache_counters(b: &CacheStats, a: &CacheStats) {
    for (name, x, y) in [
        ("cmd_get", b.cmd_get, a.cmd_get),
        ("cmd_set", b.cmd_set, a.cmd_set),
        ("cmd_flush", b.cmd_flush, a.cmd_flush),
        ("cmd_touch", b.cmd_touch, a.cmd_touch),
        ("get_hits", b.get_hits, a.get_hits),
        ("get_misses", b.get_misses, a.get_misses),
        ("get_expired", b.get_expired, a.get_expired),
        ("get_flushed", b.get_flushed, a.get_flushed),
        ("delete_misses", b.delete_misses, a.delete_misses),
        ("delete_hits", b.delete_hits, a.delete_hits),
        ("incr_misses", b.incr_misses, a.incr_misses),
        ("incr_hits", b.incr_hits, a.incr_hits),
        ("decr_misses", b.decr_misses, a.decr_misses),
        ("decr_hits", b.decr_hits, a.decr_hits),
        ("cas_misses", b.cas_misses, a.cas_misses),
        ("cas_hits", b.cas_hits, a.cas_hits),
        ("cas_badval", b.cas_badval, a.cas_badval),
        ("touch_hits", b.touch_hits, a.touch_hits),
        ("touch_misses", b.touch_misses, a.touch_misses),
        ("store_too_large", b.store_too_large, a.store_too_large),
        ("store_no_memory", b.store_no_memory, a.store_no_memory),
    ] {
        bump(name, x, y);
    }
    assert_eq!(
        a.get_hits + a.get_misses,
        a.cmd_get,
        "get_hits + get_misses vs cmd_get"
    );
    assert_eq!(
        a.touch_hits + a.touch_misses,
        a.cmd_touch,
        "touch_hits + touch_misses vs cmd_touch"
    );
}

/// Frames what the client's stream holds so far; true when a STAT reset went by. A stream whose
/// first byte is not 0x80 is text: any "reset" in it counts.
fn shadow_frames(client: &mut Client) -> bool {
    let text = *client
        .text
        .get_or_insert_with(|| client.shadow.first().is_some_and(|&b| b != REQUEST_MAGIC));
    if text {
        let reset = client.shadow.windows(5).any(|w| w == b"reset");
        // Keep a tail so a "reset" split across reads is still seen.
        let keep = client.shadow.len().min(4);
        client.shadow.drain(..client.shadow.len() - keep);
        return reset;
    }
    let mut reset = false;
    let mut used = 0;
    loop {
        match decode(&client.shadow[used..]) {
            Ok(Decoded::Frame { frame, consumed }) => {
                if frame.header.opcode == Opcode::STAT.0 && frame.key.starts_with(b"reset") {
                    reset = true;
                }
                used += consumed;
            }
            Ok(Decoded::Incomplete { .. }) => break,
            Err(_) => {
                client.shadow_dead = true;
                client.shadow = Vec::new();
                return reset;
            }
        }
    }
    client.shadow.drain(..used);
    reset
}

impl Emit for Op {
    fn emit(&self, e: &mut Enc) {
        const N: u32 = 10;
        match *self {
            Op::Accept => e.variant(0, N),
            Op::Send {
                conn,
                request,
                limit,
            } => {
                e.variant(1, N).u8(conn);
                request.emit(e);
                e.u16(limit)
            }
            Op::Read { conn, limit, force } => e.variant(2, N).u8(conn).u16(limit).bool(force),
            Op::Write { conn, n } => e.variant(3, N).u8(conn).u16(n),
            Op::Eof { conn } => e.variant(4, N).u8(conn),
            Op::IoError { conn } => e.variant(5, N).u8(conn),
            Op::Advance(a) => {
                e.variant(6, N);
                a.emit(e);
                e
            }
            Op::Timeout { jump } => e.variant(7, N).bool(jump),
            Op::Shutdown(k) => e.variant(8, N).u8(k),
            Op::SendText {
                conn,
                request,
                limit,
            } => {
                e.variant(9, N).u8(conn);
                request.emit(e);
                e.u16(limit)
            }
        };
    }
}

impl Emit for ServerInput {
    fn emit(&self, e: &mut Enc) {
        e.vec(&self.ops, true);
    }
}
