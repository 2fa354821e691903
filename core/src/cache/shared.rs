//! `SharedCache`: one cache that several workers (each a `Server` on its own thread) serve at once.
//!
//! The keys are split over shards by a hash; each shard is a whole `Cache` (its own index, slab
//! classes, CLOCK hands, counters and CAS sequence) behind its own mutex, padded to its own cache
//! lines. A request locks the one shard its key lives in, so a GET and a SET on keys of different
//! shards never wait for each other and no line is written by every request.
//!
//! What is shared, and how:
//! - Memory: one [`SharedBudget`] for all shards, so `-m` holds for the whole cache. A shard
//!   reserves a page or a large item's box from it (an atomic compare-and-swap, once per page,
//!   never per request) and evicts its own items when it is spent. A shard that holds too little
//!   to make room itself asks the others to give memory back: it `try_lock`s them one by one,
//!   never waiting while it holds its own lock, so two shards cannot deadlock.
//! - CAS: shard `i` of `n` hands out `i + 1, i + 1 + n, i + 1 + 2n, ...`: unique cache-wide
//!   without one counter every store increments.
//! - FLUSH: applied to each shard in turn; counted once.
//! - Statistics: each shard counts its own (under the lock it already holds); `stats` sums them.
//!
//! Semantics across workers are memcached's: a write through one connection is visible to every
//! other at once (the shard lock orders them); INCR/DECR/CAS/ADD are atomic per key (one critical
//! section each); a multi-get is atomic per key. A borrowed value is copied out of the shard into
//! the handle's own buffer before the lock is released, so the lock is held for one copy of the
//! value at most.
//!
//! A mutex poisoned by a panicking worker is used as it is: a panic inside the cache is a bug
//! that the store's invariant checks catch in tests, and refusing every later request to the shard
//! would turn one bug into an outage.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::stats::ClassCommandTable;
use super::{Cache, CacheConfig, CacheStats, ClassCommands, StatsView};
use crate::protocol::{Command, StoreMode};
use crate::service::{ItemView, KeyEntry, Outcome, Service, StatGroup, StatSink};
use crate::store::{ClassReport, MAX_CLASS_IDS, SharedBudget, Store, StoreStats};
use crate::sync::{Arc, Mutex, MutexGuard, TryLockError};
use crate::time::Timestamp;

/// Keeps the router's hash apart from the shards' index hash.
const ROUTER_SEED_MIX: u64 = 0x9e37_79b9_7f4a_7c15;
/// The fewest bytes of the memory limit a shard should have to itself: a shard needs a page per
/// size class it stores (its pages shrink with the shard count, down to 64 KiB), so a shard with
/// a sliver of the limit would evict early.
const MIN_BYTES_PER_SHARD: usize = 4 << 20;
/// Shards per worker: enough that two workers rarely want the same shard at once.
const SHARDS_PER_WORKER: usize = 4;
const MAX_SHARDS: usize = 1024;
/// A key-walk cursor holds the shard in its high bits, the shard's own cursor below (a store's
/// cursors stay under 2^34).
const CURSOR_SHARD_SHIFT: u32 = 48;

/// A handle to a cache shared by several workers. Each worker has its own handle (`Clone` makes
/// one); all handles serve the same items.
pub struct SharedCache {
    shared: Arc<Shards>,
    /// Where a value is copied to before its shard is unlocked.
    scratch: Vec<u8>,
}

struct Shards {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the count is a power of two.
    mask: usize,
    router: FixedState,
    budget: Arc<SharedBudget>,
    config: CacheConfig,
    /// Over a memory region: what the start restored.
    warm: Option<super::WarmStart>,
}

/// One shard on cache lines of its own, so locking it does not disturb its neighbours.
#[repr(align(128))]
struct Shard {
    cache: Mutex<Cache>,
}

impl Clone for SharedCache {
    /// Another handle to the same cache, with a buffer of its own.
    fn clone(&self) -> SharedCache {
        SharedCache {
            shared: Arc::clone(&self.shared),
            scratch: Vec::new(),
        }
    }
}

impl SharedCache {
    /// A cache of `shards` shards (rounded up to a power of two, at least one) sharing one memory
    /// limit. Memory only, as `Cache::new`.
    pub fn new(config: CacheConfig, shards: usize) -> SharedCache {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let budget = SharedBudget::new(config.memory_limit);
        let step = count as u64;
        let caches = (0..count)
            .map(|i| Cache::shard(config.clone(), Arc::clone(&budget), i as u64 + 1, step))
            .collect();
        SharedCache::over(config, caches, budget, None)
    }

    /// A shared cache over shards already built (by `new`, or restored from a region).
    pub(super) fn over(
        config: CacheConfig,
        caches: Vec<Cache>,
        budget: Arc<SharedBudget>,
        warm: Option<super::WarmStart>,
    ) -> SharedCache {
        let count = caches.len();
        let shards = caches
            .into_iter()
            .map(|cache| Shard {
                cache: Mutex::new(cache),
            })
            .collect();
        SharedCache {
            shared: Arc::new(Shards {
                shards,
                mask: count - 1,
                router: SharedCache::router(config.hash_seed),
                budget,
                config,
                warm,
            }),
            scratch: Vec::new(),
        }
    }

    /// The hash that picks a key's shard.
    pub(super) fn router(hash_seed: u64) -> FixedState {
        FixedState::with_seed(hash_seed ^ ROUTER_SEED_MIX)
    }

    /// The shard of `key` among `count` (a power of two).
    pub(super) fn route(router: &FixedState, count: usize, key: &[u8]) -> usize {
        // The high bits: the shards' own index uses the low ones of a differently seeded hash.
        (router.hash_one(key) >> 32) as usize & (count - 1)
    }

    /// How many shards suit `workers` workers over `memory_limit` bytes: a few per worker, but
    /// not so many that a shard has fewer than a handful of pages to itself.
    pub fn shards_for(workers: usize, memory_limit: usize) -> usize {
        let by_memory = (memory_limit / MIN_BYTES_PER_SHARD).max(1);
        let wanted = workers.saturating_mul(SHARDS_PER_WORKER).max(1);
        let count = wanted.min(by_memory).clamp(1, MAX_SHARDS);
        // The largest power of two not above `count`, so memory per shard never drops below the
        // floor by rounding up.
        1 << count.ilog2()
    }

    /// How the start over a memory region went; `None` without one.
    pub fn warm_start(&self) -> Option<super::WarmStart> {
        self.shared.warm
    }

    /// How many shards the cache has.
    pub fn shard_count(&self) -> usize {
        self.shared.shards.len()
    }

    /// The settings every shard was made with.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// The memory limit all shards draw from.
    #[cfg(feature = "internals")]
    pub fn budget(&self) -> &SharedBudget {
        &self.shared.budget
    }

    /// The counters summed over every shard.
    pub fn stats(&self) -> CacheStats {
        self.sums().0
    }

    /// Memory and item counters, summed over every shard.
    pub fn store_stats(&self) -> StoreStats {
        self.sums().1
    }

    /// Panics when a shard's accounting disagrees with its contents, or the shards together hold
    /// other than what the budget has handed out; for tests.
    #[cfg(any(test, feature = "internals"))]
    pub fn check_invariants(&self) {
        let mut used = 0;
        for shard in self.shared.shards.iter() {
            let cache = lock(&shard.cache);
            cache.check_invariants();
            used += cache.store_stats().memory_used;
        }
        let budget = self.shared.budget.used() as u64;
        assert_eq!(
            used, budget,
            "shards hold {used} bytes, the budget counts {budget}"
        );
        assert!(
            used <= self.shared.config.memory_limit as u64,
            "shards hold {used} bytes over the limit"
        );
    }

    /// The bytes of the region under this cache, as a crash would leave them (tests).
    #[cfg(test)]
    pub(crate) fn region_image(&self, layout: &crate::store::Layout) -> Vec<u8> {
        let guards: Vec<_> = self.shared.shards.iter().map(|s| lock(&s.cache)).collect();
        let stores: Vec<&Store> = guards.iter().map(|g| &g.store).collect();
        crate::store::image(&stores, layout, self.shared.config.hash_seed)
    }

    fn sums(&self) -> (CacheStats, StoreStats) {
        let mut stats = CacheStats::default();
        let mut store = StoreStats::default();
        for shard in self.shared.shards.iter() {
            let cache = lock(&shard.cache);
            stats += cache.stats();
            store += cache.store_stats();
        }
        (stats, store)
    }

    /// Every shard's per-class commands, summed class by class.
    fn class_commands(&self) -> Box<ClassCommandTable> {
        let mut table = Box::new([ClassCommands::default(); MAX_CLASS_IDS as usize]);
        for shard in self.shared.shards.iter() {
            let cache = lock(&shard.cache);
            for (sum, class) in table.iter_mut().zip(cache.class_commands().iter()) {
                *sum += class;
            }
        }
        table
    }

    /// Every shard's class reports, merged by class id.
    fn class_reports(&self, now: Timestamp) -> Vec<ClassReport> {
        let mut merged: Vec<ClassReport> = Vec::new();
        for shard in self.shared.shards.iter() {
            for report in lock(&shard.cache).class_reports(now) {
                match merged.iter_mut().find(|r| r.id == report.id) {
                    Some(sum) => sum.absorb(&report),
                    None => merged.push(report),
                }
            }
        }
        merged.sort_by_key(|r| r.id);
        merged
    }
}

impl Shards {
    fn index_of(&self, key: &[u8]) -> usize {
        SharedCache::route(&self.router, self.mask + 1, key)
    }

    /// Before `cache` (shard `own`) stores the item of `command`: when it cannot make room on its
    /// own, the other shards give memory back to the budget. Only `try_lock`, since `own` is held.
    fn make_room(&self, own: usize, cache: &Cache, command: &Command<'_>, now: Timestamp) {
        let mut missing = cache.shortfall(command);
        let mut offset = 1;
        while missing > 0 && offset < self.shards.len() {
            let other = &self.shards[(own + offset) & self.mask];
            offset += 1;
            let mut victim = match other.cache.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            missing = missing.saturating_sub(victim.release_memory(missing, now));
        }
    }
}

/// Locks a shard; see the module documentation for why poisoning is ignored.
fn lock(cache: &Mutex<Cache>) -> MutexGuard<'_, Cache> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The key a data command works on; `None` for FLUSH, which works on every shard, and for the
/// protocol-level commands that never reach a service. No catch-all: a new command must say.
fn key_of<'c>(command: &Command<'c>) -> Option<&'c [u8]> {
    match *command {
        Command::Get { key, .. }
        | Command::GetAndTouch { key, .. }
        | Command::Touch { key, .. }
        | Command::Store { key, .. }
        | Command::Delete { key, .. }
        | Command::Counter { key, .. }
        | Command::MetaGet { key, .. }
        | Command::MetaDebug { key }
        | Command::MetaStore { key, .. }
        | Command::MetaDelete { key, .. }
        | Command::MetaArithmetic { key, .. } => Some(key),
        Command::Flush { .. }
        | Command::Noop
        | Command::Version
        | Command::Quit { .. }
        | Command::Stat { .. }
        | Command::Verbosity { .. }
        | Command::SaslListMechs
        | Command::SaslAuth { .. } => None,
    }
}

/// The outcome with any borrowed value copied into `scratch`, so the shard can be unlocked.
fn detach<'s>(outcome: Outcome<'_>, scratch: &'s mut Vec<u8>) -> Outcome<'s> {
    match outcome {
        Outcome::Value { flags, cas, value } => {
            scratch.clear();
            scratch.extend_from_slice(value);
            Outcome::Value {
                flags,
                cas,
                value: scratch,
            }
        }
        Outcome::Item(view) => {
            scratch.clear();
            scratch.extend_from_slice(view.value);
            Outcome::Item(ItemView {
                value: scratch,
                ..view
            })
        }
        Outcome::Done { cas } => Outcome::Done { cas },
        Outcome::Touched { flags, cas } => Outcome::Touched { flags, cas },
        Outcome::Counter { value, cas } => Outcome::Counter { value, cas },
        Outcome::Failed(status) => Outcome::Failed(status),
    }
}

impl Service for SharedCache {
    fn execute(&mut self, command: &Command<'_>, now: Timestamp) -> Outcome<'_> {
        let SharedCache { shared, scratch } = self;
        let Some(key) = key_of(command) else {
            let Command::Flush { delay, .. } = *command else {
                // Protocol-level commands never reach a service; the first shard answers them as
                // a single cache would.
                return detach(lock(&shared.shards[0].cache).execute(command, now), scratch);
            };
            let (first, rest) = shared.shards.split_at(1);
            let outcome = detach(lock(&first[0].cache).execute(command, now), scratch);
            for shard in rest {
                let _ = lock(&shard.cache).flush_uncounted(delay, now);
            }
            return outcome;
        };
        let own = shared.index_of(key);
        let mut cache = lock(&shared.shards[own].cache);
        shared.make_room(own, &cache, command, now);
        let outcome = cache.execute(command, now);
        detach(outcome, scratch)
    }

    fn admits(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        Store::fits_within(self.shared.config.item_size_max, key_len, value_len, flags)
    }

    fn reject_too_large(&mut self, mode: StoreMode, key: &[u8], now: Timestamp) -> Outcome<'_> {
        let SharedCache { shared, scratch } = self;
        let mut cache = lock(&shared.shards[shared.index_of(key)].cache);
        let outcome = cache.reject_too_large(mode, key, now);
        detach(outcome, scratch)
    }

    fn stats(&self, group: StatGroup, now: Timestamp, sink: &mut dyn StatSink) {
        let (stats, store) = self.sums();
        let config = CacheConfig {
            // `cache_memlimit` changes the budget's limit.
            memory_limit: self.shared.budget.limit(),
            ..self.shared.config.clone()
        };
        let class_cmds = match group {
            StatGroup::Slabs => self.class_commands(),
            _ => Box::new([ClassCommands::default(); MAX_CLASS_IDS as usize]),
        };
        let view = StatsView {
            config: &config,
            stats: &stats,
            store: &store,
            class_cmds: &class_cmds,
        };
        view.write(group, || self.class_reports(now), sink);
        super::warm::write_stats(group, self.shared.warm.as_ref(), sink);
    }

    fn reset_stats(&mut self) {
        for shard in self.shared.shards.iter() {
            lock(&shard.cache).reset_stats();
        }
    }

    /// Walks shard after shard: the cursor's high bits name the shard, the rest is that shard's
    /// own cursor. Each batch holds one shard's lock, for at most `max` items.
    fn walk_keys(
        &self,
        classes: u64,
        cursor: u64,
        max: usize,
        now: Timestamp,
        visit: &mut dyn FnMut(&KeyEntry<'_>),
    ) -> Option<u64> {
        let shard = (cursor >> CURSOR_SHARD_SHIFT) as usize;
        let inner = cursor & ((1 << CURSOR_SHARD_SHIFT) - 1);
        let cache = lock(&self.shared.shards.get(shard)?.cache);
        let next = cache.walk_keys(classes, inner, max, now, visit);
        let shard = shard as u64;
        match next {
            Some(inner) => Some(shard << CURSOR_SHARD_SHIFT | inner),
            None if (shard as usize) + 1 < self.shared.shards.len() => {
                Some((shard + 1) << CURSOR_SHARD_SHIFT)
            }
            None => None,
        }
    }

    /// A new limit for the one budget; then each shard in turn gives memory back until the
    /// shards together fit it.
    fn set_memory_limit(&mut self, bytes: usize, now: Timestamp) -> bool {
        self.shared.budget.set_limit(bytes);
        for shard in self.shared.shards.iter() {
            let excess = self.shared.budget.used().saturating_sub(bytes);
            if excess == 0 {
                break;
            }
            lock(&shard.cache).shrink_by(excess, now);
        }
        true
    }
}
