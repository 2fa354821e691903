//! Moving bytes for the mio loop: accepting, budgeted reads into the shared buffer, writing until
//! `WouldBlock`, the ready list, and the core's `Transmit`/`Close` instructions.

use std::io::{ErrorKind, Read, Write};

use keel_core::{ConnId, Output, Service};
use keel_driver_common::{
    ACCEPT_BACKOFF_MS, ACCEPT_BATCH, Accepted, AcceptedSocket, Admitted, Security, admit,
    out_of_descriptors,
};
use mio::{Interest, Poll, Token};

use super::MioDriver;
use crate::conn::Conn;
use crate::stream::MioStream;

/// Per connection per turn: at most this many reads and this many bytes.
const READ_CALLS: usize = 16;
const READ_BYTES: usize = 256 << 10;

impl<S: Service> MioDriver<S> {
    /// Accepts from every listener with an edge, each until `WouldBlock` or its batch is used.
    pub(super) fn accept_batch(&mut self, poll: &mut Poll) {
        self.listener_ready = false;
        for index in 0..self.listeners.len() {
            if self.listeners[index].ready {
                self.accept_from(index, poll);
            }
            // Still ready after a full batch, or paused: try again next turn.
            self.listener_ready |= self.listeners.get(index).is_some_and(|l| l.ready);
        }
    }

    fn accept_from(&mut self, index: usize, poll: &mut Poll) {
        for _ in 0..ACCEPT_BATCH {
            let Some(slot) = self.listeners.get_mut(index) else {
                return;
            };
            let err = match slot.listener.accept() {
                Ok(stream) => {
                    let security = slot.security;
                    let stream = match &mut self.spreader {
                        Some(spreader) => {
                            let accepted = Accepted {
                                stream: stream.into_common(),
                                security,
                            };
                            match spreader.route(accepted) {
                                Some(mine) => MioStream::from_common(mine.stream),
                                None => continue,
                            }
                        }
                        None => stream,
                    };
                    self.register(stream, security, poll);
                    continue;
                }
                Err(err) => err,
            };
            match err.kind() {
                ErrorKind::WouldBlock => slot.ready = false,
                ErrorKind::Interrupted | ErrorKind::ConnectionAborted => continue,
                _ if out_of_descriptors(&err) => {
                    tracing::warn!("accept: {err}; no new connections for {ACCEPT_BACKOFF_MS} ms");
                    self.accept_paused_until =
                        Some(self.now.saturating_add_millis(ACCEPT_BACKOFF_MS));
                    self.server.pause_accepting(self.now);
                }
                _ => tracing::warn!("accept: {err}"),
            }
            return;
        }
    }

    /// Registers the connections another worker handed over.
    pub(super) fn take_inbox(&mut self, poll: &mut Poll) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        inbox.take(&mut self.incoming);
        let mut incoming = std::mem::take(&mut self.incoming);
        for accepted in incoming.drain(..) {
            // The listening worker's sockets are nonblocking already (accept4).
            let stream = MioStream::from_common(accepted.stream);
            self.register(stream, accepted.security, poll);
        }
        self.incoming = incoming;
    }

    /// Hands a new socket to the core and the poll; a socket the core refuses is closed at once.
    fn register(&mut self, mut stream: MioStream, security: Security, poll: &mut Poll) {
        let tls_context = self.options.tls.as_ref();
        let Some(Admitted { id, tls }) =
            admit(&mut self.server, self.now, tls_context, &stream, security)
        else {
            return self.drain_outputs(poll);
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = poll
            .registry()
            .register(&mut stream, Token(id.index()), interest)
        {
            tracing::warn!(peer = stream.peer(), "register: {err}");
            self.server.handle_io_error(id, self.now);
            return self.drain_outputs(poll);
        }
        // Registration reports whatever readiness the socket already has.
        self.conns.put(Conn {
            id,
            stream,
            tls,
            readable: false,
            read_closed: false,
            writable: false,
            queued: false,
        });
    }

    /// One turn for one ready connection: budgeted reads, then writes, then back on the list if
    /// readiness the core can use is left.
    pub(super) fn serve(&mut self, id: ConnId, poll: &mut Poll) {
        let mut bytes = 0;
        // Whether the output has been written as far as the socket takes it since the last read.
        let mut flushed = false;
        for _ in 0..READ_CALLS {
            // The cheap local flag first: after a short read there is nothing to ask the core.
            let Some(conn) = self.conns.get(id).filter(|c| c.readable) else {
                break;
            };
            if bytes >= READ_BYTES || !self.server.interest(id).read {
                break;
            }
            match conn.stream.read(&mut self.buf) {
                Ok(0) => {
                    conn.readable = false;
                    self.server.handle_eof(id, self.now);
                }
                Ok(n) => {
                    // A short read drained the socket: the next bytes bring a new edge, so the
                    // read that would only say WouldBlock is skipped (one syscall per request).
                    if n < self.buf.len() && !conn.read_closed {
                        conn.readable = false;
                    }
                    bytes += n;
                    match &mut conn.tls {
                        None => self.server.handle_input(id, self.now, &self.buf[..n]),
                        Some(tls) => tls.receive(
                            &mut self.server,
                            id,
                            self.now,
                            &self.buf[..n],
                            &mut self.plain,
                        ),
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => conn.readable = false,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(?id, "read: {err}");
                    self.server.handle_io_error(id, self.now);
                }
            }
            // The answers to this read go out now, without waiting for their Transmit: that one
            // then finds nothing left to write.
            self.write_out(id);
            flushed = true;
        }
        // Served for writability alone (say, a peer reading again after backpressure).
        if !flushed {
            self.write_out(id);
        }
        self.drain_outputs(poll);
        self.requeue(id);
    }

    /// Writes pending output until none is left or the socket stops taking it; false when there
    /// was nothing to write.
    fn write_out(&mut self, id: ConnId) -> bool {
        let mut wrote = false;
        while let Some(conn) = self.conns.get(id).filter(|c| c.writable) {
            if let Some(tls) = &mut conn.tls {
                let done = tls.transmit(&mut self.server, id, self.now, &mut conn.stream);
                conn.writable &= !done.blocked;
                return done.wrote;
            }
            let pending = self.server.outbound(id);
            if pending.is_empty() {
                return wrote;
            }
            wrote = true;
            let len = pending.len();
            match conn.stream.write(pending) {
                Ok(0) => self.server.handle_io_error(id, self.now),
                Ok(n) => {
                    self.server.consume_outbound(id, n, self.now);
                    // Everything went: anything new (output freed input may have produced)
                    // comes back as a Transmit.
                    if n == len {
                        return true;
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => conn.writable = false,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(?id, "write: {err}");
                    self.server.handle_io_error(id, self.now);
                }
            }
        }
        wrote
    }

    /// Puts the connection on the ready list when remembered readiness matches what the core now
    /// wants: this is how reading resumes after backpressure without a new edge.
    #[inline]
    pub(super) fn requeue(&mut self, id: ConnId) {
        let want = self.server.interest(id);
        if let Some(conn) = self.conns.get(id) {
            let write = want.write || conn.tls.as_ref().is_some_and(|t| t.wants_write());
            if !conn.queued && ((want.read && conn.readable) || (write && conn.writable)) {
                conn.queued = true;
                self.ready.push(id);
            }
        }
    }

    /// Carries out every queued instruction of the core.
    #[inline]
    pub(super) fn drain_outputs(&mut self, poll: &mut Poll) {
        while let Some(output) = self.server.poll_output() {
            match output {
                // Nothing written means whoever wrote it already requeued the connection.
                Output::Transmit(id) => {
                    if self.write_out(id) {
                        self.requeue(id);
                    }
                }
                Output::Close(id, reason) => {
                    if let Some(mut conn) = self.conns.take(id) {
                        tracing::debug!(?id, ?reason, "closed");
                        if let Some(tls) = &mut conn.tls {
                            tls.close(&mut conn.stream);
                        }
                        let _ = poll.registry().deregister(&mut conn.stream);
                    }
                    if self.accept_paused_until.take().is_some() {
                        self.server.resume_accepting(self.now);
                    }
                }
            }
        }
    }
}
