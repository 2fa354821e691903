//! All item bytes, slab chunks and large boxes alike, addressed by location.
//!
//! Every page or box that comes or goes passes through here, so the budget (the store's own limit
//! or a limit shared with other stores) always agrees with what the store holds.

use super::blocks::{self, Blocks};
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
    /// In a region: the block pages holding large items' chains (`blocks`).
    blocks: Option<Blocks>,
}

impl Memory {
    pub(crate) fn new(budget: Budget, page_size: usize) -> Memory {
        Memory {
            slabs: Slabs::with_page_size(page_size),
            large: Large::new(),
            budget,
            frames: None,
            blocks: None,
        }
    }

    /// Memory whose slab pages are frames of a region; large items are served from the heap and
    /// kept in chains of blocks in the region.
    pub(crate) fn in_region(
        budget: Budget,
        page_size: usize,
        pool: Arc<FramePool>,
        shard: u16,
    ) -> Memory {
        Memory {
            frames: Some((pool, shard)),
            blocks: Some(Blocks::new(page_size)),
            ..Memory::new(budget, page_size)
        }
    }

    /// Every frame in use here, and with `pool` those in the region's pool (a test's crash image).
    #[cfg(test)]
    pub(crate) fn for_each_frame(&self, pool: bool, visit: &mut dyn FnMut(&super::region::Frame)) {
        self.slabs.for_each_frame(visit);
        if let Some(blocks) = &self.blocks {
            blocks.for_each_frame(visit);
        }
        if let (true, Some((frames, _))) = (pool, &self.frames) {
            frames.for_each(visit);
        }
    }

    /// Slab pages live in a region that outlives the process: writes must keep it restorable.
    #[inline]
    pub(crate) fn persistent(&self) -> bool {
        self.frames.is_some()
    }

    /// What counts against the memory limit: whole pages plus large items' boxes; in a region,
    /// whole slab pages and block pages (the boxes are working copies of what the blocks hold).
    pub(crate) fn used(&self) -> usize {
        let page = self.slabs.page_size();
        match &self.blocks {
            None => self.slabs.pages_in_use() * page + self.large.bytes(),
            Some(blocks) => (self.slabs.pages_in_use() + blocks.pages()) * page,
        }
    }

    /// Bytes that may still be taken without evicting.
    pub(crate) fn headroom(&self) -> usize {
        self.budget.headroom(self.used())
    }

    /// A new page for `class` if the budget has room for one (and a page number is free).
    pub(crate) fn try_add_page(&mut self, class: u8) -> bool {
        let page = self.slabs.page_size();
        if !self.slabs.can_number_page() {
            return false;
        }
        if !self.budget.try_reserve(page, self.used()) && !self.reuse_empty_block_page() {
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

    /// Reserves a large item's box (in a region: the free blocks for its chain, adding block
    /// pages as the budget allows); on success the caller stores it with `insert_large`.
    pub(crate) fn try_reserve_large(&mut self, len: usize) -> bool {
        let Some(blocks) = &self.blocks else {
            return self.budget.try_reserve(len, self.used());
        };
        let need = blocks::blocks_for(len);
        let mut free = blocks.free_blocks();
        while free < need {
            if !self.add_block_page() {
                return false;
            }
            free = self.blocks.as_ref().map_or(0, Blocks::free_blocks);
        }
        true
    }

    /// A new block page, if the budget has room for one.
    fn add_block_page(&mut self) -> bool {
        let page = self.slabs.page_size();
        let Some((pool, shard)) = &self.frames else {
            return false;
        };
        if !self.budget.try_reserve(page, self.used()) {
            return false;
        }
        let Some(mut frame) = pool.take(*shard) else {
            // As in `try_add_page`: only a region smaller than its budget lacks the frame.
            self.budget.release(page);
            return false;
        };
        frame.claim_blocks();
        if let Some(blocks) = &mut self.blocks {
            blocks.add_page(frame);
        }
        true
    }

    /// Stores a box reserved by `try_reserve_large`; its location.
    pub(crate) fn insert_large(&mut self, data: Box<[u8]>) -> u32 {
        Loc::Large(self.large.insert(data)).encode()
    }

    /// In a region: writes the chain of the large item at `raw`, already whole in its box, and
    /// commits it (`blocks`). Its blocks were reserved by `try_reserve_large`.
    pub(crate) fn persist_large(&mut self, raw: u32) {
        if let (Loc::Large(index), Some(blocks)) = (Loc::decode(raw), &mut self.blocks) {
            blocks.write(index, self.large.get(index));
        }
    }

    /// In a region: copies a large item's changed header (CAS, exptime, bits) to its chain.
    #[inline]
    pub(crate) fn sync_header(&mut self, raw: u32) {
        if let (Some(blocks), Loc::Large(index)) = (&mut self.blocks, Loc::decode(raw)) {
            blocks.sync_header(index, self.large.get(index));
        }
    }

    /// Gives a block page with no chain in it back to the region, so that its budget can hold a
    /// slab page instead; false if there is none.
    fn reuse_empty_block_page(&mut self) -> bool {
        let frame = self.blocks.as_mut().and_then(Blocks::take_empty_page);
        let Some(frame) = frame else { return false };
        self.give_back(PageMem::Frame(frame));
        // The page's budget passes to the caller's new page: reserved already.
        true
    }

    /// Keeps at most one block page with no chain in it (so that overwriting a large item does
    /// not wipe a page each time); `all`: none.
    pub(crate) fn trim_block_pages(&mut self, all: bool) {
        let keep = usize::from(!all);
        while self.blocks.as_ref().is_some_and(|b| b.empty_pages() > keep) {
            let frame = self.blocks.as_mut().and_then(Blocks::take_empty_page);
            let Some(frame) = frame else { return };
            self.give_back(PageMem::Frame(frame));
            self.budget.release(self.slabs.page_size());
        }
    }

    /// The block pages a region held for this store at the last stop: those the budget has room
    /// for are taken back, and the large items whose chains they hold whole and that `keep`
    /// wants are stored again; their locations.
    pub(crate) fn restore_large(
        &mut self,
        frames: Vec<super::region::Frame>,
        keep: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Vec<u32> {
        let page = self.slabs.page_size();
        for frame in frames {
            if self.budget.try_reserve(page, self.used()) {
                if let Some(blocks) = &mut self.blocks {
                    blocks.add_page(frame);
                }
            } else {
                self.give_back(PageMem::Frame(frame));
            }
        }
        let Some(blocks) = &mut self.blocks else {
            return Vec::new();
        };
        let found = blocks.restore(&mut |item| keep(item));
        let mut raws = Vec::with_capacity(found.len());
        for (item, head) in found {
            // One chain per restored item, each at least 16 KiB of the region: far fewer than
            // the large table's 2^31 - 1 entries, so there is room.
            let index = self.large.insert(item);
            if let Some(blocks) = &mut self.blocks {
                blocks.adopt(index, head);
            }
            raws.push(Loc::Large(index).encode());
        }
        self.trim_block_pages(false);
        raws
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
                match &mut self.blocks {
                    None => self.budget.release(len),
                    Some(blocks) => {
                        blocks.free(index);
                        self.trim_block_pages(false);
                    }
                }
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
