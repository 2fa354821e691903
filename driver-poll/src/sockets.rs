//! The driver's socket table: one slot per core connection slot, indexed by `ConnId::index()` and
//! guarded by the full id, so a stale id never reaches a socket that now belongs to someone else.

use std::os::fd::{AsRawFd, RawFd};

use keel_core::ConnId;
use keel_driver_common::{Stream, TlsConn};

/// One connection's socket and, on a TLS listener, its session.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) id: ConnId,
    pub(crate) stream: Stream,
    pub(crate) tls: Option<Box<TlsConn>>,
}

#[derive(Debug, Default)]
pub(crate) struct Sockets {
    slots: Vec<Option<Socket>>,
}

impl Sockets {
    pub(crate) fn insert(&mut self, socket: Socket) {
        let index = socket.id.index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(socket);
    }

    pub(crate) fn get(&mut self, id: ConnId) -> Option<&mut Socket> {
        match self.slots.get_mut(id.index()) {
            Some(Some(socket)) if socket.id == id => Some(socket),
            _ => None,
        }
    }

    /// Takes the socket out; dropping it closes it.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Socket> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.as_ref().is_some_and(|socket| socket.id == id) {
            slot.take()
        } else {
            None
        }
    }

    /// Every open socket's id, descriptor, and whether its TLS session has ciphertext waiting,
    /// in slot order.
    pub(crate) fn fds(&self) -> impl Iterator<Item = (ConnId, RawFd, bool)> + '_ {
        self.slots.iter().flatten().map(|socket| {
            let tls_write = socket.tls.as_ref().is_some_and(|t| t.wants_write());
            (socket.id, socket.stream.as_raw_fd(), tls_write)
        })
    }

    /// Closes every socket (shutdown's grace period is over).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }
}
