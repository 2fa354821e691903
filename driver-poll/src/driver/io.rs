//! Moving bytes: accepting sockets, reading into the shared buffer, writing the core's output, and
//! carrying out the core's `Transmit` and `Close` instructions.

use std::io::{ErrorKind, Read, Write};

use keel_core::{ConnId, Output, Service};
use keel_driver_common::{
    ACCEPT_BACKOFF_MS, ACCEPT_BATCH, Accepted, Admitted, admit, out_of_descriptors,
};

use super::PollDriver;
use crate::sockets::Socket;

/// Reads per connection per turn at most; poll() is level-triggered, so the rest waits a turn.
const READS_PER_TURN: usize = 4;

impl<S: Service> PollDriver<S> {
    /// Accepts from listener `index` until it has no more (or the batch is used up).
    pub(super) fn accept_batch(&mut self, index: usize) {
        for _ in 0..ACCEPT_BATCH {
            let Some((listener, security)) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok(stream) => {
                    let accepted = Accepted {
                        stream,
                        security: *security,
                    };
                    let mine = match &mut self.spreader {
                        Some(spreader) => spreader.route(accepted),
                        None => Some(accepted),
                    };
                    if let Some(accepted) = mine {
                        self.admit(accepted);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) if out_of_descriptors(&e) => {
                    tracing::warn!("accept: {e}; pausing accepts for {ACCEPT_BACKOFF_MS} ms");
                    self.accept_paused_until =
                        Some(self.now.saturating_add_millis(ACCEPT_BACKOFF_MS));
                    self.server.pause_accepting(self.now);
                    return;
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    /// Registers the connections another worker handed over.
    pub(super) fn take_inbox(&mut self) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        inbox.take(&mut self.incoming);
        let mut incoming = std::mem::take(&mut self.incoming);
        for accepted in incoming.drain(..) {
            self.admit(accepted);
        }
        self.incoming = incoming;
    }

    /// Registers an accepted socket with the core, or closes it at once when the core refuses.
    fn admit(&mut self, accepted: Accepted) {
        let Accepted { stream, security } = accepted;
        let tls_context = self.options.tls.as_ref();
        let Some(Admitted { id, tls }) =
            admit(&mut self.server, self.now, tls_context, &stream, security)
        else {
            return self.drain_outputs();
        };
        self.sockets.insert(Socket { id, stream, tls });
    }

    /// Reads while the core wants input, up to the per-turn bound.
    pub(super) fn read_ready(&mut self, id: ConnId) {
        for _ in 0..READS_PER_TURN {
            if !self.server.interest(id).read {
                return;
            }
            let Some(socket) = self.sockets.get(id) else {
                return;
            };
            match (&socket.stream).read(&mut self.buf) {
                Ok(0) => return self.server.handle_eof(id, self.now),
                Ok(n) => {
                    match &mut socket.tls {
                        None => self.server.handle_input(id, self.now, &self.buf[..n]),
                        Some(tls) => {
                            tls.receive(
                                &mut self.server,
                                id,
                                self.now,
                                &self.buf[..n],
                                &mut self.plain,
                            );
                            // Handshake messages and replies go out now, not a poll() later.
                            tls.transmit(&mut self.server, id, self.now, &mut &socket.stream);
                        }
                    }
                    if n < self.buf.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(?id, "read: {e}");
                    return self.server.handle_io_error(id, self.now);
                }
            }
        }
    }

    /// Writes the connection's pending output until it is all sent or the socket is full.
    pub(super) fn flush(&mut self, id: ConnId) {
        loop {
            let Some(socket) = self.sockets.get(id) else {
                return;
            };
            if let Some(tls) = &mut socket.tls {
                tls.transmit(&mut self.server, id, self.now, &mut &socket.stream);
                return;
            }
            let out = self.server.outbound(id);
            if out.is_empty() {
                return;
            }
            match (&socket.stream).write(out) {
                Ok(0) => return self.server.handle_io_error(id, self.now),
                Ok(n) => self.server.consume_outbound(id, n, self.now),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(?id, "write: {e}");
                    return self.server.handle_io_error(id, self.now);
                }
            }
        }
    }

    /// Carries out every queued instruction of the core.
    pub(super) fn drain_outputs(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Transmit(id) => self.flush(id),
                Output::Close(id, reason) => {
                    tracing::debug!(?id, ?reason, "closed");
                    if let Some(Socket {
                        stream,
                        tls: Some(mut tls),
                        ..
                    }) = self.sockets.remove(id)
                    {
                        tls.close(&mut &stream);
                    }
                    // A descriptor came free: accepting may resume.
                    if self.accept_paused_until.take().is_some() {
                        self.server.resume_accepting(self.now);
                    }
                }
            }
        }
    }
}
