//! The per-connection record: the socket and its remembered edge-triggered readiness, in a table
//! indexed by `ConnId::index()` (the mio `Token`) and checked against the full id.

use keel_core::ConnId;
use keel_driver_common::TlsConn;

use crate::stream::MioStream;

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) stream: MioStream,
    /// The TLS session of a connection on a TLS listener; `None` for plaintext.
    pub(crate) tls: Option<Box<TlsConn>>,
    /// Readable since the last `WouldBlock` (or EOF): true while unread bytes may remain, even
    /// when the core paused reading for backpressure, so resuming needs no new edge.
    pub(crate) readable: bool,
    /// The peer's FIN (or an error) was reported: a short read may not be the last one, since no
    /// new edge will announce the EOF behind it.
    pub(crate) read_closed: bool,
    /// Writable since the last `WouldBlock`.
    pub(crate) writable: bool,
    /// On the ready list already.
    pub(crate) queued: bool,
}

/// Connection slots by token.
#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    slots: Vec<Option<Conn>>,
}

impl ConnTable {
    pub(crate) fn put(&mut self, conn: Conn) {
        let index = conn.id.index();
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(conn);
    }

    /// The connection behind a token, whatever its generation (events carry no generation).
    pub(crate) fn by_token(&mut self, token: usize) -> Option<&mut Conn> {
        self.slots.get_mut(token)?.as_mut()
    }

    pub(crate) fn get(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.by_token(id.index()).filter(|c| c.id == id)
    }

    pub(crate) fn take(&mut self, id: ConnId) -> Option<Conn> {
        self.get(id)?;
        self.slots[id.index()].take()
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Conn> + '_ {
        self.slots.drain(..).flatten()
    }
}
