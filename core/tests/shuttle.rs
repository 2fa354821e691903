//! Model checking of the structures several workers share, with shuttle: it runs each scenario
//! under many randomly chosen thread interleavings (and, with the probabilistic concurrency testing
//! scheduler, the bug-depth-bounded ones), so a lost update, a limit overshot or a deadlock shows
//! up as a failure with a replayable schedule.
//!
//! Built only with `--features shuttle`, which swaps the core's std primitives for shuttle's
//! (`src/sync.rs`); the test command runs it as
//! `cargo test -p keel-core --features shuttle --test shuttle` (bounded: a few thousand schedules).
#![cfg(feature = "shuttle")]

use keel_core::protocol::{Command, CounterMode};
use keel_core::store::SharedBudget;
use keel_core::{CacheConfig, Outcome, Service, SharedCache, Timestamp, WorkerGroup};
use shuttle::thread;

const SCHEDULES: usize = 2_000;
const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn incr(key: &[u8]) -> Command<'_> {
    Command::Counter {
        mode: CounterMode::Incr,
        key,
        delta: 1,
        initial: 0,
        exptime: 0,
        cas: 0,
        quiet: false,
    }
}

/// Racing reservations never take more than the limit, and every byte comes back.
#[test]
fn budget_reservations_never_exceed_the_limit() {
    shuttle::check_random(
        || {
            let budget = SharedBudget::new(3 * 64);
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let budget = budget.clone();
                    thread::spawn(move || {
                        let mut held = 0;
                        for _ in 0..2 {
                            if budget.try_reserve(64) {
                                held += 64;
                                assert!(budget.used() <= 3 * 64, "over the limit");
                            }
                        }
                        budget.release(held);
                        held
                    })
                })
                .collect();
            let held: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            assert!(held >= 3 * 64, "reservations failed with room left: {held}");
            assert_eq!(budget.used(), 0);
        },
        SCHEDULES,
    );
}

/// `-c` is one limit over every worker: of three racing accepts with room for two, exactly two win.
#[test]
fn the_connection_limit_holds_across_workers() {
    use keel_core::{Config, Server};
    shuttle::check_random(
        || {
            let group = WorkerGroup::new(3);
            let config = Config {
                max_connections: 2,
                ..Config::default()
            };
            let threads: Vec<_> = (0..3)
                .map(|w| {
                    let (group, config) = (group.clone(), config.clone());
                    thread::spawn(move || {
                        let cache = keel_core::Cache::new(CacheConfig::default());
                        let mut server = Server::in_group(config, cache, NOW, group, w);
                        server.accept(NOW).is_ok()
                    })
                })
                .collect();
            let accepted = threads
                .into_iter()
                .filter_map(|t| t.join().unwrap().then_some(()))
                .count();
            assert_eq!(accepted, 2);
            assert_eq!(group.totals().rejected_connections, 1);
            assert_eq!(group.totals().total_connections, 2);
        },
        SCHEDULES,
    );
}

/// INCR through two workers' handles is atomic: no increment is lost.
#[test]
fn increments_through_two_handles_add_up() {
    shuttle::check_random(
        || {
            let mut cache = SharedCache::new(CacheConfig::default(), 4);
            cache.execute(&Command::set(b"n", b"0"), NOW);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut handle = cache.clone();
                    thread::spawn(move || {
                        for _ in 0..3 {
                            let outcome = handle.execute(&incr(b"n"), NOW);
                            assert!(matches!(outcome, Outcome::Counter { .. }), "{outcome:?}");
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            match cache.execute(&incr(b"n"), NOW) {
                Outcome::Counter { value, .. } => assert_eq!(value, 7),
                other => panic!("{other:?}"),
            }
            cache.check_invariants();
        },
        SCHEDULES,
    );
}

/// Shards that must take memory from each other (`try_lock` while holding their own lock) never
/// deadlock, keep the limit, and keep every shard's accounting right.
#[test]
fn shards_taking_memory_from_each_other_do_not_deadlock() {
    shuttle::check_random(
        || {
            // 1 MiB over 4 shards of 256 KiB pages: room for 4 pages in all.
            let config = CacheConfig {
                memory_limit: 1 << 20,
                ..CacheConfig::default()
            };
            let cache = SharedCache::new(config, 4);
            let threads: Vec<_> = (0..3)
                .map(|t| {
                    let mut handle = cache.clone();
                    thread::spawn(move || {
                        // Different value sizes: different classes, so each store wants pages.
                        let value = vec![b'x'; 100 + 3_000 * t];
                        for i in 0..4 {
                            let key = format!("t{t}k{i}");
                            let outcome =
                                handle.execute(&Command::set(key.as_bytes(), &value), NOW);
                            assert!(
                                matches!(outcome, Outcome::Done { .. } | Outcome::Failed(_)),
                                "{outcome:?}"
                            );
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert!(cache.budget().used() <= 1 << 20);
            // Twelve items of three classes over four shards want more pages than the four
            // there are: some shard evicted (its own items, or another's).
            assert!(cache.store_stats().evictions > 0);
            cache.check_invariants();
        },
        SCHEDULES / 4,
    );
}

/// `stats reset` on one worker while another counts: the totals never go below zero and the
/// counts after the reset are exact.
#[test]
fn stats_reset_races_with_counting() {
    use keel_core::{Config, Server};
    shuttle::check_random(
        || {
            let group = WorkerGroup::new(2);
            let counting = {
                let group = group.clone();
                thread::spawn(move || {
                    let cache = keel_core::Cache::new(CacheConfig::default());
                    let mut server = Server::in_group(Config::default(), cache, NOW, group, 0);
                    for _ in 0..3 {
                        let id = server.accept(NOW).unwrap();
                        server.handle_input(id, NOW, b"mn\r\n");
                    }
                })
            };
            let resetting = {
                let group = group.clone();
                thread::spawn(move || {
                    let cache = keel_core::Cache::new(CacheConfig::default());
                    let mut server = Server::in_group(Config::default(), cache, NOW, group, 1);
                    let id = server.accept(NOW).unwrap();
                    server.handle_input(id, NOW, b"stats reset\r\n");
                })
            };
            counting.join().unwrap();
            resetting.join().unwrap();
            let totals = group.totals();
            assert_eq!(totals.curr_connections, 4, "gauges survive a reset");
            assert!(totals.total_connections <= 4);
            assert!(totals.bytes_read <= 3 * 4 + 13);
        },
        SCHEDULES,
    );
}
