//! One client connection: its buffers and the state of its request stream (the seed's
//! `ClientConnection`). The byte-level loop lives in `process`.

mod binary;
mod peer;
mod process;
mod text;
mod text_auth;

pub(crate) use peer::Peer;
pub(crate) use process::process;

use std::time::Duration;

use crate::output::{CloseReason, Interest};
use crate::protocol::{Header, RequestShape};
use crate::time::Timestamp;

/// Where a connection is in its life, as `Server::state` reports it.
///
/// Requests are processed synchronously inside `handle_input`, so "processing" is never observed
/// between calls: a connection is either reading (a header or a body), writing (output pending and
/// input paused by backpressure), closing (no more input; pending output being flushed) or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// At a request boundary, waiting for (the rest of) a 24-byte header.
    ReadingHeader,
    /// A valid header is in; waiting for its extras, key and value.
    ReadingPayload,
    /// Swallowing the value of a request that was already answered (too large, unknown opcode).
    Discarding,
    /// Output over the backpressure bound: input is not read until the peer takes some.
    Writing,
    /// No more input will be processed; the connection closes once its output is delivered.
    Closing,
    /// Closed: the `Close` output has been issued or is queued.
    Closed,
}

/// The protocol a connection speaks, fixed by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Binary,
    Text,
}

/// The request-stream position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Header,
    Payload(Header, RequestShape),
    Discard(u64),
    /// A text multi-get (or metadump) paused at the backpressure bound; where it goes on.
    MultiGet(u64),
}

impl Phase {
    /// After a request is answered: skip `n` more bytes of its body, if any.
    pub(crate) fn skipping(n: u64) -> Phase {
        if n == 0 {
            Phase::Header
        } else {
            Phase::Discard(n)
        }
    }
}

#[derive(Debug)]
pub(crate) struct Connection {
    /// Bytes of an incomplete request; empty and capacity-less while at a request boundary.
    pub(crate) input: Vec<u8>,
    /// Responses not yet taken by the driver start at `sent`.
    pub(crate) output: Vec<u8>,
    pub(crate) sent: usize,
    pub(crate) phase: Phase,
    pub(crate) proto: Option<Proto>,
    pub(crate) closing: Option<CloseReason>,
    /// The peer closed its sending side; requests already received are still answered.
    pub(crate) peer_eof: bool,
    pub(crate) closed: bool,
    pub(crate) last_active: Timestamp,
    /// When the unfinished request now in progress started arriving.
    pub(crate) partial_since: Option<Timestamp>,
    /// SASL or `-Y`: whether the connection has authenticated (always true without either).
    pub(crate) authenticated: bool,
    /// A `Transmit` for this connection is queued and not yet answered by a full drain.
    pub(crate) transmit_queued: bool,
    /// It used up its requests per event: complete requests wait in `input` for its next turn.
    pub(crate) yielded: bool,
    /// The peer's address when the driver gave it (`stats conns`).
    pub(crate) peer: Peer,
    /// The driver's transport holds bytes not yet given to the core (a TLS handshake under
    /// way): the read timeout runs as for a partial request.
    pub(crate) transport_partial: bool,
}

impl Connection {
    pub(crate) fn new(now: Timestamp, authenticated: bool) -> Connection {
        Connection {
            input: Vec::new(),
            output: Vec::new(),
            sent: 0,
            phase: Phase::Header,
            proto: None,
            closing: None,
            peer_eof: false,
            closed: false,
            last_active: now,
            partial_since: None,
            authenticated,
            transmit_queued: false,
            yielded: false,
            peer: Peer::default(),
            transport_partial: false,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.output.len() - self.sent
    }

    pub(crate) fn outbound(&self) -> &[u8] {
        &self.output[self.sent..]
    }

    pub(crate) fn over_limit(&self, output_limit: usize) -> bool {
        self.pending() > output_limit
    }

    pub(crate) fn state(&self, output_limit: usize) -> ConnState {
        if self.closed {
            ConnState::Closed
        } else if self.closing.is_some() {
            ConnState::Closing
        } else if self.over_limit(output_limit) {
            ConnState::Writing
        } else {
            match self.phase {
                Phase::Header | Phase::MultiGet(_) => ConnState::ReadingHeader,
                Phase::Payload(..) => ConnState::ReadingPayload,
                Phase::Discard(_) => ConnState::Discarding,
            }
        }
    }

    /// Whether part of a request is waiting for more bytes (held-back complete requests are not).
    fn mid_request(&self, output_limit: usize) -> bool {
        if self.transport_partial {
            return true;
        }
        match self.phase {
            Phase::Payload(..) | Phase::Discard(_) => true,
            Phase::Header => {
                !self.input.is_empty() && !self.over_limit(output_limit) && !self.yielded
            }
            // Waiting for the peer to read, not for it to write: the idle timeout's business.
            Phase::MultiGet(_) => false,
        }
    }

    /// Starts or stops the read-timeout clock after input was processed; returns the new start.
    pub(crate) fn track_partial(
        &mut self,
        now: Timestamp,
        output_limit: usize,
    ) -> Option<Timestamp> {
        if self.mid_request(output_limit) {
            Some(*self.partial_since.get_or_insert(now))
        } else {
            self.partial_since = None;
            None
        }
    }

    /// The next time this connection must be closed if nothing happens, and why.
    pub(crate) fn deadline(
        &self,
        idle: Option<Duration>,
        read: Option<Duration>,
    ) -> Option<(Timestamp, CloseReason)> {
        let idle = idle.map(|t| {
            (
                self.last_active.saturating_add_millis(t.as_millis() as u64),
                CloseReason::IdleTimeout,
            )
        });
        let read = read.zip(self.partial_since).map(|(t, since)| {
            (
                since.saturating_add_millis(t.as_millis() as u64),
                CloseReason::ReadTimeout,
            )
        });
        match (idle, read) {
            (Some(i), Some(r)) => Some(if r.0 < i.0 { r } else { i }),
            (i, r) => i.or(r),
        }
    }

    /// After EOF, once every complete request has run (processing only stops early for
    /// backpressure or a yield), the connection closes when its output is delivered.
    pub(crate) fn close_if_drained_eof(&mut self, output_limit: usize) {
        if self.peer_eof
            && self.closing.is_none()
            && !self.over_limit(output_limit)
            && !self.yielded
        {
            self.closing = Some(CloseReason::PeerClosed);
        }
    }

    pub(crate) fn interest(&self, output_limit: usize) -> Interest {
        if self.closed {
            return Interest::default();
        }
        Interest {
            read: self.closing.is_none()
                && !self.peer_eof
                && !self.yielded
                && !self.over_limit(output_limit),
            write: self.pending() > 0,
        }
    }
}
