//! All item bytes, slab chunks and large boxes alike, addressed by location.
//!
//! Every page or box that comes or goes passes through here, so the budget (the store's own limit
//! or a limit shared with other stores) always agrees with what the store holds.

use super::budget::Budget;
use super::index::KeySource;
use super::item;
use super::large::Large;
use super::loc::Loc;
use super::slab::Slabs;

pub(crate) struct Memory {
    pub(crate) slabs: Slabs,
    pub(crate) large: Large,
    pub(crate) budget: Budget,
}

impl Memory {
    pub(crate) fn new(budget: Budget, page_size: usize) -> Memory {
        Memory {
            slabs: Slabs::with_page_size(page_size),
            large: Large::new(),
            budget,
        }
    }

    /// What counts against the memory limit: whole pages plus large items' boxes.
    pub(crate) fn used(&self) -> usize {
        self.slabs.pages_in_use() * self.slabs.page_size() + self.large.bytes()
    }

    /// Bytes that may still be taken without evicting.
    pub(crate) fn headroom(&self) -> usize {
        self.budget.headroom(self.used())
    }

    /// A new page for `class` if the budget has room for one (and a page number is free).
    pub(crate) fn try_add_page(&mut self, class: u8) -> bool {
        let page = self.slabs.page_size();
        if !self.slabs.can_number_page() || !self.budget.try_reserve(page, self.used()) {
            return false;
        }
        self.slabs.add_page(class);
        true
    }

    /// Drops a detached page and returns its memory to the budget.
    pub(crate) fn release_page(&mut self, page: u16) {
        self.slabs.release_page(page);
        self.budget.release(self.slabs.page_size());
    }

    /// Reserves a large item's box; on success the caller stores it with `insert_large`.
    pub(crate) fn try_reserve_large(&mut self, len: usize) -> bool {
        self.budget.try_reserve(len, self.used())
    }

    /// Stores a box reserved by `try_reserve_large`; its location.
    pub(crate) fn insert_large(&mut self, data: Box<[u8]>) -> u32 {
        Loc::Large(self.large.insert(data)).encode()
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
            Loc::Large(index) => {
                let len = self.large.remove(index);
                self.budget.release(len);
            }
        }
    }
}

impl KeySource for Memory {
    #[inline]
    fn key_at(&self, raw: u32) -> &[u8] {
        item::key(self.bytes(raw))
    }
}
