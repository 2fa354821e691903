//! `PollDriver`: the loop. Each turn builds the pollfd array (wake-up pipe, listener, then every
//! connection the core wants to hear about), waits in `poll()`, hands what is ready to the core and
//! carries out the core's outputs.

mod io;

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use std::{io as stdio, mem};

use keel_core::{ConnId, Server, Service, Timestamp, earliest};
use libc::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, c_short};

use keel_driver_common::{
    Accepted, DriverOptions, Endpoint, Inbox, ListenSpec, Listener, Security, ShutdownHandle,
    Spreader,
};

use crate::sockets::Sockets;
use crate::timeout::poll_timeout_ms;
use crate::wake::WakePipe;

/// The single reusable read buffer all connections read into.
const READ_BUFFER: usize = 64 << 10;

/// A `keel_core::Server` driven by `libc::poll()`.
///
/// Two-phase start: `new` allocates memory only; `bind` opens the listeners and the wake-up pipe;
/// `run` loops until a shutdown requested through `shutdown_handle()` has completed.
///
/// With several workers (`-t N`), one driver binds the listener and `spread_to`s the others, which
/// `bind_worker` to an inbox instead of a listener: each runs its own loop on its own thread.
pub struct PollDriver<S> {
    server: Server<S>,
    options: DriverOptions,
    shutdown: ShutdownHandle,
    /// The wake-up pipe behind `shutdown`, opened by `bind` or `bind_worker`.
    wake: Option<WakePipe>,
    /// TCP and Unix listeners, each with what its connections speak; emptied on shutdown.
    listeners: Vec<(Listener, Security)>,
    sockets: Sockets,
    /// Rebuilt every turn: the wake-up pipe, then the listeners when accepting, then connections.
    fds: Vec<libc::pollfd>,
    /// The connection behind each pollfd after the fixed entries.
    polled: Vec<ConnId>,
    buf: Box<[u8]>,
    /// TLS connections' plaintext, on its way from `buf` to the core.
    plain: Vec<u8>,
    /// The clock's reading for this turn.
    now: Timestamp,
    /// Accepting pauses until then after the process ran out of descriptors.
    accept_paused_until: Option<Timestamp>,
    /// Set once shutdown began: connections still open then are dropped.
    shutdown_deadline: Option<Timestamp>,
    /// Where new connections go when several workers share the listener's connections.
    spreader: Option<Spreader>,
    /// Connections other workers accepted for this one.
    inbox: Option<Arc<Inbox>>,
    /// The inbox's connections, moved out under its lock and registered after.
    incoming: Vec<Accepted>,
}

impl<S: Service> PollDriver<S> {
    /// Memory only: no socket is opened until `bind`.
    pub fn new(server: Server<S>, options: DriverOptions) -> PollDriver<S> {
        PollDriver {
            server,
            options,
            shutdown: ShutdownHandle::default(),
            wake: None,
            listeners: Vec::new(),
            sockets: Sockets::default(),
            fds: Vec::new(),
            polled: Vec::new(),
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

    /// After `bind`: new connections are spread round robin over the workers `spreader` names,
    /// this one included.
    pub fn spread_to(&mut self, spreader: Spreader) {
        self.spreader = Some(spreader);
    }

    /// A worker without a listener: opens the wake-up pipe and serves the connections another
    /// worker's `Spreader` pushes on `inbox`.
    pub fn bind_worker(&mut self, inbox: Arc<Inbox>) -> stdio::Result<()> {
        self.open_wake()?;
        inbox.set_wake(self.shutdown.waker());
        self.inbox = Some(inbox);
        Ok(())
    }

    /// Opens the nonblocking listeners and the wake-up pipe; returns the endpoints actually bound
    /// (a TCP port 0 replaced by the kernel's choice), in order. On error, the endpoint that
    /// failed and why.
    pub fn bind(
        &mut self,
        specs: &[ListenSpec],
    ) -> Result<Vec<Endpoint>, (Endpoint, stdio::Error)> {
        let mut bound = Vec::with_capacity(specs.len());
        for spec in specs {
            let (listener, endpoint) = Listener::bind(&spec.endpoint, self.options.backlog)
                .map_err(|e| (spec.endpoint.clone(), e))?;
            self.listeners.push((listener, spec.security));
            bound.push(endpoint);
        }
        self.open_wake()
            .map_err(|e| (Endpoint::first_of(specs), e))?;
        Ok(bound)
    }

    fn open_wake(&mut self) -> stdio::Result<()> {
        if self.wake.is_none() {
            self.wake = Some(WakePipe::open(&self.shutdown)?);
        }
        Ok(())
    }

    /// Requests a graceful shutdown from anywhere, a signal handler included.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The core server the driver runs.
    pub fn server(&self) -> &Server<S> {
        &self.server
    }

    /// Runs until shutdown completes: every connection closed, or the grace period over.
    pub fn run(&mut self) -> stdio::Result<()> {
        let Some(wake_fd) = self.wake.as_ref().map(WakePipe::fd) else {
            return Err(stdio::Error::new(
                ErrorKind::NotConnected,
                "PollDriver::run before bind",
            ));
        };
        self.now = (self.options.clock)();
        // Connections that gave up their turn (-R) as the last turn ended: asked of the core once
        // a turn, after serving, and remembered for the next wait.
        let mut yielded = false;
        loop {
            // A client's `shutdown` command (allowed by -A) stops the server as a signal does.
            let asked = self.server.shutdown_requested().is_some();
            if (asked || self.shutdown.is_requested()) && self.shutdown_deadline.is_none() {
                if asked {
                    self.options.shutdown_commanded();
                }
                self.begin_shutdown();
            }
            if let Some(deadline) = self.shutdown_deadline {
                if self.server.connection_count() == 0 || self.now >= deadline {
                    break;
                }
            }
            let listening = self.build_pollfds(wake_fd);
            let timeout = if yielded {
                0
            } else {
                poll_timeout_ms(self.wait())
            };
            let polled = poll(&mut self.fds, timeout);
            self.now = (self.options.clock)();
            if let Err(e) = polled {
                if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) {
                    continue;
                }
                return Err(e);
            }
            self.dispatch(listening);
            yielded = self.server.has_yielded();
            if yielded {
                // Level-triggered: a resumed connection is polled for reading again by itself.
                self.server.resume_yielded(self.now, |_| {});
                self.drain_outputs();
                yielded = self.server.has_yielded();
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
                self.drain_outputs();
            }
        }
        self.sockets.clear();
        Ok(())
    }

    fn begin_shutdown(&mut self) {
        tracing::info!(
            connections = self.server.connection_count(),
            "shutting down"
        );
        self.server.begin_shutdown(self.now);
        self.listeners.clear();
        self.shutdown_deadline = Some(
            self.now
                .saturating_add_millis(self.options.shutdown_grace.as_millis() as u64),
        );
        self.drain_outputs();
    }

    /// Fills `fds` and `polled`; returns how many listeners are among them (after the pipe).
    fn build_pollfds(&mut self, wake_fd: RawFd) -> usize {
        self.fds.clear();
        self.polled.clear();
        self.fds.push(pollfd(wake_fd, POLLIN));
        if self.accept_paused_until.is_some_and(|t| self.now >= t) {
            self.accept_paused_until = None;
            self.server.resume_accepting(self.now);
        }
        let listening = if self.accept_paused_until.is_none() {
            for (listener, _) in &self.listeners {
                self.fds.push(pollfd(listener.as_raw_fd(), POLLIN));
            }
            self.listeners.len()
        } else {
            0
        };
        for (id, fd, tls_write) in self.sockets.fds() {
            let interest = self.server.interest(id);
            let write = interest.write || tls_write;
            let events = if interest.read { POLLIN } else { 0 } | if write { POLLOUT } else { 0 };
            if events != 0 {
                self.fds.push(pollfd(fd, events));
                self.polled.push(id);
            }
        }
        listening
    }

    /// How long `poll()` may block: until the earliest of the core's deadline, the end of an
    /// accept pause and the end of the shutdown grace, capped by the configured poll timeout.
    fn wait(&self) -> Option<Duration> {
        let deadline = earliest(
            earliest(self.server.poll_timeout(), self.accept_paused_until),
            self.shutdown_deadline,
        );
        let until = deadline.map(|d| Duration::from_millis(d.millis_since(self.now)));
        earliest(until, self.options.poll_timeout)
    }

    /// Acts on the `revents` of one `poll()`.
    fn dispatch(&mut self, listening: usize) {
        if self.fds[0].revents != 0 {
            if let Some(wake) = &self.wake {
                wake.drain();
            }
            self.take_inbox();
        }
        for index in 0..listening {
            if self.fds[1 + index].revents != 0 {
                self.accept_batch(index);
            }
        }
        let first = 1 + listening;
        let polled = mem::take(&mut self.polled);
        for (i, &id) in polled.iter().enumerate() {
            let revents = self.fds[first + i].revents;
            if revents & POLLNVAL != 0 {
                self.server.handle_io_error(id, self.now);
            } else {
                if revents & (POLLIN | POLLHUP | POLLERR) != 0 {
                    self.read_ready(id);
                }
                if revents & (POLLOUT | POLLHUP | POLLERR) != 0 {
                    self.flush(id);
                }
            }
            self.drain_outputs();
        }
        self.polled = polled;
    }
}

fn pollfd(fd: RawFd, events: c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn poll(fds: &mut [libc::pollfd], timeout: libc::c_int) -> stdio::Result<usize> {
    // SAFETY: `fds` is an exclusively borrowed slice of initialised pollfd structs and the length
    // passed is its length, so the kernel reads and writes only inside it.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if n < 0 {
        Err(stdio::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
