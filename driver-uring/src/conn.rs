//! The driver's connection slots. A slot outlives the core's connection: after the core's
//! `Close` the slot stays until the kernel has finished every operation on its socket (a
//! receive, a send, the cancellation), and only then is the socket closed. So slots are the
//! driver's own, not the core's `ConnId` indices, which the core reuses at once; a generation per
//! slot tells a completion for a previous occupant apart.

use std::os::fd::{AsRawFd, RawFd};

use keel_core::ConnId;
use keel_driver_common::{Stream, TlsConn};

use crate::sys::{Op, Token};

/// The receive operation of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// None in flight.
    Idle,
    /// In flight (multishot: until a completion without "more").
    Armed,
    /// Cancelled; its last completion has not arrived yet.
    Cancelling,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) stream: Stream,
    /// The TLS session of a connection on a TLS listener; `None` for plaintext.
    pub(crate) tls: Option<Box<TlsConn>>,
    pub(crate) generation: u32,
    pub(crate) recv: Recv,
    /// The core has closed the connection: the socket closes once nothing is in flight.
    pub(crate) closing: bool,
    /// Cancellations in flight.
    pub(crate) cancels: u32,
    /// On the list of slots to settle at the end of the turn.
    pub(crate) touched: bool,
    /// Waiting for receive buffers (the ring ran out).
    pub(crate) starved: bool,
    /// A poll for an error or hang-up (the peer's reset) is in flight.
    pub(crate) watching: bool,
    /// The peer reset: receives are one completion each from now on (see `driver::io`).
    pub(crate) reset: bool,
}

impl Conn {
    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub(crate) fn token(&self, op: Op, slot: u32) -> Token {
        Token::new(op, slot, self.generation)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Slots {
    slots: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    /// The slot of each open core connection, by `ConnId::index()`.
    by_core: Vec<u32>,
    /// Occupied slots whose connection the core has not closed.
    open: usize,
}

const NONE: u32 = u32::MAX;

impl Slots {
    pub(crate) fn insert(&mut self, id: ConnId, stream: Stream, tls: Option<Box<TlsConn>>) -> u32 {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            (self.slots.len() - 1) as u32
        });
        let generation = &mut self.generations[slot as usize];
        *generation = generation.wrapping_add(1) & 0xff_ffff;
        self.slots[slot as usize] = Some(Conn {
            id,
            stream,
            tls,
            generation: *generation,
            recv: Recv::Idle,
            closing: false,
            cancels: 0,
            touched: false,
            starved: false,
            watching: false,
            reset: false,
        });
        let index = id.index();
        if self.by_core.len() <= index {
            self.by_core.resize(index + 1, NONE);
        }
        self.by_core[index] = slot;
        self.open += 1;
        slot
    }

    /// The slot's connection, when `token` names its current occupant.
    pub(crate) fn get(&mut self, token: Token) -> Option<&mut Conn> {
        self.slot(token.slot)
            .filter(|c| c.generation == token.generation)
    }

    pub(crate) fn slot(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The slot of an open core connection.
    pub(crate) fn slot_of(&self, id: ConnId) -> Option<u32> {
        let slot = *self.by_core.get(id.index())?;
        let conn = self.slots.get(slot as usize)?.as_ref()?;
        (conn.id == id && !conn.closing).then_some(slot)
    }

    /// The core closed `id`: its slot now only waits for the kernel.
    pub(crate) fn close(&mut self, id: ConnId) -> Option<u32> {
        let slot = self.slot_of(id)?;
        self.by_core[id.index()] = NONE;
        if let Some(conn) = self.slot(slot) {
            conn.closing = true;
        }
        self.open -= 1;
        Some(slot)
    }

    /// Frees the slot; dropping the connection closes its socket.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<Conn> {
        let conn = self.slots.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(conn)
    }

    /// Slots whose connection is open in the core: at the end of every turn, when the core's
    /// outputs are drained, exactly `Server::connection_count`.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Every occupied slot.
    pub(crate) fn occupied(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| i as u32)
    }

    /// Closes every socket (teardown, after the ring is quiet).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.by_core.clear();
        self.open = 0;
    }
}
