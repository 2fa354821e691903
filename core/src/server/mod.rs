//! The coordinator (the seed's `Server` plus the pure half of its `ConnectionManager`): the
//! connection table, limits, idle deadlines, backpressure and the queue of driver instructions.

mod conns;
mod slab;

use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};

use crate::buffer::BufferPool;
use crate::config::Config;
use crate::conn::{Connection, Peer, process};
use crate::dispatch::{Dispatch, ServerSide};
use crate::group::{Counter, StatCells, WorkerGroup};
use crate::id::ConnId;
use crate::output::{AcceptError, CloseReason, Interest, Output, ShutdownMode};
use crate::service::Service;
use crate::stats::ServerStats;
use crate::sync::Arc;
use crate::time::{MonotonicClock, Timestamp};
use slab::ConnSlab;

/// Output left over after a partial write is moved to the front of its buffer once this much of it
/// has been sent, so a slow reader's buffer does not grow without bound.
const COMPACT_AFTER: usize = 64 << 10;

/// A memcached-compatible server without I/O.
///
/// A driver owns the sockets and the clock and calls, in a loop:
/// 1. `poll_timeout()`: the next deadline; wait for socket readiness at most until then.
/// 2. `accept(now)` for each new socket (close the socket on `Err`); `handle_input(id, now, bytes)`
///    for each read; `handle_eof(id, now)` when a read returns 0; `handle_io_error(id, now)` when
///    the socket fails; `handle_timeout(now)` when the deadline passed (early calls are harmless).
/// 3. `poll_output()` until `None`: on `Transmit(id)` write `outbound(id)` and report what was
///    written with `consume_outbound(id, n, now)`; on `Close(id, _)` close the socket.
/// 4. `interest(id)` says whether to wait for readability and writability of each socket.
///
/// Every method takes the time as an argument; time that goes backwards is treated as the latest
/// time seen. Calls with a stale id (a closed connection) do nothing.
pub struct Server<S> {
    config: Config,
    service: S,
    conns: ConnSlab,
    pool: BufferPool,
    outputs: VecDeque<Output>,
    /// The workers this server is one of (a group of one when it runs alone).
    group: Arc<WorkerGroup>,
    /// This server's slot in `group`.
    worker: usize,
    /// The same slot, held directly: it is written on every read and write.
    cells: Arc<StatCells>,
    /// Connections that used up their `reqs_per_event` and wait for `resume_yielded`.
    yielded: VecDeque<ConnId>,
    clock: MonotonicClock,
    started: Timestamp,
    /// No connection's idle or read deadline is earlier than this; `None` when there are none.
    next_sweep: Option<Timestamp>,
    shutting_down: bool,
    stat_scratch: String,
    key_scratch: Vec<u8>,
    /// What commands read of the server as a whole, and asked of it (`shutdown`, `stats conns`).
    side: ServerSide,
    /// Since when the driver has stopped accepting (out of descriptors), if it has.
    accept_paused_since: Option<Timestamp>,
    /// Peer addresses too long to keep inline in their connection (IPv6).
    wide_peers: BTreeMap<ConnId, SocketAddr>,
}

impl<S: Service> Server<S> {
    /// Memory only: no sockets, no clock. `now` is the start time STAT's uptime counts from.
    pub fn new(config: Config, service: S, now: Timestamp) -> Server<S> {
        Server::in_group(config, service, now, WorkerGroup::new(1), 0)
    }

    /// Worker `worker` of `group`: one of several servers (each driven by its own loop, usually on
    /// its own thread) over one shared service. The connection limit and the statistics are the
    /// group's; `worker` must be below `group.workers()`.
    pub fn in_group(
        config: Config,
        service: S,
        now: Timestamp,
        group: Arc<WorkerGroup>,
        worker: usize,
    ) -> Server<S> {
        assert!(
            worker < group.workers(),
            "worker {worker} of a group of {}",
            group.workers()
        );
        let pool = BufferPool::new(config.max_connections.min(1024));
        Server {
            config,
            service,
            conns: ConnSlab::default(),
            pool,
            outputs: VecDeque::new(),
            cells: group.cells(worker),
            group,
            worker,
            yielded: VecDeque::new(),
            clock: MonotonicClock::new(now),
            started: now,
            next_sweep: None,
            shutting_down: false,
            stat_scratch: String::new(),
            key_scratch: Vec::new(),
            side: ServerSide::default(),
            accept_paused_since: None,
            wide_peers: BTreeMap::new(),
        }
    }

    /// The settings, as VERBOSITY may have changed them.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The service behind the connections, e.g. to read a `Cache`'s statistics.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The service, mutably: for changes outside the protocol, between driver calls.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// This server's own counters (since it started; `stats reset` does not change them).
    pub fn stats(&self) -> ServerStats {
        self.group.worker_stats(self.worker)
    }

    /// The group this server belongs to: the statistics of all its workers.
    pub fn group(&self) -> &WorkerGroup {
        &self.group
    }

    #[inline]
    fn count(&self, counter: Counter, n: u64) {
        self.cells.add(counter, n);
    }

    /// Open connections, including those closing but not yet reported closed.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The ids of the open connections (including those closing), in slot order.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.ids()
    }

    /// Whether `begin_shutdown` has been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// A client's `shutdown` command (allowed by `Config::shutdown_enabled`) asked the server to
    /// stop: the driver begins its graceful shutdown when it sees this.
    pub fn shutdown_requested(&self) -> Option<ShutdownMode> {
        self.side.shutdown
    }

    /// The peer address of an accepted connection, for `stats conns`. Optional: a connection
    /// without one is listed without its `addr` line. (An address is a plain value from
    /// `core::net`; the core still opens no socket.)
    pub fn set_peer(&mut self, id: ConnId, peer: SocketAddr) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.peer = Peer::new(peer);
            if conn.peer.elsewhere() {
                self.wide_peers.insert(id, peer);
            }
        }
    }

    /// The driver stopped accepting (out of descriptors): counted in `listen_disabled_num`, and
    /// `accepting_conns` reads 0 until `resume_accepting`.
    pub fn pause_accepting(&mut self, now: Timestamp) {
        let now = self.clock.advance(now);
        if self.accept_paused_since.is_none() {
            self.accept_paused_since = Some(now);
            self.count(Counter::ListenDisabledNum, 1);
            self.side.accepting = false;
        }
    }

    /// The driver accepts again; the pause is added to `time_in_listen_disabled_us`.
    pub fn resume_accepting(&mut self, now: Timestamp) {
        let now = self.clock.advance(now);
        if let Some(since) = self.accept_paused_since.take() {
            self.count(
                Counter::TimeInListenDisabledUs,
                now.millis_since(since) * 1000,
            );
            self.side.accepting = !self.shutting_down;
        }
    }

    /// Registers a new connection, or refuses it when at `max_connections` or shutting down.
    pub fn accept(&mut self, now: Timestamp) -> Result<ConnId, AcceptError> {
        let now = self.clock.advance(now);
        if self.shutting_down {
            return Err(AcceptError::ShuttingDown);
        }
        if !self.group.try_open(self.config.max_connections) {
            self.count(Counter::RejectedConnections, 1);
            return Err(AcceptError::AtCapacity(self.config.max_connections));
        }
        self.count(Counter::CurrConnections, 1);
        self.count(Counter::TotalConnections, 1);
        if let Some(timeout) = self.config.idle_timeout {
            self.wake_by(now.saturating_add_millis(timeout.as_millis() as u64));
        }
        let id = self
            .conns
            .insert(Connection::new(now, self.authenticated_at_start()));
        self.cells.set(
            Counter::ConnectionStructures,
            self.conns.slot_count() as u64,
        );
        Ok(id)
    }

    /// A new connection starts authenticated unless SASL (`-S`) or text tokens (`-Y`) are on.
    fn authenticated_at_start(&self) -> bool {
        self.config.sasl.is_none() && self.config.text_auth.is_none()
    }

    /// Bytes read from the connection. Every complete request among them (and among bytes kept
    /// from earlier calls) is processed now, in order, unless backpressure or closing stops it.
    pub fn handle_input(&mut self, id: ConnId, now: Timestamp, bytes: &[u8]) {
        let now = self.clock.advance(now);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closed {
            return;
        }
        self.cells.add(Counter::BytesRead, bytes.len() as u64);
        conn.last_active = now;
        if conn.closing.is_some() {
            return;
        }
        self.run_input(id, now, bytes);
    }

    /// The peer closed its sending side: every complete request it sent is answered (including
    /// ones backpressure is holding back), then the connection closes once its output is
    /// delivered. A partial request is dropped.
    pub fn handle_eof(&mut self, id: ConnId, now: Timestamp) {
        let now = self.clock.advance(now);
        if let Some(conn) = self.conns.get_mut(id) {
            conn.peer_eof = true;
            self.settle(id, now);
        }
    }

    /// The driver's transport holds (`true`) or no longer holds (`false`) bytes it has not given
    /// to the core, such as a TLS handshake under way: while it does, the read timeout runs as
    /// for a partial request, so a client stalled mid-handshake is closed like one stalled
    /// mid-request.
    pub fn hold_partial(&mut self, id: ConnId, now: Timestamp, holding: bool) {
        let now = self.clock.advance(now);
        if let Some(conn) = self.conns.get_mut(id) {
            conn.transport_partial = holding;
            self.settle(id, now);
        }
    }

    /// The socket failed: close at once, dropping pending output.
    pub fn handle_io_error(&mut self, id: ConnId, now: Timestamp) {
        self.clock.advance(now);
        self.close_now(id, CloseReason::IoError);
    }

    /// Closes connections whose idle or read deadline has passed. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.clock.advance(now);
        if self.next_sweep.is_none_or(|sweep| now < sweep) {
            return;
        }
        let (idle, read) = (self.config.idle_timeout, self.config.read_timeout);
        let mut expired = Vec::new();
        let mut next: Option<Timestamp> = None;
        for (id, conn) in self.conns.iter_mut() {
            if conn.closed {
                continue;
            }
            match conn.deadline(idle, read) {
                Some((deadline, reason)) if deadline <= now => expired.push((id, reason)),
                Some((deadline, _)) => next = Some(next.map_or(deadline, |t| t.min(deadline))),
                None => {}
            }
        }
        self.next_sweep = next;
        for (id, reason) in expired {
            if reason == CloseReason::IdleTimeout {
                self.count(Counter::IdleKicks, 1);
            }
            self.close_now(id, reason);
        }
    }

    /// Processes `fresh` bytes after whatever the connection already holds, then settles it.
    fn run_input(&mut self, id: ConnId, now: Timestamp, fresh: &[u8]) {
        self.process_some(id, now, fresh);
        if self.side.conns_report {
            self.write_conns_reports(id, now);
        }
        self.settle(id, now);
    }

    /// `stats conns` stopped the processing: its report goes out before the answers to whatever
    /// was pipelined after it, which the connection kept as input (and which may ask again).
    #[cold]
    #[inline(never)]
    fn write_conns_reports(&mut self, id: ConnId, now: Timestamp) {
        while std::mem::take(&mut self.side.conns_report) {
            let mut report = Vec::new();
            let limit = self.config.output_limit;
            conns::write_report(&self.conns, &self.wide_peers, id, now, limit, &mut report);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.output.extend_from_slice(&report);
            }
            self.process_some(id, now, &[]);
        }
    }

    #[inline(always)]
    fn process_some(&mut self, id: ConnId, now: Timestamp, fresh: &[u8]) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.yielded {
            // Bytes read while waiting for its turn (a driver that ignored `interest`): kept in
            // order behind the requests already waiting.
            conn.input.extend_from_slice(fresh);
            return;
        }
        Self::process_input(
            conn,
            Dispatch {
                service: &mut self.service,
                group: &self.group,
                cells: &self.cells,
                config: &mut self.config,
                scratch: &mut self.stat_scratch,
                bytes: &mut self.key_scratch,
                started: self.started,
                now,
                side: &mut self.side,
            },
            &mut self.pool,
            fresh,
        );
        if conn.yielded {
            self.yielded.push_back(id);
            self.count(Counter::ConnYields, 1);
        }
    }

    /// Whether connections gave up their turn with requests still waiting: the driver must not
    /// block waiting for readiness, and calls `resume_yielded` after serving what is ready.
    #[inline]
    pub fn has_yielded(&self) -> bool {
        !self.yielded.is_empty()
    }

    /// Gives every connection that yielded its next turn (up to `reqs_per_event` more requests
    /// each, in the order they yielded), and tells `resumed` each one served, so that an
    /// edge-triggered driver can go back to reading it. Call once per loop turn, after the ready
    /// connections.
    pub fn resume_yielded(&mut self, now: Timestamp, mut resumed: impl FnMut(ConnId)) {
        let now = self.clock.advance(now);
        for _ in 0..self.yielded.len() {
            let Some(id) = self.yielded.pop_front() else {
                break;
            };
            match self.conns.get_mut(id) {
                Some(conn) if !conn.closed => conn.yielded = false,
                _ => continue,
            }
            self.run_input(id, now, &[]);
            resumed(id);
        }
    }

    // Inlined into `run_input`: as a call of its own it cost ~50 instructions a request
    // (the `Dispatch` built and passed by value), ~2.8% of a depth-1 GET.
    #[inline(always)]
    fn process_input(
        conn: &mut Connection,
        mut d: Dispatch<'_, S>,
        pool: &mut BufferPool,
        fresh: &[u8],
    ) {
        if conn.output.capacity() == 0 {
            conn.output = pool.take();
        }
        if conn.input.is_empty() {
            // The common case: parse straight from the caller's buffer, copy only a leftover.
            let used = process(conn, fresh, &mut d);
            if used < fresh.len() {
                conn.input = pool.take();
                conn.input.extend_from_slice(&fresh[used..]);
            }
        } else {
            conn.input.extend_from_slice(fresh);
            let input = std::mem::take(&mut conn.input);
            let used = process(conn, &input, &mut d);
            let mut input = input;
            input.drain(..used);
            if input.is_empty() {
                pool.give(input);
            } else {
                conn.input = input;
            }
        }
    }

    /// Makes sure `handle_timeout` runs by `deadline`.
    fn wake_by(&mut self, deadline: Timestamp) {
        self.next_sweep = Some(self.next_sweep.map_or(deadline, |t| t.min(deadline)));
    }

    /// The earliest time `handle_timeout` has work to do, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_sweep
    }

    /// The next instruction for the driver. When a `Close` is returned the connection is gone.
    /// A `Transmit` whose output the driver has already written (drivers may write `outbound` at
    /// any time, and do right after a read) is dropped here rather than handed out.
    #[must_use]
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            let output = self.outputs.pop_front()?;
            match output {
                Output::Transmit(id) => {
                    if self.conns.get(id).is_some_and(|c| c.pending() > 0) {
                        return Some(output);
                    }
                }
                Output::Close(id, _) => {
                    if let Some(conn) = self.conns.remove(id) {
                        if conn.peer.elsewhere() {
                            self.wide_peers.remove(&id);
                        }
                        self.count(Counter::CurrConnections, u64::MAX);
                        self.group.close();
                        self.pool.give(conn.input);
                        self.pool.give(conn.output);
                    }
                    return Some(output);
                }
            }
        }
    }

    /// The connection's unsent output (empty for unknown or closed ids). A borrowed view that
    /// moves whenever the core handles the connection: a driver whose kernel holds bytes until a
    /// completion (io_uring) copies them first, and reports them with `consume_outbound` when
    /// the completion says they went; until then they still count as pending.
    #[inline]
    pub fn outbound(&self, id: ConnId) -> &[u8] {
        self.conns
            .get(id)
            .filter(|c| !c.closed)
            .map_or(&[][..], |c| c.outbound())
    }

    /// The driver wrote the first `n` bytes of `outbound(id)`. Input that backpressure held back is
    /// processed once the output falls below the bound again.
    pub fn consume_outbound(&mut self, id: ConnId, n: usize, now: Timestamp) {
        let now = self.clock.advance(now);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closed {
            return;
        }
        let n = n.min(conn.pending());
        self.cells.add(Counter::BytesWritten, n as u64);
        conn.sent += n;
        if n > 0 {
            conn.last_active = now;
        }
        if conn.pending() == 0 {
            conn.output.clear();
            conn.sent = 0;
            // Usually the driver wrote right after the read, so the Transmit that read queued is
            // still the last output: take it back rather than hand out a stale one.
            if std::mem::take(&mut conn.transmit_queued)
                && self.outputs.back() == Some(&Output::Transmit(id))
            {
                self.outputs.pop_back();
            }
            if conn.input.is_empty() && conn.closing.is_none() && !conn.peer_eof {
                // Everything answered is delivered and nothing that settles a connection changed
                // since the input was processed (its deadlines stand): only the buffer goes back.
                self.pool.give(std::mem::take(&mut conn.output));
                return;
            }
        } else if conn.sent >= COMPACT_AFTER {
            conn.output.drain(..conn.sent);
            conn.sent = 0;
        }
        let resumable = !conn.input.is_empty()
            && !conn.yielded
            && conn.closing.is_none()
            && !conn.over_limit(self.config.output_limit);
        if resumable {
            self.run_input(id, now, &[]);
        } else {
            self.settle(id, now);
        }
    }

    /// Which readiness to wait for on the connection's socket.
    #[inline]
    pub fn interest(&self, id: ConnId) -> Interest {
        self.conns.get(id).map_or(Interest::default(), |c| {
            c.interest(self.config.output_limit)
        })
    }

    /// The connection's state, `None` once its `Close` has been polled.
    #[cfg(feature = "internals")]
    pub fn state(&self, id: ConnId) -> Option<crate::conn::ConnState> {
        self.conns
            .get(id)
            .map(|c| c.state(self.config.output_limit))
    }

    /// Graceful shutdown: refuse new connections, read no more requests, and close each connection
    /// once its pending output is delivered. The driver bounds how long it waits for that.
    pub fn begin_shutdown(&mut self, now: Timestamp) {
        let now = self.clock.advance(now);
        self.shutting_down = true;
        self.side.accepting = false;
        let ids: Vec<ConnId> = self.conns.ids().collect();
        for id in ids {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.closing.get_or_insert(CloseReason::Shutdown);
            }
            self.settle(id, now);
        }
    }

    /// After any change to a connection: start or stop its read-timeout clock, close it after
    /// EOF once every complete request has run, queue a `Transmit` for new output, return idle
    /// buffers to the pool, and issue the `Close` of a closing connection whose output is
    /// delivered. One lookup of the connection serves all of it.
    fn settle(&mut self, id: ConnId, now: Timestamp) {
        let (limit, read) = (self.config.output_limit, self.config.read_timeout);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closed {
            return;
        }
        conn.close_if_drained_eof(limit);
        let partial_since = conn.track_partial(now, limit);
        let close = if conn.pending() > 0 {
            if !conn.transmit_queued {
                conn.transmit_queued = true;
                self.outputs.push_back(Output::Transmit(id));
            }
            None
        } else {
            if conn.output.capacity() > 0 {
                self.pool.give(std::mem::take(&mut conn.output));
                conn.sent = 0;
            }
            conn.closing
        };
        if let (Some(start), Some(read)) = (partial_since, read) {
            self.wake_by(start.saturating_add_millis(read.as_millis() as u64));
        }
        if let Some(reason) = close {
            self.close_now(id, reason);
        }
    }

    fn close_now(&mut self, id: ConnId, reason: CloseReason) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closed {
            return;
        }
        conn.closed = true;
        conn.closing.get_or_insert(reason);
        self.pool.give(std::mem::take(&mut conn.input));
        self.pool.give(std::mem::take(&mut conn.output));
        conn.sent = 0;
        self.outputs.push_back(Output::Close(id, reason));
    }
}
