//! Slab classes: 1 MiB pages, each owned by one size class and cut into equal chunks, with a
//! per-class free list threaded through the free chunks and a per-class CLOCK hand.
//!
//! Class sizes are 32, 40, .., 128 (8-byte steps), then grow by ~10% per class up to 16 KiB;
//! each size is widened to the largest multiple of 8 that still gives the same number of
//! chunks per page, so no class wastes more page tail than it must.
//!
//! A new page is carved lazily: the class hands out its chunks in address order as it needs
//! them, so adding a page is O(1) and untouched memory stays untouched. Freed chunks go on a
//! free list threaded through them, used before the carve. The list is doubly linked (next at
//! chunk bytes 0..4, prev at 4..8) so that reclaiming a page can unlink that page's free
//! chunks without walking the whole list.

use super::item;
use super::le;
use super::loc::{EMPTY, Loc, MAX_CHUNKS_PER_PAGE, MAX_PAGES};
use super::region::Frame;

/// The page size of a store of its own, and the largest any store uses. A shard of a shared cache
/// uses smaller pages (`Slabs::with_page_size`): every class a shard stores in holds a page of its
/// own, so many shards of big pages would strand memory in half-empty pages.
pub(crate) const PAGE_SIZE: usize = 1 << 20;
/// The smallest page: still four chunks of the largest class.
pub(crate) const MIN_PAGE_SIZE: usize = 4 * MAX_CHUNK;
/// 1 MiB / 32 = 2^15 chunks, the most a location can address.
const MIN_CHUNK: usize = PAGE_SIZE / MAX_CHUNKS_PER_PAGE;
/// Items whose stored bytes exceed this are large items.
pub(crate) const MAX_CHUNK: usize = 16 * 1024;
/// Below this, classes step by 8 bytes: small items are common and waste would be large in relative terms.
const FINE_STEP_LIMIT: usize = 128;
const GROWTH_PERCENT: usize = 110;

/// The largest multiple of 8 with the same chunks-per-page count as `size`.
const fn widen(size: usize) -> usize {
    let per_page = PAGE_SIZE / size;
    (PAGE_SIZE / per_page) & !7
}

const fn next_size(size: usize) -> usize {
    if size < FINE_STEP_LIMIT {
        return size + 8;
    }
    let grown = (size * GROWTH_PERCENT / 100 + 7) & !7;
    let grown = if grown < size + 8 { size + 8 } else { grown };
    let grown = widen(grown);
    if grown > MAX_CHUNK { MAX_CHUNK } else { grown }
}

const fn count_classes() -> usize {
    let mut size = MIN_CHUNK;
    let mut n = 1;
    while size < MAX_CHUNK {
        size = next_size(size);
        n += 1;
    }
    n
}

pub(crate) const NUM_CLASSES: usize = count_classes();

/// Chunk size of each class, ascending; the last is `MAX_CHUNK`.
pub(crate) const CLASS_SIZES: [usize; NUM_CLASSES] = {
    let mut table = [0; NUM_CLASSES];
    let mut size = MIN_CHUNK;
    let mut i = 0;
    while i < NUM_CLASSES {
        table[i] = size;
        size = next_size(size);
        i += 1;
    }
    table
};

// A class id must fit the page's u8 class tag, and every chunk index a location.
const _: () = assert!(NUM_CLASSES <= 256);
const _: () = assert!(PAGE_SIZE / MIN_CHUNK <= MAX_CHUNKS_PER_PAGE);

/// The class whose chunks hold `len` bytes, or None for a large item.
pub(crate) fn class_for(len: usize) -> Option<u8> {
    let class = CLASS_SIZES.partition_point(|&size| size < len);
    // NUM_CLASSES <= 256, checked above.
    (class < NUM_CLASSES).then_some(class as u8)
}

/// A page's bytes: the heap's, or a frame of a caller's memory region.
pub(crate) enum PageMem {
    Heap(Box<[u8]>),
    Frame(Frame),
}

impl PageMem {
    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            PageMem::Heap(data) => data,
            PageMem::Frame(frame) => frame.data,
        }
    }

    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            PageMem::Heap(data) => data,
            PageMem::Frame(frame) => frame.data,
        }
    }

    /// Wiped and given to `class` (in a region: untagged first, retagged last).
    fn reset(&mut self, class: u8) {
        match self {
            PageMem::Heap(data) => data.fill(0),
            PageMem::Frame(frame) => frame.claim(class),
        }
    }
}

struct Page {
    data: PageMem,
    class: u8,
    /// The class's chunk size, kept here because every item access needs it.
    chunk_size: usize,
}

struct Class {
    size: usize,
    per_page: usize,
    pages: Vec<u16>,
    free_head: u32,
    free_len: usize,
    /// The chunk freed last, held apart from the free list and handed out first: a SET in a
    /// memory region writes a fresh chunk and frees the old one, and this makes that pair two
    /// stores instead of four list-link updates. `EMPTY`: none.
    spare: u32,
    /// The page being carved and its first never-used chunk. Chunks from there on are zero
    /// (free) but not on the free list.
    carve: Option<(u16, usize)>,
    /// CLOCK hand: index into `pages` and chunk index within that page.
    hand_page: usize,
    hand_chunk: usize,
}

/// A class's page and chunk counts, for `stats slabs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub(crate) chunk_size: usize,
    pub(crate) per_page: usize,
    pub(crate) pages: usize,
    /// Freed chunks on the free list.
    pub(crate) free_listed: usize,
    /// Chunks of the page being carved not handed out yet.
    pub(crate) uncarved: usize,
}

pub(crate) struct Slabs {
    /// Indexed by page number; None for a number whose page was released.
    pages: Vec<Option<Page>>,
    /// Released page numbers, reused before `pages` grows.
    spare_numbers: Vec<u16>,
    classes: Vec<Class>,
    in_use: usize,
    page_size: usize,
}

fn loc(page: u16, chunk: usize) -> u32 {
    // chunk < per_page <= MAX_CHUNKS_PER_PAGE = 2^15.
    Loc::Chunk {
        page,
        chunk: chunk as u16,
    }
    .encode()
}

fn split(raw: u32) -> (u16, usize) {
    match Loc::decode(raw) {
        Loc::Chunk { page, chunk } => (page, usize::from(chunk)),
        Loc::Large(_) => panic!("slab asked about a large-item location {raw:#x}"),
    }
}

impl Slabs {
    #[cfg(test)]
    pub(crate) fn new() -> Slabs {
        Slabs::with_page_size(PAGE_SIZE)
    }

    /// Slabs cut from pages of `page_size` bytes (a power of two from `MIN_PAGE_SIZE` to
    /// `PAGE_SIZE`).
    pub(crate) fn with_page_size(page_size: usize) -> Slabs {
        assert!(
            page_size.is_power_of_two() && (MIN_PAGE_SIZE..=PAGE_SIZE).contains(&page_size),
            "page size {page_size}"
        );
        let classes = CLASS_SIZES
            .iter()
            .map(|&size| Class {
                size,
                per_page: page_size / size,
                pages: Vec::new(),
                free_head: EMPTY,
                free_len: 0,
                spare: EMPTY,
                carve: None,
                hand_page: 0,
                hand_chunk: 0,
            })
            .collect();
        Slabs {
            pages: Vec::new(),
            spare_numbers: Vec::new(),
            classes,
            in_use: 0,
            page_size,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_each_frame(&self, visit: &mut dyn FnMut(&Frame)) {
        for page in self.pages.iter().flatten() {
            if let PageMem::Frame(frame) = &page.data {
                visit(frame);
            }
        }
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    pub(crate) fn pages_in_use(&self) -> usize {
        self.in_use
    }

    pub(crate) fn class_pages(&self, class: u8) -> usize {
        self.classes[usize::from(class)].pages.len()
    }

    /// The class has a chunk to hand out without a new page.
    pub(crate) fn has_free(&self, class: u8) -> bool {
        let c = &self.classes[usize::from(class)];
        c.free_head != EMPTY || c.spare != EMPTY || c.carve.is_some()
    }

    pub(crate) fn shape(&self, class: u8) -> Shape {
        let c = &self.classes[usize::from(class)];
        Shape {
            chunk_size: c.size,
            per_page: c.per_page,
            pages: c.pages.len(),
            free_listed: c.free_len + usize::from(c.spare != EMPTY),
            uncarved: c.carve.map_or(0, |(_, next)| c.per_page - next),
        }
    }

    /// Page numbers in use or released: every page number is below this.
    pub(crate) fn page_numbers(&self) -> usize {
        self.pages.len()
    }

    /// The class owning `page`, `None` for a released number.
    pub(crate) fn page_class(&self, page: u16) -> Option<u8> {
        self.pages
            .get(usize::from(page))
            .and_then(|p| p.as_ref())
            .map(|p| p.class)
    }

    /// The first item at or after the class's CLOCK hand within one page's worth of chunks.
    pub(crate) fn hand_item(&self, class: u8) -> Option<u32> {
        let c = &self.classes[usize::from(class)];
        if c.pages.is_empty() {
            return None;
        }
        let (mut page, mut chunk) = (c.hand_page % c.pages.len(), c.hand_chunk);
        for _ in 0..c.per_page {
            if chunk >= c.per_page {
                chunk = 0;
                page = (page + 1) % c.pages.len();
            }
            let raw = loc(c.pages[page], chunk);
            if item::is_used(self.chunk(raw)) {
                return Some(raw);
            }
            chunk += 1;
        }
        None
    }

    pub(crate) fn can_number_page(&self) -> bool {
        self.in_use < MAX_PAGES
    }

    fn page(&self, page: u16) -> &Page {
        match &self.pages[usize::from(page)] {
            Some(p) => p,
            None => panic!("page {page} is not in use"),
        }
    }

    fn page_mut(&mut self, page: u16) -> &mut Page {
        match &mut self.pages[usize::from(page)] {
            Some(p) => p,
            None => panic!("page {page} is not in use"),
        }
    }

    pub(crate) fn class_of(&self, raw: u32) -> u8 {
        self.page(split(raw).0).class
    }

    #[inline]
    pub(crate) fn chunk(&self, raw: u32) -> &[u8] {
        let (page, chunk) = split(raw);
        let p = self.page(page);
        let size = p.chunk_size;
        &p.data.bytes()[chunk * size..(chunk + 1) * size]
    }

    /// The bytes of `page`, all its chunks (a restore scans them in one pass).
    pub(crate) fn page_bytes(&self, page: u16) -> &[u8] {
        self.page(page).data.bytes()
    }

    /// `chunk_mut` and the chunk's class from one page lookup (a read's hot path needs both).
    #[inline]
    pub(crate) fn chunk_mut_and_class(&mut self, raw: u32) -> (&mut [u8], u8) {
        let (page, chunk) = split(raw);
        let p = self.page_mut(page);
        let size = p.chunk_size;
        (
            &mut p.data.bytes_mut()[chunk * size..(chunk + 1) * size],
            p.class,
        )
    }

    #[inline]
    pub(crate) fn chunk_mut(&mut self, raw: u32) -> &mut [u8] {
        let (page, chunk) = split(raw);
        let p = self.page_mut(page);
        let size = p.chunk_size;
        &mut p.data.bytes_mut()[chunk * size..(chunk + 1) * size]
    }

    /// A free chunk of `class`: a freed one if any, else the next uncarved one.
    pub(crate) fn pop_free(&mut self, class: u8) -> Option<u32> {
        let c = &mut self.classes[usize::from(class)];
        if c.spare != EMPTY {
            return Some(std::mem::replace(&mut c.spare, EMPTY));
        }
        let head = c.free_head;
        if head != EMPTY {
            self.unlink_free(class, head);
            return Some(head);
        }
        let (page, next) = c.carve?;
        c.carve = (next + 1 < c.per_page).then_some((page, next + 1));
        Some(loc(page, next))
    }

    /// Marks the chunk free and keeps it as its class's spare, the spare before it going to the
    /// head of the free list.
    pub(crate) fn push_free(&mut self, raw: u32) {
        let (buf, class) = self.chunk_mut_and_class(raw);
        item::set_bits(buf, 0);
        let spare = &mut self.classes[usize::from(class)].spare;
        let raw = std::mem::replace(spare, raw);
        if raw != EMPTY {
            self.link_free(class, raw);
        }
    }

    /// Puts a free chunk at the head of its class's free list.
    fn link_free(&mut self, class: u8, raw: u32) {
        let head = self.classes[usize::from(class)].free_head;
        let buf = self.chunk_mut(raw);
        le::write_u32(buf, 0, head);
        le::write_u32(buf, 4, EMPTY);
        if head != EMPTY {
            le::write_u32(self.chunk_mut(head), 4, raw);
        }
        let c = &mut self.classes[usize::from(class)];
        c.free_head = raw;
        c.free_len += 1;
    }

    fn unlink_free(&mut self, class: u8, raw: u32) {
        let buf = self.chunk(raw);
        debug_assert!(!item::is_used(buf));
        let next = item::read_link(buf, 0);
        let prev = item::read_link(buf, 4);
        if prev == EMPTY {
            self.classes[usize::from(class)].free_head = next;
        } else {
            le::write_u32(self.chunk_mut(prev), 0, next);
        }
        if next != EMPTY {
            le::write_u32(self.chunk_mut(next), 4, prev);
        }
        self.classes[usize::from(class)].free_len -= 1;
    }

    /// A zeroed heap page for `add_page`.
    pub(crate) fn heap_page(&self) -> PageMem {
        PageMem::Heap(vec![0u8; self.page_size].into_boxed_slice())
    }

    /// Gives a zeroed page (already tagged for `class` if a frame) to `class`, to be carved.
    /// The caller checked the memory limit and `can_number_page`.
    pub(crate) fn add_page(&mut self, class: u8, data: PageMem) {
        let number = self.number_page(class, data);
        self.adopt(number, class);
    }

    /// Gives a page restored from a region to `class`, carved whole: the caller then frees the
    /// chunks that hold no item. Its page number.
    pub(crate) fn add_restored_page(&mut self, class: u8, data: PageMem) -> u16 {
        let number = self.number_page(class, data);
        self.classes[usize::from(class)].pages.push(number);
        number
    }

    fn number_page(&mut self, class: u8, data: PageMem) -> u16 {
        let number = match self.spare_numbers.pop() {
            Some(n) => n,
            None => {
                // The caller checked `can_number_page`, so fewer than 2^16 numbers exist.
                let n = self.pages.len() as u16;
                self.pages.push(None);
                n
            }
        };
        let chunk_size = self.classes[usize::from(class)].size;
        self.pages[usize::from(number)] = Some(Page {
            data,
            class,
            chunk_size,
        });
        self.in_use += 1;
        number
    }

    /// Gives a page (already detached from its old class) to `class`, wiping the old contents.
    pub(crate) fn reassign_page(&mut self, page: u16, class: u8) {
        let chunk_size = self.classes[usize::from(class)].size;
        let p = self.page_mut(page);
        p.data.reset(class);
        p.class = class;
        p.chunk_size = chunk_size;
        self.adopt(page, class);
    }

    fn adopt(&mut self, page: u16, class: u8) {
        let c = &mut self.classes[usize::from(class)];
        // Pages are only added when the class ran out of chunks, carve included.
        debug_assert!(c.carve.is_none() && c.free_head == EMPTY && c.spare == EMPTY);
        c.pages.push(page);
        c.carve = Some((page, 0));
    }

    /// Takes a detached page's memory out and recycles its number.
    pub(crate) fn release_page(&mut self, page: u16) -> PageMem {
        let taken = self.pages[usize::from(page)].take();
        let taken = taken.unwrap_or_else(|| panic!("page {page} is not in use"));
        self.spare_numbers.push(page);
        self.in_use -= 1;
        taken.data
    }

    /// The class holding the most pages, other than `except`, if any holds one.
    pub(crate) fn biggest_class(&self, except: Option<u8>) -> Option<(u8, usize)> {
        self.classes
            .iter()
            .enumerate()
            // NUM_CLASSES <= 256.
            .map(|(i, c)| (i as u8, c.pages.len()))
            .filter(|&(i, n)| n > 0 && Some(i) != except)
            .max_by_key(|&(_, n)| n)
    }

    /// The page to take from `class` when another user needs one: the page under its hand,
    /// whose items CLOCK was going to evict next anyway.
    pub(crate) fn reclaim_candidate(&self, class: u8) -> u16 {
        let c = &self.classes[usize::from(class)];
        c.pages[c.hand_page.min(c.pages.len() - 1)]
    }

    /// How many chunks `page` is cut into.
    pub(crate) fn chunks_on(&self, page: u16) -> usize {
        self.classes[usize::from(self.page(page).class)].per_page
    }

    /// The location of chunk `chunk` (below `chunks_on(page)`) of `page`.
    pub(crate) fn loc(page: u16, chunk: usize) -> u32 {
        loc(page, chunk)
    }

    /// Removes `page` from its class. Every item on it must already be out of the index;
    /// its free chunks leave the class's free list.
    pub(crate) fn detach_page(&mut self, page: u16) {
        let class = self.page(page).class;
        let c = &mut self.classes[usize::from(class)];
        let mut carved = c.per_page;
        if let Some((carving, next)) = c.carve {
            if carving == page {
                carved = next;
                c.carve = None;
            }
        }
        for chunk in 0..carved {
            let raw = loc(page, chunk);
            if raw == self.classes[usize::from(class)].spare {
                self.classes[usize::from(class)].spare = EMPTY;
            } else if !item::is_used(self.chunk(raw)) {
                self.unlink_free(class, raw);
            }
        }
        let c = &mut self.classes[usize::from(class)];
        let pos = c.pages.iter().position(|&p| p == page);
        // The page's tag names this class, and tags and lists change together.
        let pos = pos.unwrap_or_else(|| panic!("page {page} missing from class {class}"));
        c.pages.swap_remove(pos);
        if c.hand_page == pos {
            c.hand_chunk = 0;
        }
        if c.hand_page >= c.pages.len() {
            c.hand_page = 0;
            c.hand_chunk = 0;
        }
    }

    /// Runs the class's CLOCK hand until it meets a dead item or one whose accessed bit is
    /// clear, clearing accessed bits on the way. Returns that item's location, still linked:
    /// the caller unlinks it and reuses the chunk. None only if the class has no items.
    pub(crate) fn clock_victim(
        &mut self,
        class: u8,
        is_dead: impl Fn(&[u8]) -> bool,
    ) -> Option<u32> {
        let c = &self.classes[usize::from(class)];
        let pages = c.pages.len();
        if pages == 0 {
            return None;
        }
        // Two full turns: the first clears every accessed bit, so the second must stop.
        let budget = 2 * pages * c.per_page + 1;
        for _ in 0..budget {
            let c = &mut self.classes[usize::from(class)];
            if c.hand_chunk >= c.per_page {
                c.hand_chunk = 0;
                c.hand_page = (c.hand_page + 1) % pages;
            }
            let raw = loc(c.pages[c.hand_page], c.hand_chunk);
            c.hand_chunk += 1;
            let buf = self.chunk_mut(raw);
            let bits = item::bits(buf);
            if bits & item::USED == 0 {
                continue;
            }
            if is_dead(buf) || bits & item::ACCESSED == 0 {
                return Some(raw);
            }
            item::set_bits(buf, bits & !item::ACCESSED);
        }
        None
    }

    /// Panics unless page ownership, free lists and counts agree; hands every used chunk
    /// (location and bytes) to `visit`.
    pub(crate) fn check(&self, mut visit: impl FnMut(u32, &[u8])) {
        let mut in_use = 0;
        let mut unused = vec![0usize; NUM_CLASSES];
        for (number, page) in self.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            in_use += 1;
            // `pages` never grows past MAX_PAGES = 2^16 entries.
            let number = number as u16;
            let c = &self.classes[usize::from(page.class)];
            assert!(
                c.pages.contains(&number),
                "page {number} not listed by its class {}",
                page.class
            );
            // Uncarved chunks are free by construction; skipping them keeps checks cheap.
            let carved = match c.carve {
                Some((carving, next)) if carving == number => next,
                _ => c.per_page,
            };
            for (chunk, buf) in page
                .data
                .bytes()
                .chunks_exact(c.size)
                .take(carved)
                .enumerate()
            {
                if item::is_used(buf) {
                    assert!(
                        item::stored(buf) <= c.size,
                        "item overflows its chunk at page {number}"
                    );
                    visit(loc(number, chunk), buf);
                } else {
                    unused[usize::from(page.class)] += 1;
                }
            }
        }
        assert_eq!(in_use, self.in_use, "pages in use");
        let listed: usize = self.classes.iter().map(|c| c.pages.len()).sum();
        assert_eq!(listed, self.in_use, "pages listed by classes");
        for (class, c) in self.classes.iter().enumerate() {
            let mut free = 0;
            let mut prev = EMPTY;
            let mut at = c.free_head;
            while at != EMPTY {
                let (page, _) = split(at);
                assert_eq!(
                    usize::from(self.page(page).class),
                    class,
                    "free chunk {at:#x} in the wrong class"
                );
                let buf = self.chunk(at);
                assert!(!item::is_used(buf), "used chunk {at:#x} on the free list");
                assert_eq!(item::read_link(buf, 4), prev, "broken prev link at {at:#x}");
                free += 1;
                assert!(
                    free <= c.pages.len() * c.per_page,
                    "free list of class {class} loops"
                );
                prev = at;
                at = item::read_link(buf, 0);
            }
            assert_eq!(free, c.free_len, "free count of class {class}");
            if c.spare != EMPTY {
                let (page, _) = split(c.spare);
                assert_eq!(
                    usize::from(self.page(page).class),
                    class,
                    "spare chunk {:#x} in the wrong class",
                    c.spare
                );
                assert!(!item::is_used(self.chunk(c.spare)), "used spare chunk");
                free += 1;
            }
            if let Some((page, _)) = c.carve {
                assert!(
                    c.pages.contains(&page),
                    "class {class} carves a page it does not own"
                );
            }
            assert_eq!(
                unused[class], free,
                "free carved chunks of class {class} not all on the free list"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_table_shape() {
        assert_eq!(CLASS_SIZES[0], 32);
        assert_eq!(CLASS_SIZES[NUM_CLASSES - 1], MAX_CHUNK);
        for w in CLASS_SIZES.windows(2) {
            assert!(w[0] < w[1]);
            assert_eq!(w[1] % 8, 0);
            if w[0] < FINE_STEP_LIMIT {
                assert_eq!(w[1] - w[0], 8);
            } else {
                // Growth stays within the ~8-15% band (the last step may be shorter).
                assert!(w[1] * 100 <= w[0] * 116, "{} -> {}", w[0], w[1]);
            }
        }
        assert_eq!(class_for(1), Some(0));
        assert_eq!(class_for(32), Some(0));
        assert_eq!(class_for(33), Some(1));
        assert_eq!(CLASS_SIZES[usize::from(class_for(66).unwrap_or(0))], 72);
        assert_eq!(class_for(MAX_CHUNK), Some((NUM_CLASSES - 1) as u8));
        assert_eq!(class_for(MAX_CHUNK + 1), None);
    }

    #[test]
    fn pages_and_free_lists() {
        let mut s = Slabs::new();
        let class = class_for(MAX_CHUNK).unwrap_or(0);
        s.add_page(class, s.heap_page());
        assert_eq!(s.pages_in_use(), 1);
        let mut got = Vec::new();
        while let Some(raw) = s.pop_free(class) {
            item::set_bits(s.chunk_mut(raw), item::USED);
            got.push(raw);
        }
        assert_eq!(got.len(), PAGE_SIZE / MAX_CHUNK);
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "handed out in address order"
        );
        s.push_free(got[3]);
        s.push_free(got[7]);
        s.check(|_, _| {});
        s.detach_page(0);
        drop(s.release_page(0));
        assert_eq!(s.pages_in_use(), 0);
        s.check(|_, _| {});
    }
}
