//! A cache over a caller's memory region (memcached's `-e`): built from what the region still
//! holds, with the CAS sequence continuing above every restored CAS and a pending delayed flush
//! still pending; and the `stats` lines saying how the start went.

use super::expiry::unix_secs;
use super::{Cache, CacheConfig, SharedCache};
use crate::service::{StatGroup, StatSink};
use crate::store::{Region, Restored, ShardMemory, SharedBudget, Store, StoreConfig};
use crate::sync::Arc;
use crate::time::Timestamp;

/// How a cache over a memory region started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmStart {
    /// The region was reattached (not formatted afresh).
    pub warm: bool,
    /// Live items restored from it.
    pub restored_items: u64,
}

/// The first CAS above `max` that a shard handing out `first, first + step, ...` may use.
fn next_cas_above(max: u64, first: u64, step: u64) -> u64 {
    let above = max.saturating_add(1).max(first);
    let behind = (above - first) % step;
    if behind == 0 {
        above
    } else {
        above + (step - behind)
    }
}

impl Cache {
    /// A cache over `region` (made for one shard), with the items it restored; the region's hash
    /// seed replaces `config`'s.
    ///
    /// # Panics
    /// If the region's layout has more than one shard (that is `SharedCache::from_region`'s).
    #[cfg(feature = "internals")]
    pub fn from_region(mut config: CacheConfig, region: Region, now: Timestamp) -> Cache {
        assert_eq!(
            region.layout().shards,
            1,
            "a plain cache over a sharded region"
        );
        config.hash_seed = region.hash_seed();
        let warm = region.is_warm();
        let page_size = region.layout().page_size;
        let mut memories = region.split();
        // One shard, asserted above.
        let memory = memories
            .pop()
            .expect("a region has a shard per layout shard");
        let (store, restored) =
            Store::restore_own(config.store_config(), page_size, memory, unix_secs(now));
        let mut cache = Cache::over(store, config, 1, 1);
        cache.resume(restored, warm);
        cache
    }

    /// How the start over a memory region went; `None` without one.
    pub fn warm_start(&self) -> Option<WarmStart> {
        self.warm
    }

    /// Continues from what a restore found.
    fn resume(&mut self, restored: Restored, warm: bool) {
        self.next_cas = next_cas_above(restored.max_cas, self.next_cas, self.cas_step);
        self.pending_flush = restored.pending_flush;
        self.warm = Some(WarmStart {
            warm,
            restored_items: restored.items,
        });
    }
}

impl SharedCache {
    /// A shared cache over `region`, one shard per layout shard, each item restored into the
    /// shard its key routes to; the region's hash seed replaces `config`'s. The shards are
    /// restored one after another; an embedder with threads may run `SharedRestore`'s jobs at
    /// once instead.
    #[cfg(feature = "internals")]
    pub fn from_region(config: CacheConfig, region: Region, now: Timestamp) -> SharedCache {
        let mut restore = SharedRestore::new(config, region, now);
        let shards = restore.jobs().into_iter().map(ShardJob::run).collect();
        restore.finish(shards)
    }
}

/// A shared cache's restore from a region cut into one independent job per shard, so that an
/// embedder may run them on several threads (the core itself starts none): `jobs`, run each,
/// then `finish` with their results in any order.
pub struct SharedRestore {
    config: CacheConfig,
    budget: Arc<SharedBudget>,
    warm: bool,
    jobs: Vec<ShardJob>,
}

/// Restoring one shard of a shared cache: `run` it anywhere, once.
pub struct ShardJob {
    shard: usize,
    count: usize,
    store_config: StoreConfig,
    budget: Arc<SharedBudget>,
    router: foldhash::fast::FixedState,
    page_size: usize,
    memory: ShardMemory,
    now: u32,
}

/// One shard restored by `ShardJob::run`, for `SharedRestore::finish`.
pub struct RestoredShard {
    shard: usize,
    store: Store,
    restored: Restored,
}

impl ShardJob {
    /// Rebuilds the shard's store from its share of the region, keeping the keys routed to it.
    pub fn run(self) -> RestoredShard {
        let (router, count, shard) = (self.router, self.count, self.shard);
        let belongs = |key: &[u8]| SharedCache::route(&router, count, key) == shard;
        let (store, restored) = Store::restore_shared(
            self.store_config,
            self.budget,
            self.page_size,
            self.memory,
            self.now,
            &belongs,
        );
        RestoredShard {
            shard,
            store,
            restored,
        }
    }
}

impl SharedRestore {
    /// The restore of a shared cache over `region`: see `SharedCache::from_region`.
    pub fn new(mut config: CacheConfig, region: Region, now: Timestamp) -> SharedRestore {
        config.hash_seed = region.hash_seed();
        let warm = region.is_warm();
        let count = region.layout().shards;
        let page_size = region.layout().page_size;
        let budget = SharedBudget::new(config.memory_limit);
        let router = SharedCache::router(config.hash_seed);
        let now = unix_secs(now);
        let jobs = region
            .split()
            .into_iter()
            .enumerate()
            .map(|(shard, memory)| ShardJob {
                shard,
                count,
                store_config: config.store_config(),
                budget: Arc::clone(&budget),
                router: router.clone(),
                page_size,
                memory,
                now,
            })
            .collect();
        SharedRestore {
            config,
            budget,
            warm,
            jobs,
        }
    }

    /// The jobs, one per shard (taken: a second call gets none).
    pub fn jobs(&mut self) -> Vec<ShardJob> {
        std::mem::take(&mut self.jobs)
    }

    /// The shared cache over the restored shards.
    ///
    /// # Panics
    /// Unless `shards` holds exactly the results of this restore's jobs.
    pub fn finish(self, mut shards: Vec<RestoredShard>) -> SharedCache {
        shards.sort_by_key(|s| s.shard);
        assert!(
            shards.iter().enumerate().all(|(i, s)| s.shard == i),
            "a restored shard missing or twice"
        );
        // CAS values are unique cache-wide, so every shard continues above the highest of all.
        let max_cas = shards.iter().map(|s| s.restored.max_cas).max().unwrap_or(0);
        let mut total = 0;
        let step = shards.len() as u64;
        let config = self.config;
        let caches = shards
            .into_iter()
            .map(
                |RestoredShard {
                     shard,
                     store,
                     restored,
                 }| {
                    total += restored.items;
                    let mut cache = Cache::over(store, config.clone(), shard as u64 + 1, step);
                    cache.resume(
                        Restored {
                            max_cas,
                            ..restored
                        },
                        self.warm,
                    );
                    cache
                },
            )
            .collect();
        let warm = WarmStart {
            warm: self.warm,
            restored_items: total,
        };
        SharedCache::over(config, caches, self.budget, Some(warm))
    }
}

/// keel's own `stats` lines for a cache over a memory region (memcached has none such).
pub(super) fn write_stats(group: StatGroup, warm: Option<&WarmStart>, sink: &mut dyn StatSink) {
    if let (StatGroup::General, Some(warm)) = (group, warm) {
        sink.stat("warm_start", &u8::from(warm.warm));
        sink.stat("restored_items", &warm.restored_items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Command, Status, StoreMode};
    use crate::service::{Outcome, Service};
    use crate::store::Layout;

    fn set(cache: &mut SharedCache, key: &[u8], value: &[u8], now: Timestamp) -> u64 {
        let command = Command::Store {
            mode: StoreMode::Set,
            key,
            flags: 3,
            exptime: 0,
            cas: 0,
            value,
            quiet: false,
        };
        match cache.execute(&command, now) {
            Outcome::Done { cas } => cas,
            other => panic!("set: {other:?}"),
        }
    }

    fn get(cache: &mut SharedCache, key: &[u8], now: Timestamp) -> Option<(Vec<u8>, u64)> {
        let command = Command::Get {
            key,
            quiet: false,
            with_key: false,
        };
        match cache.execute(&command, now) {
            Outcome::Value { value, cas, flags } => {
                assert_eq!(flags, 3);
                Some((value.to_vec(), cas))
            }
            Outcome::Failed(Status::KeyNotFound) => None,
            other => panic!("get: {other:?}"),
        }
    }

    /// A region of `layout`, leaked (a region is `'static`), holding `bytes` or zeros.
    fn region(layout: Layout, bytes: Option<Vec<u8>>, seed: u64) -> Region {
        let bytes = bytes.unwrap_or_else(|| vec![0; layout.region_len()]);
        let memory: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        Region::open(memory, layout, seed)
            .expect("sized by the layout")
            .0
    }

    /// A new 4-shard cache of 16 MiB over a zeroed region, with its settings and the time.
    fn fresh_shared() -> (CacheConfig, Layout, Timestamp, SharedCache) {
        let config = CacheConfig {
            memory_limit: 16 << 20,
            ..CacheConfig::default()
        };
        let layout = Layout::new(config.memory_limit, config.item_size_max, 4);
        let now = Timestamp::from_secs(1_700_000_000);
        let cache = SharedCache::from_region(config.clone(), region(layout, None, 7), now);
        (config, layout, now, cache)
    }

    #[test]
    fn a_shared_cache_comes_back_whole_in_its_shards() {
        let (config, layout, now, mut cache) = fresh_shared();
        assert_eq!(cache.shard_count(), 4);
        assert_eq!(
            cache.warm_start(),
            Some(WarmStart {
                warm: false,
                restored_items: 0
            })
        );
        let mut max = 0;
        for i in 0..3000u32 {
            let value = format!("value-{i}-{}", "x".repeat((i % 3 * 100) as usize));
            max = max.max(set(
                &mut cache,
                format!("k{i}").as_bytes(),
                value.as_bytes(),
                now,
            ));
        }
        for i in (0..3000u32).step_by(7) {
            let key = format!("k{i}");
            let command = Command::Delete {
                key: key.as_bytes(),
                cas: 0,
                quiet: false,
            };
            assert!(matches!(cache.execute(&command, now), Outcome::Done { .. }));
        }
        assert_eq!(cache.store_stats().evictions, 0, "sized to evict nothing");
        let before: Vec<_> = (0..3000u32)
            .map(|i| get(&mut cache, format!("k{i}").as_bytes(), now))
            .collect();
        let bytes = cache.region_image(&layout);

        // Another seed is offered; the region keeps the one its keys were routed with.
        let mut again = SharedCache::from_region(config, region(layout, Some(bytes), 99), now);
        let kept = 3000 - 3000u64.div_ceil(7);
        assert_eq!(
            again.warm_start(),
            Some(WarmStart {
                warm: true,
                restored_items: kept
            })
        );
        again.check_invariants();
        for (i, want) in before.iter().enumerate() {
            assert_eq!(
                &get(&mut again, format!("k{i}").as_bytes(), now),
                want,
                "k{i}"
            );
        }
        let fresh = set(&mut again, b"fresh", b"v", now);
        assert!(fresh > max, "new CAS {fresh} above the restored {max}");
    }

    #[test]
    fn shard_jobs_run_in_any_order_give_the_same_cache() {
        let (config, layout, now, mut cache) = fresh_shared();
        let big = vec![b'v'; 40_000];
        let mut written = Vec::new();
        for i in 0..500u32 {
            let value = if i % 50 == 0 {
                big.clone()
            } else {
                i.to_le_bytes().to_vec()
            };
            let cas = set(&mut cache, format!("k{i}").as_bytes(), &value, now);
            written.push((value, cas));
        }
        let bytes = cache.region_image(&layout);
        let mut restore = SharedRestore::new(config, region(layout, Some(bytes), 99), now);
        let jobs = restore.jobs();
        assert_eq!(jobs.len(), 4);
        assert!(restore.jobs().is_empty(), "jobs are handed out once");
        let shards = jobs.into_iter().rev().map(ShardJob::run).collect();
        let mut again = restore.finish(shards);
        again.check_invariants();
        assert_eq!(again.warm_start().map(|w| w.restored_items), Some(500));
        for (i, want) in written.into_iter().enumerate() {
            assert_eq!(
                get(&mut again, format!("k{i}").as_bytes(), now),
                Some(want),
                "k{i}"
            );
        }
    }

    #[test]
    fn cas_continues_above_the_maximum_in_the_shards_residue() {
        assert_eq!(next_cas_above(0, 1, 1), 1);
        assert_eq!(next_cas_above(41, 1, 1), 42);
        assert_eq!(next_cas_above(41, 3, 4), 43);
        assert_eq!(next_cas_above(43, 3, 4), 47);
        assert_eq!(next_cas_above(0, 3, 4), 3);
    }
}
