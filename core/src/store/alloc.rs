//! Where a new item's memory comes from, and who is evicted for it.
//!
//! A slab class needing a chunk tries, in order: its free list; a new page if one fits under
//! the limit; CLOCK eviction within the class; and, when the class has no pages, memory from
//! whoever holds the most: a whole page taken from the class with the most pages (every item
//! on it evicted), or large items evicted until a page fits.
//!
//! Large items behave as one more class: they evict among themselves by CLOCK when that
//! alone can make room, and otherwise take whole pages from the class with the most pages.
//!
//! New items start with their accessed bit clear, and a victim's chunk is reused at once,
//! just behind the hand: an item never found is evicted when the hand next comes round, a
//! found one survives one more turn.
//!
//! Like memcached without its slab automover, a class keeps the pages it got while memory
//! was free; only page-less classes and large items take memory from others.

use super::item::{self, Liveness};
use super::loc::Loc;
use super::slab::{PAGE_SIZE, Slabs};
use super::{Store, StoreError};

impl Store {
    fn headroom(&self) -> usize {
        // memory_used <= memory_limit is an invariant of the store.
        self.memory_limit - self.mem.used()
    }

    fn can_add_page(&self) -> bool {
        self.mem.slabs.can_number_page() && self.headroom() >= PAGE_SIZE
    }

    /// Whether an item of `len` stored bytes fits once everything else is evicted, so that
    /// `insert` can refuse before it drops the old item under the key.
    pub(super) fn could_ever_hold(&self, len: usize, class: Option<u8>) -> bool {
        match class {
            Some(class) => self.memory_limit >= PAGE_SIZE || self.mem.slabs.class_pages(class) > 0,
            None => len <= self.memory_limit && self.mem.large.has_room(),
        }
    }

    /// A chunk of `class`, free and out of the index, ready to be written.
    pub(super) fn alloc_chunk(&mut self, class: u8, live: Liveness) -> Result<u32, StoreError> {
        loop {
            if let Some(raw) = self.mem.slabs.pop_free(class) {
                return Ok(raw);
            }
            if self.can_add_page() {
                self.mem.slabs.add_page(class);
                continue;
            }
            if let Some(raw) = self
                .mem
                .slabs
                .clock_victim(class, |buf| live.death(buf).is_some())
            {
                self.evict(raw, live);
                return Ok(raw);
            }
            // The class has no pages: take one from whoever holds the most memory.
            let biggest = self.mem.slabs.biggest_class(Some(class));
            let large = self.mem.large.bytes();
            let large_first = self.mem.large.len() > 0
                && self.mem.slabs.can_number_page()
                && biggest.is_none_or(|(_, pages)| pages * PAGE_SIZE < large);
            if large_first && self.evict_large(live) {
                continue;
            }
            match biggest {
                Some((victim, _)) => {
                    let page = self.take_page(victim, live);
                    self.mem.slabs.reassign_page(page, class);
                    self.slabs_moved += 1;
                }
                None if self.evict_large(live) => {}
                None => return Err(StoreError::OutOfMemory),
            }
        }
    }

    /// Evicts until `len` more bytes fit under the limit.
    pub(super) fn make_room(&mut self, len: usize, live: Liveness) -> Result<(), StoreError> {
        while self.headroom() < len {
            if self.mem.large.bytes() + self.headroom() >= len && self.evict_large(live) {
                continue;
            }
            if let Some((victim, _)) = self.mem.slabs.biggest_class(None) {
                let page = self.take_page(victim, live);
                self.mem.slabs.release_page(page);
                continue;
            }
            if !self.evict_large(live) {
                return Err(StoreError::OutOfMemory);
            }
        }
        Ok(())
    }

    /// Changes the memory limit at run time (memcached's `cache_memlimit`). Shrinking below what
    /// is in use evicts at once: whole pages from the class holding the most, or large items
    /// when they hold more, until the store fits the new limit.
    pub fn set_memory_limit(&mut self, limit: usize, now: u32) {
        let live = self.liveness(now);
        while self.mem.used() > limit {
            let large = self.mem.large.bytes();
            match self.mem.slabs.biggest_class(None) {
                Some((victim, pages)) if pages * PAGE_SIZE >= large => {
                    let page = self.take_page(victim, live);
                    self.mem.slabs.release_page(page);
                }
                _ => {
                    if !self.evict_large(live) {
                        break;
                    }
                }
            }
        }
        self.memory_limit = limit;
    }

    /// Evicts one large item chosen by CLOCK; false if there is none.
    fn evict_large(&mut self, live: Liveness) -> bool {
        let Some(index) = self.mem.large.clock_victim(|buf| live.death(buf).is_some()) else {
            return false;
        };
        let raw = Loc::Large(index).encode();
        self.evict(raw, live);
        self.mem.free(raw);
        true
    }

    /// Evicts every item on `victim`'s page under its CLOCK hand and detaches the page.
    fn take_page(&mut self, victim: u8, live: Liveness) -> u16 {
        let page = self.mem.slabs.reclaim_candidate(victim);
        for chunk in 0..self.mem.slabs.chunks_on(page) {
            let raw = Slabs::loc(page, chunk);
            if item::is_used(self.mem.slabs.chunk(raw)) {
                self.evict(raw, live);
            }
        }
        self.mem.slabs.detach_page(page);
        page
    }

    /// Unlinks a victim and counts it: dead ones as reclaimed, live ones as evictions.
    /// Its memory stays as it is, for the caller to reuse or free.
    fn evict(&mut self, raw: u32, live: Liveness) {
        let buf = self.mem.bytes(raw);
        let fetched = item::bits(buf) & item::FETCHED != 0;
        match live.death(buf) {
            Some(death) => self.count_dead(death, raw),
            None => {
                self.evictions += 1;
                if !fetched {
                    self.evicted_unfetched += 1;
                }
                self.count_eviction(raw, live.now);
            }
        }
        let slot = self.index.slot_of(raw, &self.mem);
        self.unlink_at(slot, raw);
    }
}
