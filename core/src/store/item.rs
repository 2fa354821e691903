//! The byte layout of one item inside a slab chunk or a large item's box.
//!
//! ```text
//! offset  size  field
//!  0      8     cas            (u64 LE)
//!  8      4     exptime        (u32 LE, unix seconds, 0 = never)
//! 12      4     value length   (u32 LE)
//! 16      1     key length     (1..=250)
//! 17      1     bits           (USED, ACCESSED, FETCHED, HAS_FLAGS, STALE, TOKEN_SENT, KEY_BINARY)
//! 18      4     last access    (u32 LE, unix seconds)
//! 22      2     checksum       (u16 LE, of the immutable bytes; written only in a memory region)
//! 24      4     flags          (u32 LE, present only when HAS_FLAGS, i.e. flags != 0)
//! then the key, then the value
//! ```
//!
//! A free slab chunk has `bits == 0` (no USED) and reuses bytes 0..8 as its free-list links,
//! so a zeroed page is a page of free chunks.
//!
//! `write` clears USED first and sets it last, with the stores ordered: in a memory region that
//! outlives a crash, a chunk with USED set holds a whole item (see `region`). The checksum covers
//! what never changes in place (lengths, flags, key, value), so a touch or a read does not rewrite
//! it; it lets a restart tell a damaged item from a good one.

use super::le::{read_u16, read_u32, read_u64, write_u32};
use super::{Hit, ItemMeta, ItemRef};

pub(crate) const HEADER: usize = 24;
const LAST_ACCESS_AT: usize = 18;
const SUM_AT: usize = 22;
const FLAGS_LEN: usize = 4;
const BITS_AT: usize = 17;

/// The chunk holds an item (clear: the chunk is free).
pub(crate) const USED: u8 = 1;
/// CLOCK's second-chance bit, set by `find`, cleared by a passing hand.
pub(crate) const ACCESSED: u8 = 2;
/// The item was read by a client at least once (for the `*_unfetched` counters).
pub(crate) const FETCHED: u8 = 4;
/// Bytes 22..26 hold nonzero flags.
pub(crate) const HAS_FLAGS: u8 = 8;
/// Invalidated by a meta delete or store with `I`: served, but flagged stale.
pub(crate) const STALE: u8 = 16;
/// A meta-protocol recache token was handed out for this item.
pub(crate) const TOKEN_SENT: u8 = 32;
/// Stored by a meta command with a base64 (`b`) key: meta replies show the key in base64.
pub(crate) const KEY_BINARY: u8 = 64;

/// Bytes an item occupies in its chunk or box.
pub(crate) fn stored_len(key_len: usize, value_len: usize, flags: u32) -> usize {
    HEADER + if flags != 0 { FLAGS_LEN } else { 0 } + key_len + value_len
}

/// Why a stored item no longer counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Death {
    Expired,
    Flushed,
}

/// What decides whether an item is alive: the caller's clock and the flush threshold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    pub(crate) now: u32,
    pub(crate) flush_threshold: Option<u64>,
}

impl Liveness {
    /// Flushed wins over expired, as in memcached's `do_item_get`.
    pub(crate) fn death(&self, buf: &[u8]) -> Option<Death> {
        if self.flush_threshold.is_some_and(|t| cas(buf) <= t) {
            return Some(Death::Flushed);
        }
        let exptime = exptime(buf);
        if exptime != 0 && exptime <= self.now {
            return Some(Death::Expired);
        }
        None
    }
}

pub(crate) fn read_link(buf: &[u8], at: usize) -> u32 {
    read_u32(buf, at)
}

pub(crate) fn bits(buf: &[u8]) -> u8 {
    buf[BITS_AT]
}

pub(crate) fn set_bits(buf: &mut [u8], bits: u8) {
    buf[BITS_AT] = bits;
}

pub(crate) fn is_used(buf: &[u8]) -> bool {
    bits(buf) & USED != 0
}

pub(crate) fn cas(buf: &[u8]) -> u64 {
    read_u64(buf, 0)
}

pub(crate) fn exptime(buf: &[u8]) -> u32 {
    read_u32(buf, 8)
}

pub(crate) fn set_exptime(buf: &mut [u8], exptime: u32) {
    write_u32(buf, 8, exptime);
}

pub(crate) fn set_cas(buf: &mut [u8], cas: u64) {
    buf[0..8].copy_from_slice(&cas.to_le_bytes());
}

pub(crate) fn set_last_access(buf: &mut [u8], now: u32) {
    write_u32(buf, LAST_ACCESS_AT, now);
}

fn value_len(buf: &[u8]) -> usize {
    read_u32(buf, 12) as usize
}

fn key_len(buf: &[u8]) -> usize {
    usize::from(buf[16])
}

fn flags(buf: &[u8]) -> u32 {
    if bits(buf) & HAS_FLAGS != 0 {
        read_u32(buf, HEADER)
    } else {
        0
    }
}

fn key_at(buf: &[u8]) -> usize {
    if bits(buf) & HAS_FLAGS != 0 {
        HEADER + FLAGS_LEN
    } else {
        HEADER
    }
}

pub(crate) fn key(buf: &[u8]) -> &[u8] {
    let at = key_at(buf);
    &buf[at..at + key_len(buf)]
}

/// Bytes 0..stored_len of the item, i.e. without the chunk's unused tail.
pub(crate) fn stored(buf: &[u8]) -> usize {
    key_at(buf) + key_len(buf) + value_len(buf)
}

/// memcached's accounting size of the item held in `buf`.
pub(crate) fn accounted_size(buf: &[u8]) -> usize {
    super::Store::item_size(key_len(buf), value_len(buf), flags(buf))
}

/// The part of `view` a read answers with; the store fills in the class id, which depends on
/// where the bytes live.
pub(crate) fn hit(buf: &[u8]) -> Hit<'_> {
    debug_assert!(is_used(buf), "reading a free chunk");
    let value_at = key_at(buf) + key_len(buf);
    Hit {
        value: &buf[value_at..value_at + value_len(buf)],
        flags: flags(buf),
        cas: cas(buf),
        class_id: 0,
    }
}

pub(crate) fn view(buf: &[u8]) -> ItemRef<'_> {
    let Hit {
        value, flags, cas, ..
    } = hit(buf);
    ItemRef {
        key: key(buf),
        value,
        flags,
        exptime: exptime(buf),
        cas,
        last_access: read_u32(buf, LAST_ACCESS_AT),
        fetched: bits(buf) & FETCHED != 0,
        stale: bits(buf) & STALE != 0,
        token_sent: bits(buf) & TOKEN_SENT != 0,
        binary_key: bits(buf) & KEY_BINARY != 0,
    }
}

/// Writes a fresh item (not accessed, not fetched, last accessed `now`) at the start of `buf`,
/// with its checksum when `sum` (a store in a memory region). `buf` must hold at least
/// `stored_len(..)` bytes; the key is 1..=250 bytes and the value fits in a u32 (the caller
/// checked both). USED is cleared before and set after everything else (module documentation).
pub(crate) fn write(buf: &mut [u8], key: &[u8], meta: ItemMeta, value: &[u8], now: u32, sum: bool) {
    buf[BITS_AT] = 0;
    super::region::order_stores();
    #[cfg(test)]
    let tear = tear::AT.take().map(|at| {
        (
            at,
            buf[..stored_len(key.len(), value.len(), meta.flags)].to_vec(),
        )
    });
    buf[0..8].copy_from_slice(&meta.cas.to_le_bytes());
    write_u32(buf, 8, meta.exptime);
    // The caller rejected values over u32::MAX bytes (`Store::fits`).
    write_u32(buf, 12, value.len() as u32);
    // The caller asserted 1..=250.
    buf[16] = key.len() as u8;
    write_u32(buf, LAST_ACCESS_AT, now);
    let mut at = HEADER;
    let mut b = USED;
    if meta.flags != 0 {
        b |= HAS_FLAGS;
        write_u32(buf, HEADER, meta.flags);
        at += FLAGS_LEN;
    }
    buf[at..at + key.len()].copy_from_slice(key);
    at += key.len();
    buf[at..at + value.len()].copy_from_slice(value);
    if sum {
        let s = item_sum(buf, at + value.len());
        buf[SUM_AT..SUM_AT + 2].copy_from_slice(&s.to_le_bytes());
    }
    #[cfg(test)]
    if let Some((at, before)) = tear {
        // Only the first `at` bytes of the item were written when the "crash" came.
        let at = at.min(before.len());
        buf[at..before.len()].copy_from_slice(&before[at..]);
        buf[BITS_AT] = 0;
        panic!("{}", tear::MESSAGE);
    }
    super::region::order_stores();
    buf[BITS_AT] = b;
}

/// A test hook: the next `write` stops after a number of bytes and panics, as a crash would cut
/// it short, leaving the chunk as a restart would find it.
#[cfg(test)]
pub(crate) mod tear {
    use std::cell::Cell;

    pub(crate) const MESSAGE: &str = "torn write (test hook)";

    thread_local! {
        pub(crate) static AT: Cell<Option<usize>> = const { Cell::new(None) };
    }
}

/// The checksum of an item whose stored bytes end at `end`: lengths, flags, key and value.
fn item_sum(buf: &[u8], end: usize) -> u16 {
    let lengths = u64::from(read_u32(buf, 12)) | u64::from(buf[16]) << 32;
    let h = hash_from(lengths, &buf[HEADER..end]);
    (h ^ (h >> 16)) as u16
}

/// A small, stable (it is part of the file format) hash: 8 bytes per multiply-and-mix step.
pub(crate) fn checksum64(bytes: &[u8]) -> u64 {
    hash_from(0, bytes)
}

/// `checksum64` of `bytes`, mixed with `seed` first.
fn hash_from(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (seed ^ bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K);
        h ^= h >> 29;
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^ (h >> 32)
}

/// Whether `buf` (a chunk of `class`, read back from a region after a restart) holds a whole,
/// undamaged item: USED, sane lengths, in the class it would be written to, checksum matching.
/// Never panics, whatever the bytes.
pub(crate) fn is_restorable(buf: &[u8], class: u8) -> bool {
    use super::slab::CLASS_SIZES;
    let class = usize::from(class);
    // `class_for(end) == Some(class)` without its search: above the class below, within this one.
    let in_class = |end: usize| {
        CLASS_SIZES.get(class).is_some_and(|&size| end <= size)
            && class
                .checked_sub(1)
                .is_none_or(|below| end > CLASS_SIZES[below])
    };
    whole_end(buf).is_some_and(|end| in_class(end) && read_u16(buf, SUM_AT) == item_sum(buf, end))
}

/// Whether `buf` (a large item read back from its chain after a restart) is exactly one whole
/// item too big for a slab chunk; its checksum is the chain's (`large_sum`). Never panics.
pub(crate) fn is_restorable_large(buf: &[u8]) -> bool {
    whole_end(buf).is_some_and(|end| end == buf.len() && super::slab::class_for(end).is_none())
}

/// Where the item in `buf` ends, if it is marked USED and its lengths are sane and inside `buf`.
fn whole_end(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER + FLAGS_LEN || !is_used(buf) {
        return None;
    }
    let has_flags = bits(buf) & HAS_FLAGS != 0;
    if has_flags && read_u32(buf, HEADER) == 0 {
        return None;
    }
    let key_len = key_len(buf);
    let end = key_at(buf)
        .saturating_add(key_len)
        .saturating_add(value_len(buf));
    ((1..=super::MAX_KEY_LEN).contains(&key_len) && end <= buf.len()).then_some(end)
}

/// A large item's 64-bit checksum of what never changes in place (lengths, flags, key, value):
/// a chain of blocks is longer than a slab item, so it gets more than `item_sum`'s 16 bits.
pub(crate) fn large_sum(buf: &[u8]) -> u64 {
    let lengths = u64::from(read_u32(buf, 12)) | u64::from(buf[16]) << 32;
    hash_from(lengths, &buf[HEADER..stored(buf)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trip_without_and_with_flags() {
        let mut buf = [0xAAu8; 64];
        let meta = ItemMeta {
            flags: 0,
            exptime: 77,
            cas: 0x0102_0304_0506_0708,
        };
        write(&mut buf, b"key", meta, b"value", 0, false);
        assert_eq!(stored(&buf), HEADER + 3 + 5);
        let r = view(&buf);
        assert_eq!(
            (r.key, r.value, r.flags, r.exptime, r.cas),
            (&b"key"[..], &b"value"[..], 0, 77, meta.cas)
        );
        assert_eq!(bits(&buf), USED);

        let meta = ItemMeta {
            flags: 0xDEAD_BEEF,
            exptime: 0,
            cas: 9,
        };
        write(&mut buf, b"k", meta, b"", 0, false);
        assert_eq!(stored(&buf), HEADER + 4 + 1);
        let r = view(&buf);
        assert_eq!(
            (r.key, r.value, r.flags, r.exptime, r.cas),
            (&b"k"[..], &b""[..], 0xDEAD_BEEF, 0, 9)
        );
        assert_eq!(bits(&buf), USED | HAS_FLAGS);
    }

    #[test]
    fn liveness_rules() {
        let mut buf = [0u8; 32];
        write(
            &mut buf,
            b"k",
            ItemMeta {
                flags: 0,
                exptime: 100,
                cas: 5,
            },
            b"",
            0,
            false,
        );
        let at = |now, flush| {
            Liveness {
                now,
                flush_threshold: flush,
            }
            .death(&buf)
        };
        assert_eq!(at(99, None), None);
        assert_eq!(at(100, None), Some(Death::Expired));
        assert_eq!(at(99, Some(4)), None);
        assert_eq!(at(99, Some(5)), Some(Death::Flushed));
        assert_eq!(at(200, Some(5)), Some(Death::Flushed));
        write(
            &mut buf,
            b"k",
            ItemMeta {
                flags: 0,
                exptime: 0,
                cas: 5,
            },
            b"",
            0,
            false,
        );
        assert_eq!(
            Liveness {
                now: u32::MAX,
                flush_threshold: None
            }
            .death(&buf),
            None
        );
    }
}
