//! The core's task: the one owner of the `keel_core::Server`. Each turn waits for whichever comes
//! first (a signal, a socket task's event, a new connection, the core's next deadline, or a
//! connection that yielded its turn), hands it and every other event already queued to the core,
//! runs the deadlines that passed, resumes the connections that yielded, and carries out the
//! core's outputs.
//!
//! Nothing here decides what to answer, when to close or when to stop reading: the core does,
//! and this loop only maps its instructions onto tokio (see `conn.rs` for the socket side).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use keel_core::{Cache, ConnId, Output, Server, Timestamp, earliest};
use keel_driver_common::{ACCEPT_BACKOFF_MS, out_of_descriptors};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::conn::{ConnHandle, Event};

/// After a shutdown request, how long pending output may still be delivered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Socket events handled per turn at most, so a turn ends and the yielded connections get theirs.
const EVENT_BATCH: usize = 1024;

/// What woke the loop up.
enum Step {
    Shutdown,
    Event(Event),
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Deadline,
    Yielded,
}

pub struct Driver {
    server: Server<Cache>,
    clock: Clock,
    /// `None` once shutdown began.
    listener: Option<TcpListener>,
    conns: HashMap<ConnId, ConnHandle>,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    sigint: Signal,
    sigterm: Signal,
    /// When shutdown began: the end of the grace period.
    shutdown_deadline: Option<Timestamp>,
    /// No accept until then, after running out of descriptors.
    accept_paused_until: Option<Timestamp>,
}

impl Driver {
    /// Installs the signal handlers; the listener is already bound.
    pub fn new(server: Server<Cache>, listener: TcpListener, clock: Clock) -> io::Result<Driver> {
        let (events_tx, events) = mpsc::unbounded_channel();
        Ok(Driver {
            server,
            clock,
            listener: Some(listener),
            conns: HashMap::new(),
            events_tx,
            events,
            sigint: signal(SignalKind::interrupt())?,
            sigterm: signal(SignalKind::terminate())?,
            shutdown_deadline: None,
            accept_paused_until: None,
        })
    }

    /// Serves until a signal's graceful shutdown has finished: every connection closed, or the
    /// grace period over.
    pub async fn run(mut self) -> io::Result<()> {
        loop {
            let now = self.clock.now();
            if let Some(deadline) = self.shutdown_deadline {
                if now >= deadline || self.server.connection_count() == 0 {
                    return Ok(());
                }
            }
            let accepting = self.accept_paused_until.is_none_or(|t| now >= t);
            let wake = earliest(
                earliest(self.server.poll_timeout(), self.shutdown_deadline),
                self.accept_paused_until,
            )
            .map(|t| self.clock.instant(t));
            let stopping = self.shutdown_deadline.is_some();
            // Unbiased: tokio polls the branches from a random one on, so a steady stream of
            // socket events cannot keep new connections or deadlines waiting.
            let step = tokio::select! {
                _ = self.sigint.recv(), if !stopping => Step::Shutdown,
                _ = self.sigterm.recv(), if !stopping => Step::Shutdown,
                Some(event) = self.events.recv() => Step::Event(event),
                accepted = accept(self.listener.as_ref()), if accepting => Step::Accepted(accepted),
                () = sleep_until(wake) => Step::Deadline,
                // Connections that yielded resume at the end of this turn: no waiting.
                () = std::future::ready(()), if self.server.has_yielded() => Step::Yielded,
            };
            let now = self.clock.now();
            match step {
                Step::Shutdown => self.begin_shutdown(now),
                Step::Event(event) => self.handle_event(event, now),
                Step::Accepted(accepted) => self.register(accepted, now),
                Step::Deadline | Step::Yielded => {}
            }
            self.finish_turn(now);
        }
    }

    /// The rest of a turn, as the core's contract orders it: every socket event already queued
    /// (up to `EVENT_BATCH`), then the deadlines that passed, then the connections that yielded
    /// their turn (after everyone else's input), each step's outputs carried out.
    fn finish_turn(&mut self, now: Timestamp) {
        for _ in 0..EVENT_BATCH {
            let Ok(event) = self.events.try_recv() else {
                break;
            };
            self.handle_event(event, now);
        }
        self.drain_outputs();
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
        }
        if self.server.poll_timeout().is_some_and(|t| now >= t) {
            self.server.handle_timeout(now);
            self.drain_outputs();
        }
        if self.server.has_yielded() {
            let mut resumed = Vec::new();
            self.server.resume_yielded(now, |id| resumed.push(id));
            for id in resumed {
                self.settle(id);
            }
            self.drain_outputs();
        }
    }

    fn begin_shutdown(&mut self, now: Timestamp) {
        eprintln!(
            "keel-embed-tokio: shutting down ({} connections)",
            self.server.connection_count()
        );
        // Dropping the listener closes it: no new connections from here on.
        self.listener = None;
        self.server.begin_shutdown(now);
        self.shutdown_deadline = Some(now.saturating_add_millis(SHUTDOWN_GRACE.as_millis() as u64));
    }

    fn handle_event(&mut self, event: Event, now: Timestamp) {
        match event {
            Event::Input(id, bytes) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.read_reported();
                }
                self.server.handle_input(id, now, &bytes);
                self.settle(id);
            }
            Event::Eof(id) => {
                self.server.handle_eof(id, now);
                self.settle(id);
            }
            Event::IoError(id) => self.server.handle_io_error(id, now),
            Event::Written(id, n) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.written(n);
                }
                self.server.consume_outbound(id, n, now);
                self.settle(id);
            }
        }
    }

    /// A new socket: the core accepts it (and the socket tasks start) or refuses it (and it is
    /// closed by dropping it).
    fn register(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>, now: Timestamp) {
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            // Retrying at once would spin: pause accepting, as keel's drivers do.
            Err(e) if out_of_descriptors(&e) => {
                eprintln!("keel-embed-tokio: accept: {e}; no accepts for {ACCEPT_BACKOFF_MS} ms");
                self.accept_paused_until = Some(now.saturating_add_millis(ACCEPT_BACKOFF_MS));
                return;
            }
            // Per-connection failures (a peer that reset before accept): nothing to do.
            Err(_) => return,
        };
        if stream.set_nodelay(true).is_err() {
            return;
        }
        if let Ok(id) = self.server.accept(now) {
            let conn = ConnHandle::spawn(id, stream, self.events_tx.clone());
            self.conns.insert(id, conn);
        }
    }

    /// After the core has seen something of connection `id`: hand its writer any new output and
    /// let its reader read again if the core wants more input.
    fn settle(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.transmit(self.server.outbound(id));
        if self.server.interest(id).read {
            conn.grant_read();
        }
    }

    /// Carries out every queued instruction of the core.
    fn drain_outputs(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Transmit(id) => self.settle(id),
                // The core closes gracefully only once all output was reported written, so
                // stopping both tasks loses nothing; dropping the handle closes the socket.
                Output::Close(id, _reason) => {
                    self.conns.remove(&id);
                    self.accept_paused_until = None;
                }
            }
        }
    }
}

/// The listener's next connection; never ready without a listener.
async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Ready at `wake`; never ready without one.
async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(wake) => tokio::time::sleep_until(wake).await,
        None => std::future::pending().await,
    }
}
