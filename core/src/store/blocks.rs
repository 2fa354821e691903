//! Large items' copies in a memory region, so that they survive a restart as slab items do.
//!
//! A large item (over 16 KiB) is served from its heap box as without a region (`large`), and
//! in a region also written to a chain of 4 KiB blocks cut from frames of their own ("block
//! pages", tagged as such). The box is the working copy; the chain is what a restart reads.
//! What counts against the memory limit in a region is the block pages, not the boxes, so a
//! large item is counted once.
//!
//! ```text
//! every block   0..4  next block's address (u32 LE, u32::MAX: the last)
//!               4..8  COMMITTED in a chain's head block once the chain is whole, else 0
//! head block    8..12 blocks in the chain      12..16 the item's stored length
//!              16..24 checksum64 of the item's immutable bytes (`item::large_sum`)
//!              24..   the item's bytes (its header first), continued in the next blocks at 8..
//! ```
//!
//! An address is `frame index * blocks per frame + block`, so it means the same block after a
//! restart. Crash safety follows the region's rule: a chain is written into free blocks, the
//! head last, and committed by one aligned store; a delete or overwrite clears the commit before
//! the blocks are reused. A user's value never lies at bytes 4..8 of a block, so it cannot
//! pass for a head; a damaged chain fails its checksum and is dropped.

use std::collections::BTreeMap;

use super::item;
use super::le::{read_u32, write_u32};
use super::region::{Frame, order_stores};

/// Bytes per block.
pub(crate) const BLOCK: usize = 4096;
const KIND_AT: usize = 4;
const COUNT_AT: usize = 8;
const LEN_AT: usize = 12;
const SUM_AT: usize = 16;
const HEAD_DATA: usize = 24;
const CONT_DATA: usize = 8;
/// Bytes 4..8 of a committed head block.
const COMMITTED: u32 = 0x6772_616c;
const NONE: u32 = u32::MAX;

/// Blocks a chain holding an item of `len` stored bytes takes.
pub(crate) fn blocks_for(len: usize) -> usize {
    let head = BLOCK - HEAD_DATA;
    if len <= head {
        1
    } else {
        1 + (len - head).div_ceil(BLOCK - CONT_DATA)
    }
}

struct BlockPage {
    frame: Frame,
    /// Its free blocks' numbers.
    free: Vec<u16>,
}

/// A store's block pages and the chains in them.
pub(crate) struct Blocks {
    per_page: usize,
    /// By frame index.
    pages: BTreeMap<u32, BlockPage>,
    free: usize,
    /// Block pages with no chain in them.
    empty: usize,
    /// The head block of each large item's chain, by large-table index (`NONE`: none).
    heads: Vec<u32>,
}

impl Blocks {
    pub(crate) fn new(page_size: usize) -> Blocks {
        Blocks {
            per_page: page_size / BLOCK,
            pages: BTreeMap::new(),
            free: 0,
            empty: 0,
            heads: Vec::new(),
        }
    }

    /// Block pages held.
    pub(crate) fn pages(&self) -> usize {
        self.pages.len()
    }

    pub(crate) fn free_blocks(&self) -> usize {
        self.free
    }

    /// Block pages with no chain in them.
    pub(crate) fn empty_pages(&self) -> usize {
        self.empty
    }

    #[cfg(test)]
    pub(crate) fn for_each_frame(&self, visit: &mut dyn FnMut(&Frame)) {
        self.pages.values().for_each(|p| visit(&p.frame));
    }

    /// Adds a frame already claimed as a block page, all its blocks free.
    pub(crate) fn add_page(&mut self, frame: Frame) {
        // per_page <= 1 MiB / 4 KiB.
        let free = (0..self.per_page as u16).rev().collect();
        self.free += self.per_page;
        self.empty += 1;
        // A u32 frame index is 2^32 frames of at least 64 KiB: far beyond any memory.
        let index = frame.index as u32;
        self.pages.insert(index, BlockPage { frame, free });
    }

    /// Takes out one block page with no chain in it, if any.
    pub(crate) fn take_empty_page(&mut self) -> Option<Frame> {
        let per_page = self.per_page;
        let index = *self.pages.iter().find(|(_, p)| p.free.len() == per_page)?.0;
        let page = self.pages.remove(&index)?;
        self.free -= per_page;
        self.empty -= 1;
        Some(page.frame)
    }

    fn block(&self, addr: u32) -> Option<&[u8]> {
        let per_page = self.per_page as u32;
        let page = self.pages.get(&(addr / per_page))?;
        let at = (addr % per_page) as usize * BLOCK;
        Some(&page.frame.data[at..at + BLOCK])
    }

    fn block_mut(&mut self, addr: u32) -> &mut [u8] {
        let per_page = self.per_page as u32;
        let page = self.pages.get_mut(&(addr / per_page));
        // Addresses handed out here or claimed by `restore` name pages held here.
        let page = page.unwrap_or_else(|| panic!("block {addr} is not in a block page"));
        let at = (addr % per_page) as usize * BLOCK;
        &mut page.frame.data[at..at + BLOCK]
    }

    /// `count` free blocks, taken; the caller checked `free_blocks`.
    fn take(&mut self, count: usize) -> Vec<u32> {
        let per_page = self.per_page;
        let mut got = Vec::with_capacity(count);
        for (&index, page) in self.pages.iter_mut() {
            if page.free.len() == per_page && !page.free.is_empty() {
                self.empty -= 1;
            }
            while got.len() < count {
                let Some(block) = page.free.pop() else { break };
                got.push(index * per_page as u32 + u32::from(block));
            }
            if got.len() == count {
                break;
            }
        }
        assert_eq!(got.len(), count, "fewer free blocks than counted");
        self.free -= count;
        got
    }

    fn give(&mut self, addr: u32) {
        let per_page = self.per_page as u32;
        if let Some(page) = self.pages.get_mut(&(addr / per_page)) {
            // A block number is below per_page <= 256.
            page.free.push((addr % per_page) as u16);
            if page.free.len() == self.per_page {
                self.empty += 1;
            }
            self.free += 1;
        }
    }

    fn set_head(&mut self, index: u32, head: u32) {
        let i = index as usize;
        if self.heads.len() <= i {
            self.heads.resize(i + 1, NONE);
        }
        self.heads[i] = head;
    }

    /// Writes the chain of large item `index` (its bytes `item`) and commits it; the caller
    /// checked that `blocks_for(item.len())` blocks are free.
    pub(crate) fn write(&mut self, index: u32, item: &[u8]) {
        let chain = self.take(blocks_for(item.len()));
        #[cfg(test)]
        let mut budget = tear::AT.take();
        // The continuation blocks first, the head last, then the commit.
        let mut at = BLOCK - HEAD_DATA;
        for (i, &addr) in chain.iter().enumerate().skip(1) {
            let next = chain.get(i + 1).copied().unwrap_or(NONE);
            let end = (at + BLOCK - CONT_DATA).min(item.len());
            let block = self.block_mut(addr);
            write_u32(block, 0, next);
            write_u32(block, KIND_AT, 0);
            #[cfg(test)]
            tear::cut(&mut budget, &mut block[CONT_DATA..], &item[at..end]);
            block[CONT_DATA..CONT_DATA + end - at].copy_from_slice(&item[at..end]);
            at = end;
        }
        let sum = item::large_sum(item);
        let head_len = item.len().min(BLOCK - HEAD_DATA);
        let head = self.block_mut(chain[0]);
        write_u32(head, 0, chain.get(1).copied().unwrap_or(NONE));
        write_u32(head, KIND_AT, 0);
        // A chain is at most a few hundred thousand blocks; an item's length fits a u32.
        write_u32(head, COUNT_AT, chain.len() as u32);
        write_u32(head, LEN_AT, item.len() as u32);
        head[SUM_AT..SUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        #[cfg(test)]
        tear::cut(&mut budget, &mut head[HEAD_DATA..], &item[..head_len]);
        head[HEAD_DATA..HEAD_DATA + head_len].copy_from_slice(&item[..head_len]);
        #[cfg(test)]
        if budget.is_some() {
            // Cut after the last byte: everything but the commit.
            panic!("{}", item::tear::MESSAGE);
        }
        order_stores();
        write_u32(head, KIND_AT, COMMITTED);
        self.set_head(index, chain[0]);
    }

    /// The item's header (CAS, exptime, bits, last access) as it now is in its box, copied to its
    /// chain: a touch or a meta change survives a restart.
    pub(crate) fn sync_header(&mut self, index: u32, item: &[u8]) {
        let Some(&head) = self.heads.get(index as usize).filter(|&&h| h != NONE) else {
            return;
        };
        let block = self.block_mut(head);
        block[HEAD_DATA..HEAD_DATA + item::HEADER].copy_from_slice(&item[..item::HEADER]);
    }

    /// Uncommits and frees the chain of large item `index` (deleted, replaced or evicted).
    pub(crate) fn free(&mut self, index: u32) {
        let Some(head) = self.heads.get_mut(index as usize) else {
            return;
        };
        let head = std::mem::replace(head, NONE);
        if head == NONE {
            return;
        }
        let block = self.block_mut(head);
        write_u32(block, KIND_AT, 0);
        order_stores();
        let count = read_u32(block, COUNT_AT);
        let mut at = head;
        for _ in 0..count {
            let next = read_u32(self.block_mut(at), 0);
            self.give(at);
            if next == NONE {
                break;
            }
            at = next;
        }
    }

    /// After a restart: every committed chain whose blocks are all here, unclaimed, and whose
    /// item is whole and passes `keep`, as a box and its head; the others are uncommitted and
    /// every block not in a kept chain is free.
    pub(crate) fn restore(&mut self, keep: &mut dyn FnMut(&[u8]) -> bool) -> Vec<(Box<[u8]>, u32)> {
        let per_page = self.per_page;
        let mut claimed: BTreeMap<u32, Vec<bool>> = self
            .pages
            .keys()
            .map(|&i| (i, vec![false; per_page]))
            .collect();
        let heads: Vec<u32> = self
            .pages
            .iter()
            .flat_map(|(&i, p)| {
                p.frame
                    .data
                    .chunks_exact(BLOCK)
                    .enumerate()
                    .filter(|(_, b)| read_u32(b, KIND_AT) == COMMITTED)
                    .map(move |(n, _)| i * per_page as u32 + n as u32)
            })
            .collect();
        let mut found = Vec::new();
        for head in heads {
            match self
                .read_chain(head, &claimed)
                .filter(|(item, _)| keep(item))
            {
                Some((item, chain)) => {
                    for addr in chain {
                        let per = per_page as u32;
                        if let Some(c) = claimed.get_mut(&(addr / per)) {
                            c[(addr % per) as usize] = true;
                        }
                    }
                    found.push((item, head));
                }
                None => write_u32(self.block_mut(head), KIND_AT, 0),
            }
        }
        self.free = 0;
        self.empty = 0;
        for (index, page) in self.pages.iter_mut() {
            let taken = &claimed[index];
            // per_page <= 256.
            page.free = (0..per_page as u16)
                .rev()
                .filter(|&b| !taken[usize::from(b)])
                .collect();
            self.free += page.free.len();
            if page.free.len() == per_page {
                self.empty += 1;
            }
        }
        found
    }

    /// Records that large item `index` was restored from the chain at `head`.
    pub(crate) fn adopt(&mut self, index: u32, head: u32) {
        self.set_head(index, head);
    }

    /// The item a committed head's chain holds and the chain's addresses, if the chain is whole:
    /// every block here and unclaimed, the lengths consistent, the checksum right.
    fn read_chain(
        &self,
        head: u32,
        claimed: &BTreeMap<u32, Vec<bool>>,
    ) -> Option<(Box<[u8]>, Vec<u32>)> {
        let per = self.per_page as u32;
        let free = |addr: u32| {
            claimed
                .get(&(addr / per))
                .is_some_and(|c| !c[(addr % per) as usize])
        };
        let block = self.block(head)?;
        let count = read_u32(block, COUNT_AT) as usize;
        let len = read_u32(block, LEN_AT) as usize;
        if len <= item::HEADER || blocks_for(len) != count || count > self.free_capacity() {
            return None;
        }
        let mut item = vec![0u8; len].into_boxed_slice();
        let mut chain = Vec::with_capacity(count);
        let mut at = head;
        let mut filled = 0;
        for i in 0..count {
            if !free(at) || chain.contains(&at) {
                return None;
            }
            let block = self.block(at)?;
            let data = if i == 0 { HEAD_DATA } else { CONT_DATA };
            let n = (BLOCK - data).min(len - filled);
            item[filled..filled + n].copy_from_slice(&block[data..data + n]);
            filled += n;
            chain.push(at);
            at = read_u32(block, 0);
        }
        let sum = u64::from_le_bytes(block[SUM_AT..SUM_AT + 8].try_into().ok()?);
        let whole = at == NONE && item::is_restorable_large(&item) && item::large_sum(&item) == sum;
        whole.then_some((item, chain))
    }

    fn free_capacity(&self) -> usize {
        self.pages.len() * self.per_page
    }
}

/// A test hook: the next chain `write` stops after a number of the item's bytes and panics, as a
/// crash would cut it short (the head, written last, is never committed).
#[cfg(test)]
pub(crate) mod tear {
    use std::cell::Cell;

    thread_local! {
        pub(crate) static AT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Copies what is left of `budget` bytes of `from` into `to`, then panics if the budget ran
    /// out.
    pub(super) fn cut(budget: &mut Option<usize>, to: &mut [u8], from: &[u8]) {
        let Some(left) = budget else { return };
        if *left >= from.len() {
            *left -= from.len();
            return;
        }
        to[..*left].copy_from_slice(&from[..*left]);
        panic!("{}", super::item::tear::MESSAGE);
    }
}
