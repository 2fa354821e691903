//! Rebuilding a store from the pages a memory region held when the last process stopped (or was
//! killed): every chunk is checked (`item::is_restorable`), the index is rebuilt from the items
//! found, and where a key appears twice (a crash between writing an item's new version and freeing
//! the old one) the higher CAS wins. Dead items (expired, flushed) and damaged ones are freed.

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
        for (class, frame) in pages {
            let data = PageMem::Frame(frame);
            let fits = store.mem.slabs.can_number_page()
                && store.mem.budget.try_reserve(page_size, store.mem.used());
            if !fits {
                store.mem.give_back(data);
                continue;
            }
            let page = store.mem.slabs.add_restored_page(class, data);
            let per_page = page_size / slab::CLASS_SIZES[usize::from(class)];
            for chunk in 0..per_page {
                let raw = Slabs::loc(page, chunk);
                let buf = store.mem.slabs.chunk(raw);
                let keep = item::is_restorable(buf, class)
                    && item::accounted_size(buf) <= store.item_size_max
                    && live.death(buf).is_none()
                    && belongs(item::key(buf));
                if keep {
                    store.adopt(raw, &mut restored);
                } else {
                    store.mem.slabs.push_free(raw);
                }
            }
        }
        store.total_items = store.curr_items;
        restored.items = store.curr_items;
        (store, restored)
    }

    /// Indexes a restored item, unless an item with its key and a higher CAS is already in.
    fn adopt(&mut self, raw: u32, restored: &mut Restored) {
        let buf = self.mem.bytes(raw);
        let cas = item::cas(buf);
        let size = item::accounted_size(buf) as u64;
        if let Some((slot, other)) = self.index.find(item::key(buf), &self.mem) {
            if item::cas(self.mem.bytes(other)) >= cas {
                self.mem.slabs.push_free(raw);
                return;
            }
            self.unlink_at(slot, other);
            self.mem.free(other);
        }
        self.index.insert(raw, &self.mem);
        self.curr_items += 1;
        self.bytes += size;
        restored.max_cas = restored.max_cas.max(cas);
    }
}
