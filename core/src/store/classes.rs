//! Per-class statistics (`stats slabs`, `stats items`) and the resumable key listing
//! (`lru_crawler metadump`, `stats cachedump`).
//!
//! Classes are named as memcached names its slab classes: slab class `i` is id `i + 1`, and the
//! large items (keel's exact-size boxes above 16 KiB) are one more class, `LARGE_CLASS_ID`, so
//! that every id fits memcached's 1..=63 and tools that walk them (memcdump) find every item.

use super::item::{self, Liveness};
use super::loc::Loc;
use super::slab::{NUM_CLASSES, class_for};
use super::{ItemId, ItemRef, Store};

/// The class id of large items: the one after the last slab class.
pub const LARGE_CLASS_ID: u32 = NUM_CLASSES as u32 + 1;
/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: valid class ids are below it.
pub const MAX_CLASS_IDS: u32 = 64;

const _: () = assert!(LARGE_CLASS_ID < MAX_CLASS_IDS);

/// Key-listing positions at or beyond this walk the large items; below it they are slab
/// locations (page << 15 | chunk), which stay under 2^31.
const LARGE_CURSOR_BASE: u64 = 1 << 31;

/// A class's item counters, kept by the store as items come and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassItems {
    /// Items stored in the class now.
    pub number: u64,
    /// Sum of their memcached accounting sizes (`mem_requested`).
    pub mem_requested: u64,
    /// Live items evicted to make room.
    pub evicted: u64,
    /// Evicted items that had an expiry time.
    pub evicted_nonzero: u64,
    /// Seconds between the last access and the eviction of the latest evicted item.
    pub evicted_time: u32,
    /// Evicted items never fetched.
    pub evicted_unfetched: u64,
    /// Evicted although accessed since the CLOCK hand last passed (a page taken whole).
    pub evicted_active: u64,
    /// Expired items removed without ever having been fetched.
    pub expired_unfetched: u64,
    /// Dead (expired or flushed) items whose memory was taken back.
    pub reclaimed: u64,
    /// Stores refused for want of memory.
    pub outofmemory: u64,
}

impl std::ops::AddAssign<&ClassItems> for ClassItems {
    /// Sums one class over the shards of a shared cache (`evicted_time`: the latest).
    fn add_assign(&mut self, other: &ClassItems) {
        self.number += other.number;
        self.mem_requested += other.mem_requested;
        self.evicted += other.evicted;
        self.evicted_nonzero += other.evicted_nonzero;
        self.evicted_time = self.evicted_time.max(other.evicted_time);
        self.evicted_unfetched += other.evicted_unfetched;
        self.evicted_active += other.evicted_active;
        self.expired_unfetched += other.expired_unfetched;
        self.reclaimed += other.reclaimed;
        self.outofmemory += other.outofmemory;
    }
}

impl ClassReport {
    /// Adds another shard's report of the same class (same chunk shape; `age`: the oldest).
    pub fn absorb(&mut self, other: &ClassReport) {
        self.total_pages += other.total_pages;
        self.free_chunks += other.free_chunks;
        self.free_chunks_end += other.free_chunks_end;
        self.age = self.age.max(other.age);
        self.items += &other.items;
    }
}

impl ClassItems {
    /// STAT reset: the counters go, the gauges stay.
    fn reset(&mut self) {
        *self = ClassItems {
            number: self.number,
            mem_requested: self.mem_requested,
            ..ClassItems::default()
        };
    }
}

/// One class as `stats slabs` and `stats items` describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassReport {
    /// memcached-style id: 1.. for slab classes, `LARGE_CLASS_ID` for large items.
    pub id: u32,
    /// Chunk size; for large items the largest item size allowed.
    pub chunk_size: usize,
    /// Chunks per 1 MiB page; 1 for large items, whose every box counts as a page.
    pub chunks_per_page: usize,
    /// Pages the class holds.
    pub total_pages: usize,
    /// Chunks free for items (reusable or never used).
    pub free_chunks: usize,
    /// Chunks of the newest page never handed out yet.
    pub free_chunks_end: usize,
    /// Seconds since the last access of the item the CLOCK hand reaches next: the one eviction
    /// would consider first, as memcached's LRU tail is.
    pub age: u32,
    /// The class's item counters.
    pub items: ClassItems,
}

impl ClassReport {
    /// Chunks in the class's pages.
    pub fn total_chunks(&self) -> usize {
        self.total_pages * self.chunks_per_page
    }

    /// Chunks holding items.
    pub fn used_chunks(&self) -> usize {
        self.total_chunks() - self.free_chunks
    }
}

/// A per-class table of item counters: the slab classes, then large items.
pub(super) type ClassTable = [ClassItems; NUM_CLASSES + 1];

/// The class id of a slab class, or of the large items (`None`).
#[inline]
pub(super) fn class_id(class: Option<u8>) -> u32 {
    class.map_or(LARGE_CLASS_ID, |class| u32::from(class) + 1)
}

/// The table index of a class id (1-based); ids are only made by this module.
fn slot(id: u32) -> usize {
    id as usize - 1
}

impl Store {
    /// The class id an item of these sizes is stored in.
    pub fn class_id_for(key_len: usize, value_len: usize, flags: u32) -> u32 {
        class_id(class_for(item::stored_len(key_len, value_len, flags)))
    }

    /// The class id of the item behind `id`.
    pub fn class_id(&self, id: ItemId) -> u32 {
        self.class_id_at(id.0)
    }

    pub(super) fn class_id_at(&self, raw: u32) -> u32 {
        class_id(self.mem.class_of(raw))
    }

    pub(super) fn class_items(&mut self, raw: u32) -> &mut ClassItems {
        let slot = slot(self.class_id_at(raw));
        &mut self.class_items[slot]
    }

    /// Counts a store refused for want of memory against the class it needed.
    pub(super) fn count_out_of_memory(&mut self, len: usize) {
        self.class_items[slot(class_id(class_for(len)))].outofmemory += 1;
    }

    /// Counts an eviction of a live item in its class.
    pub(super) fn count_eviction(&mut self, raw: u32, now: u32) {
        let buf = self.mem.bytes(raw);
        let bits = item::bits(buf);
        let (exptime, last_access) = {
            let view = item::view(buf);
            (view.exptime, view.last_access)
        };
        let class = self.class_items(raw);
        class.evicted += 1;
        if exptime != 0 {
            class.evicted_nonzero += 1;
        }
        class.evicted_time = now.saturating_sub(last_access);
        if bits & item::FETCHED == 0 {
            class.evicted_unfetched += 1;
        }
        if bits & item::ACCESSED != 0 {
            class.evicted_active += 1;
        }
    }

    /// Zeroes every class's counters (STAT reset).
    pub(super) fn reset_class_stats(&mut self) {
        self.class_items.iter_mut().for_each(ClassItems::reset);
    }

    /// Every class holding memory, in id order, as `stats slabs`/`stats items` list them.
    pub fn class_reports(&self, now: u32) -> Vec<ClassReport> {
        let age = |raw: Option<u32>| {
            raw.map_or(0, |raw| {
                now.saturating_sub(item::view(self.mem.bytes(raw)).last_access)
            })
        };
        let mut reports = Vec::new();
        // NUM_CLASSES <= 256, checked where classes are defined, so `class` fits a u8.
        for class in 0..NUM_CLASSES {
            let shape = self.mem.slabs.shape(class as u8);
            if shape.pages == 0 {
                continue;
            }
            let free = shape.free_listed + shape.uncarved;
            reports.push(ClassReport {
                id: class as u32 + 1,
                chunk_size: shape.chunk_size,
                chunks_per_page: shape.per_page,
                total_pages: shape.pages,
                free_chunks: free,
                free_chunks_end: shape.uncarved,
                age: age(self.mem.slabs.hand_item(class as u8)),
                items: self.class_items[class],
            });
        }
        let large = self.mem.large.len();
        if large > 0 {
            reports.push(ClassReport {
                id: LARGE_CLASS_ID,
                chunk_size: self.item_size_max,
                chunks_per_page: 1,
                total_pages: large,
                free_chunks: 0,
                free_chunks_end: 0,
                age: age(self
                    .mem
                    .large
                    .hand_item()
                    .map(|index| Loc::Large(index).encode())),
                items: self.class_items[NUM_CLASSES],
            });
        }
        reports
    }

    /// Visits live items in store order from `cursor` (0 to start), those whose class id has
    /// its bit set in `classes`, at most `max` of them. Returns the cursor to go on from, or
    /// `None` once the walk is complete. Items stored, moved or removed between calls may be
    /// missed or seen twice, as with memcached's crawler; nothing is held between calls.
    pub fn walk_items(
        &self,
        classes: u64,
        cursor: u64,
        max: usize,
        now: u32,
        visit: &mut dyn FnMut(ItemRef<'_>, u32),
    ) -> Option<u64> {
        let live = Liveness {
            now,
            flush_threshold: self.flush_threshold,
        };
        let wanted = |id: u32| classes & (1 << id) != 0;
        let mut seen = 0;
        let mut pos = cursor;
        while pos < LARGE_CURSOR_BASE {
            let page = pos >> 15;
            let Ok(page) = u16::try_from(page) else {
                pos = LARGE_CURSOR_BASE;
                break;
            };
            if usize::from(page) >= self.mem.slabs.page_numbers() {
                pos = LARGE_CURSOR_BASE;
                break;
            }
            let next_page = (u64::from(page) + 1) << 15;
            let Some(class) = self.mem.slabs.page_class(page) else {
                pos = next_page;
                continue;
            };
            // The low 15 bits: a chunk index below MAX_CHUNKS_PER_PAGE.
            let chunk = (pos & 0x7fff) as usize;
            if !wanted(u32::from(class) + 1) || chunk >= self.mem.slabs.chunks_on(page) {
                pos = next_page;
                continue;
            }
            pos += 1;
            // chunk < chunks_on(page) <= 2^15, checked above.
            let raw = Loc::Chunk {
                page,
                chunk: chunk as u16,
            }
            .encode();
            let buf = self.mem.bytes(raw);
            if item::is_used(buf) && live.death(buf).is_none() {
                visit(item::view(buf), u32::from(class) + 1);
                seen += 1;
                if seen == max {
                    return Some(pos);
                }
            }
        }
        if !wanted(LARGE_CLASS_ID) {
            return None;
        }
        let mut index = pos - LARGE_CURSOR_BASE;
        while let Ok(at) = u32::try_from(index) {
            let Some(buf) = self.mem.large.slot(at)? else {
                index += 1;
                continue;
            };
            index += 1;
            if live.death(buf).is_none() {
                visit(item::view(buf), LARGE_CLASS_ID);
                seen += 1;
                if seen == max {
                    return Some(LARGE_CURSOR_BASE + index);
                }
            }
        }
        None
    }
}
