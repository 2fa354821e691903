//! Behaviour tests of the whole store: round trips, limits, expiry, eviction, a model-based
//! property test and the per-item memory overhead.

use std::collections::HashMap;

use proptest::prelude::*;

use super::slab::{CLASS_SIZES, PAGE_SIZE, class_for};
use super::*;

const MIB: usize = 1 << 20;

fn store(memory_limit: usize) -> Store {
    Store::new(StoreConfig {
        memory_limit,
        item_size_max: MIB,
        hash_seed: 0x5eed,
        evictions_enabled: true,
    })
}

fn meta(cas: u64) -> ItemMeta {
    ItemMeta {
        flags: 0,
        exptime: 0,
        cas,
    }
}

fn value_of(s: &mut Store, key: &[u8], now: u32) -> Option<Vec<u8>> {
    let id = s.find(key, now).ok()?;
    Some(s.item(id).value.to_vec())
}

/// 16-byte key for item number `i`.
fn key16(i: usize) -> [u8; 16] {
    let mut k = [b'k'; 16];
    k[4..].copy_from_slice(format!("{i:012}").as_bytes());
    k
}

/// Items with 16-byte keys and 32-byte values land in the 72-byte class.
const PER_PAGE_72: usize = PAGE_SIZE / 72;

fn fill_72(s: &mut Store, range: std::ops::Range<usize>) {
    for i in range {
        let r = s.insert(&key16(i), meta(i as u64 + 1), &[7; 32], 0);
        assert!(r.is_ok(), "insert {i}: {r:?}");
    }
}

#[test]
fn round_trip_overwrite_remove() {
    let mut s = store(64 * MIB);
    let m = ItemMeta {
        flags: 0,
        exptime: 0,
        cas: 1,
    };
    let id = s.insert(b"hello", m, b"world", 100);
    assert!(id.is_ok());
    let found = s.find(b"hello", 100);
    assert_eq!(found, id.map_err(|_| Miss::Absent));
    let Ok(id) = found else { return };
    let r = s.item(id);
    assert_eq!(
        (r.key, r.value, r.flags, r.exptime, r.cas),
        (&b"hello"[..], &b"world"[..], 0, 0, 1)
    );
    let st = s.stats();
    assert_eq!((st.curr_items, st.total_items, st.bytes), (1, 1, 69));
    assert_eq!(st.pages, 1);
    assert_eq!(st.memory_used, MIB as u64);

    let m2 = ItemMeta {
        flags: 5,
        exptime: 0,
        cas: 2,
    };
    assert!(s.insert(b"hello", m2, b"there!", 100).is_ok());
    let Ok(id) = s.find(b"hello", 100) else {
        panic!("overwritten item missing")
    };
    let r = s.item(id);
    assert_eq!((r.value, r.flags, r.cas), (&b"there!"[..], 5, 2));
    let st = s.stats();
    assert_eq!((st.curr_items, st.total_items), (1, 2));
    assert_eq!(st.bytes, Store::item_size(5, 6, 5) as u64);
    assert_eq!(
        s.insert(b"hello", m2, b"again!", 100),
        Ok(id),
        "an overwrite of the same chunk class reuses the chunk"
    );

    s.remove(id);
    assert_eq!(s.find(b"hello", 100), Err(Miss::Absent));
    let st = s.stats();
    assert_eq!((st.curr_items, st.total_items, st.bytes), (0, 3, 0));
    s.check_invariants();
}

#[test]
fn overwrite_across_small_and_large() {
    let mut s = store(64 * MIB);
    let big = vec![3u8; 100_000];
    assert!(s.insert(b"k", meta(1), b"small", 0).is_ok());
    assert!(s.insert(b"k", meta(2), &big, 0).is_ok());
    assert_eq!(value_of(&mut s, b"k", 0), Some(big.clone()));
    assert_eq!(
        s.stats().memory_used,
        (MIB + item::HEADER + 1 + 100_000) as u64
    );
    assert!(s.insert(b"k", meta(3), b"smalls", 0).is_ok());
    assert_eq!(value_of(&mut s, b"k", 0), Some(b"smalls".to_vec()));
    assert_eq!(s.stats().memory_used, MIB as u64, "the large box was freed");
    assert_eq!(s.stats().curr_items, 1);
    s.check_invariants();
}

#[test]
fn flags_are_stored_only_when_nonzero() {
    assert_eq!(Store::item_size(3, 10, 0), 48 + 3 + 1 + 10 + 2 + 8);
    assert_eq!(Store::item_size(3, 10, 7), 48 + 3 + 1 + 4 + 10 + 2 + 8);
    assert_eq!(item::stored_len(3, 10, 0), item::HEADER + 3 + 10);
    assert_eq!(item::stored_len(3, 10, 7), item::HEADER + 4 + 3 + 10);
    // HEADER + 1 + 7 = 32 fits the smallest class; with flags it spills into the next.
    assert_eq!(class_for(item::stored_len(1, 7, 0)), Some(0));
    assert_eq!(class_for(item::stored_len(1, 7, 1)), Some(1));

    let mut s = store(64 * MIB);
    let with = ItemMeta {
        flags: u32::MAX,
        exptime: 0,
        cas: 1,
    };
    assert!(s.insert(b"f", with, b"v", 0).is_ok());
    assert!(s.insert(b"g", meta(2), b"v", 0).is_ok());
    let Ok(id) = s.find(b"f", 0) else {
        panic!("f missing")
    };
    assert_eq!(s.item(id).flags, u32::MAX);
    let Ok(id) = s.find(b"g", 0) else {
        panic!("g missing")
    };
    assert_eq!(s.item(id).flags, 0);
    assert_eq!(
        s.stats().bytes,
        (Store::item_size(1, 1, 1) + Store::item_size(1, 1, 0)) as u64
    );
    s.check_invariants();
}

#[test]
fn key_lengths_one_and_250() {
    let mut s = store(64 * MIB);
    let long = [b'x'; 250];
    assert!(s.insert(b"a", meta(1), b"one", 0).is_ok());
    assert!(s.insert(&long, meta(2), b"long", 0).is_ok());
    assert_eq!(value_of(&mut s, b"a", 0), Some(b"one".to_vec()));
    assert_eq!(value_of(&mut s, &long, 0), Some(b"long".to_vec()));
    assert_eq!(s.find(&long[..249], 0), Err(Miss::Absent));
    assert_eq!(s.find(b"", 0), Err(Miss::Absent));
    s.check_invariants();
}

#[test]
#[should_panic(expected = "outside 1..=250")]
fn key_of_251_bytes_is_a_caller_bug() {
    let mut s = store(64 * MIB);
    let _ = s.insert(&[b'x'; 251], meta(1), b"", 0);
}

#[test]
fn value_sizes_up_to_the_limit() {
    let mut s = store(64 * MIB);
    // PROTOCOL.md §12: 1-byte key, flags 0, item_size_max 1 MiB: the largest value is 1048516.
    let max = 1_048_516;
    assert!(s.fits(1, max, 0));
    assert!(!s.fits(1, max + 1, 0));
    assert!(!s.fits(1, max, 1), "flags cost 4 bytes");
    assert!(s.fits(1, max - 4, 1));

    assert!(s.insert(b"z", meta(1), b"", 0).is_ok());
    assert_eq!(value_of(&mut s, b"z", 0), Some(Vec::new()));
    assert!(s.insert(b"o", meta(2), b"1", 0).is_ok());
    assert_eq!(value_of(&mut s, b"o", 0), Some(b"1".to_vec()));

    let big = vec![9u8; max];
    assert!(s.insert(b"m", meta(3), &big, 0).is_ok());
    assert_eq!(value_of(&mut s, b"m", 0).map(|v| v.len()), Some(max));
    let before = s.stats();
    let too_big = vec![1u8; max + 1];
    assert_eq!(
        s.insert(b"m", meta(4), &too_big, 0),
        Err(StoreError::TooLarge)
    );
    assert_eq!(value_of(&mut s, b"m", 0), Some(big), "old item kept");
    assert_eq!(s.stats().total_items, before.total_items);
    s.check_invariants();
}

#[test]
fn out_of_memory_leaves_the_old_item() {
    let mut s = store(512 * 1024);
    // No 1 MiB page fits under a 512 KiB limit.
    assert_eq!(
        s.insert(b"small", meta(1), b"v", 0),
        Err(StoreError::OutOfMemory)
    );
    assert!(s.insert(b"big", meta(2), &[1; 20_000], 0).is_ok());
    assert_eq!(
        s.insert(b"big", meta(3), &[2; 600_000], 0),
        Err(StoreError::OutOfMemory)
    );
    assert_eq!(value_of(&mut s, b"big", 0), Some(vec![1; 20_000]));
    s.check_invariants();
}

#[test]
fn expiry_relative_to_now() {
    let mut s = store(64 * MIB);
    let at = |exptime, cas| ItemMeta {
        flags: 0,
        exptime,
        cas,
    };
    assert!(s.insert(b"past", at(999, 1), b"v", 1000).is_ok());
    assert!(s.insert(b"now", at(1000, 2), b"v", 1000).is_ok());
    assert!(s.insert(b"future", at(1001, 3), b"v", 1000).is_ok());
    assert!(s.insert(b"never", at(0, 4), b"v", 1000).is_ok());
    assert_eq!(s.find(b"past", 1000), Err(Miss::Expired));
    assert_eq!(s.find(b"now", 1000), Err(Miss::Expired));
    assert_eq!(
        s.find(b"past", 1000),
        Err(Miss::Absent),
        "removed on the first meeting"
    );
    let Ok(id) = s.find(b"future", 1000) else {
        panic!("future item missing")
    };
    s.record_read(id, 1000);
    assert_eq!(s.find(b"future", 1001), Err(Miss::Expired));
    assert!(s.find(b"never", u32::MAX).is_ok());
    let st = s.stats();
    assert_eq!(st.reclaimed, 3);
    assert_eq!(st.expired_unfetched, 2, "the fetched one does not count");
    assert_eq!(st.curr_items, 1);

    // set_exptime moves the deadline both ways.
    let Ok(id) = s.find(b"never", 1000) else {
        panic!("never missing")
    };
    s.set_exptime(id, 1500);
    assert!(s.find(b"never", 1499).is_ok());
    assert_eq!(s.find(b"never", 1500), Err(Miss::Expired));
    s.check_invariants();
}

#[test]
fn read_is_find_record_read_and_item_in_one() {
    let mut s = store(64 * MIB);
    let item = ItemMeta {
        flags: 7,
        exptime: 1001,
        cas: 9,
    };
    assert!(s.insert(b"k", item, b"value", 1000).is_ok());
    assert!(s.insert(b"unread", item, b"v", 1000).is_ok());
    assert_eq!(
        s.read(b"k", 1000),
        Ok(Hit {
            value: b"value",
            flags: 7,
            cas: 9,
            // 24-byte header, 1-byte key, 5-byte value, 4 bytes of flags: 34 B, the 40 B class.
            class_id: 2
        })
    );
    let Ok(id) = s.peek(b"k", 1000) else {
        panic!("k missing")
    };
    assert!(s.item(id).fetched, "a read marks the item fetched");
    assert_eq!(s.read(b"absent", 1000), Err(Miss::Absent));
    assert_eq!(s.read(b"k", 1001), Err(Miss::Expired));
    assert_eq!(s.read(b"unread", 1001), Err(Miss::Expired));
    assert_eq!(
        s.read(b"k", 1001),
        Err(Miss::Absent),
        "removed when met dead"
    );
    let st = s.stats();
    assert_eq!(
        (st.reclaimed, st.expired_unfetched, st.curr_items),
        (2, 1, 0)
    );
    s.check_invariants();
}

#[test]
fn replacing_a_dead_item_reclaims_it() {
    let mut s = store(64 * MIB);
    assert!(
        s.insert(
            b"k",
            ItemMeta {
                flags: 0,
                exptime: 10,
                cas: 1
            },
            b"old",
            5
        )
        .is_ok()
    );
    assert!(s.insert(b"k", meta(2), b"new", 20).is_ok());
    assert_eq!(value_of(&mut s, b"k", 20), Some(b"new".to_vec()));
    let st = s.stats();
    assert_eq!(
        (st.reclaimed, st.expired_unfetched, st.curr_items),
        (1, 1, 1)
    );
}

#[test]
fn flush_threshold() {
    let mut s = store(64 * MIB);
    assert!(s.insert(b"zero", meta(0), b"v", 0).is_ok());
    assert!(
        s.find(b"zero", 0).is_ok(),
        "cas 0 lives until the first flush"
    );
    assert!(s.insert(b"a", meta(10), b"v", 0).is_ok());
    assert!(s.insert(b"b", meta(11), b"v", 0).is_ok());
    s.set_flush_threshold(10);
    s.set_flush_threshold(3); // never lowers
    assert_eq!(s.find(b"a", 0), Err(Miss::Flushed));
    assert_eq!(s.find(b"zero", 0), Err(Miss::Flushed));
    assert!(s.find(b"b", 0).is_ok());
    assert!(s.insert(b"c", meta(12), b"v", 0).is_ok());
    assert!(s.find(b"c", 0).is_ok());
    // Flushed beats expired, and flushed items are not "expired unfetched".
    assert!(
        s.insert(
            b"d",
            ItemMeta {
                flags: 0,
                exptime: 5,
                cas: 13
            },
            b"v",
            0
        )
        .is_ok()
    );
    s.set_flush_threshold(13);
    assert_eq!(s.find(b"d", 100), Err(Miss::Flushed));
    let st = s.stats();
    assert_eq!(
        (st.reclaimed, st.expired_unfetched, st.curr_items),
        (3, 0, 2)
    );
    s.check_invariants();
}

#[test]
fn eviction_keeps_memory_under_a_tiny_limit() {
    let mut s = store(2 * MIB);
    let n = 100_000;
    for i in 0..n {
        assert!(s.insert(&key16(i), meta(i as u64 + 1), &[1; 32], 0).is_ok());
        assert!(s.stats().memory_used <= 2 * MIB as u64);
        if i % 20_000 == 0 {
            s.check_invariants();
        }
    }
    s.check_invariants();
    let st = s.stats();
    assert_eq!(st.curr_items, 2 * PER_PAGE_72 as u64);
    assert_eq!(st.evictions, n as u64 - st.curr_items);
    assert_eq!(st.evicted_unfetched, st.evictions);
    assert_eq!(st.reclaimed, 0);
    assert_eq!(st.pages, 2);
    // FIFO without accesses: the newest items are the ones left.
    assert!(s.find(&key16(n - 1), 0).is_ok());
    assert_eq!(s.find(&key16(0), 0), Err(Miss::Absent));
}

#[test]
fn clock_gives_recently_found_items_a_second_chance() {
    let mut s = store(2 * MIB);
    let full = 2 * PER_PAGE_72;
    fill_72(&mut s, 0..full);
    assert_eq!(s.stats().evictions, 0);
    for i in 0..1000 {
        let Ok(id) = s.find(&key16(i), 0) else {
            panic!("{i} missing")
        };
        if i % 2 == 0 {
            s.record_read(id, 0);
        }
    }
    fill_72(&mut s, full..full + 5000);
    let st = s.stats();
    assert_eq!(st.evictions, 5000);
    assert_eq!(
        st.evicted_unfetched, 5000,
        "the fetched items were all spared"
    );
    for i in 0..1000 {
        assert!(
            s.find(&key16(i), 0).is_ok(),
            "recently found item {i} was evicted"
        );
    }
    for i in 1000..6000 {
        assert_eq!(
            s.find(&key16(i), 0),
            Err(Miss::Absent),
            "untouched item {i} survived"
        );
    }
    for i in 6000..full + 5000 {
        assert!(s.find(&key16(i), 0).is_ok(), "item {i} evicted out of turn");
    }
    s.check_invariants();
}

#[test]
fn dead_victims_count_as_reclaimed() {
    let mut s = store(2 * MIB);
    let full = 2 * PER_PAGE_72;
    for i in 0..full {
        let m = ItemMeta {
            flags: 0,
            exptime: 500,
            cas: i as u64 + 1,
        };
        assert!(s.insert(&key16(i), m, &[0; 32], 100).is_ok());
    }
    // An accessed bit does not protect a dead item.
    assert!(s.find(&key16(0), 100).is_ok());
    for i in full..full + 100 {
        assert!(
            s.insert(&key16(i), meta(i as u64 + 1), &[0; 32], 1000)
                .is_ok()
        );
    }
    let st = s.stats();
    assert_eq!(
        (st.evictions, st.reclaimed, st.expired_unfetched),
        (0, 100, 100)
    );
    assert_eq!(s.find(&key16(0), 1000), Err(Miss::Absent));
    s.check_invariants();
}

#[test]
fn a_class_without_pages_steals_one() {
    let mut s = store(2 * MIB);
    let full = 2 * PER_PAGE_72;
    fill_72(&mut s, 0..full);
    let v = vec![5u8; 1000];
    assert!(s.insert(b"another class", meta(1), &v, 0).is_ok());
    let st = s.stats();
    assert_eq!(st.pages, 2);
    assert_eq!(st.memory_used, 2 * MIB as u64);
    // The page under the 72-byte class's hand (its first) went, with every item on it.
    assert_eq!(st.evictions, PER_PAGE_72 as u64);
    assert_eq!(value_of(&mut s, b"another class", 0), Some(v));
    assert_eq!(s.find(&key16(0), 0), Err(Miss::Absent));
    assert!(s.find(&key16(full - 1), 0).is_ok());
    s.check_invariants();
    // The 72-byte class now evicts within its remaining page.
    fill_72(&mut s, full..full + 10);
    assert_eq!(s.stats().pages, 2);
    assert!(s.find(b"another class", 0).is_ok());
    s.check_invariants();
}

#[test]
fn large_items_take_pages_then_evict_each_other() {
    let mut s = store(2 * MIB);
    fill_72(&mut s, 0..2 * PER_PAGE_72);
    let big = |i: u8| vec![i; 100 * 1024];
    assert!(s.insert(b"L0", meta(1), &big(0), 0).is_ok());
    let st = s.stats();
    assert_eq!(st.pages, 1, "a page was released for the large item");
    assert_eq!(st.evictions, PER_PAGE_72 as u64);
    assert_eq!(st.memory_used, (MIB + item::HEADER + 2 + 100 * 1024) as u64);
    for i in 1..10u8 {
        assert!(
            s.insert(format!("L{i}").as_bytes(), meta(1), &big(i), 0)
                .is_ok()
        );
    }
    assert_eq!(
        s.stats().evictions,
        PER_PAGE_72 as u64,
        "ten fit in the released page"
    );
    // The eleventh fits by evicting the oldest large item, not another page.
    assert!(s.insert(b"L10", meta(1), &big(10), 0).is_ok());
    let st = s.stats();
    assert_eq!(st.pages, 1);
    assert_eq!(st.evictions, PER_PAGE_72 as u64 + 1);
    assert_eq!(s.find(b"L0", 0), Err(Miss::Absent));
    assert_eq!(value_of(&mut s, b"L10", 0), Some(big(10)));
    assert!(st.memory_used <= 2 * MIB as u64);
    s.check_invariants();
}

#[test]
fn small_items_evict_large_ones_for_a_page() {
    let mut s = store(2 * MIB);
    let big = vec![1u8; 100 * 1024];
    for i in 0..20u8 {
        assert!(s.insert(&[b'L', i], meta(1), &big, 0).is_ok());
    }
    assert_eq!(s.stats().evictions, 0);
    assert!(s.insert(b"small", meta(2), b"v", 0).is_ok());
    let st = s.stats();
    assert_eq!(st.pages, 1);
    // 20 * 102,420 bytes left 48,752 free; ten more had to go to make 1 MiB.
    assert_eq!(st.evictions, 10);
    assert_eq!(st.curr_items, 11);
    assert!(s.find(b"small", 0).is_ok());
    assert_eq!(s.find(&[b'L', 0], 0), Err(Miss::Absent));
    assert!(s.find(&[b'L', 19], 0).is_ok());
    s.check_invariants();
}

#[test]
fn index_survives_thousands_of_keys_and_random_deletes() {
    let mut s = store(256 * MIB);
    let n = 30_000;
    let key = |i: usize| format!("key:{i}").into_bytes();
    for i in 0..n {
        assert!(
            s.insert(&key(i), meta(i as u64 + 1), &i.to_le_bytes(), 0)
                .is_ok()
        );
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = 0x1234_5678_9abc_def0u64;
    for i in (1..n).rev() {
        // xorshift64: fixed seed, repeatable.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        order.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let (gone, kept) = order.split_at(n / 2);
    for &i in gone {
        let Ok(id) = s.find(&key(i), 0) else {
            panic!("{i} missing")
        };
        s.remove(id);
    }
    s.check_invariants();
    for &i in kept {
        assert_eq!(value_of(&mut s, &key(i), 0), Some(i.to_le_bytes().to_vec()));
    }
    for &i in gone {
        assert_eq!(s.find(&key(i), 0), Err(Miss::Absent));
    }
    assert_eq!(s.stats().curr_items, (n / 2) as u64);
}

#[test]
fn per_item_overhead_is_at_most_35_bytes() {
    let mut s = store(1 << 30);
    let n = 1_000_000;
    let value = [b'v'; 32];
    for i in 0..n {
        let r = s.insert(&key16(i), meta(i as u64 + 1), &value, 0);
        assert!(r.is_ok());
    }
    for i in (0..n).step_by(9973) {
        assert_eq!(value_of(&mut s, &key16(i), 0), Some(value.to_vec()));
    }
    let st = s.stats();
    assert_eq!(st.curr_items, n as u64);
    assert_eq!(st.evictions, 0);
    let total =
        s.mem.slabs.pages_in_use() * PAGE_SIZE + s.index.capacity() * 4 + s.mem.large.bytes();
    let overhead = total as f64 / n as f64 - 48.0;
    println!(
        "per-item overhead: {overhead:.2} bytes ({} pages, {} index slots, chunk {} bytes)",
        st.pages,
        s.index.capacity(),
        CLASS_SIZES[usize::from(class_for(item::HEADER + 48).unwrap_or(0))]
    );
    assert!(
        overhead <= 35.0,
        "per-item overhead {overhead:.2} > 35 bytes"
    );
}

/// The reference the property test compares against: a map with the same lazy removal.
#[derive(Default)]
struct Model {
    items: HashMap<Vec<u8>, (Vec<u8>, ItemMeta)>,
    flush: Option<u64>,
}

impl Model {
    fn find(&mut self, key: &[u8], now: u32) -> Result<(Vec<u8>, ItemMeta), Miss> {
        let Some((value, m)) = self.items.get(key).cloned() else {
            return Err(Miss::Absent);
        };
        let miss = if self.flush.is_some_and(|t| m.cas <= t) {
            Miss::Flushed
        } else if m.exptime != 0 && m.exptime <= now {
            Miss::Expired
        } else {
            return Ok((value, m));
        };
        self.items.remove(key);
        Err(miss)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: u8,
        len: usize,
        flags: u32,
        exptime: u32,
    },
    Find(u8),
    Remove(u8),
    Touch {
        key: u8,
        exptime: u32,
    },
    Flush,
    Tick(u32),
}

fn op() -> impl Strategy<Value = Op> {
    // Small classes, both sides of the slab/large border (16,384 stored bytes), large items.
    let len = prop_oneof![4 => 0usize..300, 1 => 16_300usize..16_400, 1 => 20_000usize..40_000];
    let exptime = prop_oneof![2 => Just(0u32), 3 => 1000u32..1030];
    prop_oneof![
        4 => (0u8..12, len, prop_oneof![Just(0u32), any::<u32>()], exptime.clone())
            .prop_map(|(key, len, flags, exptime)| Op::Insert { key, len, flags, exptime }),
        4 => (0u8..12).prop_map(Op::Find),
        1 => (0u8..12).prop_map(Op::Remove),
        1 => (0u8..12, exptime).prop_map(|(key, exptime)| Op::Touch { key, exptime }),
        1 => Just(Op::Flush),
        1 => (0u32..4).prop_map(Op::Tick),
    ]
}

fn model_key(k: u8) -> Vec<u8> {
    // Key 11 is 250 bytes long: the longest allowed.
    if k == 11 {
        vec![b'x'; 250]
    } else {
        format!("key{k}").into_bytes()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn matches_a_hashmap_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut s = store(256 * MIB);
        let mut model = Model::default();
        let mut now = 1000u32;
        let mut cas = 0u64;
        let mut inserts = 0u64;
        for op in ops {
            match op {
                Op::Insert { key, len, flags, exptime } => {
                    cas += 1;
                    let m = ItemMeta { flags, exptime, cas };
                    let value: Vec<u8> = (0..len).map(|i| (i as u8) ^ key).collect();
                    let k = model_key(key);
                    prop_assert!(s.insert(&k, m, &value, now).is_ok());
                    model.items.insert(k, (value, m));
                    inserts += 1;
                }
                Op::Find(key) => {
                    let k = model_key(key);
                    let got = s.find(&k, now).map(|id| {
                        let r = s.item(id);
                        (r.value.to_vec(), ItemMeta { flags: r.flags, exptime: r.exptime, cas: r.cas })
                    });
                    prop_assert_eq!(got, model.find(&k, now));
                }
                Op::Remove(key) => {
                    let k = model_key(key);
                    let got = s.find(&k, now);
                    prop_assert_eq!(got.is_ok(), model.find(&k, now).is_ok());
                    if let Ok(id) = got {
                        s.remove(id);
                        model.items.remove(&k);
                    }
                }
                Op::Touch { key, exptime } => {
                    let k = model_key(key);
                    let got = s.find(&k, now);
                    prop_assert_eq!(got.is_ok(), model.find(&k, now).is_ok());
                    if let Ok(id) = got {
                        s.set_exptime(id, exptime);
                        if let Some((_, m)) = model.items.get_mut(&k) {
                            m.exptime = exptime;
                        }
                    }
                }
                Op::Flush => {
                    s.set_flush_threshold(cas);
                    model.flush = Some(cas);
                }
                Op::Tick(d) => now += d,
            }
            s.check_invariants();
            let st = s.stats();
            prop_assert_eq!(st.curr_items, model.items.len() as u64);
            prop_assert_eq!(st.total_items, inserts);
            prop_assert_eq!(st.evictions, 0);
            let bytes: usize = model.items.iter()
                .map(|(k, (v, m))| Store::item_size(k.len(), v.len(), m.flags))
                .sum();
            prop_assert_eq!(st.bytes, bytes as u64);
        }
    }
}

#[test]
fn walk_items_resumes_filters_by_class_and_skips_the_dead() {
    let mut s = store(64 * MIB);
    let meta = |exptime| ItemMeta {
        flags: 0,
        exptime,
        cas: 1,
    };
    for i in 0..1000 {
        assert!(
            s.insert(format!("k{i}").as_bytes(), meta(0), b"v", 1000)
                .is_ok()
        );
    }
    assert!(s.insert(b"dead", meta(1001), b"v", 1000).is_ok());
    assert!(s.insert(b"big", meta(0), &[7; 20_000], 1000).is_ok());
    let walk = |classes: u64, max: usize| {
        let mut keys = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            calls += 1;
            let next = s.walk_items(classes, cursor, max, 2000, &mut |item, class| {
                keys.push((String::from_utf8_lossy(item.key).into_owned(), class));
            });
            match next {
                Some(next) => cursor = next,
                None => return (keys, calls),
            }
        }
    };
    let (all, calls) = walk(u64::MAX, 100);
    assert_eq!(
        all.len(),
        1001,
        "every live item once, the expired one skipped"
    );
    assert!(calls >= 10, "resumed in batches: {calls}");
    assert!(all.contains(&("big".to_owned(), LARGE_CLASS_ID)));
    let (large, _) = walk(1 << LARGE_CLASS_ID, 100);
    assert_eq!(large, [("big".to_owned(), LARGE_CLASS_ID)]);
    let small_class = Store::class_id_for(2, 1, 0);
    let (small, _) = walk(1 << small_class, 7);
    assert!(small.iter().all(|(_, class)| *class == small_class));
    assert_eq!(
        small.len(),
        all.iter().filter(|(_, c)| *c == small_class).count()
    );
    let reports = s.class_reports(2000);
    let numbers: u64 = reports.iter().map(|r| r.items.number).sum();
    assert_eq!(
        numbers, 1002,
        "the dead item stays counted until it is removed"
    );
}
