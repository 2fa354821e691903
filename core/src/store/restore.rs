//! Rebuilding a store from the pages a memory region held when the last process stopped (or was
//! killed): every chunk is checked (`item::is_restorable`), the index is rebuilt from the items
//! found, and where a key appears twice (a crash between writing an item's new version and freeing
//! the old one) the higher CAS wins. Dead items (expired, flushed) and damaged ones are freed.
//! Large items come back from their chains of blocks (`blocks`) into boxes.

use super::budget::Budget;
use super::item;
use super::memory::Memory;
use super::region::ShardMemory;
use super::slab::{self, PageMem, Slabs};
use super::{Store, StoreConfig};

/// What a restore found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Live items now in the store.
    pub items: u64,
    /// The highest CAS among them, and of the flush threshold: new CAS values must exceed it.
    pub max_cas: u64,
    /// A delayed flush that was pending at the stop (unix seconds).
    pub pending_flush: Option<u32>,
}

impl Store {
    /// A store of its own over a region's one shard: see `restore`.
    pub(crate) fn restore_own(
        config: StoreConfig,
        page_size: usize,
        memory: ShardMemory,
        now: u32,
    ) -> (Store, Restored) {
        let budget = config.own_budget();
        Store::restore(config, budget, page_size, memory, now, &|_| true)
    }

    /// One shard of a shared cache over its share of a region: see `restore`.
    pub(crate) fn restore_shared(
        config: StoreConfig,
        budget: crate::sync::Arc<super::SharedBudget>,
        page_size: usize,
        memory: ShardMemory,
        now: u32,
        belongs: &dyn Fn(&[u8]) -> bool,
    ) -> (Store, Restored) {
        Store::restore(
            config,
            Budget::Shared(budget),
            page_size,
            memory,
            now,
            belongs,
        )
    }

    /// A store over its share of a memory region, with the items its pages still hold that are
    /// whole, live at `now` and `belong` here (a shard of a shared cache keeps only the keys
    /// routed to it). Pages over the budget go back to the region's pool.
    fn restore(
        config: StoreConfig,
        budget: Budget,
        page_size: usize,
        memory: ShardMemory,
        now: u32,
        belongs: &dyn Fn(&[u8]) -> bool,
    ) -> (Store, Restored) {
        let ShardMemory {
            pool,
            shard,
            control,
            pages,
            blocks,
        } = memory;
        let mut store = Store::with_budget(config, budget.clone(), page_size);
        store.mem = Memory::in_region(budget, page_size, pool, shard);
        store.flush_threshold = control.flush_threshold();
        let mut restored = Restored {
            items: 0,
            max_cas: store.flush_threshold.unwrap_or(0),
            pending_flush: control.pending_flush(),
        };
        store.control = Some(control);
        let live = store.liveness(now);
        let item_size_max = store.item_size_max;
        let keep = |buf: &[u8]| {
            item::accounted_size(buf) <= item_size_max
                && live.death(buf).is_none()
                && belongs(item::key(buf))
        };
        // First every page's chunks are checked in one pass over the page, and the whole items
        // kept aside with their key's hash (computed while the item is in cache), so that the
        // index is sized once instead of doubling (and rehashing) its way up.
        let mut found: Vec<(u32, u32)> = Vec::new();
        let mut empty = Vec::new();
        for (class, frame) in pages {
            let data = PageMem::Frame(frame);
            let fits = store.mem.slabs.can_number_page()
                && store.mem.budget.try_reserve(page_size, store.mem.used());
            if !fits {
                store.mem.give_back(data);
                continue;
            }
            let page = store.mem.slabs.add_restored_page(class, data);
            let size = slab::CLASS_SIZES[usize::from(class)];
            let chunks = store.mem.slabs.page_bytes(page).chunks_exact(size);
            for (chunk, buf) in chunks.enumerate() {
                let raw = Slabs::loc(page, chunk);
                if item::is_restorable(buf, class) && keep(buf) {
                    found.push((raw, store.index.hash_hi(item::key(buf))));
                } else {
                    empty.push(raw);
                }
            }
            for raw in empty.drain(..) {
                store.mem.slabs.push_free(raw);
            }
        }
        let mut keep_large = |buf: &[u8]| keep(buf);
        for raw in store.mem.restore_large(blocks, &mut keep_large) {
            let hash = store.index.hash_hi(item::key(store.mem.bytes(raw)));
            found.push((raw, hash));
        }
        store.index.reserve(found.len(), &store.mem);
        for batch in found.chunks(16) {
            let touched = batch
                .iter()
                .fold(0, |acc, &(_, hash)| acc ^ store.index.warm_hashed(hash));
            std::hint::black_box(touched);
            for &(raw, hash) in batch {
                store.adopt(raw, hash, &mut restored);
            }
        }
        store.total_items = store.curr_items;
        restored.items = store.curr_items;
        (store, restored)
    }

    /// Indexes a restored item, unless an item with its key and a higher CAS is already in.
    fn adopt(&mut self, raw: u32, hash: u32, restored: &mut Restored) {
        let buf = self.mem.bytes(raw);
        let cas = item::cas(buf);
        let size = item::accounted_size(buf) as u64;
        match self.index.insert_new_hashed(raw, hash, &self.mem) {
            None => self.curr_items += 1,
            Some((slot, other)) => {
                let other_buf = self.mem.bytes(other);
                if item::cas(other_buf) >= cas {
                    self.mem.free(raw);
                    return;
                }
                let other_size = item::accounted_size(other_buf) as u64;
                self.bytes -= other_size;
                let class = self.class_items(other);
                class.number -= 1;
                class.mem_requested -= other_size;
                self.index.replace_at(slot, raw);
                self.mem.free(other);
            }
        }
        self.bytes += size;
        let class = self.class_items(raw);
        class.number += 1;
        class.mem_requested += size;
        restored.max_cas = restored.max_cas.max(cas);
    }
}
