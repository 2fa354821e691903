//! The built-in cache: memcached's command semantics (CAS, quiet-agnostic outcomes, expiry,
//! counters, delayed flush) over the compact `Store`.

mod class_stats;
mod counter;
mod expiry;
mod meta;
mod shared;
mod stats;
// Without `internals` nothing builds a cache over a memory region (`from_region` is keel's
// server's), so the restore path has no caller.
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod warm;

pub use crate::store::StoreStats;
pub(crate) use counter::parse_counter;
pub(crate) use expiry::{RELATIVE_EXPTIME_MAX, absolute_exptime};
pub use shared::SharedCache;
pub use stats::CacheStats;
pub(crate) use stats::ClassCommands;
pub use warm::WarmStart;
#[cfg(feature = "internals")]
pub use warm::{RestoredShard, ShardJob, SharedRestore};

use crate::protocol::{Command, CounterMode, Status, StoreMode};
use crate::service::{KeyEntry, Outcome, Service, StatGroup, StatSink};
use crate::store::{ClassReport, ItemId, ItemMeta, SharedBudget, Store, StoreConfig, StoreError};
use crate::sync::Arc;
use crate::time::Timestamp;
use expiry::unix_secs;
use stats::ClassCommandTable;

/// An INCR/DECR on a missing key with this exptime fails instead of creating the item.
const COUNTER_NO_CREATE: u32 = u32::MAX;

/// The built-in cache's settings, defaulting as memcached does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of item memory (memcached `-m`, default 64 MiB).
    pub memory_limit: usize,
    /// The largest item (memcached `-I`, default 1 MiB), counted as memcached counts it.
    pub item_size_max: usize,
    /// Seeds the key hash; a server should pick it at random so keys cannot be chosen to collide.
    pub hash_seed: u64,
    /// memcached `-F` turns FLUSH off (answered with an auth error).
    pub flush_enabled: bool,
    /// memcached `-M` turns this off: a store that would need to evict answers out of memory
    /// instead (text `SERVER_ERROR out of memory storing object`, binary `0x82`).
    pub evictions_enabled: bool,
    /// memcached `-C` turns this off: every CAS shown is 0, a text `cas` (or `ms` with `C` in set
    /// or replace mode) always fails, and other commands compare a given CAS against 0.
    pub cas_enabled: bool,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            memory_limit: 64 << 20,
            item_size_max: 1 << 20,
            hash_seed: 0x6b65_656c_6b65_656c,
            flush_enabled: true,
            evictions_enabled: true,
            cas_enabled: true,
        }
    }
}

/// The built-in memcached-compatible cache.
pub struct Cache {
    store: Store,
    config: CacheConfig,
    /// The next CAS to hand out, never 0. A shard of a `SharedCache` steps by the number of
    /// shards from its own offset, so CAS values stay unique without a shared counter.
    next_cas: u64,
    cas_step: u64,
    /// A delayed FLUSH takes effect once this Unix second is reached.
    pending_flush: Option<u32>,
    stats: CacheStats,
    /// Commands per class id, for `stats slabs`.
    class_cmds: Box<ClassCommandTable>,
    /// Reused for APPEND/PREPEND and counters, so those do not allocate once warm.
    scratch: Vec<u8>,
    /// Over a memory region: what the start restored.
    warm: Option<WarmStart>,
}

impl Cache {
    /// Memory only: the store's index at its initial size; pages come as items arrive.
    pub fn new(config: CacheConfig) -> Cache {
        let store = Store::new(config.store_config());
        Cache::over(store, config, 1, 1)
    }

    /// One shard of a `SharedCache`: its memory comes from `budget`; it hands out the CAS values
    /// `cas_first`, `cas_first + cas_step`, ...
    fn shard(
        config: CacheConfig,
        budget: Arc<SharedBudget>,
        cas_first: u64,
        cas_step: u64,
    ) -> Cache {
        let page_size = Store::shared_page_size(cas_step as usize);
        let store = Store::with_shared_budget(config.store_config(), budget, page_size);
        Cache::over(store, config, cas_first, cas_step)
    }

    fn over(store: Store, config: CacheConfig, cas_first: u64, cas_step: u64) -> Cache {
        Cache {
            store,
            config,
            next_cas: cas_first,
            cas_step,
            pending_flush: None,
            stats: CacheStats::default(),
            class_cmds: Box::new([ClassCommands::default(); crate::store::MAX_CLASS_IDS as usize]),
            scratch: Vec::new(),
            warm: None,
        }
    }

    /// The per-class command counters of class `class_id`.
    fn class_cmds(&mut self, class_id: u32) -> &mut ClassCommands {
        &mut self.class_cmds[class_slot(class_id)]
    }

    /// The per-class command counters of the item behind `id`.
    fn item_cmds(&mut self, id: ItemId) -> &mut ClassCommands {
        let class_id = self.store.class_id(id);
        self.class_cmds(class_id)
    }

    /// The settings the cache was made with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The command counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Memory and item counters of the store below.
    pub fn store_stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// Panics when the store's accounting disagrees with its contents; for tests and fuzzing.
    #[cfg(any(test, feature = "internals"))]
    pub fn check_invariants(&self) {
        self.store.check_invariants();
    }

    /// The CAS a client sees for an item: the item's own, or 0 with CAS disabled (`-C`). Items
    /// keep their internal CAS either way, since a flush tells old items from new ones by it.
    fn shown_cas(&self, cas: u64) -> u64 {
        if self.config.cas_enabled { cas } else { 0 }
    }

    /// memcached's slab chunk maximum (`slab_chunk_max`: half a 1 MiB page, and at most half of
    /// `-I`). memcached stores bigger items chunked and refuses INCR/DECR on them as "too large
    /// to be a number", before it looks at the CAS.
    fn slab_chunk_max(&self) -> usize {
        (self.config.item_size_max / 2).min(512 << 10)
    }

    /// Whether memcached would hold this item in chunks (its size counts the CAS only when CAS
    /// is enabled).
    fn is_chunked(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        let cas_len = if self.config.cas_enabled { 0 } else { 8 };
        Store::item_size(key_len, value_len, flags) - cas_len > self.slab_chunk_max()
    }

    fn take_cas(&mut self) -> u64 {
        let cas = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(self.cas_step).max(1);
        cas
    }

    /// Bytes other shards must give back before this command's item can be stored here (see
    /// `Store::shortfall`); 0 for commands that store nothing.
    fn shortfall(&self, command: &Command<'_>) -> usize {
        match *command {
            Command::Store {
                key, flags, value, ..
            }
            | Command::MetaStore {
                key, flags, value, ..
            } => self.store.shortfall(key.len(), value.len(), flags),
            _ => 0,
        }
    }

    /// Evicts whole pages or large items until `want` bytes went back to the shared budget.
    fn release_memory(&mut self, want: usize, now: Timestamp) -> usize {
        self.store.release_memory(want, unix_secs(now))
    }

    /// `cache_memlimit` on a shared cache: this shard gives back `want` bytes (evicting even
    /// with `-M`, as memcached's shrink does).
    fn shrink_by(&mut self, want: usize, now: Timestamp) -> usize {
        self.store.shrink(want, unix_secs(now))
    }

    fn class_commands(&self) -> &ClassCommandTable {
        &self.class_cmds
    }

    fn class_reports(&self, now: Timestamp) -> Vec<ClassReport> {
        self.store.class_reports(unix_secs(now))
    }

    /// Applies a delayed flush whose time has come, before anything else looks at the items:
    /// everything written up to now (every CAS handed out so far) becomes invisible.
    fn catch_up(&mut self, now_secs: u32) {
        if self.pending_flush.is_some_and(|at| now_secs >= at) {
            self.pending_flush = None;
            self.store.set_flush_threshold(self.next_cas - 1);
            self.store.persist_pending_flush(None);
        }
    }

    fn flush(&mut self, delay: Option<u32>, now_secs: u32) -> Outcome<'_> {
        self.stats.cmd_flush += 1;
        self.apply_flush(delay, now_secs)
    }

    /// A FLUSH reaching another shard of a `SharedCache`: applied, but counted once, by the first.
    fn flush_uncounted(&mut self, delay: Option<u32>, now: Timestamp) -> Outcome<'_> {
        let now_secs = unix_secs(now);
        self.catch_up(now_secs);
        self.apply_flush(delay, now_secs)
    }

    fn apply_flush(&mut self, delay: Option<u32>, now_secs: u32) -> Outcome<'_> {
        if !self.config.flush_enabled {
            return Outcome::Failed(Status::AuthError);
        }
        let Some(delay) = delay else {
            return Outcome::Failed(Status::InvalidArguments);
        };
        if delay == 0 {
            self.pending_flush = None;
            self.store.set_flush_threshold(self.next_cas - 1);
            self.store.persist_pending_flush(None);
        } else {
            // memcached's oldest_live = realtime(delay) - 1: the flush covers the second before
            // the deadline.
            let at = absolute_exptime(delay, now_secs).saturating_sub(1);
            self.pending_flush = Some(at);
            self.store.persist_pending_flush(Some(at));
            self.catch_up(now_secs);
        }
        Outcome::Done { cas: 0 }
    }

    fn get(&mut self, key: &[u8], now_secs: u32) -> Outcome<'_> {
        self.stats.cmd_get += 1;
        match self.store.read(key, now_secs) {
            Ok(hit) => {
                self.stats.get_hits += 1;
                // Indexing by hand: `self` is borrowed by `hit`, but the table is a field of its own.
                self.class_cmds[class_slot(hit.class_id)].get_hits += 1;
                Outcome::Value {
                    flags: hit.flags,
                    // `shown_cas`, spelled out: `hit` borrows the store.
                    cas: if self.config.cas_enabled { hit.cas } else { 0 },
                    value: hit.value,
                }
            }
            Err(miss) => {
                self.stats.count_get_miss(miss);
                Outcome::Failed(Status::KeyNotFound)
            }
        }
    }

    /// GAT and TOUCH: a read that also sets a new expiry, counted as a touch.
    fn get_and_touch(&mut self, key: &[u8], exptime: u32, now_secs: u32) -> Outcome<'_> {
        self.stats.cmd_touch += 1;
        match self.store.peek(key, now_secs) {
            Ok(id) => {
                self.stats.touch_hits += 1;
                self.item_cmds(id).touch_hits += 1;
                self.store
                    .set_exptime(id, absolute_exptime(exptime, now_secs));
                self.store.record_read(id, now_secs);
                let item = self.store.item(id);
                Outcome::Value {
                    flags: item.flags,
                    cas: self.shown_cas(item.cas),
                    value: item.value,
                }
            }
            Err(_) => {
                self.stats.touch_misses += 1;
                Outcome::Failed(Status::KeyNotFound)
            }
        }
    }

    fn touch(&mut self, key: &[u8], exptime: u32, now_secs: u32) -> Outcome<'_> {
        match self.get_and_touch(key, exptime, now_secs) {
            Outcome::Value { flags, cas, .. } => Outcome::Touched { flags, cas },
            other => other,
        }
    }

    /// Stores under `new_cas` or a fresh CAS; `value` `None` means the value was built in
    /// `scratch`.
    fn insert(
        &mut self,
        key: &[u8],
        meta: ItemMeta,
        value: Option<&[u8]>,
        now_secs: u32,
    ) -> Result<ItemId, Status> {
        let value = value.unwrap_or(&self.scratch);
        match self.store.insert(key, meta, value, now_secs) {
            Ok(id) => Ok(id),
            Err(StoreError::TooLarge) => {
                self.stats.store_too_large += 1;
                Err(Status::TooLarge)
            }
            Err(StoreError::OutOfMemory) => {
                self.stats.store_no_memory += 1;
                Err(Status::OutOfMemory)
            }
        }
    }

    fn new_meta(&mut self, flags: u32, exptime: u32, new_cas: Option<u64>) -> ItemMeta {
        let new_cas = new_cas.filter(|_| self.config.cas_enabled);
        let cas = new_cas.unwrap_or_else(|| self.take_cas());
        ItemMeta {
            flags,
            exptime,
            cas,
        }
    }

    fn store(&mut self, key: &[u8], args: StoreArgs<'_>, now_secs: u32) -> Outcome<'_> {
        self.stats.cmd_set += 1;
        let class_id = Store::class_id_for(key.len(), args.value.len(), args.flags);
        self.class_cmds(class_id).cmd_set += 1;
        let StoreArgs {
            mode,
            flags,
            exptime,
            cas,
            new_cas,
            invalidate,
            binary_key,
            value,
        } = args;
        // With CAS disabled a given CAS is ignored (memcached's new item cannot hold it), except
        // by a compare-and-swap proper, which then never matches.
        let cas = if self.config.cas_enabled || mode == StoreMode::Cas {
            cas
        } else {
            0
        };
        // A plain SET does not care what it replaces (`insert` reclaims a dead item itself).
        let plain_set = mode == StoreMode::Set && cas == 0;
        let existing = if plain_set {
            None
        } else {
            self.store.find(key, now_secs).ok()
        };
        let mut stale_over = None;
        if cas != 0 || mode == StoreMode::Cas {
            // Any store with a CAS is a compare-and-swap, ADD included (memcached's NREAD_CAS).
            match existing {
                // Only SET/ADD/REPLACE become CAS stores; APPEND/PREPEND on nothing store nothing.
                None if matches!(mode, StoreMode::Append | StoreMode::Prepend) => {
                    return Outcome::Failed(Status::NotStored);
                }
                None => {
                    self.stats.cas_misses += 1;
                    return Outcome::Failed(Status::KeyNotFound);
                }
                Some(id) if !self.config.cas_enabled || self.store.item(id).cas != cas => {
                    let current = self.store.item(id);
                    // Only a compare-and-swap proper (`ms` in set or replace mode) may store
                    // over a newer CAS; append and prepend with `I` still need an exact match.
                    let stale_ok = self.config.cas_enabled && mode == StoreMode::Cas;
                    if !(stale_ok && invalidate && cas < current.cas) {
                        self.stats.cas_badval += 1;
                        self.item_cmds(id).cas_badval += 1;
                        return Outcome::Failed(Status::KeyExists);
                    }
                    // An invalidating store with an older CAS still lands, marked stale, keeping
                    // the TTL and any recache token already handed out.
                    stale_over = Some((current.exptime, current.token_sent));
                    self.stats.cas_hits += 1;
                    self.item_cmds(id).cas_hits += 1;
                }
                Some(id) => {
                    self.stats.cas_hits += 1;
                    self.item_cmds(id).cas_hits += 1;
                }
            }
        }
        let stored = match mode {
            StoreMode::Set | StoreMode::Add | StoreMode::Replace | StoreMode::Cas => {
                if cas == 0 && mode == StoreMode::Add && existing.is_some() {
                    return Outcome::Failed(Status::KeyExists);
                }
                if cas == 0 && mode == StoreMode::Replace && existing.is_none() {
                    return Outcome::Failed(Status::KeyNotFound);
                }
                if !self.store.fits(key.len(), value.len(), flags) {
                    return self.drop_too_large(mode, key, now_secs);
                }
                let exptime = match stale_over {
                    Some((old_exptime, _)) => old_exptime,
                    None => absolute_exptime(exptime, now_secs),
                };
                let meta = self.new_meta(flags, exptime, new_cas);
                self.insert(key, meta, Some(value), now_secs)
                    .map(|id| (id, meta.cas))
            }
            StoreMode::Append | StoreMode::Prepend => {
                let Some(id) = existing else {
                    return Outcome::Failed(Status::NotStored);
                };
                let old = self.store.item(id);
                if !self
                    .store
                    .fits(key.len(), old.value.len() + value.len(), old.flags)
                {
                    return Outcome::Failed(Status::NotStored);
                }
                let (flags, exptime) = (old.flags, old.exptime);
                self.scratch.clear();
                if mode == StoreMode::Prepend {
                    self.scratch.extend_from_slice(value);
                }
                self.scratch.extend_from_slice(old.value);
                if mode == StoreMode::Append {
                    self.scratch.extend_from_slice(value);
                }
                let meta = self.new_meta(flags, exptime, new_cas);
                match self.insert(key, meta, None, now_secs) {
                    Ok(id) => Ok((id, meta.cas)),
                    Err(Status::TooLarge) => Err(Status::NotStored),
                    Err(status) => Err(status),
                }
            }
        };
        match stored {
            Ok((id, cas)) => {
                // Append and prepend build a new item that, in memcached, does not carry the
                // base64 mark (a later plain `mg … k` echoes the key raw).
                if binary_key && !matches!(mode, StoreMode::Append | StoreMode::Prepend) {
                    self.store.set_binary_key(id);
                }
                if let Some((_, token_sent)) = stale_over {
                    self.store.set_stale(id, true);
                    self.store.set_token_sent(id, token_sent);
                }
                Outcome::Done {
                    cas: self.shown_cas(cas),
                }
            }
            Err(status) => Outcome::Failed(status),
        }
    }

    fn drop_too_large(&mut self, mode: StoreMode, key: &[u8], now_secs: u32) -> Outcome<'_> {
        self.stats.store_too_large += 1;
        if mode == StoreMode::Set {
            if let Ok(id) = self.store.find(key, now_secs) {
                self.store.remove(id);
            }
        }
        Outcome::Failed(Status::TooLarge)
    }

    fn delete(&mut self, key: &[u8], cas: u64, now_secs: u32) -> Outcome<'_> {
        match self.store.find(key, now_secs) {
            Err(_) => {
                self.stats.delete_misses += 1;
                Outcome::Failed(Status::KeyNotFound)
            }
            Ok(id) if cas != 0 && self.shown_cas(self.store.item(id).cas) != cas => {
                Outcome::Failed(Status::KeyExists)
            }
            Ok(id) => {
                self.stats.delete_hits += 1;
                self.item_cmds(id).delete_hits += 1;
                self.store.remove(id);
                Outcome::Done { cas: 0 }
            }
        }
    }

    fn count_counter(&mut self, mode: CounterMode, hit: bool) {
        let counter = match (mode, hit) {
            (CounterMode::Incr, true) => &mut self.stats.incr_hits,
            (CounterMode::Incr, false) => &mut self.stats.incr_misses,
            (CounterMode::Decr, true) => &mut self.stats.decr_hits,
            (CounterMode::Decr, false) => &mut self.stats.decr_misses,
        };
        *counter += 1;
    }

    /// Creates a missing counter holding `initial` (the delta is not applied, as in memcached).
    fn create_counter(
        &mut self,
        key: &[u8],
        initial: u64,
        exptime: u32,
        new_cas: Option<u64>,
        now_secs: u32,
    ) -> Result<ItemId, Status> {
        counter::render(initial, 0, &mut self.scratch);
        let meta = self.new_meta(0, absolute_exptime(exptime, now_secs), new_cas);
        match self.insert(key, meta, None, now_secs) {
            Err(Status::TooLarge) => Err(Status::NotStored),
            other => other,
        }
    }

    /// Applies a delta to an existing counter item (keeping its flags and expiry), or creates a
    /// missing one when the request allows it. Returns the new number and the item.
    fn counter(
        &mut self,
        key: &[u8],
        args: CounterArgs,
        now_secs: u32,
    ) -> Result<(u64, ItemId), Status> {
        let Ok(id) = self.store.find(key, now_secs) else {
            self.count_counter(args.mode, false);
            let exptime = args.create.ok_or(Status::KeyNotFound)?;
            let id = self.create_counter(key, args.initial, exptime, args.new_cas, now_secs)?;
            return Ok((args.initial, id));
        };
        let item = self.store.item(id);
        // memcached refuses an empty value, and one too large to be a number (held in chunks),
        // before it looks at the CAS.
        if item.value.is_empty() || self.is_chunked(key.len(), item.value.len(), item.flags) {
            return Err(Status::DeltaBadValue);
        }
        if args.cas != 0 && self.shown_cas(item.cas) != args.cas {
            return Err(Status::KeyExists);
        }
        let current = parse_counter(item.value).ok_or(Status::DeltaBadValue)?;
        let value = counter::apply(args.mode, current, args.delta);
        let (flags, exptime, old_len) = (item.flags, item.exptime, item.value.len());
        // memcached rewrites the number in place when it fits, keeping the item's marks (stale,
        // recache token, fetched, base64 key); a longer number makes a new item without them.
        let marks = (item.stale, item.token_sent, item.fetched, item.binary_key);
        counter::render(value, old_len, &mut self.scratch);
        let in_place = self.scratch.len() == old_len;
        self.count_counter(args.mode, true);
        let class = self.item_cmds(id);
        match args.mode {
            CounterMode::Incr => class.incr_hits += 1,
            CounterMode::Decr => class.decr_hits += 1,
        }
        let meta = self.new_meta(flags, exptime, args.new_cas);
        let id = self.insert(key, meta, None, now_secs)?;
        if in_place {
            let (stale, token_sent, fetched, binary_key) = marks;
            self.store.set_stale(id, stale);
            self.store.set_token_sent(id, token_sent);
            if fetched {
                self.store.record_read(id, now_secs);
            }
            if binary_key {
                self.store.set_binary_key(id);
            }
        }
        Ok((value, id))
    }
}

impl CacheConfig {
    fn store_config(&self) -> StoreConfig {
        StoreConfig {
            memory_limit: self.memory_limit,
            item_size_max: self.item_size_max,
            hash_seed: self.hash_seed,
            evictions_enabled: self.evictions_enabled,
        }
    }
}

/// What a stat group reads of one cache, or of a shared cache's shards summed.
struct StatsView<'v> {
    config: &'v CacheConfig,
    stats: &'v CacheStats,
    store: &'v StoreStats,
    class_cmds: &'v ClassCommandTable,
}

impl StatsView<'_> {
    /// A stat group's lines; `classes` gives the per-class reports, asked for only by the groups
    /// that list classes.
    fn write(
        &self,
        group: StatGroup,
        classes: impl FnOnce() -> Vec<ClassReport>,
        sink: &mut dyn StatSink,
    ) {
        let (config, store) = (self.config, self.store);
        match group {
            StatGroup::General => {
                self.stats.write(sink);
                sink.stat("limit_maxbytes", &config.memory_limit);
                let slots = store.index_slots.max(1);
                sink.stat("hash_power_level", &slots.ilog2());
                sink.stat("hash_bytes", &(slots * 4));
                // The index grows in one step inside the store call that fills it.
                sink.stat("hash_is_expanding", &0);
                sink.stat("slabs_moved", &store.slabs_moved);
                sink.stat("bytes", &store.bytes);
                sink.stat("curr_items", &store.curr_items);
                sink.stat("total_items", &store.total_items);
                sink.stat("expired_unfetched", &store.expired_unfetched);
                sink.stat("evicted_unfetched", &store.evicted_unfetched);
                sink.stat("evicted_active", &store.evicted_active);
                sink.stat("evictions", &store.evictions);
                sink.stat("reclaimed", &store.reclaimed);
            }
            // memcached's names; the server merges them into memcached's order.
            StatGroup::Settings => {
                sink.stat("maxbytes", &config.memory_limit);
                let on_off = |on| if on { "on" } else { "off" };
                let yes_no = |yes| if yes { "yes" } else { "no" };
                sink.stat("evictions", &on_off(config.evictions_enabled));
                sink.stat("cas_enabled", &yes_no(config.cas_enabled));
                sink.stat("item_size_max", &config.item_size_max);
                sink.stat("flush_enabled", &yes_no(config.flush_enabled));
            }
            StatGroup::Slabs => {
                let classes = classes();
                class_stats::write_slabs(&classes, self.class_cmds, sink);
                sink.stat("active_slabs", &classes.len());
                sink.stat("total_malloced", &store.memory_used);
            }
            StatGroup::Items => class_stats::write_items(&classes(), sink),
            StatGroup::Sizes => sink.stat("sizes_status", &"disabled"),
        }
    }
}

/// The table slot of a class id. Ids come from the store and are below `MAX_CLASS_IDS`, a power
/// of two, so the mask changes nothing but spares the hot path a bounds check.
#[inline]
fn class_slot(class_id: u32) -> usize {
    const _: () = assert!(crate::store::MAX_CLASS_IDS.is_power_of_two());
    (class_id & (crate::store::MAX_CLASS_IDS - 1)) as usize
}

/// An INCR/DECR in the cache's terms (binary, text and meta all map onto it).
#[derive(Clone, Copy, Debug)]
struct CounterArgs {
    mode: CounterMode,
    delta: u64,
    initial: u64,
    /// Create a missing item with this exptime (request form); `None` fails with Not found.
    create: Option<u32>,
    /// Compare against this CAS (0: no comparison).
    cas: u64,
    /// Give the item this CAS instead of a fresh one (meta `E`).
    new_cas: Option<u64>,
}

/// A storage command in the cache's terms (binary, classic text and meta all map onto it).
#[derive(Clone, Copy, Debug)]
struct StoreArgs<'v> {
    mode: StoreMode,
    flags: u32,
    /// As the request gave it (relative or absolute).
    exptime: u32,
    /// Compare against this CAS (0: no comparison, unless the mode is `Cas`).
    cas: u64,
    /// Give the stored item this CAS instead of a fresh one (meta `E`).
    new_cas: Option<u64>,
    /// Meta `I`: an older CAS still stores, marked stale.
    invalidate: bool,
    /// Meta `b`: the key was given in base64.
    binary_key: bool,
    value: &'v [u8],
}

impl Service for Cache {
    fn execute(&mut self, command: &Command<'_>, now: Timestamp) -> Outcome<'_> {
        let now_secs = unix_secs(now);
        self.catch_up(now_secs);
        match *command {
            Command::Get { key, .. } => self.get(key, now_secs),
            Command::GetAndTouch { key, exptime, .. } => self.get_and_touch(key, exptime, now_secs),
            Command::Touch { key, exptime } => self.touch(key, exptime, now_secs),
            Command::Store {
                mode,
                key,
                flags,
                exptime,
                cas,
                value,
                ..
            } => {
                let args = StoreArgs {
                    mode,
                    flags,
                    exptime,
                    cas,
                    new_cas: None,
                    invalidate: false,
                    binary_key: false,
                    value,
                };
                self.store(key, args, now_secs)
            }
            Command::MetaStore {
                mode,
                key,
                flags,
                exptime,
                compare_cas,
                new_cas,
                invalidate,
                binary_key,
                value,
            } => {
                let args = StoreArgs {
                    mode,
                    flags,
                    exptime,
                    cas: compare_cas.unwrap_or(0),
                    new_cas,
                    invalidate,
                    binary_key,
                    value,
                };
                self.store(key, args, now_secs)
            }
            Command::MetaGet {
                key,
                ttl,
                vivify,
                recache,
                no_update,
            } => self.meta_get(key, ttl, vivify, recache, no_update, now_secs),
            Command::MetaDebug { key } => self.meta_debug(key, now_secs),
            Command::MetaDelete {
                key,
                compare_cas,
                invalidate,
                ttl,
            } => self.meta_delete(key, compare_cas, invalidate, ttl, now_secs),
            Command::MetaArithmetic {
                mode,
                key,
                delta,
                initial,
                vivify,
                compare_cas,
                new_cas,
                ttl,
            } => {
                let args = CounterArgs {
                    mode,
                    delta,
                    initial,
                    create: vivify,
                    cas: compare_cas.unwrap_or(0),
                    new_cas,
                };
                self.meta_arithmetic(key, args, ttl, now_secs)
            }
            Command::Delete { key, cas, .. } => self.delete(key, cas, now_secs),
            Command::Counter {
                mode,
                key,
                delta,
                initial,
                exptime,
                cas,
                ..
            } => {
                let args = CounterArgs {
                    mode,
                    delta,
                    initial,
                    create: (exptime != COUNTER_NO_CREATE).then_some(exptime),
                    cas,
                    new_cas: None,
                };
                match self.counter(key, args, now_secs) {
                    Ok((value, id)) => Outcome::Counter {
                        value,
                        cas: self.shown_cas(self.store.item(id).cas),
                    },
                    Err(status) => Outcome::Failed(status),
                }
            }
            Command::Flush { delay, .. } => self.flush(delay, now_secs),
            Command::Noop
            | Command::Version
            | Command::Quit { .. }
            | Command::Stat { .. }
            | Command::Verbosity { .. }
            | Command::SaslListMechs
            | Command::SaslAuth { .. } => Outcome::Failed(Status::UnknownCommand),
        }
    }

    fn admits(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        self.store.fits(key_len, value_len, flags)
    }

    fn reject_too_large(&mut self, mode: StoreMode, key: &[u8], now: Timestamp) -> Outcome<'_> {
        let now_secs = unix_secs(now);
        self.catch_up(now_secs);
        self.drop_too_large(mode, key, now_secs)
    }

    fn stats(&self, group: StatGroup, now: Timestamp, sink: &mut dyn StatSink) {
        let view = StatsView {
            config: &self.config,
            stats: &self.stats,
            store: &self.store.stats(),
            class_cmds: &self.class_cmds,
        };
        view.write(group, || self.store.class_reports(unix_secs(now)), sink);
        warm::write_stats(group, self.warm.as_ref(), sink);
    }

    fn reset_stats(&mut self) {
        self.stats = CacheStats::default();
        self.class_cmds.fill(ClassCommands::default());
        self.store.reset_stats();
    }

    fn walk_keys(
        &self,
        classes: u64,
        cursor: u64,
        max: usize,
        now: Timestamp,
        visit: &mut dyn FnMut(&KeyEntry<'_>),
    ) -> Option<u64> {
        let now_secs = unix_secs(now);
        // A delayed flush that is due hides items even before a command applies it.
        let flushed_up_to = self
            .pending_flush
            .filter(|&at| now_secs >= at)
            .map(|_| self.next_cas - 1);
        self.store
            .walk_items(classes, cursor, max, now_secs, &mut |item, class_id| {
                if flushed_up_to.is_some_and(|threshold| item.cas <= threshold) {
                    return;
                }
                visit(&KeyEntry {
                    key: item.key,
                    exptime: item.exptime,
                    last_access: item.last_access,
                    cas: item.cas,
                    fetched: item.fetched,
                    class_id,
                    size: Store::item_size(item.key.len(), item.value.len(), item.flags),
                    value_len: item.value.len(),
                })
            })
    }

    fn set_memory_limit(&mut self, bytes: usize, now: Timestamp) -> bool {
        self.store.set_memory_limit(bytes, unix_secs(now));
        self.config.memory_limit = bytes;
        true
    }
}
