//! The key index: an open-addressing hash table of item locations.
//!
//! Slots hold only `u32` locations (4 bytes each); keys are compared and rehashed by reading
//! them from the items themselves through a [`KeySource`]. Linear probing over a power-of-two
//! table that doubles at 80% load; deletion shifts later entries back, so there are no
//! tombstones and probe sequences never lengthen with churn. The table never shrinks.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::loc::EMPTY;

/// Small on purpose: `Store::new` must not commit memory the cache may never use.
const INITIAL_SLOTS: usize = 1024;

/// Where the index reads the key of a stored location.
pub(crate) trait KeySource {
    fn key_at(&self, raw: u32) -> &[u8];
}

pub(crate) struct Index {
    slots: Vec<u32>,
    len: usize,
    hasher: FixedState,
    /// 64 - log2(slots.len()): the home slot is the hash's top bits.
    shift: u32,
}

/// Key equality without a call to `memcmp` for keys of 8 to 16 bytes (the common sizes): two
/// overlapping 8-byte compares.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if (8..=16).contains(&a.len()) {
        return a.first_chunk::<8>() == b.first_chunk::<8>()
            && a.last_chunk::<8>() == b.last_chunk::<8>();
    }
    a == b
}

impl Index {
    pub(crate) fn new(seed: u64) -> Index {
        Index {
            slots: vec![EMPTY; INITIAL_SLOTS],
            len: 0,
            hasher: FixedState::with_seed(seed),
            shift: 64 - INITIAL_SLOTS.trailing_zeros(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated (4 bytes each): STAT `hash_bytes` and `hash_power_level`.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, key: &[u8]) -> usize {
        // shift >= 64 - 31 on any table that fits in memory, so the result is below slots.len().
        (self.hasher.hash_one(key) >> self.shift) as usize
    }

    /// The slot and location holding `key`.
    pub(crate) fn find(&self, key: &[u8], keys: &impl KeySource) -> Option<(usize, u32)> {
        let mask = self.mask();
        let mut i = self.home(key);
        // The load factor stays below 1, so an EMPTY slot ends every probe.
        loop {
            let raw = self.slots[i];
            if raw == EMPTY {
                return None;
            }
            if same_key(keys.key_at(raw), key) {
                return Some((i, raw));
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot holding location `raw` (which must be indexed).
    pub(crate) fn slot_of(&self, raw: u32, keys: &impl KeySource) -> usize {
        let mask = self.mask();
        let mut i = self.home(keys.key_at(raw));
        loop {
            match self.slots[i] {
                r if r == raw => return i,
                EMPTY => panic!("location {raw:#x} is not in the index"),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `raw` under its key, which must not be indexed yet.
    pub(crate) fn insert(&mut self, raw: u32, keys: &impl KeySource) {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow(keys);
        }
        self.place(raw, keys);
        self.len += 1;
    }

    fn place(&mut self, raw: u32, keys: &impl KeySource) {
        let mask = self.mask();
        let mut i = self.home(keys.key_at(raw));
        while self.slots[i] != EMPTY {
            debug_assert_ne!(self.slots[i], raw, "location indexed twice");
            i = (i + 1) & mask;
        }
        self.slots[i] = raw;
    }

    fn grow(&mut self, keys: &impl KeySource) {
        let doubled = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        for raw in old.into_iter().filter(|&r| r != EMPTY) {
            self.place(raw, keys);
        }
    }

    /// Grows the table (if need be) so that `more` entries can be added without growing again.
    pub(crate) fn reserve(&mut self, more: usize, keys: &impl KeySource) {
        while (self.len + more) * 5 > self.slots.len() * 4 {
            self.grow(keys);
        }
    }

    /// The top 32 bits of `key`'s hash: all a home slot is made of (tables stay below 2^32
    /// slots), so a restore computes it once while the item is in cache and keeps 4 bytes.
    pub(crate) fn hash_hi(&self, key: &[u8]) -> u32 {
        (self.hasher.hash_one(key) >> 32) as u32
    }

    fn home_hi(&self, hi: u32) -> usize {
        // shift >= 32: tables stay below 2^32 slots (locations are u32).
        ((u64::from(hi) << 32) >> self.shift) as usize
    }

    /// Reads the home slot of a key whose `hash_hi` is `hi` and nothing else: a batch of these
    /// before a batch of inserts lets their cache misses overlap instead of each insert waiting
    /// for its own.
    pub(crate) fn warm_hashed(&self, hi: u32) -> u32 {
        self.slots[self.home_hi(hi)]
    }

    /// Adds `raw`, whose key's `hash_hi` is `hi`, if no entry has that key (`None`); else leaves
    /// the table alone and returns the slot and location holding the key. No hashing, one probe.
    pub(crate) fn insert_new_hashed(
        &mut self,
        raw: u32,
        hi: u32,
        keys: &impl KeySource,
    ) -> Option<(usize, u32)> {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow(keys);
        }
        let mask = self.mask();
        let mut i = self.home_hi(hi);
        let mut key = None;
        loop {
            let other = self.slots[i];
            if other == EMPTY {
                self.slots[i] = raw;
                self.len += 1;
                return None;
            }
            let key = *key.get_or_insert_with(|| keys.key_at(raw));
            if same_key(keys.key_at(other), key) {
                return Some((i, other));
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts `raw` in `slot` in place of the entry with the same key.
    pub(crate) fn replace_at(&mut self, slot: usize, raw: u32) {
        debug_assert_ne!(self.slots[slot], EMPTY);
        self.slots[slot] = raw;
    }

    /// Empties `slot`, shifting back the entries after it that probed past it.
    pub(crate) fn remove_at(&mut self, slot: usize, keys: &impl KeySource) {
        debug_assert_ne!(self.slots[slot], EMPTY);
        let mask = self.mask();
        let mut hole = slot;
        let mut i = (slot + 1) & mask;
        loop {
            let raw = self.slots[i];
            if raw == EMPTY {
                break;
            }
            let home = self.home(keys.key_at(raw));
            // The entry may fill the hole iff its home is not within (hole, i].
            if i.wrapping_sub(home) & mask >= i.wrapping_sub(hole) & mask {
                self.slots[hole] = raw;
                hole = i;
            }
            i = (i + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// Panics unless every entry is reachable from its home and the count is right.
    pub(crate) fn check(&self, keys: &impl KeySource) {
        let mut len = 0;
        for (i, &raw) in self.slots.iter().enumerate() {
            if raw == EMPTY {
                continue;
            }
            len += 1;
            assert_eq!(
                self.slot_of(raw, keys),
                i,
                "location {raw:#x} unreachable from its home"
            );
        }
        assert_eq!(len, self.len, "index count");
        assert!(
            self.len * 5 <= self.slots.len() * 4,
            "index over its load limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys live in a Vec; the location is the Vec index.
    struct Keys(Vec<Vec<u8>>);

    impl KeySource for Keys {
        fn key_at(&self, raw: u32) -> &[u8] {
            &self.0[raw as usize]
        }
    }

    #[test]
    fn same_key_sees_every_byte_at_every_length() {
        for len in 0..=20usize {
            let a: Vec<u8> = (0..len as u8).collect();
            assert!(same_key(&a, &a.clone()), "len {len}");
            assert!(!same_key(&a, &a[..len.saturating_sub(1)]) || len == 0);
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!same_key(&a, &b), "len {len}, byte {at}");
            }
        }
    }

    /// splitmix64: a fixed-seed generator so the test is repeatable.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn thousands_of_keys_delete_half_in_random_order() {
        const N: u32 = 20_000;
        let keys = Keys((0..N).map(|i| format!("key-{i}").into_bytes()).collect());
        let mut index = Index::new(7);
        for raw in 0..N {
            index.insert(raw, &keys);
        }
        assert_eq!(index.len(), N as usize);
        // 20,000 entries at <= 80% load need 32,768 slots.
        assert_eq!(index.capacity(), 32_768);
        index.check(&keys);

        let mut order: Vec<u32> = (0..N).collect();
        let mut rng = Rng(42);
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let (deleted, kept) = order.split_at(N as usize / 2);
        for &raw in deleted {
            let found = index.find(&keys.0[raw as usize], &keys);
            let Some((slot, got)) = found else {
                panic!("key {raw} lost before deletion")
            };
            assert_eq!(got, raw);
            index.remove_at(slot, &keys);
        }
        index.check(&keys);
        assert_eq!(index.len(), N as usize / 2);
        for &raw in kept {
            assert_eq!(
                index.find(&keys.0[raw as usize], &keys).map(|(_, r)| r),
                Some(raw)
            );
        }
        for &raw in deleted {
            assert_eq!(index.find(&keys.0[raw as usize], &keys), None);
        }
    }

    #[test]
    fn grows_at_eighty_percent() {
        let keys = Keys((0..2000u32).map(|i| i.to_le_bytes().to_vec()).collect());
        let mut index = Index::new(0);
        for raw in 0..819 {
            index.insert(raw, &keys);
        }
        assert_eq!(index.capacity(), 1024);
        index.insert(819, &keys);
        assert_eq!(index.capacity(), 2048);
        index.check(&keys);
        for raw in 0..820 {
            assert!(index.find(&keys.0[raw as usize], &keys).is_some());
        }
    }
}
