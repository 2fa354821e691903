//! Completions and the core's instructions: accepting, receiving from the buffer ring, sending
//! from the slot's own buffer, cancelling a closing connection's operations, and settling each
//! touched connection against the core's interest.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use keel_core::{Output, Service};
use keel_driver_common::{
    ACCEPT_BACKOFF_MS, ACCEPT_BATCH, Accepted, Admitted, Listener, Security, Stream, TlsConn,
    admit, out_of_descriptors,
};

use super::{Accept, UringDriver};
use crate::conn::Recv;
use crate::sys::{self, Completion, Op, Ring, Token};

type Result = std::io::Result<()>;

/// The most bytes copied into one send: a socket takes about this much at a time, and what the
/// core holds beyond it is copied when this part has gone.
const SEND_CHUNK: usize = 256 << 10;

impl<S: Service> UringDriver<S> {
    pub(super) fn complete(&mut self, ring: &mut Ring, c: Completion) -> Result {
        match c.token.op {
            Op::Accept => self.on_accept(ring, c),
            Op::Wake => {
                self.woken = true;
                Ok(())
            }
            Op::Recv => self.on_recv(ring, c),
            Op::Send => self.on_send(ring, c),
            Op::Cancel => {
                if let Some(conn) = self.conns.get(c.token) {
                    conn.cancels = conn.cancels.saturating_sub(1);
                    self.touch(c.token.slot);
                }
                Ok(())
            }
            Op::Hangup => self.on_hangup(ring, c),
        }
    }

    /// The peer reset the connection (or the poll was cancelled by a close). A multishot
    /// receive can miss a reset that arrives behind unread data: it reads the data, finds the
    /// socket empty and waits for a wake-up that already came, so the reset is never reported
    /// (seen under the soak's faults: a connection left open in the core). From a reset on,
    /// the connection's receive is cancelled and armed again one completion at a time; a fresh
    /// receive reports the reset once the data is read.
    fn on_hangup(&mut self, ring: &mut Ring, c: Completion) -> Result {
        let Some(conn) = self.conns.get(c.token) else {
            return Ok(());
        };
        conn.watching = false;
        if c.result > 0 && !conn.closing {
            tracing::debug!(id = ?conn.id, "peer reset");
            conn.reset = true;
            if conn.recv == Recv::Armed {
                ring.cancel(conn.token(Op::Recv, c.token.slot))?;
                conn.cancels += 1;
                conn.recv = Recv::Cancelling;
            }
        }
        self.touch(c.token.slot);
        Ok(())
    }

    fn on_accept(&mut self, ring: &mut Ring, c: Completion) -> Result {
        let index = c.token.slot as usize;
        let Some(slot) = self.listeners.get_mut(index) else {
            return Ok(());
        };
        if !c.more {
            slot.accept = Accept::Idle;
        }
        let security = slot.security;
        if c.result >= 0 {
            let fd = sys::accepted(c.result);
            if self.shutdown_deadline.is_some() {
                return Ok(());
            }
            let stream = match &slot.listener {
                Some(Listener::Unix(_)) => Stream::Unix(UnixStream::from(fd)),
                _ => Stream::Tcp(TcpStream::from(fd)),
            };
            let accepted = Accepted { stream, security };
            let mine = match &mut self.spreader {
                Some(spreader) => spreader.route(accepted),
                None => Some(accepted),
            };
            self.arrivals.extend(mine);
            return Ok(());
        }
        let err = std::io::Error::from_raw_os_error(-c.result);
        match err.raw_os_error() {
            Some(libc::ECANCELED | libc::EINTR | libc::ECONNABORTED | libc::EAGAIN) => {}
            // Out of descriptors, or a failure that re-arming at once would only repeat (and
            // spin): accepting pauses, as on the readiness drivers.
            _ => {
                if out_of_descriptors(&err) {
                    tracing::warn!("accept: {err}; no new connections for {ACCEPT_BACKOFF_MS} ms");
                } else {
                    tracing::warn!("accept: {err}");
                }
                self.accept_paused_until = Some(self.now.saturating_add_millis(ACCEPT_BACKOFF_MS));
                self.server.pause_accepting(self.now);
                if c.more {
                    ring.cancel(c.token)?;
                    slot.accept = Accept::Cancelling;
                }
            }
        }
        Ok(())
    }

    /// Queues the connections another worker handed over.
    pub(super) fn take_inbox(&mut self) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        inbox.take(&mut self.incoming);
        self.arrivals.extend(self.incoming.drain(..));
    }

    /// Gives the core at most `ACCEPT_BATCH` of the queued arrivals; the rest wait a turn
    /// (the loop does not block while any wait).
    pub(super) fn admit_arrivals(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let Some(accepted) = self.arrivals.pop_front() else {
                return;
            };
            // Shutting down: the socket closes here, unseen by the core.
            if self.shutdown_deadline.is_none() {
                self.register(accepted.stream, accepted.security);
            }
        }
    }

    /// Hands a new socket to the core (and a TLS one a session); its receive is armed when the
    /// slot is settled. A socket the core refuses is closed at once.
    fn register(&mut self, stream: Stream, security: Security) {
        // A connection the core refuses or closes at once (no TLS session) has no slot: its
        // `Close`, if any, finds none, and the socket closes here.
        let tls_context = self.options.tls.as_ref();
        let Some(Admitted { id, tls }) =
            admit(&mut self.server, self.now, tls_context, &stream, security)
        else {
            return;
        };
        let slot = self.conns.insert(id, stream, tls);
        self.touch(slot);
    }

    fn on_recv(&mut self, ring: &mut Ring, c: Completion) -> Result {
        let Some(conn) = self.conns.get(c.token) else {
            // Slots wait for their receive's last completion, so this is a cancelled leftover.
            if let Some(bid) = c.buffer {
                ring.recycle(bid);
            }
            return Ok(());
        };
        if !c.more {
            conn.recv = Recv::Idle;
        }
        let (id, closing) = (conn.id, conn.closing);
        self.touch(c.token.slot);
        if closing {
            if let Some(bid) = c.buffer {
                ring.recycle(bid);
            }
            return Ok(());
        }
        match c.result {
            n if n > 0 => {
                let Some(bid) = c.buffer else {
                    self.server.handle_io_error(id, self.now);
                    return Ok(());
                };
                let bytes = ring.received(bid, n as usize);
                match self.conns.get(c.token).and_then(|conn| conn.tls.as_mut()) {
                    None => self.server.handle_input(id, self.now, bytes),
                    // The session's answers go out when the slot is settled (`transmit`).
                    Some(tls) => {
                        tls.receive(&mut self.server, id, self.now, bytes, &mut self.plain)
                    }
                }
                ring.recycle(bid);
            }
            0 => {
                if let Some(bid) = c.buffer {
                    ring.recycle(bid);
                }
                self.server.handle_eof(id, self.now);
            }
            err => match -err {
                libc::ENOBUFS => {
                    if let Some(conn) = self.conns.get(c.token) {
                        if !conn.starved {
                            conn.starved = true;
                            if self.starved.is_empty() {
                                tracing::debug!("receive buffers ran out; receives wait for them");
                            }
                            self.starved.push_back((c.token.slot, c.token.generation));
                        }
                    }
                }
                libc::EINVAL if self.multishot => {
                    tracing::info!(
                        "multishot receive unsupported (Linux 6.0+): one per completion"
                    );
                    self.multishot = false;
                }
                libc::ECANCELED | libc::EINTR | libc::EAGAIN => {}
                errno => {
                    let err = std::io::Error::from_raw_os_error(errno);
                    tracing::debug!(?id, "receive: {err}");
                    self.server.handle_io_error(id, self.now);
                }
            },
        }
        Ok(())
    }

    fn on_send(&mut self, ring: &mut Ring, c: Completion) -> Result {
        let Some(conn) = self.conns.get(c.token) else {
            return Ok(());
        };
        let (id, closing, fd, tls) = (conn.id, conn.closing, conn.fd(), conn.tls.is_some());
        if closing {
            // A TLS stream cut mid-record (a failed, cancelled or short last send) gets no
            // close_notify after it.
            if c.result < 0 || ring.unsent(c.token.slot) > 0 {
                conn.tls = None;
            }
            ring.discard_send(c.token.slot);
            self.touch(c.token.slot);
            return Ok(());
        }
        self.touch(c.token.slot);
        match c.result {
            n if n > 0 => {
                // A TLS connection sends ciphertext: `transmit` consumed the core's plaintext as
                // the session took it.
                if !tls {
                    self.server.consume_outbound(id, n as usize, self.now);
                }
                // The rest of a short send goes on at once, from the same buffer.
                ring.send_rest(c.token, fd)?;
            }
            err if -err == libc::EINTR || -err == libc::EAGAIN => ring.send_rest(c.token, fd)?,
            err => {
                let err = if err == 0 {
                    ErrorKind::WriteZero.into()
                } else {
                    std::io::Error::from_raw_os_error(-err)
                };
                tracing::debug!(?id, "send: {err}");
                ring.discard_send(c.token.slot);
                self.server.handle_io_error(id, self.now);
            }
        }
        Ok(())
    }

    /// Puts the slot on this turn's list to settle.
    #[inline]
    pub(super) fn touch(&mut self, slot: u32) {
        if let Some(conn) = self.conns.slot(slot) {
            if !conn.touched {
                conn.touched = true;
                self.touched.push(slot);
            }
        }
    }

    /// Carries out every queued instruction of the core. A `Transmit` only touches the slot
    /// (settling starts the send); a `Close` cancels what the kernel still holds for the socket.
    pub(super) fn drain_outputs(&mut self, ring: &mut Ring) -> Result {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Transmit(id) => {
                    if let Some(slot) = self.conns.slot_of(id) {
                        self.touch(slot);
                    }
                }
                Output::Close(id, reason) => {
                    tracing::debug!(?id, ?reason, "closed");
                    if self.accept_paused_until.take().is_some() {
                        self.server.resume_accepting(self.now);
                    }
                    let Some(slot) = self.conns.close(id) else {
                        continue;
                    };
                    let sending = ring.sending(slot);
                    if let Some(conn) = self.conns.slot(slot) {
                        if conn.recv != Recv::Idle || sending || conn.watching {
                            ring.cancel_fd(conn.token(Op::Cancel, slot), conn.fd())?;
                            conn.cancels += 1;
                            if conn.recv == Recv::Armed {
                                conn.recv = Recv::Cancelling;
                            }
                        }
                    }
                    self.touch(slot);
                }
            }
        }
        Ok(())
    }

    /// Settles every slot touched this turn: a closing one is freed once nothing is in flight;
    /// an open one starts a send for new output and arms or cancels its receive as the core's
    /// read interest says.
    pub(super) fn settle_touched(&mut self, ring: &mut Ring) -> Result {
        let mut touched = std::mem::take(&mut self.touched);
        for slot in touched.drain(..) {
            self.settle(ring, slot)?;
        }
        self.touched = touched;
        Ok(())
    }

    fn settle(&mut self, ring: &mut Ring, slot: u32) -> Result {
        let sending = ring.sending(slot);
        let Some(conn) = self.conns.slot(slot) else {
            return Ok(());
        };
        conn.touched = false;
        if conn.closing {
            if conn.recv == Recv::Idle && !sending && conn.cancels == 0 && !conn.watching {
                if let Some(tls) = &mut conn.tls {
                    say_goodbye(tls, &conn.stream);
                }
                ring.discard_send(slot);
                // Dropping the stream closes the socket: nothing of it is in flight any more.
                self.conns.remove(slot);
            }
            return Ok(());
        }
        let (id, fd) = (conn.id, conn.fd());
        if !sending && ring.unsent(slot) == 0 {
            let token = conn.token(Op::Send, slot);
            match &mut conn.tls {
                None => {
                    let out = self.server.outbound(id);
                    if !out.is_empty() {
                        let chunk = &out[..out.len().min(SEND_CHUNK)];
                        ring.send(token, fd, chunk)?;
                    }
                }
                // The session's waiting ciphertext and the core's output, encrypted straight
                // into the send buffer; what does not fit waits for this send's completion.
                Some(tls) => ring.send_with(token, fd, |data| {
                    let mut sink = Capped {
                        data,
                        room: SEND_CHUNK,
                    };
                    tls.transmit(&mut self.server, id, self.now, &mut sink);
                })?,
            }
        }
        let want = self.server.interest(id);
        match conn.recv {
            Recv::Idle if want.read && !conn.starved => {
                let multishot = self.multishot && !conn.reset;
                // A multishot receive is paired with a watch for the peer's reset (`on_hangup`).
                if multishot && !conn.watching {
                    ring.poll_hangup(conn.token(Op::Hangup, slot), fd)?;
                    conn.watching = true;
                }
                ring.recv(conn.token(Op::Recv, slot), fd, multishot)?;
                conn.recv = Recv::Armed;
            }
            Recv::Armed if !want.read => {
                ring.cancel(conn.token(Op::Recv, slot))?;
                conn.cancels += 1;
                conn.recv = Recv::Cancelling;
            }
            _ => {}
        }
        Ok(())
    }

    /// Re-arms what waits for the end of the turn: the accepts (after a pause, unless shutting
    /// down: then each listener closes once its accept is over) and receives that ran out of
    /// buffers, as many as there are buffers.
    pub(super) fn rearm(&mut self, ring: &mut Ring) -> Result {
        if self.accept_paused_until.is_some_and(|t| self.now >= t) {
            self.accept_paused_until = None;
            self.server.resume_accepting(self.now);
        }
        for (index, slot) in self.listeners.iter_mut().enumerate() {
            let Some(listener) = &slot.listener else {
                continue;
            };
            let token = Token::new(Op::Accept, index as u32, 0);
            match slot.accept {
                _ if self.shutdown_deadline.is_none() => {
                    // Arrivals queued beyond a few turns' worth stay in the kernel's backlog:
                    // the accept is cancelled, and armed again once the queue is short.
                    let queued = self.arrivals.len();
                    if slot.accept == Accept::Idle
                        && self.accept_paused_until.is_none()
                        && queued < ACCEPT_BATCH
                    {
                        ring.accept(token, listener.as_raw_fd())?;
                        slot.accept = Accept::Armed;
                    } else if slot.accept == Accept::Armed && queued >= 4 * ACCEPT_BATCH {
                        ring.cancel(token)?;
                        slot.accept = Accept::Cancelling;
                    }
                }
                Accept::Armed => {
                    ring.cancel(token)?;
                    slot.accept = Accept::Cancelling;
                }
                Accept::Cancelling => {}
                Accept::Idle => slot.listener = None,
            }
        }
        for _ in 0..self.buffers.count {
            let Some((slot, generation)) = self.starved.pop_front() else {
                break;
            };
            if let Some(conn) = self.conns.get(Token::new(Op::Recv, slot, generation)) {
                conn.starved = false;
                self.touch(slot);
            }
        }
        // Settling can make output of its own (a TLS `transmit` consumes the core's output,
        // which may process held input or finish a closing connection): carried out this turn.
        loop {
            self.settle_touched(ring)?;
            self.drain_outputs(ring)?;
            if self.touched.is_empty() {
                return Ok(());
            }
        }
    }
}

/// A slot's send buffer as the sink of `TlsConn::transmit`: takes up to `room` bytes, then says
/// `WouldBlock`, and the rest waits in the session for this send's completion.
struct Capped<'a> {
    data: &'a mut Vec<u8>,
    room: usize,
}

impl Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.data.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A closing TLS connection with nothing in flight any more: its alert or close_notify goes if
/// the socket takes it at once, as on the readiness drivers. Written directly, nonblocking: the
/// socket is about to close, and no send of the ring is left to overtake.
fn say_goodbye(tls: &mut TlsConn, stream: &Stream) {
    if stream.set_nonblocking().is_ok() {
        tls.close(&mut &*stream);
    }
}
