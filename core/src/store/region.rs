//! Item memory handed in by the embedder, for a cache that survives a restart (memcached's `-e`).
//!
//! The embedder maps a file and hands the whole mapping in as one `&'static mut [u8]`; this module
//! cuts it into its parts with safe slice splitting and never touches a file itself:
//!
//! ```text
//! offset               size                 what
//! 0                    4096                 header: magic, format version, the layout, hash seed
//! 4096                 64 per shard         control blocks: a shard's flush threshold and pending flush
//! then                 8 per frame          frame tags: in use?, slab class or block page, shard
//! (4 KiB aligned)      page_size per frame  frames: slab pages, or blocks of large items
//! ```
//!
//! Crash safety rests on the order of stores, not on a log: every change a reader after a crash
//! could see half-done is made invisible first and visible last with one aligned store (an
//! item's USED bit, a frame tag's magic). A process killed at any instruction has retired its
//! stores in program order, so the next start sees each item whole or not at all; items also carry
//! a checksum of their immutable bytes (see `item`), so a corrupted file loses items, never serves
//! garbage. The rebuild scans the frames (`Store::restore`).

use crate::sync::{Arc, Mutex};

use super::le::{read_u32, read_u64};
use super::slab::{self, CLASS_SIZES, NUM_CLASSES};

/// What the first 8 bytes of a keel memory file say.
const MAGIC: [u8; 8] = *b"keelmem\0";
/// Bumped whenever the bytes of the file mean something else.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 4096;
const CONTROL_LEN: usize = 64;
const TAG_LEN: usize = 8;
const FRAME_ALIGN: usize = 4096;
/// A tag's first four bytes while its frame holds a slab page or a block page.
const TAG_MAGIC: u32 = 0x6b70_6167;
/// Tag byte 5 of a block page (`blocks`: large items' chains); 0 for a slab page.
const BLOCK_PAGE: u8 = 1;
/// Header field offsets.
const VERSION_AT: usize = 8;
const FIELDS_AT: usize = 16;
const SEED_AT: usize = FIELDS_AT + 4 * 8;
const FRAMES_AT: usize = SEED_AT + 8;
const SUM_AT: usize = FRAMES_AT + 8;

/// Everything a file's contents depend on: a file made with another layout is not reattached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// memcached `-m`, in bytes.
    pub memory_limit: usize,
    /// memcached `-I`.
    pub item_size_max: usize,
    /// Slab page size: 1 MiB for a plain cache, smaller for the shards of a shared one.
    pub page_size: usize,
    /// 1 for a plain `Cache`, the shard count of a `SharedCache`.
    pub shards: usize,
}

impl Layout {
    /// The layout of a cache of `shards` shards (1: a plain `Cache`) over `memory_limit` bytes.
    pub fn new(memory_limit: usize, item_size_max: usize, shards: usize) -> Layout {
        let page_size = if shards <= 1 {
            slab::PAGE_SIZE
        } else {
            super::Store::shared_page_size(shards)
        };
        Layout {
            memory_limit,
            item_size_max,
            page_size,
            shards: shards.max(1),
        }
    }

    /// Slab pages the region holds: as many as fit in the memory limit.
    pub fn frames(&self) -> usize {
        self.memory_limit / self.page_size
    }

    fn frames_at(&self) -> usize {
        let meta = HEADER_LEN + self.shards * CONTROL_LEN + self.frames() * TAG_LEN;
        meta.div_ceil(FRAME_ALIGN) * FRAME_ALIGN
    }

    /// The bytes a region of this layout takes (the file's size).
    pub fn region_len(&self) -> usize {
        self.frames_at() + self.frames() * self.page_size
    }

    fn fields(&self) -> [(&'static str, u64); 4] {
        [
            ("-m (bytes)", self.memory_limit as u64),
            ("-I (bytes)", self.item_size_max as u64),
            ("page size", self.page_size as u64),
            ("shard count", self.shards as u64),
        ]
    }
}

/// Why a region starts empty instead of being reattached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ColdStart {
    /// All zero: a new file.
    #[error("a new memory file")]
    New,
    /// The header is not keel's, or its checksum fails.
    #[error("not a keel memory file (foreign or corrupted header)")]
    Foreign,
    /// Written by another format version.
    #[error("format version {0}, this keel uses {FORMAT_VERSION}")]
    Version(u32),
    /// Made with another setting (memory limit, page size, shard count...).
    #[error("made with {what} {was}, now {now}")]
    Changed {
        /// Which setting.
        what: &'static str,
        /// Its value in the file.
        was: u64,
        /// Its value now.
        now: u64,
    },
}

impl ColdStart {
    /// A changed setting or a new file is expected; anything else means the file was damaged.
    pub fn is_damage(&self) -> bool {
        matches!(self, ColdStart::Foreign)
    }
}

/// The memory handed to `Region::open` is not `Layout::region_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the memory region is {found} bytes, its layout needs {expected}")]
pub struct RegionSizeError {
    /// The memory's length in bytes.
    pub found: usize,
    /// The length the layout needs.
    pub expected: usize,
}

/// One slab page's worth of the region, with its tag.
pub(crate) struct Frame {
    tag: &'static mut [u8],
    pub(crate) data: &'static mut [u8],
    /// Known to be all zero (a new file's frame never handed out).
    clean: bool,
    /// The shard the frame was handed to.
    shard: u16,
    /// Its position among the region's frames (block addresses are built on it).
    pub(crate) index: usize,
}

/// What a frame held at the last stop.
enum Held {
    /// A slab page of this class.
    Slab(u8),
    /// Blocks of large items' chains.
    Blocks,
}

/// Keeps the stores before it before the ones after it (see the module documentation). A
/// release fence is free on x86 and orders the stores on weaker hardware too.
#[inline]
pub(crate) fn order_stores() {
    std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
}

impl Frame {
    /// What this frame held at the last stop and for which shard, if its tag says it held a page.
    fn restorable(&self, shards: usize, page_size: usize) -> Option<(Held, u16)> {
        if read_u32(self.tag, 0) != TAG_MAGIC {
            return None;
        }
        let class = self.tag[4];
        let shard = u16::from_le_bytes([self.tag[6], self.tag[7]]);
        let held = match self.tag[5] {
            0 if usize::from(class) < NUM_CLASSES
                && CLASS_SIZES[usize::from(class)] <= page_size =>
            {
                Held::Slab(class)
            }
            BLOCK_PAGE => Held::Blocks,
            _ => return None,
        };
        (usize::from(shard) < shards).then_some((held, shard))
    }

    /// The frame becomes a page of `class`: wiped, then tagged (the magic last).
    pub(crate) fn claim(&mut self, class: u8) {
        self.claim_as(class, 0);
    }

    /// The frame becomes a block page (`blocks`): wiped, then tagged (the magic last).
    pub(crate) fn claim_blocks(&mut self) {
        self.claim_as(0, BLOCK_PAGE);
    }

    fn claim_as(&mut self, class: u8, kind: u8) {
        self.vacate();
        if !self.clean {
            self.data.fill(0);
        }
        self.clean = false;
        self.tag[4] = class;
        self.tag[5] = kind;
        self.tag[6..8].copy_from_slice(&self.shard.to_le_bytes());
        order_stores();
        self.tag[0..4].copy_from_slice(&TAG_MAGIC.to_le_bytes());
    }

    /// The frame no longer holds a page: whatever is left in it is never restored.
    pub(crate) fn vacate(&mut self) {
        self.tag[0..4].fill(0);
        order_stores();
    }
}

/// Frames not in any shard's use, shared by all shards.
pub(crate) struct FramePool {
    free: Mutex<Vec<Frame>>,
}

impl FramePool {
    /// A frame for `shard`, if any is left.
    pub(crate) fn take(&self, shard: u16) -> Option<Frame> {
        let mut frame = self.lock().pop()?;
        frame.shard = shard;
        Some(frame)
    }

    #[cfg(test)]
    pub(crate) fn for_each(&self, visit: &mut dyn FnMut(&Frame)) {
        self.lock().iter().for_each(visit);
    }

    /// A frame back from a store, already vacated.
    pub(crate) fn give_back(&self, frame: Frame) {
        self.lock().push(frame);
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Vec<Frame>> {
        // A panic while the lock was held cannot leave the Vec half-changed (push/pop).
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A shard's persisted scalars: its flush threshold and its pending delayed flush.
pub(crate) struct Control(&'static mut [u8]);

impl Control {
    /// Stored as threshold + 1, 0 meaning none.
    pub(crate) fn flush_threshold(&self) -> Option<u64> {
        read_u64(self.0, 0).checked_sub(1)
    }

    pub(crate) fn set_flush_threshold(&mut self, threshold: Option<u64>) {
        let v = threshold.map_or(0, |t| t.saturating_add(1));
        self.0[0..8].copy_from_slice(&v.to_le_bytes());
    }

    /// Unix seconds; 0 meaning none.
    pub(crate) fn pending_flush(&self) -> Option<u32> {
        Some(read_u32(self.0, 8)).filter(|&at| at != 0)
    }

    pub(crate) fn set_pending_flush(&mut self, at: Option<u32>) {
        self.0[8..12].copy_from_slice(&at.unwrap_or(0).to_le_bytes());
    }
}

/// What one store gets of a region: where to take pages from, its control block, and the pages
/// it held at the last stop.
pub(crate) struct ShardMemory {
    pub(crate) pool: Arc<FramePool>,
    pub(crate) shard: u16,
    pub(crate) control: Control,
    pub(crate) pages: Vec<(u8, Frame)>,
    /// Its block pages at the last stop.
    pub(crate) blocks: Vec<Frame>,
}

/// A caller-provided memory region, reattached or freshly formatted; see the module
/// documentation. Hand it to `Cache::from_region` or `SharedCache::from_region`.
pub struct Region {
    layout: Layout,
    hash_seed: u64,
    controls: Vec<Control>,
    /// Per shard, the pages restored for it.
    pages: Vec<Vec<(u8, Frame)>>,
    /// Per shard, the block pages restored for it.
    blocks: Vec<Vec<Frame>>,
    free: Vec<Frame>,
    /// Reattached, not formatted.
    warm: bool,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("layout", &self.layout)
            .field(
                "restored_pages",
                &self.pages.iter().map(Vec::len).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

/// A header's checksum: a keel header with a flipped byte is not trusted.
fn header_sum(header: &[u8]) -> u64 {
    super::item::checksum64(&header[..SUM_AT])
}

impl Region {
    /// Reattaches `memory` if its header matches `layout`, else formats it afresh with
    /// `hash_seed` (the reason is returned beside it). `memory` must be `layout.region_len()`
    /// bytes. The hash seed of a reattached region is the one it was made with (the shards'
    /// routing depends on it): read it back with `hash_seed`.
    pub fn open(
        memory: &'static mut [u8],
        layout: Layout,
        hash_seed: u64,
    ) -> Result<(Region, Result<(), ColdStart>), RegionSizeError> {
        if memory.len() != layout.region_len() {
            return Err(RegionSizeError {
                found: memory.len(),
                expected: layout.region_len(),
            });
        }
        let (header, rest) = memory.split_at_mut(HEADER_LEN);
        let verdict = Region::check_header(header, &layout);
        let seed = match verdict {
            Ok(()) => read_u64(header, SEED_AT),
            Err(_) => hash_seed,
        };
        let fresh = verdict == Err(ColdStart::New);
        if verdict.is_err() {
            Region::format_header(header, &layout, seed);
        }
        let (controls, rest) = rest.split_at_mut(layout.shards * CONTROL_LEN);
        let (tags, rest) = rest.split_at_mut(layout.frames_at() - HEADER_LEN - controls.len());
        let mut controls: Vec<Control> = controls
            .chunks_exact_mut(CONTROL_LEN)
            .map(Control)
            .collect();
        let mut region = Region {
            layout,
            hash_seed: seed,
            controls: Vec::new(),
            pages: (0..layout.shards).map(|_| Vec::new()).collect(),
            blocks: (0..layout.shards).map(|_| Vec::new()).collect(),
            free: Vec::new(),
            warm: verdict.is_ok(),
        };
        let frames = tags
            .chunks_exact_mut(TAG_LEN)
            .zip(rest.chunks_exact_mut(layout.page_size));
        for (index, (tag, data)) in frames.enumerate() {
            let mut frame = Frame {
                tag,
                data,
                // A new file is all zero; any other may hold old pages.
                clean: fresh,
                shard: 0,
                index,
            };
            match verdict {
                Ok(()) => match frame.restorable(layout.shards, layout.page_size) {
                    Some((Held::Slab(class), shard)) => {
                        frame.shard = shard;
                        region.pages[usize::from(shard)].push((class, frame));
                    }
                    Some((Held::Blocks, shard)) => {
                        frame.shard = shard;
                        region.blocks[usize::from(shard)].push(frame);
                    }
                    None => region.free.push(frame),
                },
                Err(_) => {
                    frame.vacate();
                    region.free.push(frame);
                }
            }
        }
        if verdict.is_err() {
            for control in &mut controls {
                control.0.fill(0);
            }
            // Everything below the header is wiped; only now does the header say so.
            order_stores();
            header[..MAGIC.len()].copy_from_slice(&MAGIC);
        }
        region.controls = controls;
        Ok((region, verdict))
    }

    /// Bytes of a region's start that `inspect` needs.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Whether a region starting with `header` (its first `HEADER_LEN` bytes, or fewer for a
    /// short file) would be reattached with `layout`, and if not why: lets the embedder say why a
    /// file of the wrong size starts cold (a changed setting, or a truncated file).
    pub fn inspect(header: &[u8], layout: &Layout) -> Result<(), ColdStart> {
        if header.len() < HEADER_LEN {
            return Err(ColdStart::Foreign);
        }
        Region::check_header(&header[..HEADER_LEN], layout)
    }

    fn check_header(header: &[u8], layout: &Layout) -> Result<(), ColdStart> {
        if header.iter().all(|&b| b == 0) {
            return Err(ColdStart::New);
        }
        if header[..MAGIC.len()] != MAGIC || read_u64(header, SUM_AT) != header_sum(header) {
            return Err(ColdStart::Foreign);
        }
        let version = read_u32(header, VERSION_AT);
        if version != FORMAT_VERSION {
            return Err(ColdStart::Version(version));
        }
        for (i, (what, now)) in layout.fields().into_iter().enumerate() {
            let was = read_u64(header, FIELDS_AT + 8 * i);
            if was != now {
                return Err(ColdStart::Changed { what, was, now });
            }
        }
        if read_u64(header, FRAMES_AT) != layout.frames() as u64 {
            return Err(ColdStart::Foreign);
        }
        Ok(())
    }

    /// Writes a header for `layout` with the magic cleared: `open` sets it once the rest is
    /// wiped.
    fn format_header(header: &mut [u8], layout: &Layout, seed: u64) {
        header[..MAGIC.len()].fill(0);
        order_stores();
        header[MAGIC.len()..].fill(0);
        header[VERSION_AT..VERSION_AT + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        for (i, (_, value)) in layout.fields().into_iter().enumerate() {
            let at = FIELDS_AT + 8 * i;
            header[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        header[SEED_AT..SEED_AT + 8].copy_from_slice(&seed.to_le_bytes());
        header[FRAMES_AT..FRAMES_AT + 8].copy_from_slice(&(layout.frames() as u64).to_le_bytes());
        // The sum covers the magic as it will be once set.
        let mut full = [0u8; SUM_AT];
        full.copy_from_slice(&header[..SUM_AT]);
        full[..MAGIC.len()].copy_from_slice(&MAGIC);
        let sum = header_sum(&full);
        header[SUM_AT..SUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
    }

    /// The layout the region was opened with.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The key hash seed the region's items were placed with.
    pub fn hash_seed(&self) -> u64 {
        self.hash_seed
    }

    /// Reattached (its pages are restored), not formatted afresh.
    pub fn is_warm(&self) -> bool {
        self.warm
    }

    /// Pages found to restore (slab pages and block pages), over all shards.
    pub fn restorable_pages(&self) -> usize {
        self.pages.iter().map(Vec::len).sum::<usize>()
            + self.blocks.iter().map(Vec::len).sum::<usize>()
    }

    /// One `ShardMemory` per shard, all drawing new pages from one pool.
    pub(crate) fn split(self) -> Vec<ShardMemory> {
        let pool = Arc::new(FramePool {
            free: Mutex::new(self.free),
        });
        self.controls
            .into_iter()
            .zip(self.pages)
            .zip(self.blocks)
            .enumerate()
            .map(|(shard, ((control, pages), blocks))| ShardMemory {
                pool: Arc::clone(&pool),
                // Shard counts are at most 1024.
                shard: shard as u16,
                control,
                pages,
                blocks,
            })
            .collect()
    }
}

/// What a crash would leave of a region the stores (one per shard, in shard order) work in: the
/// bytes a restart reads.
#[cfg(test)]
pub(crate) fn image(stores: &[&super::Store], layout: &Layout, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; layout.region_len()];
    let (header, rest) = bytes.split_at_mut(HEADER_LEN);
    Region::format_header(header, layout, seed);
    header[..MAGIC.len()].copy_from_slice(&MAGIC);
    for (i, store) in stores.iter().enumerate() {
        if let Some(control) = &store.control {
            rest[i * CONTROL_LEN..(i + 1) * CONTROL_LEN].copy_from_slice(control.0);
        }
    }
    let tags_at = HEADER_LEN + layout.shards * CONTROL_LEN;
    let mut put = |frame: &Frame| {
        let at = tags_at + frame.index * TAG_LEN;
        bytes[at..at + TAG_LEN].copy_from_slice(frame.tag);
        let at = layout.frames_at() + frame.index * layout.page_size;
        bytes[at..at + layout.page_size].copy_from_slice(frame.data);
    };
    for (i, store) in stores.iter().enumerate() {
        // The pool is shared: visited once.
        store.mem.for_each_frame(i == 0, &mut put);
    }
    bytes
}
