//! `ConnId`: a connection handle that cannot be confused with a later connection in the same slot.

use std::fmt;

/// A slab index plus a generation. Drivers may use `index()` as their mio `Token` or pollfd slot; the
/// generation makes an event for a slot that has since been reused harmless.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    pub(crate) fn new(index: u32, generation: u32) -> ConnId {
        ConnId { index, generation }
    }

    /// The slot number: small, dense, reused after the connection closes.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// How many connections the slot held before this one (wrapping): tells this connection
    /// from a later one in the same slot.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}
