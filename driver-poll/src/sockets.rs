//! The driver's socket table: one slot per core connection slot, indexed by `ConnId::index()` and
//! guarded by the full id, so a stale id never reaches a socket that now belongs to someone else.

use std::os::fd::{AsRawFd, RawFd};

use keel_core::ConnId;
use keel_driver_common::Stream;

#[derive(Debug, Default)]
pub(crate) struct Sockets {
    slots: Vec<Option<(ConnId, Stream)>>,
}

impl Sockets {
    pub(crate) fn insert(&mut self, id: ConnId, stream: Stream) {
        let index = id.index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some((id, stream));
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Stream> {
        match self.slots.get(id.index()) {
            Some(Some((owner, stream))) if *owner == id => Some(stream),
            _ => None,
        }
    }

    /// Takes the socket out; dropping it closes it.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Stream> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.as_ref().is_some_and(|(owner, _)| *owner == id) {
            slot.take().map(|(_, stream)| stream)
        } else {
            None
        }
    }

    /// Every open socket's id and descriptor, in slot order.
    pub(crate) fn fds(&self) -> impl Iterator<Item = (ConnId, RawFd)> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|(id, stream)| (*id, stream.as_raw_fd()))
    }

    /// Closes every socket (shutdown's grace period is over).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }
}
