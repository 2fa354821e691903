//! The built-in cache's storage engine: a memory-bounded key/value item store with a small
//! per-item overhead, memcached-style slab classes and CLOCK eviction.
//!
//! The store is pure: time comes in as `now` (unix seconds) on the calls that need it, the
//! hash seed comes from the config, and nothing here does I/O, spawns threads or reads a clock.
//!
//! Outside keel-core this module is reachable only with the unstable `internals` feature (for
//! keel's server, fuzz targets and tests): its API follows the cache's needs, not semver.
//!
//! How the pieces fit:
//! - `item`: the bytes of one item (18-byte header, optional flags, key, value).
//! - `slab`: 1 MiB pages cut into fixed chunks per size class (items up to 16 KiB).
//! - `large`: bigger items, one exact-size box each.
//! - `loc`: the `u32` naming where an item lives (page+chunk, or large-table index).
//! - `index`: an open-addressing table of those `u32`s, keyed by the key inside each item.
//! - `memory`: slab chunks and large boxes behind one location-addressed view.
//! - `alloc`: where a new item's memory comes from, and who gets evicted for it.
//! - `region`: a caller's memory region (a mapped file) that slab pages live in, to survive a
//!   restart; `blocks`: large items' copies there; `restore`: rebuilding a store from one.
//!
//! Memory accounting: `memory_used` counts slab pages (whole, used or not) and the boxes of
//! large items, and never exceeds `memory_limit`. The index (4 bytes per slot, at most 80%
//! full) and the fixed bookkeeping live outside that budget, as memcached's hash table does.

mod alloc;
mod blocks;
mod budget;
mod classes;
mod index;
mod item;
mod large;
mod le;
mod loc;
mod memory;
mod region;
#[cfg(test)]
mod region_tests;
mod restore;
mod slab;
#[cfg(test)]
mod tests;

use std::fmt;

pub use budget::SharedBudget;
pub use classes::{ClassItems, ClassReport, LARGE_CLASS_ID, MAX_CLASS_IDS};
pub(crate) use region::ShardMemory;
#[cfg(test)]
pub(crate) use region::image;
pub use region::{ColdStart, FORMAT_VERSION, Layout, Region, RegionSizeError};
pub use restore::Restored;

use budget::Budget;
use classes::ClassTable;
use index::Index;
use item::{Death, Liveness};
use loc::Loc;
use memory::Memory;

/// Longest key memcached accepts (`KEY_MAX_LENGTH`).
const MAX_KEY_LEN: usize = 250;

/// How big the store may get and how it hashes keys.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// Bytes of item memory (slab pages plus large items) the store may hold.
    /// Below 1 MiB no slab page fits, so only large items could be stored.
    pub memory_limit: usize,
    /// Largest accepted [`Store::item_size`] (memcached's `-I`, default 1 MiB).
    pub item_size_max: usize,
    /// Seed of the index's hash; randomise it to resist hash flooding.
    pub hash_seed: u64,
    /// With evictions off (memcached `-M`), an insert that would need to evict fails with
    /// `OutOfMemory` instead.
    pub evictions_enabled: bool,
}

impl StoreConfig {
    /// The configured limit as this store's own.
    fn own_budget(&self) -> Budget {
        Budget::Own {
            limit: self.memory_limit,
        }
    }
}

/// A handle to a stored item, returned by [`Store::find`] and [`Store::insert`].
///
/// It is valid until the next call that can move or drop items: `insert`, `remove`, and a
/// `find` that removes a dead item. Reading or marking it after that is a caller bug (it may
/// panic or name another item).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemId(u32);

/// What the caller stores alongside a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemMeta {
    /// Opaque client flags.
    pub flags: u32,
    /// Absolute unix seconds; 0 means never.
    pub exptime: u32,
    /// The item's CAS.
    pub cas: u64,
}

/// A borrowed view of a stored item.
#[derive(Clone, Copy, Debug)]
pub struct ItemRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Absolute expiry in Unix seconds; 0 means never.
    pub exptime: u32,
    /// The item's CAS.
    pub cas: u64,
    /// Unix seconds of the last `find`/`bump` (or the store).
    pub last_access: u32,
    /// A client has read it.
    pub fetched: bool,
    /// Invalidated by the meta protocol, still served.
    pub stale: bool,
    /// A meta recache token was handed out for it.
    pub token_sent: bool,
    /// Stored under a base64 (binary) meta key.
    pub binary_key: bool,
}

/// What a read needs of a live item: [`Store::read`]'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit<'a> {
    /// The value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// The item's CAS.
    pub cas: u64,
    /// The item's class id (`stats slabs` counts hits per class).
    pub class_id: u32,
}

/// Why [`Store::find`] found no live item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No item has that key.
    Absent,
    /// The item's exptime passed; it has now been removed.
    Expired,
    /// The item predates the flush threshold; it has now been removed.
    Flushed,
}

/// Why [`Store::insert`] stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The item is larger than the largest item the store takes.
    #[error("item too large")]
    TooLarge,
    /// Nothing could be evicted to make room.
    #[error("out of memory")]
    OutOfMemory,
}

/// Counters in memcached's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Live items now, a gauge.
    pub curr_items: u64,
    /// Items stored since start.
    pub total_items: u64,
    /// Sum of the stored items' memcached accounting sizes, in bytes.
    pub bytes: u64,
    /// Live items removed to make room.
    pub evictions: u64,
    /// Evictions of items never fetched.
    pub evicted_unfetched: u64,
    /// Expired items removed without ever having been fetched.
    pub expired_unfetched: u64,
    /// Dead (expired or flushed) items removed, by `find`, `insert` or eviction.
    pub reclaimed: u64,
    /// Bytes of memory in use (slab pages and large items).
    pub memory_used: u64,
    /// The memory limit in bytes.
    pub memory_limit: u64,
    /// Slab pages in use.
    pub pages: u64,
    /// Evictions of items accessed since the CLOCK hand last passed them.
    pub evicted_active: u64,
    /// Slab pages taken from one class for another.
    pub slabs_moved: u64,
    /// Slots of the key index (4 bytes each).
    pub index_slots: u64,
}

impl std::ops::AddAssign for StoreStats {
    /// Sums the stats of the shards of one cache; they share one limit, so it is kept, not added.
    fn add_assign(&mut self, other: StoreStats) {
        self.curr_items += other.curr_items;
        self.total_items += other.total_items;
        self.bytes += other.bytes;
        self.evictions += other.evictions;
        self.evicted_unfetched += other.evicted_unfetched;
        self.expired_unfetched += other.expired_unfetched;
        self.reclaimed += other.reclaimed;
        self.memory_used += other.memory_used;
        self.memory_limit = self.memory_limit.max(other.memory_limit);
        self.pages += other.pages;
    }
}

/// The item store. See the module documentation for the design.
pub struct Store {
    index: Index,
    mem: Memory,
    item_size_max: usize,
    evictions_enabled: bool,
    /// None until the first flush, so that no cas value is dead before one.
    flush_threshold: Option<u64>,
    /// In a memory region: where the flush threshold and a pending flush are kept.
    control: Option<region::Control>,
    curr_items: u64,
    total_items: u64,
    bytes: u64,
    evictions: u64,
    evicted_unfetched: u64,
    expired_unfetched: u64,
    reclaimed: u64,
    slabs_moved: u64,
    /// Item counters per class (`stats items`).
    class_items: Box<ClassTable>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Allocates only a small index; pages come as items arrive.
    pub fn new(config: StoreConfig) -> Store {
        Store::with_budget(config, config.own_budget(), slab::PAGE_SIZE)
    }

    /// A store drawing its memory from `budget`, shared with other stores, in slab pages of
    /// `page_size` bytes (a power of two from 64 KiB to 1 MiB: with many stores, smaller pages
    /// strand less memory in classes' half-used pages); `memory_limit` in the config is ignored
    /// in favour of the budget's.
    pub fn with_shared_budget(
        config: StoreConfig,
        budget: crate::sync::Arc<SharedBudget>,
        page_size: usize,
    ) -> Store {
        Store::with_budget(config, Budget::Shared(budget), page_size)
    }

    /// The page size `with_shared_budget` should use for one of `stores` stores.
    pub fn shared_page_size(stores: usize) -> usize {
        (slab::PAGE_SIZE / stores.max(1).next_power_of_two()).max(slab::MIN_PAGE_SIZE)
    }

    fn with_budget(config: StoreConfig, budget: Budget, page_size: usize) -> Store {
        Store {
            index: Index::new(config.hash_seed),
            mem: Memory::new(budget, page_size),
            item_size_max: config.item_size_max,
            evictions_enabled: config.evictions_enabled,
            flush_threshold: None,
            control: None,
            curr_items: 0,
            total_items: 0,
            bytes: 0,
            evictions: 0,
            evicted_unfetched: 0,
            expired_unfetched: 0,
            reclaimed: 0,
            slabs_moved: 0,
            class_items: Box::new([ClassItems::default(); slab::NUM_CLASSES + 1]),
        }
    }

    /// memcached's accounting size of an item (items.c item_make_header + ITEM_ntotal as
    /// PROTOCOL.md §12 gives it): 48 + key_len + 1 + (if flags != 0 {4} else {0}) + value_len
    /// + 2 + 8. Used for the size limit and for `bytes`. Saturates instead of overflowing.
    pub fn item_size(key_len: usize, value_len: usize, flags: u32) -> usize {
        let flags_len = if flags != 0 { 4 } else { 0 };
        (48 + 1 + flags_len + 2 + 8usize)
            .saturating_add(key_len)
            .saturating_add(value_len)
    }

    /// `item_size(..) <= item_size_max`.
    pub fn fits(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        Self::fits_within(self.item_size_max, key_len, value_len, flags)
    }

    /// `item_size(..) <= item_size_max`, without a store at hand.
    pub fn fits_within(item_size_max: usize, key_len: usize, value_len: usize, flags: u32) -> bool {
        // The value length is stored as a u32; no sane item_size_max gets near that.
        u32::try_from(value_len).is_ok()
            && Self::item_size(key_len, value_len, flags) <= item_size_max
    }

    /// How many bytes the other stores sharing this store's budget must give back before an item
    /// of these sizes can be inserted here; 0 when this store can make room on its own (from a free
    /// chunk, the budget's headroom, or by evicting its own items).
    pub fn shortfall(&self, key_len: usize, value_len: usize, flags: u32) -> usize {
        self.shortfall_for(item::stored_len(key_len, value_len, flags))
    }

    fn liveness(&self, now: u32) -> Liveness {
        Liveness {
            now,
            flush_threshold: self.flush_threshold,
        }
    }

    /// A live item for key, or why not; a dead one met on the way is removed (and counted in
    /// `reclaimed`, plus `expired_unfetched` if it expired unread). Counts as an access: sets the
    /// CLOCK bit and the last-access time.
    pub fn find(&mut self, key: &[u8], now: u32) -> Result<ItemId, Miss> {
        let id = self.peek(key, now)?;
        self.bump(id, now);
        Ok(id)
    }

    /// Records an access: the CLOCK bit and the last-access time.
    pub fn bump(&mut self, id: ItemId, now: u32) {
        self.touch_bits(id, now, item::ACCESSED);
    }

    /// Records that a client read the item: an access, and it no longer counts as unfetched.
    pub fn record_read(&mut self, id: ItemId, now: u32) {
        self.touch_bits(id, now, item::ACCESSED | item::FETCHED);
    }

    fn touch_bits(&mut self, id: ItemId, now: u32, bits: u8) {
        let buf = self.mem.bytes_mut(id.0);
        item::set_bits(buf, item::bits(buf) | bits);
        item::set_last_access(buf, now);
    }

    /// A client's read of a live item in one pass over it: `peek`, `record_read` and `item`
    /// without locating the item's bytes again for each.
    pub fn read(&mut self, key: &[u8], now: u32) -> Result<Hit<'_>, Miss> {
        let Some((slot, raw)) = self.index.find(key, &self.mem) else {
            return Err(Miss::Absent);
        };
        let live = self.liveness(now);
        let (buf, class) = self.mem.bytes_mut_and_class(raw);
        let death = live.death(buf);
        if death.is_none() {
            item::set_bits(buf, item::bits(buf) | item::ACCESSED | item::FETCHED);
            item::set_last_access(buf, now);
        }
        match death {
            None => Ok(Hit {
                class_id: classes::class_id(class),
                ..item::hit(self.mem.bytes(raw))
            }),
            Some(death) => Err(self.bury(death, slot, raw)),
        }
    }

    /// Removes a dead item met by a lookup; the miss it means.
    fn bury(&mut self, death: Death, slot: usize, raw: u32) -> Miss {
        self.count_dead(death, raw);
        self.unlink_at(slot, raw);
        self.mem.free(raw);
        match death {
            Death::Expired => Miss::Expired,
            Death::Flushed => Miss::Flushed,
        }
    }

    /// `find` without counting as an access (meta `u`, and reading an item's state before a
    /// request changes it).
    pub fn peek(&mut self, key: &[u8], now: u32) -> Result<ItemId, Miss> {
        let Some((slot, raw)) = self.index.find(key, &self.mem) else {
            return Err(Miss::Absent);
        };
        match self.liveness(now).death(self.mem.bytes(raw)) {
            None => Ok(ItemId(raw)),
            Some(death) => Err(self.bury(death, slot, raw)),
        }
    }

    /// The item behind `id`, which must come from `find`/`insert` since the last mutation.
    pub fn item(&self, id: ItemId) -> ItemRef<'_> {
        let buf = self.mem.bytes(id.0);
        assert!(item::is_used(buf), "stale ItemId {:#x}", id.0);
        item::view(buf)
    }

    /// Sets or clears the meta protocol's stale mark.
    pub fn set_stale(&mut self, id: ItemId, stale: bool) {
        self.set_bit(id, item::STALE, stale);
    }

    /// Sets or clears the meta protocol's recache-token mark.
    pub fn set_token_sent(&mut self, id: ItemId, sent: bool) {
        self.set_bit(id, item::TOKEN_SENT, sent);
    }

    /// Marks the item as stored under a binary (base64) meta key.
    pub fn set_binary_key(&mut self, id: ItemId) {
        self.set_bit(id, item::KEY_BINARY, true);
    }

    fn set_bit(&mut self, id: ItemId, bit: u8, on: bool) {
        let buf = self.mem.bytes_mut(id.0);
        let bits = item::bits(buf);
        item::set_bits(buf, if on { bits | bit } else { bits & !bit });
        self.mem.sync_header(id.0);
    }

    /// Gives the item a new CAS (a meta invalidation).
    pub fn set_cas(&mut self, id: ItemId, cas: u64) {
        item::set_cas(self.mem.bytes_mut(id.0), cas);
        self.mem.sync_header(id.0);
    }

    /// Sets the item's absolute expiry (Unix seconds; 0 never).
    pub fn set_exptime(&mut self, id: ItemId, exptime: u32) {
        item::set_exptime(self.mem.bytes_mut(id.0), exptime);
        self.mem.sync_header(id.0);
    }

    /// Stores key -> value, replacing any item with that key (live or dead; a dead one counts
    /// as reclaimed). Evicts as needed.
    /// `TooLarge` when `!fits(..)` (the old item under that key is left untouched then);
    /// `OutOfMemory` when it cannot be made to fit even in an empty store (the old item is
    /// also left untouched). On success `total_items += 1`.
    ///
    /// # Panics
    /// If the key is empty or longer than 250 bytes: the protocol layer rejects those.
    pub fn insert(
        &mut self,
        key: &[u8],
        meta: ItemMeta,
        value: &[u8],
        now: u32,
    ) -> Result<ItemId, StoreError> {
        assert!(
            (1..=MAX_KEY_LEN).contains(&key.len()),
            "key length {} outside 1..=250",
            key.len()
        );
        if !self.fits(key.len(), value.len(), meta.flags) {
            return Err(StoreError::TooLarge);
        }
        let len = item::stored_len(key.len(), value.len(), meta.flags);
        let class = slab::class_for(len);
        if !self.could_ever_hold(len, class) {
            self.count_out_of_memory(len);
            return Err(StoreError::OutOfMemory);
        }
        let live = self.liveness(now);
        let persistent = self.mem.persistent();
        // The old item goes first so that its memory is the first candidate for the new one; in
        // the same chunk class the new item simply takes over its chunk and index slot. Not in a
        // region: there the old item stays until the new one is whole, so that a crash in between
        // leaves one of them.
        let mut reuse = None;
        let old = if persistent {
            None
        } else {
            self.index.find(key, &self.mem)
        };
        if let Some((slot, raw)) = old {
            if let Some(death) = live.death(self.mem.bytes(raw)) {
                self.count_dead(death, raw);
            }
            if class.is_some() && self.mem.class_of(raw) == class {
                let old = item::accounted_size(self.mem.bytes(raw)) as u64;
                self.bytes -= old;
                self.class_items(raw).mem_requested -= old;
                reuse = Some(raw);
            } else {
                self.unlink_at(slot, raw);
                self.mem.free(raw);
            }
        }
        let raw = match (reuse, class) {
            (Some(raw), _) => Ok(raw),
            (None, Some(class)) => self.alloc_chunk(class, live),
            (None, None) => self.make_room(len, live).map(|()| {
                let data = vec![0u8; len].into_boxed_slice();
                self.mem.insert_large(data)
            }),
        }
        .inspect_err(|_| self.count_out_of_memory(len))?;
        // A large item's chain has its own checksum (`blocks`).
        let sum = persistent && class.is_some();
        item::write(self.mem.bytes_mut(raw), key, meta, value, now, sum);
        if persistent && class.is_none() {
            self.mem.persist_large(raw);
        }
        let size = Self::item_size(key.len(), value.len(), meta.flags) as u64;
        let reused = reuse.is_some();
        let replaced = !reused && persistent && self.replace_old(key, raw, live);
        let class_items = self.class_items(raw);
        class_items.mem_requested += size;
        if !reused {
            class_items.number += 1;
        }
        if !reused && !replaced {
            self.index.insert(raw, &self.mem);
            self.curr_items += 1;
        }
        self.total_items += 1;
        self.bytes += size;
        Ok(ItemId(raw))
    }

    /// In a region, once the new item at `raw` is whole: it takes the old item's index slot (the
    /// same key, so the same probe position) and the old item's memory is freed. Found again here,
    /// since making room may have evicted it; false if there is none.
    fn replace_old(&mut self, key: &[u8], raw: u32, live: Liveness) -> bool {
        let Some((slot, old)) = self.index.find(key, &self.mem) else {
            return false;
        };
        if let Some(death) = live.death(self.mem.bytes(old)) {
            self.count_dead(death, old);
        }
        let old_size = item::accounted_size(self.mem.bytes(old)) as u64;
        self.bytes -= old_size;
        let class_items = self.class_items(old);
        class_items.number -= 1;
        class_items.mem_requested -= old_size;
        self.index.replace_at(slot, raw);
        self.mem.free(old);
        true
    }

    /// Deletes the item behind `id`.
    pub fn remove(&mut self, id: ItemId) {
        let slot = self.index.slot_of(id.0, &self.mem);
        self.unlink_at(slot, id.0);
        self.mem.free(id.0);
    }

    /// Items with cas <= threshold are dead from now on (lazy removal). Threshold only grows.
    pub fn set_flush_threshold(&mut self, cas: u64) {
        self.flush_threshold = Some(self.flush_threshold.map_or(cas, |t| t.max(cas)));
        if let Some(control) = &mut self.control {
            control.set_flush_threshold(self.flush_threshold);
        }
    }

    /// Keeps a delayed flush's deadline (unix seconds) in the memory region, if any, so that it
    /// survives a restart; `None` once it applied or was replaced by an immediate flush.
    pub fn persist_pending_flush(&mut self, at: Option<u32>) {
        if let Some(control) = &mut self.control {
            control.set_pending_flush(at);
        }
    }

    /// The store's counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            curr_items: self.curr_items,
            total_items: self.total_items,
            bytes: self.bytes,
            evictions: self.evictions,
            evicted_unfetched: self.evicted_unfetched,
            expired_unfetched: self.expired_unfetched,
            reclaimed: self.reclaimed,
            memory_used: self.mem.used() as u64,
            memory_limit: self.mem.budget.limit() as u64,
            pages: self.mem.slabs.pages_in_use() as u64,
            evicted_active: self.class_items.iter().map(|c| c.evicted_active).sum(),
            slabs_moved: self.slabs_moved,
            index_slots: self.index.capacity() as u64,
        }
    }

    /// STAT reset: zeroes what memcached's `stats reset` zeroes (`total_items` and the
    /// eviction and reclaim counters, per class too); the gauges stay.
    pub fn reset_stats(&mut self) {
        self.total_items = 0;
        self.evictions = 0;
        self.evicted_unfetched = 0;
        self.expired_unfetched = 0;
        self.reclaimed = 0;
        self.slabs_moved = 0;
        self.reset_class_stats();
    }

    /// For sanity checks in tests and fuzzing: recomputes bytes / curr_items / memory from
    /// scratch and panics with a message if they disagree with the counters or the limit is
    /// exceeded. Walks every page, so it is slow on big stores.
    pub fn check_invariants(&self) {
        let mut items = 0u64;
        let mut bytes = 0u64;
        let mut visit = |raw: u32, buf: &[u8]| {
            items += 1;
            bytes += item::accounted_size(buf) as u64;
            let found = self.index.find(item::key(buf), &self.mem).map(|(_, r)| r);
            assert_eq!(
                found,
                Some(raw),
                "item at {raw:#x} not indexed under its key"
            );
        };
        self.mem.slabs.check(&mut visit);
        self.mem
            .large
            .check(|index, buf| visit(Loc::Large(index).encode(), buf));
        self.index.check(&self.mem);
        assert_eq!(items, self.curr_items, "curr_items counter");
        assert_eq!(
            self.index.len() as u64,
            self.curr_items,
            "index size vs curr_items"
        );
        assert_eq!(bytes, self.bytes, "bytes counter");
        let numbers: u64 = self.class_items.iter().map(|c| c.number).sum();
        assert_eq!(numbers, self.curr_items, "per-class item counts");
        let requested: u64 = self.class_items.iter().map(|c| c.mem_requested).sum();
        assert_eq!(requested, self.bytes, "per-class mem_requested");
        assert!(
            self.total_items >= self.curr_items,
            "total_items below curr_items"
        );
        let used = self.mem.used();
        assert!(
            used <= self.mem.budget.limit(),
            "memory used {used} exceeds the limit {}",
            self.mem.budget.limit()
        );
    }

    /// Takes the item at `slot`/`raw` out of the index and the counters; its memory is the
    /// caller's to free or reuse.
    fn unlink_at(&mut self, slot: usize, raw: u32) {
        let size = item::accounted_size(self.mem.bytes(raw));
        self.index.remove_at(slot, &self.mem);
        self.curr_items -= 1;
        self.bytes -= size as u64;
        let class_items = self.class_items(raw);
        class_items.number -= 1;
        class_items.mem_requested -= size as u64;
    }

    fn count_dead(&mut self, death: Death, raw: u32) {
        self.reclaimed += 1;
        let unfetched =
            death == Death::Expired && item::bits(self.mem.bytes(raw)) & item::FETCHED == 0;
        if unfetched {
            self.expired_unfetched += 1;
        }
        let class_items = self.class_items(raw);
        class_items.reclaimed += 1;
        if unfetched {
            class_items.expired_unfetched += 1;
        }
    }
}
