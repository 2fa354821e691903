//! All item bytes, slab chunks and large boxes alike, addressed by location.

use super::index::KeySource;
use super::item;
use super::large::Large;
use super::loc::Loc;
use super::slab::{PAGE_SIZE, Slabs};

pub(crate) struct Memory {
    pub(crate) slabs: Slabs,
    pub(crate) large: Large,
}

impl Memory {
    pub(crate) fn new() -> Memory {
        Memory {
            slabs: Slabs::new(),
            large: Large::new(),
        }
    }

    /// What counts against the memory limit: whole pages plus large items' boxes.
    pub(crate) fn used(&self) -> usize {
        self.slabs.pages_in_use() * PAGE_SIZE + self.large.bytes()
    }

    /// The item's chunk (possibly longer than the item) or box.
    #[inline]
    pub(crate) fn bytes(&self, raw: u32) -> &[u8] {
        match Loc::decode(raw) {
            Loc::Chunk { .. } => self.slabs.chunk(raw),
            Loc::Large(index) => self.large.get(index),
        }
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self, raw: u32) -> &mut [u8] {
        match Loc::decode(raw) {
            Loc::Chunk { .. } => self.slabs.chunk_mut(raw),
            Loc::Large(index) => self.large.get_mut(index),
        }
    }

    /// `bytes_mut` and the slab class (`None` for a large item) from one lookup.
    #[inline]
    pub(crate) fn bytes_mut_and_class(&mut self, raw: u32) -> (&mut [u8], Option<u8>) {
        match Loc::decode(raw) {
            Loc::Chunk { .. } => {
                let (buf, class) = self.slabs.chunk_mut_and_class(raw);
                (buf, Some(class))
            }
            Loc::Large(index) => (self.large.get_mut(index), None),
        }
    }

    /// The slab class of the item's chunk; `None` for a large item.
    pub(crate) fn class_of(&self, raw: u32) -> Option<u8> {
        match Loc::decode(raw) {
            Loc::Chunk { .. } => Some(self.slabs.class_of(raw)),
            Loc::Large(_) => None,
        }
    }

    /// Returns the item's memory to its owner; the item must already be out of the index.
    pub(crate) fn free(&mut self, raw: u32) {
        match Loc::decode(raw) {
            Loc::Chunk { .. } => self.slabs.push_free(raw),
            Loc::Large(index) => self.large.remove(index),
        }
    }
}

impl KeySource for Memory {
    #[inline]
    fn key_at(&self, raw: u32) -> &[u8] {
        item::key(self.bytes(raw))
    }
}
