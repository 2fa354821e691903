//! `MioDriver`: the loop. Each turn waits in `Poll::poll` (not at all while connections are still
//! ready or accepts are pending), records the readiness events, accepts, serves the ready list and
//! carries out the core's outputs.

mod io;

use std::io as stdio;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use keel_core::{ConnId, Server, Service, Timestamp, earliest};
use mio::{Events, Interest, Poll, Token, Waker};

use keel_driver_common::{
    Accepted, DriverOptions, Endpoint, Inbox, ListenSpec, Listener, Security, ShutdownHandle,
    Spreader,
};

use crate::conn::ConnTable;
use crate::stream::MioListener;

/// Tokens at the top of the range; connection tokens are `u32` slot indices below them. Listener
/// `i` has token `FIRST_LISTENER - i`.
const WAKER: Token = Token(usize::MAX);
const FIRST_LISTENER: usize = usize::MAX - 1;
const EVENT_CAPACITY: usize = 1024;
const READ_BUFFER: usize = 64 << 10;

/// A `keel_core::Server` driven by `mio`.
///
/// Two-phase start: `new` allocates memory only; `bind` creates the `Poll`, the listeners and the
/// shutdown waker; `run` returns once a requested shutdown has completed.
///
/// With several workers (`-t N`), one driver binds the listener and `spread_to`s the others, which
/// `bind_worker` to an inbox instead of a listener: each runs its own loop on its own thread.
pub struct MioDriver<S> {
    poll: Option<Poll>,
    events: Events,
    server: Server<S>,
    options: DriverOptions,
    shutdown: ShutdownHandle,
    /// TCP and Unix listeners, each with what its connections speak; emptied on shutdown.
    listeners: Vec<ListenerSlot>,
    /// Some listener had an edge not yet accepted to `WouldBlock`.
    listener_ready: bool,
    conns: ConnTable,
    /// Connections with remembered readiness the core can use: served next turn.
    ready: Vec<ConnId>,
    /// The previous turn's ready list, kept for its allocation.
    serving: Vec<ConnId>,
    buf: Box<[u8]>,
    /// TLS connections' plaintext, on its way from `buf` to the core.
    plain: Vec<u8>,
    now: Timestamp,
    /// No accept until then, after running out of descriptors.
    accept_paused_until: Option<Timestamp>,
    /// When shutdown began: the end of the grace period.
    shutdown_deadline: Option<Timestamp>,
    /// Where new connections go when several workers share the listener's connections.
    spreader: Option<Spreader>,
    /// Connections other workers accepted for this one.
    inbox: Option<Arc<Inbox>>,
    /// The inbox's connections, moved out under its lock and registered after.
    incoming: Vec<Accepted>,
}

/// One listening socket and its remembered readiness.
pub(crate) struct ListenerSlot {
    pub(crate) listener: MioListener,
    pub(crate) security: Security,
    /// An edge not yet accepted to `WouldBlock`.
    pub(crate) ready: bool,
}

impl<S: Service> MioDriver<S> {
    /// Memory only: the event buffer and the read buffer; no descriptor is opened.
    pub fn new(server: Server<S>, options: DriverOptions) -> MioDriver<S> {
        MioDriver {
            poll: None,
            events: Events::with_capacity(EVENT_CAPACITY),
            server,
            options,
            shutdown: ShutdownHandle::default(),
            listeners: Vec::new(),
            listener_ready: false,
            conns: ConnTable::default(),
            ready: Vec::new(),
            serving: Vec::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            plain: Vec::new(),
            now: Timestamp::ZERO,
            accept_paused_until: None,
            shutdown_deadline: None,
            spreader: None,
            inbox: None,
            incoming: Vec::new(),
        }
    }

    /// The core, for its statistics and state.
    pub fn server(&self) -> &Server<S> {
        &self.server
    }

    /// A handle that stops `run` gracefully; `trigger` is async-signal-safe.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Creates the poll instance, the listeners (backlog `DriverOptions::backlog`) and the
    /// waker; returns the endpoints actually bound (a TCP port 0 replaced by the kernel's
    /// choice), in order. On error, the endpoint that failed and why.
    pub fn bind(
        &mut self,
        specs: &[ListenSpec],
    ) -> Result<Vec<Endpoint>, (Endpoint, stdio::Error)> {
        let first = |e| (Endpoint::first_of(specs), e);
        let poll = Poll::new().map_err(first)?;
        attach_waker(&self.shutdown, &poll).map_err(first)?;
        let mut bound = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let failed = |e| (spec.endpoint.clone(), e);
            let (listener, endpoint) =
                Listener::bind(&spec.endpoint, self.options.backlog).map_err(failed)?;
            let mut listener = MioListener::from_common(listener);
            poll.registry()
                .register(&mut listener, Token(FIRST_LISTENER - i), Interest::READABLE)
                .map_err(failed)?;
            self.listeners.push(ListenerSlot {
                listener,
                security: spec.security,
                ready: true,
            });
            bound.push(endpoint);
        }
        self.poll = Some(poll);
        self.listener_ready = true;
        Ok(bound)
    }

    /// After `bind`: new connections are spread round robin over the workers `spreader` names,
    /// this one included.
    pub fn spread_to(&mut self, spreader: Spreader) {
        self.spreader = Some(spreader);
    }

    /// A worker without a listener: creates the `Poll` and the waker, and serves the connections
    /// another worker's `Spreader` pushes on `inbox`.
    pub fn bind_worker(&mut self, inbox: Arc<Inbox>) -> stdio::Result<()> {
        let poll = Poll::new()?;
        attach_waker(&self.shutdown, &poll)?;
        inbox.set_wake(self.shutdown.waker());
        self.poll = Some(poll);
        self.inbox = Some(inbox);
        Ok(())
    }

    /// Runs until shutdown completes: every connection closed, or the grace period over.
    pub fn run(&mut self) -> stdio::Result<()> {
        let Some(mut poll) = self.poll.take() else {
            return Err(stdio::Error::new(
                stdio::ErrorKind::NotConnected,
                "MioDriver::run before bind",
            ));
        };
        let result = self.run_with(&mut poll);
        self.poll = Some(poll);
        for conn in self.conns.drain() {
            drop(conn.stream);
        }
        result
    }

    fn run_with(&mut self, poll: &mut Poll) -> stdio::Result<()> {
        self.now = (self.options.clock)();
        // Connections that gave up their turn (-R) as the last turn ended: asked of the core once
        // a turn, after serving, and remembered for the next wait.
        let mut yielded = false;
        while !self.done(poll) {
            let busy = !self.ready.is_empty() || self.can_accept() || yielded;
            let timeout = if !busy {
                self.wait()
            } else {
                Some(Duration::ZERO)
            };
            let polled = poll.poll(&mut self.events, timeout);
            self.now = (self.options.clock)();
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == stdio::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.record_events() {
                self.take_inbox(poll);
            }
            if self.can_accept() {
                self.accept_batch(poll);
            }
            self.serve_ready(poll);
            yielded = self.server.has_yielded();
            if yielded {
                self.resume_yielded(poll);
                yielded = self.server.has_yielded();
            }
            if let Some(deadline) = self.server.poll_timeout().filter(|&d| d <= self.now) {
                tracing::trace!(%deadline, "timeouts due");
                self.server.handle_timeout(self.now);
                self.drain_outputs(poll);
            }
        }
        Ok(())
    }

    /// Starts shutdown when requested; true once it has finished or its grace period ran out.
    fn done(&mut self, poll: &mut Poll) -> bool {
        let deadline = match self.shutdown_deadline {
            Some(deadline) => deadline,
            // A client's `shutdown` command (allowed by -A) stops the server as a signal does.
            None if self.shutdown.is_requested() || self.server.shutdown_requested().is_some() => {
                if self.server.shutdown_requested().is_some() {
                    self.options.shutdown_commanded();
                }
                tracing::info!(
                    connections = self.server.connection_count(),
                    "shutting down"
                );
                self.server.begin_shutdown(self.now);
                for mut slot in self.listeners.drain(..) {
                    let _ = poll.registry().deregister(&mut slot.listener);
                }
                let grace = self.options.shutdown_grace.as_millis() as u64;
                self.shutdown_deadline = Some(self.now.saturating_add_millis(grace));
                self.drain_outputs(poll);
                return self.server.connection_count() == 0;
            }
            None => return false,
        };
        self.now >= deadline || self.server.connection_count() == 0
    }

    fn can_accept(&mut self) -> bool {
        if self.accept_paused_until.is_some_and(|t| self.now >= t) {
            self.accept_paused_until = None;
            self.server.resume_accepting(self.now);
        }
        self.listener_ready && !self.listeners.is_empty() && self.accept_paused_until.is_none()
    }

    /// The longest wait: the nearest deadline (core, accept pause, shutdown), capped by the
    /// configured poll timeout. mio rounds sub-millisecond waits up itself. Computed every turn,
    /// so it stays plain option arithmetic.
    fn wait(&self) -> Option<Duration> {
        let nearest = earliest(
            earliest(self.server.poll_timeout(), self.accept_paused_until),
            self.shutdown_deadline,
        )
        .map(|t| Duration::from_millis(t.millis_since(self.now)));
        earliest(nearest, self.options.poll_timeout)
    }

    /// Remembers the readiness each event reports and queues the connections concerned; true when
    /// the waker fired (a shutdown request or a connection in the inbox).
    fn record_events(&mut self) -> bool {
        let mut woken = false;
        for event in self.events.iter() {
            match event.token() {
                WAKER => woken = true,
                Token(token) if token > FIRST_LISTENER - self.listeners.len() => {
                    if let Some(slot) = self.listeners.get_mut(FIRST_LISTENER - token) {
                        slot.ready = true;
                        self.listener_ready = true;
                    }
                }
                Token(index) => {
                    let Some(conn) = self.conns.by_token(index) else {
                        continue;
                    };
                    let failed = event.is_error();
                    conn.readable |= failed || event.is_readable() || event.is_read_closed();
                    conn.read_closed |= failed || event.is_read_closed();
                    conn.writable |= failed || event.is_writable() || event.is_write_closed();
                    if !conn.queued {
                        conn.queued = true;
                        self.ready.push(conn.id);
                    }
                }
            }
        }
        woken
    }

    /// Gives the connections that yielded (`-R`) their next turn; those the socket still has bytes
    /// for go back on the ready list, since no new edge will announce them.
    fn resume_yielded(&mut self, poll: &mut Poll) {
        let mut resumed = mem::take(&mut self.serving);
        self.server.resume_yielded(self.now, |id| resumed.push(id));
        self.drain_outputs(poll);
        for id in resumed.drain(..) {
            self.requeue(id);
        }
        self.serving = resumed;
    }

    /// Serves every connection on the ready list once; those still ready go on the next list.
    fn serve_ready(&mut self, poll: &mut Poll) {
        let mut batch = mem::replace(&mut self.ready, mem::take(&mut self.serving));
        for id in batch.drain(..) {
            match self.conns.get(id) {
                Some(conn) => conn.queued = false,
                None => continue,
            }
            self.serve(id, poll);
        }
        self.serving = batch;
    }
}

/// Puts a `Waker` on `poll` behind `shutdown`: its `trigger` ends `Poll::poll` at once.
fn attach_waker(shutdown: &ShutdownHandle, poll: &Poll) -> stdio::Result<()> {
    let waker = Waker::new(poll.registry(), WAKER)?;
    shutdown.attach(Box::new(move || {
        // Failure means the wake-up counter is already set: the driver wakes anyway.
        let _ = waker.wake();
    }));
    Ok(())
}
