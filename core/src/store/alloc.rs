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
//! With evictions disabled (memcached `-M`) only the free list and new pages are tried; past
//! them the insert fails with `OutOfMemory`.
//!
//! Like memcached without its slab automover, a class keeps the pages it got while memory
//! was free; only page-less classes and large items take memory from others.

use super::item::{self, Liveness};
use super::loc::Loc;
use super::slab::{self, Slabs};
use super::{Store, StoreError};

impl Store {
    fn headroom(&self) -> usize {
        self.mem.headroom()
    }

    /// Whether an item of `len` stored bytes fits once everything else is evicted, so that
    /// `insert` can refuse before it drops the old item under the key.
    pub(super) fn could_ever_hold(&self, len: usize, class: Option<u8>) -> bool {
        match class {
            Some(class) => {
                self.mem.budget.limit() >= self.mem.slabs.page_size()
                    || self.mem.slabs.class_pages(class) > 0
            }
            None => len <= self.mem.budget.limit() && self.mem.large.has_room(),
        }
    }

    /// A chunk of `class`, free and out of the index, ready to be written.
    pub(super) fn alloc_chunk(&mut self, class: u8, live: Liveness) -> Result<u32, StoreError> {
        let page_size = self.mem.slabs.page_size();
        loop {
            if let Some(raw) = self.mem.slabs.pop_free(class) {
                return Ok(raw);
            }
            if self.mem.try_add_page(class) {
                continue;
            }
            if !self.evictions_enabled {
                return Err(StoreError::OutOfMemory);
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
                && biggest.is_none_or(|(_, pages)| pages * page_size < large);
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

    /// Evicts until `len` more bytes fit under the limit, and reserves them for a large item.
    pub(super) fn make_room(&mut self, len: usize, live: Liveness) -> Result<(), StoreError> {
        while !self.mem.try_reserve_large(len) {
            if !self.evictions_enabled {
                return Err(StoreError::OutOfMemory);
            }
            if self.mem.large.bytes() + self.headroom() >= len && self.evict_large(live) {
                continue;
            }
            if let Some((victim, _)) = self.mem.slabs.biggest_class(None) {
                let page = self.take_page(victim, live);
                self.mem.release_page(page);
                continue;
            }
            if !self.evict_large(live) {
                return Err(StoreError::OutOfMemory);
            }
        }
        Ok(())
    }

    /// Gives memory back to a shared budget for another store: evicts whole pages (biggest class
    /// first) and large items until at least `want` bytes are returned or nothing is left.
    /// Returns the bytes given back. With evictions off (`-M`) it gives nothing.
    pub fn release_memory(&mut self, want: usize, now: u32) -> usize {
        if !self.evictions_enabled {
            return 0;
        }
        self.shrink(want, now)
    }

    /// Changes the memory limit at run time (memcached's `cache_memlimit`). Shrinking below what
    /// is in use evicts at once until the store fits the new limit. With a shared budget, this
    /// store gives up only its own memory; the caller shrinks the others.
    pub fn set_memory_limit(&mut self, limit: usize, now: u32) {
        self.mem.budget.set_limit(limit);
        let excess = self.mem.used().saturating_sub(limit);
        self.shrink(excess, now);
    }

    /// Evicts whole pages (from the class holding the most) or large items (when they hold
    /// more) until `want` bytes are freed or nothing is left; the bytes freed.
    pub fn shrink(&mut self, want: usize, now: u32) -> usize {
        let live = self.liveness(now);
        let page_size = self.mem.slabs.page_size();
        let mut released = 0;
        // A block page kept spare for the next large item is the first memory to give back.
        let before = self.mem.used();
        self.mem.trim_block_pages(true);
        released += before - self.mem.used();
        while released < want {
            let before = self.mem.used();
            let large = self.mem.large.bytes();
            match self.mem.slabs.biggest_class(None) {
                Some((victim, pages)) if pages * page_size >= large => {
                    let page = self.take_page(victim, live);
                    self.mem.release_page(page);
                }
                _ if self.evict_large(live) => self.mem.trim_block_pages(true),
                _ => break,
            }
            released += before - self.mem.used();
        }
        released
    }

    /// How many bytes other stores must give back before an item of `len` stored bytes can be
    /// placed here: 0 when a free chunk, the budget's headroom or this store's own memory (by
    /// eviction) can provide it.
    pub(super) fn shortfall_for(&self, len: usize) -> usize {
        let need = match slab::class_for(len) {
            Some(class) if self.mem.slabs.has_free(class) => return 0,
            Some(class) if self.mem.slabs.class_pages(class) > 0 => return 0,
            Some(_) => self.mem.slabs.page_size(),
            None => len,
        };
        need.saturating_sub(self.mem.used() + self.headroom())
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
