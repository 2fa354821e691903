//! `UringDriver`: the loop. Each turn is one `io_uring_enter` that submits the previous turn's
//! operations and waits for a completion (at most until the nearest deadline); then every
//! completion is handed to the core, the core's outputs are carried out, and the connections
//! touched this turn are settled: a send started for new output, the receive armed or cancelled
//! as the core's read interest says.

mod io;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self as stdio, Write};
use std::mem;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use keel_core::{ConnId, Server, Service, Timestamp, earliest};
use keel_driver_common::{
    Accepted, DriverOptions, Endpoint, Inbox, ListenSpec, Listener, Security, ShutdownHandle,
    Spreader,
};

use crate::conn::Slots;
use crate::error::Unavailable;
use crate::sys::{self, BufferSpec, Completion, Ring};

/// Receive buffers per worker unless `set_receive_buffers` says otherwise: 256 of 8 KiB (2 MiB).
/// A burst that needs more makes receives wait for buffers (`starved`); it does not fail them.
const BUFFERS: BufferSpec = BufferSpec {
    count: 256,
    size: 8 << 10,
};

/// A listener's multishot accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    Idle,
    Armed,
    Cancelling,
}

/// One listening socket (TCP or Unix), what its connections speak, and its accept. Its index in
/// `UringDriver::listeners` is the slot in its accept's token.
struct ListenerSlot {
    /// `None` once closed on shutdown (the index stays, so tokens keep their meaning).
    listener: Option<Listener>,
    security: Security,
    accept: Accept,
}

/// A `keel_core::Server` driven by io_uring completions.
///
/// Two-phase start: `new` allocates memory only; `bind` creates the ring (disabled until `run`,
/// so the thread that runs the loop becomes its only submitter), the listener and the wake-up
/// eventfd; `run` returns once a requested shutdown has completed.
///
/// With several workers (`-t N`), one driver binds the listener and `spread_to`s the others, which
/// `bind_worker` to an inbox instead of a listener: each runs its own loop on its own thread.
pub struct UringDriver<S> {
    server: Server<S>,
    options: DriverOptions,
    shutdown: ShutdownHandle,
    /// Boxed: the io_uring handle is large, and the driver sits in an enum with the others.
    ring: Option<Box<Ring>>,
    /// The wake-up behind `shutdown`: its `Wake` writes it, the ring keeps a read armed on it.
    eventfd: Option<Arc<File>>,
    listeners: Vec<ListenerSlot>,
    conns: Slots,
    /// TLS connections' plaintext, on its way from a receive buffer to the core.
    plain: Vec<u8>,
    /// This turn's completions, kept for the allocation.
    completions: Vec<Completion>,
    /// Slots to settle at the end of the turn.
    touched: Vec<u32>,
    /// Slots whose receive ran out of buffers, with their generation, in arrival order.
    starved: VecDeque<(u32, u32)>,
    /// Multishot receives work here (Linux 6.0+); otherwise one receive per completion.
    multishot: bool,
    now: Timestamp,
    accept_paused_until: Option<Timestamp>,
    shutdown_deadline: Option<Timestamp>,
    spreader: Option<Spreader>,
    inbox: Option<Arc<Inbox>>,
    incoming: Vec<Accepted>,
    /// Sockets accepted or handed over, not yet given to the core: at most `ACCEPT_BATCH` are
    /// admitted a turn (one multishot accept can deliver a whole backlog at once).
    arrivals: VecDeque<Accepted>,
    /// The wake-up eventfd's read completed: look at the inbox and the shutdown flag.
    woken: bool,
    /// Connections resumed after a yield, kept for the allocation.
    resumed: Vec<ConnId>,
    buffers: BufferSpec,
}

/// Checks that io_uring can be set up here (a small ring, created and dropped), so that
/// `--driver uring` fails at startup with the cause and the fallback, never silently.
pub fn probe() -> Result<(), Unavailable> {
    sys::probe()
}

impl<S: Service> UringDriver<S> {
    /// Memory only: no descriptor is opened, no ring created.
    pub fn new(server: Server<S>, options: DriverOptions) -> UringDriver<S> {
        UringDriver {
            server,
            options,
            shutdown: ShutdownHandle::default(),
            eventfd: None,
            ring: None,
            listeners: Vec::new(),
            conns: Slots::default(),
            plain: Vec::new(),
            completions: Vec::new(),
            touched: Vec::new(),
            starved: VecDeque::new(),
            multishot: true,
            now: Timestamp::ZERO,
            accept_paused_until: None,
            shutdown_deadline: None,
            spreader: None,
            inbox: None,
            incoming: Vec::new(),
            arrivals: VecDeque::new(),
            woken: false,
            resumed: Vec::new(),
            buffers: BUFFERS,
        }
    }

    /// Before `bind`: how many receive buffers the ring gets (a power of two, at most 32768;
    /// anything else keeps the default of 256).
    pub fn set_receive_buffers(&mut self, count: u16) {
        if count.is_power_of_two() && count <= 1 << 15 {
            self.buffers.count = count;
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

    /// Creates the ring, the wake-up eventfd and the listeners (TCP or Unix, plaintext or TLS,
    /// backlog `DriverOptions::backlog`), each served by a multishot accept of its own; returns
    /// the endpoints bound (a TCP port 0 replaced by the kernel's choice), in order, or the one
    /// that failed and why. An io_uring that cannot be set up is an `Unsupported` error naming
    /// the cause and `--driver mio`.
    pub fn bind(
        &mut self,
        specs: &[ListenSpec],
    ) -> Result<Vec<Endpoint>, (Endpoint, stdio::Error)> {
        let first = |e| (Endpoint::first_of(specs), e);
        self.open_ring().map_err(first)?;
        let mut bound = Vec::with_capacity(specs.len());
        for spec in specs {
            let (listener, endpoint) = Listener::bind(&spec.endpoint, self.options.backlog)
                .map_err(|e| (spec.endpoint.clone(), e))?;
            self.listeners.push(ListenerSlot {
                listener: Some(listener),
                security: spec.security,
                accept: Accept::Idle,
            });
            bound.push(endpoint);
        }
        Ok(bound)
    }

    /// After `bind`: new connections are spread round robin over the workers `spreader` names,
    /// this one included.
    pub fn spread_to(&mut self, spreader: Spreader) {
        self.spreader = Some(spreader);
    }

    /// A worker without a listener: creates the ring and the eventfd, and serves the connections
    /// another worker's `Spreader` pushes on `inbox`.
    pub fn bind_worker(&mut self, inbox: Arc<Inbox>) -> stdio::Result<()> {
        self.open_ring()?;
        inbox.set_wake(self.shutdown.waker());
        self.inbox = Some(inbox);
        Ok(())
    }

    fn open_ring(&mut self) -> stdio::Result<()> {
        if self.ring.is_none() {
            self.ring = Some(Box::new(Ring::new(self.buffers)?));
            let eventfd = Arc::new(File::from(sys::eventfd()?));
            let writer = Arc::clone(&eventfd);
            self.shutdown.attach(Box::new(move || {
                // Adding to the counter cannot block short of 2^64 - 2 pending wake-ups; a
                // failure means the driver is gone.
                let _ = (&*writer).write(&1u64.to_ne_bytes());
            }));
            self.eventfd = Some(eventfd);
        }
        Ok(())
    }

    /// Runs until shutdown completes: every connection closed, or the grace period over. Every
    /// operation still in flight then is cancelled and waited for before the sockets close.
    pub fn run(&mut self) -> stdio::Result<()> {
        let eventfd = self.eventfd.as_ref().map(|e| e.as_raw_fd());
        let (Some(mut ring), Some(eventfd)) = (self.ring.take(), eventfd) else {
            return Err(stdio::Error::new(
                stdio::ErrorKind::NotConnected,
                "UringDriver::run before bind",
            ));
        };
        let result = ring
            .enable()
            .and_then(|()| ring.read_wake(eventfd))
            .and_then(|()| self.run_with(&mut ring, eventfd));
        if !ring.quiesce() {
            tracing::warn!("io_uring operations still in flight after shutdown");
        }
        self.conns.clear();
        self.listeners.clear();
        self.ring = Some(ring);
        result
    }

    fn run_with(&mut self, ring: &mut Ring, eventfd: i32) -> stdio::Result<()> {
        self.now = (self.options.clock)();
        self.rearm(ring)?;
        while !self.done(ring)? {
            let timeout = if self.server.has_yielded() || !self.arrivals.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.wait()
            };
            ring.submit_and_wait(timeout)?;
            self.now = (self.options.clock)();
            let mut completions = mem::take(&mut self.completions);
            completions.clear();
            ring.reap(&mut completions);
            for completion in &completions {
                self.complete(ring, *completion)?;
            }
            self.completions = completions;
            if mem::take(&mut self.woken) {
                self.take_inbox();
                ring.read_wake(eventfd)?;
            }
            self.admit_arrivals();
            if self.server.has_yielded() {
                self.resume_yielded();
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
            self.drain_outputs(ring)?;
            self.settle_touched(ring)?;
            self.rearm(ring)?;
            // The accounting that finds a connection the core holds but no slot serves (or the
            // reverse): checked in debug builds, which the end-to-end tests run.
            debug_assert_eq!(
                self.conns.open(),
                self.server.connection_count(),
                "open slots against the core's connections"
            );
        }
        Ok(())
    }

    /// Starts shutdown when requested; true once it has finished or its grace period ran out.
    fn done(&mut self, ring: &mut Ring) -> stdio::Result<bool> {
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
                let grace = self.options.shutdown_grace.as_millis() as u64;
                self.shutdown_deadline = Some(self.now.saturating_add_millis(grace));
                let slots: Vec<u32> = self.conns.occupied().collect();
                for slot in slots {
                    self.touch(slot);
                }
                self.drain_outputs(ring)?;
                self.settle_touched(ring)?;
                self.rearm(ring)?;
                return Ok(self.server.connection_count() == 0);
            }
            None => return Ok(false),
        };
        Ok(self.now >= deadline || self.server.connection_count() == 0)
    }

    /// The longest wait: the nearest deadline (core, accept pause, shutdown), capped by the
    /// configured poll timeout.
    fn wait(&self) -> Option<Duration> {
        let nearest = earliest(
            earliest(self.server.poll_timeout(), self.accept_paused_until),
            self.shutdown_deadline,
        )
        .map(|t| Duration::from_millis(t.millis_since(self.now)));
        earliest(nearest, self.options.poll_timeout)
    }

    /// Gives the connections that yielded (`-R`) their next turn; each is settled this turn (its
    /// receive was cancelled while it waited).
    fn resume_yielded(&mut self) {
        let mut resumed = mem::take(&mut self.resumed);
        self.server.resume_yielded(self.now, |id| resumed.push(id));
        for id in resumed.drain(..) {
            if let Some(slot) = self.conns.slot_of(id) {
                self.touch(slot);
            }
        }
        self.resumed = resumed;
    }
}
