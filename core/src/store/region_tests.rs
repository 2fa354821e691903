//! Crash tests of a store in a memory region, without files: the region's bytes are copied at
//! random points of a random command stream (as `kill -9` would leave them, including in the
//! middle of an item's write, through `item::tear`), a store is rebuilt from the copy, and its
//! contents are checked against a model of the acknowledged writes. A second geometry stores
//! large items (up to ~1 MiB, in chains of blocks) and cuts their chains short too.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use proptest::prelude::*;

use super::blocks;
use super::item;
use super::region::{image, order_stores};
use super::*;

/// Small pages keep the copies small: a test region is 8 pages of 64 KiB (128 for large items).
const PAGE: usize = 64 << 10;
const SEED: u64 = 0x5eed;
const KEYS: u8 = 12;
const START: u32 = 1_000_000;

fn layout() -> Layout {
    Layout {
        memory_limit: 8 * PAGE,
        item_size_max: 1 << 20,
        page_size: PAGE,
        shards: 1,
    }
}

/// Room for four items of ~1 MiB, one more being written, and the small ones.
fn large_layout() -> Layout {
    Layout {
        memory_limit: 128 * PAGE,
        ..layout()
    }
}

fn config(layout: &Layout) -> StoreConfig {
    StoreConfig {
        memory_limit: layout.memory_limit,
        item_size_max: 1 << 20,
        hash_seed: SEED,
        evictions_enabled: true,
    }
}

/// A store over `bytes` (a region's contents), as a restart builds it; whether it was warm.
fn open(bytes: Vec<u8>, now: u32) -> (Store, Restored, bool) {
    open_with(bytes, now, &layout())
}

fn open_with(bytes: Vec<u8>, now: u32, layout: &Layout) -> (Store, Restored, bool) {
    // Each copy is leaked: a region is `'static`. Test regions are half a megabyte (8 MiB with
    // large items, whose test makes fewer copies).
    let memory: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
    let (region, _verdict) = Region::open(memory, *layout, SEED).expect("sized by the layout");
    let warm = region.is_warm();
    let memory = region.split().pop().expect("one shard");
    let (store, restored) = Store::restore_own(config(layout), PAGE, memory, now);
    (store, restored, warm)
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

/// Every version of every item has its own bytes: the CAS, repeated.
fn value(cas: u64, len: usize) -> Vec<u8> {
    cas.to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        key: u8,
        len: usize,
        flags: u32,
        ttl: u32,
    },
    Delete(u8),
    Touch {
        key: u8,
        ttl: u32,
    },
    Flush,
    Tick(u32),
    /// Copy the region now and check a store rebuilt from the copy.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    // Three sizes, three slab classes; always enough pages, so nothing is evicted.
    ops(KEYS, vec![3, 60, 700], 2)
}

/// Small and large values on four keys; copies of the (bigger) region are rarer.
fn large_op() -> impl Strategy<Value = Op> {
    ops(4, LARGE_SIZES.to_vec(), 1)
}

const LARGE_SIZES: [usize; 6] = [3, 700, 16_500, 20_000, 300_000, 1_000_000];

fn ops(keys: u8, lens: Vec<usize>, crashes: u32) -> impl Strategy<Value = Op> {
    let len = prop::sample::select(lens);
    prop_oneof![
        6 => (0..keys, len, prop::sample::select(vec![0u32, 7]), prop::sample::select(vec![0u32, 5, 100]))
            .prop_map(|(key, len, flags, ttl)| Op::Set { key, len, flags, ttl }),
        2 => (0..keys).prop_map(Op::Delete),
        1 => (0..keys, prop::sample::select(vec![0u32, 3, 50])).prop_map(|(key, ttl)| Op::Touch { key, ttl }),
        1 => Just(Op::Flush),
        1 => (1..10u32).prop_map(Op::Tick),
        crashes => Just(Op::Crash),
    ]
}

/// The acknowledged writes.
#[derive(Default)]
struct Model {
    items: HashMap<Vec<u8>, (Vec<u8>, ItemMeta)>,
    flush: Option<u64>,
}

impl Model {
    fn live(&self, key: &[u8], now: u32) -> Option<&(Vec<u8>, ItemMeta)> {
        self.items.get(key).filter(|(_, m)| {
            self.flush.is_none_or(|t| m.cas > t) && (m.exptime == 0 || m.exptime > now)
        })
    }
}

/// Checks a rebuilt store: every live acknowledged item exactly, nothing else; for the key of a
/// write cut short, its old version or the new one.
fn check(store: &mut Store, model: &Model, now: u32, in_flight: Option<(&[u8], &[u8])>) {
    store.check_invariants();
    for k in 0..KEYS {
        let key = key(k);
        let got = store.find(&key, now).ok().map(|id| {
            let item = store.item(id);
            (
                item.value.to_vec(),
                ItemMeta {
                    flags: item.flags,
                    exptime: item.exptime,
                    cas: item.cas,
                },
            )
        });
        let want = model.live(&key, now).cloned();
        if let Some((_, new)) = in_flight.filter(|(k, _)| *k == key.as_slice()) {
            let got_value = got.as_ref().map(|(v, _)| v.as_slice());
            assert!(
                got == want || got_value == Some(new),
                "key {k}: {got:?}, wanted {want:?} or the torn write's value"
            );
        } else {
            assert_eq!(got, want, "key {k} after the restart");
        }
    }
}

/// Panics from the tear hook are the simulated crash: not worth a backtrace on the console.
fn quiet_tears() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<String>().map(String::as_str)
                != Some(item::tear::MESSAGE)
            {
                default(info);
            }
        }));
    });
}

fn run(ops: &[Op], tear: Option<(u8, usize, usize)>) {
    run_with(ops, tear, &layout());
}

fn run_with(ops: &[Op], tear: Option<(u8, usize, usize)>, layout: &Layout) {
    let open = |bytes, now| open_with(bytes, now, layout);
    let (mut store, restored, warm) = open(vec![0; layout.region_len()], START);
    assert!(!warm, "a zeroed region is new");
    assert_eq!(restored.items, 0);
    let mut model = Model::default();
    let mut now = START;
    let mut cas = 0u64;
    for op in ops {
        match *op {
            Op::Set {
                key: k,
                len,
                flags,
                ttl,
            } => {
                cas += 1;
                let meta = ItemMeta {
                    flags,
                    exptime: if ttl == 0 { 0 } else { now + ttl },
                    cas,
                };
                let value = value(cas, len);
                let stored = store.insert(&key(k), meta, &value, now);
                assert!(stored.is_ok(), "set {k}: {stored:?}");
                model.items.insert(key(k), (value, meta));
            }
            Op::Delete(k) => {
                if let Ok(id) = store.find(&key(k), now) {
                    store.remove(id);
                }
                model.items.remove(&key(k));
            }
            Op::Touch { key: k, ttl } => {
                let exptime = if ttl == 0 { 0 } else { now + ttl };
                if let Ok(id) = store.find(&key(k), now) {
                    store.set_exptime(id, exptime);
                    if let Some((_, m)) = model.items.get_mut(&key(k)) {
                        m.exptime = exptime;
                    }
                }
            }
            Op::Flush => {
                store.set_flush_threshold(cas);
                model.flush = Some(cas);
            }
            Op::Tick(secs) => now += secs,
            Op::Crash => {
                let (mut rebuilt, restored, warm) = open(image(&[&store], layout, SEED), now);
                assert!(warm, "a copy of a running store's region is reattached");
                assert!(restored.max_cas <= cas);
                check(&mut rebuilt, &model, now, None);
            }
        }
    }
    assert_eq!(
        store.stats().evictions,
        0,
        "the test sizes memory to evict nothing"
    );
    if let Some((k, len, at)) = tear {
        quiet_tears();
        let meta = ItemMeta {
            flags: 0,
            exptime: 0,
            cas: cas + 1,
        };
        let new = value(cas + 1, len);
        // A large item's chain is what a crash can cut short; its box is on the heap.
        let large = slab::class_for(item::stored_len(key(k).len(), len, 0)).is_none();
        let hook = if large {
            &blocks::tear::AT
        } else {
            &item::tear::AT
        };
        hook.set(Some(at));
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| store.insert(&key(k), meta, &new, now)));
        hook.set(None);
        assert!(result.is_err(), "the tear hook cuts the write short");
        order_stores();
        let (mut rebuilt, _, _) = open(image(&[&store], layout, SEED), now);
        check(&mut rebuilt, &model, now, Some((&key(k), &new)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_crash_anywhere_keeps_every_acknowledged_write(
        ops in prop::collection::vec(op(), 1..60),
        tear in prop::option::of((0..KEYS, prop::sample::select(vec![3usize, 60, 700]), 0..800usize)),
    ) {
        run(&ops, tear);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn a_crash_anywhere_keeps_every_acknowledged_large_write(
        ops in prop::collection::vec(large_op(), 1..30),
        tear in prop::option::of((0..4u8, prop::sample::select(LARGE_SIZES.to_vec()), 0..1_000_000usize)),
    ) {
        run_with(&ops, tear, &large_layout());
    }
}

#[test]
fn a_large_write_cut_anywhere_leaves_the_old_item() {
    for at in [0, 1, 4071, 4072, 4073, 10_000, 299_999, 300_020] {
        let ops = [
            Op::Set {
                key: 1,
                len: 300_000,
                flags: 7,
                ttl: 0,
            },
            Op::Set {
                key: 2,
                len: 20_000,
                flags: 0,
                ttl: 0,
            },
            Op::Delete(2),
        ];
        run_with(&ops, Some((1, 300_000, at)), &large_layout());
    }
}

#[test]
fn a_write_cut_at_every_byte_leaves_the_old_item() {
    for at in 0..120 {
        let ops = [
            Op::Set {
                key: 1,
                len: 60,
                flags: 7,
                ttl: 0,
            },
            Op::Set {
                key: 2,
                len: 60,
                flags: 0,
                ttl: 0,
            },
        ];
        run(&ops, Some((1, 60, at)));
    }
}

/// A region with a few items, and the store that wrote it.
fn written() -> (Store, Vec<u8>) {
    let (mut store, _, _) = open(vec![0; layout().region_len()], START);
    for k in 0..KEYS {
        let meta = ItemMeta {
            flags: 0,
            exptime: 0,
            cas: u64::from(k) + 1,
        };
        let stored = store.insert(&key(k), meta, &value(meta.cas, 40), START);
        assert!(stored.is_ok());
    }
    let bytes = image(&[&store], &layout(), SEED);
    (store, bytes)
}

#[test]
fn a_damaged_item_is_dropped_and_the_others_kept() {
    let (mut store, mut bytes) = written();
    let id = store.find(&key(3), START).expect("stored above");
    let target = store.item(id).value.to_vec();
    // The value's bytes are unique (the CAS repeated): find them in the copy and flip one.
    let at = bytes
        .windows(target.len())
        .position(|w| w == target.as_slice())
        .expect("the value is in the region");
    bytes[at + 5] ^= 0x40;
    let (mut rebuilt, restored, warm) = open(bytes, START);
    assert!(warm);
    assert_eq!(restored.items, u64::from(KEYS) - 1);
    assert!(
        rebuilt.find(&key(3), START).is_err(),
        "the damaged item is not served"
    );
    assert!(rebuilt.find(&key(4), START).is_ok());
    rebuilt.check_invariants();
}

#[test]
fn foreign_changed_and_new_regions_start_cold() {
    let (_, bytes) = written();
    let (_, restored, warm) = open(bytes.clone(), START);
    assert!(warm);
    assert_eq!(restored.items, u64::from(KEYS));

    let mut foreign = bytes.clone();
    foreign[0] ^= 1;
    let memory: &'static mut [u8] = Box::leak(foreign.into_boxed_slice());
    let (region, verdict) = Region::open(memory, layout(), 9).expect("sized");
    assert_eq!(verdict, Err(ColdStart::Foreign));
    assert!(!region.is_warm());
    assert_eq!(region.hash_seed(), 9, "a cold region takes the new seed");
    assert_eq!(region.restorable_pages(), 0);

    let changed = Layout {
        item_size_max: 1 << 19,
        ..layout()
    };
    let memory: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
    let (_, verdict) = Region::open(memory, changed, 9).expect("same size");
    assert_eq!(
        verdict,
        Err(ColdStart::Changed {
            what: "-I (bytes)",
            was: 1 << 20,
            now: 1 << 19
        })
    );

    let memory: &'static mut [u8] = Box::leak(vec![0; 100].into_boxed_slice());
    assert!(Region::open(memory, layout(), 9).is_err(), "wrong size");
}

#[test]
fn garbage_regions_never_panic() {
    // A valid header over random frames and tags: nothing whole can be found, nothing panics.
    let (_, mut bytes) = written();
    let mut x = 0x1234_5678_9abc_def0u64;
    for b in bytes[4096..].iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let (rebuilt, _, warm) = open(bytes, START);
    assert!(warm);
    rebuilt.check_invariants();
}

/// With `-e` an item costs what it costs without (the bound the warm-restart issue sets is 37
/// bytes for 16-byte keys and 32-byte values): its chunk is in a region page instead of a heap
/// page, and the region adds only its header and a tag per page.
#[test]
fn per_item_overhead_in_a_region_is_at_most_37_bytes() {
    let layout = Layout::new(128 << 20, 1 << 20, 1);
    let memory: &'static mut [u8] = Box::leak(vec![0u8; layout.region_len()].into_boxed_slice());
    let (region, _verdict) = Region::open(memory, layout, SEED).expect("sized by the layout");
    let shard = region.split().pop().expect("one shard");
    let (mut s, _restored) = Store::restore_own(config(&layout), layout.page_size, shard, START);
    let n = 1_000_000;
    let value = [b'v'; 32];
    let key = |i: usize| format!("key-{i:012}");
    for i in 0..n {
        let meta = ItemMeta {
            flags: 0,
            exptime: 0,
            cas: i as u64 + 1,
        };
        assert!(s.insert(key(i).as_bytes(), meta, &value, START).is_ok());
    }
    assert_eq!(s.stats().curr_items, n as u64);
    assert_eq!(s.stats().evictions, 0);
    let metadata = layout.region_len() - layout.frames() * layout.page_size;
    let total = s.mem.slabs.pages_in_use() * layout.page_size + metadata + s.index.capacity() * 4;
    let overhead = total as f64 / n as f64 - 48.0;
    println!("per-item overhead in a region: {overhead:.2} bytes");
    assert!(
        overhead <= 37.0,
        "per-item overhead {overhead:.2} > 37 bytes"
    );
}
