//! All item bytes, slab chunks and large boxes alike, addressed by location.
//!
//! Every page or box that comes or goes passes through here, so the budget (the store's own limit
//! or a limit shared with other stores) always agrees with what the store holds.

use super::budget::Budget;
use super::index::KeySource;
use super::item;
use super::large::Large;
use super::loc::Loc;
use super::region::FramePool;
use super::slab::{PageMem, Slabs};
use crate::sync::Arc;

pub(crate) struct Memory {
    pub(crate) slabs: Slabs,
    pub(crate) large: Large,
    pub(crate) budget: Budget,
    /// Where slab pages come from in a caller's memory region, and the shard this store is
    /// there; `None`: from the heap.
    frames: Option<(Arc<FramePool>, u16)>,
}

impl Memory {
    pub(crate) fn new(budget: Budget, page_size: usize) -> Memory {
        Memory {
            slabs: Slabs::with_page_size(page_size),
            large: Large::new(),
            budget,
            frames: None,
        }
    }

    /// Memory whose slab pages are frames of a region (large items stay on the heap).
    pub(crate) fn in_region(
        budget: Budget,
        page_size: usize,
        pool: Arc<FramePool>,
        shard: u16,
    ) -> Memory {
        Memory {
            frames: Some((pool, shard)),
            ..Memory::new(budget, page_size)
        }
    }

    /// Every frame in use here, and with `pool` those in the region's pool (a test's crash image).
    #[cfg(test)]
    pub(crate) fn for_each_frame(&self, pool: bool, visit: &mut dyn FnMut(&super::region::Frame)) {
        self.slabs.for_each_frame(visit);
        if let (true, Some((frames, _))) = (pool, &self.frames) {
            frames.for_each(visit);
        }
    }

    /// Slab pages live in a region that outlives the process: writes must keep it restorable.
    #[inline]
    pub(crate) fn persistent(&self) -> bool {
        self.frames.is_some()
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
        let data = match &self.frames {
            None => self.slabs.heap_page(),
            Some((pool, shard)) => match pool.take(*shard) {
                Some(mut frame) => {
                    frame.claim(class);
                    PageMem::Frame(frame)
                }
                None => {
                    // A region holds as many frames as the limit has pages, so a reserved page
                    // finds one; this only guards a region smaller than its budget.
                    self.budget.release(page);
                    return false;
                }
            },
        };
        self.slabs.add_page(class, data);
        true
    }

    /// Drops a detached page (a frame goes back to the region's pool) and returns its memory to
    /// the budget.
    pub(crate) fn release_page(&mut self, page: u16) {
        let data = self.slabs.release_page(page);
        self.give_back(data);
        self.budget.release(self.slabs.page_size());
    }

    /// A page's memory, no longer a page: a frame is untagged and back in the pool.
    pub(crate) fn give_back(&self, data: PageMem) {
        if let (PageMem::Frame(mut frame), Some((pool, _))) = (data, &self.frames) {
            frame.vacate();
            pool.give_back(frame);
        }
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
