//! Large items: those too big for the largest slab class, each in its own exact-size box,
//! kept in a table whose index is the item's location, with its own CLOCK hand.
//!
//! Large items are over 16 KiB each, so the table's per-entry cost does not matter.

use super::item;
use super::loc::MAX_LARGE;

pub(crate) struct Large {
    items: Vec<Option<Box<[u8]>>>,
    /// Empty table slots, reused before the table grows.
    spare: Vec<u32>,
    bytes: usize,
    len: usize,
    hand: usize,
}

impl Large {
    pub(crate) fn new() -> Large {
        Large {
            items: Vec::new(),
            spare: Vec::new(),
            bytes: 0,
            len: 0,
            hand: 0,
        }
    }

    /// Sum of the boxes' lengths: what large items count against the memory limit.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The item in table slot `index`: `None` past the table's end, `Some(None)` for an empty
    /// slot.
    pub(crate) fn slot(&self, index: u32) -> Option<Option<&[u8]>> {
        self.items.get(index as usize).map(|data| data.as_deref())
    }

    /// The first item at or after the CLOCK hand, looking at most 1024 slots on.
    pub(crate) fn hand_item(&self) -> Option<u32> {
        let slots = self.items.len();
        (0..slots.min(1024))
            .map(|step| (self.hand + step) % slots)
            .find(|&index| self.items[index].is_some())
            // The table never grows past MAX_LARGE < 2^31 entries.
            .map(|index| index as u32)
    }

    /// A table slot is free or can be added.
    pub(crate) fn has_room(&self) -> bool {
        !self.spare.is_empty() || self.items.len() < MAX_LARGE
    }

    /// Stores the box and returns its table index. The caller checked `has_room`.
    pub(crate) fn insert(&mut self, data: Box<[u8]>) -> u32 {
        self.bytes += data.len();
        self.len += 1;
        match self.spare.pop() {
            Some(i) => {
                self.items[i as usize] = Some(data);
                i
            }
            None => {
                self.items.push(Some(data));
                // has_room: the table is shorter than MAX_LARGE < 2^31.
                (self.items.len() - 1) as u32
            }
        }
    }

    /// Drops the box; its length.
    pub(crate) fn remove(&mut self, index: u32) -> usize {
        let data = self.items[index as usize].take();
        let data = data.unwrap_or_else(|| panic!("large item {index} is not stored"));
        self.bytes -= data.len();
        self.len -= 1;
        self.spare.push(index);
        data.len()
    }

    pub(crate) fn get(&self, index: u32) -> &[u8] {
        match &self.items[index as usize] {
            Some(data) => data,
            None => panic!("large item {index} is not stored"),
        }
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> &mut [u8] {
        match &mut self.items[index as usize] {
            Some(data) => data,
            None => panic!("large item {index} is not stored"),
        }
    }

    /// Same CLOCK rule as a slab class: the first dead or not-recently-accessed item the hand
    /// meets, clearing accessed bits as it passes. The item stays stored; None if there is none.
    pub(crate) fn clock_victim(&mut self, is_dead: impl Fn(&[u8]) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let slots = self.items.len();
        for _ in 0..2 * slots + 1 {
            if self.hand >= slots {
                self.hand = 0;
            }
            let index = self.hand;
            self.hand += 1;
            let Some(buf) = &mut self.items[index] else {
                continue;
            };
            let bits = item::bits(buf);
            if is_dead(buf) || bits & item::ACCESSED == 0 {
                // The table never grows past MAX_LARGE < 2^31 entries.
                return Some(index as u32);
            }
            item::set_bits(buf, bits & !item::ACCESSED);
        }
        None
    }

    /// Panics unless the counters match the table; hands every item to `visit`.
    pub(crate) fn check(&self, mut visit: impl FnMut(u32, &[u8])) {
        let mut bytes = 0;
        let mut len = 0;
        for (index, data) in self.items.iter().enumerate() {
            let Some(data) = data else { continue };
            assert!(item::is_used(data), "large item {index} lacks its USED bit");
            assert_eq!(
                item::stored(data),
                data.len(),
                "large item {index} box is not exact"
            );
            bytes += data.len();
            len += 1;
            // The table never grows past MAX_LARGE < 2^31 entries.
            visit(index as u32, data);
        }
        assert_eq!(bytes, self.bytes, "large item bytes");
        assert_eq!(len, self.len, "large item count");
        assert_eq!(
            self.items.len() - len,
            self.spare.len(),
            "spare large slots"
        );
    }
}
