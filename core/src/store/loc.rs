//! Item locations: the `u32` that names where an item's bytes live.
//!
//! The index stores nothing but these, so their width is the index's whole per-slot cost.
//!
//! ```text
//!  bit 31 | bits 30..15            | bits 14..0
//!  0      | page number (16 bits)  | chunk index in the page (15 bits)   slab chunk
//!  1      | large-item table index (31 bits)                             large item
//!  u32::MAX (all ones) is EMPTY, so large index 2^31-1 is never handed out.
//! ```
//!
//! Slab memory is therefore capped at 2^16 pages of 1 MiB = 64 GiB. A page holds at most
//! 2^15 chunks, which is why the smallest chunk is 32 bytes (1 MiB / 32 = 2^15). Large items
//! (over 16 KiB each) are limited only by the 2^31-1 table entries, i.e. by memory.

/// The empty marker: no item. Never a valid location.
pub(crate) const EMPTY: u32 = u32::MAX;

const LARGE_FLAG: u32 = 1 << 31;
const CHUNK_BITS: u32 = 15;
const CHUNK_MASK: u32 = (1 << CHUNK_BITS) - 1;

/// Most chunks one page can be cut into.
pub(crate) const MAX_CHUNKS_PER_PAGE: usize = 1 << CHUNK_BITS;
/// Most slab pages that can exist at once (64 GiB of 1 MiB pages).
pub(crate) const MAX_PAGES: usize = 1 << 16;
/// Number of large-item table slots that can be encoded (EMPTY takes the last one).
pub(crate) const MAX_LARGE: usize = (1 << 31) - 1;

/// A decoded location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Chunk { page: u16, chunk: u16 },
    Large(u32),
}

impl Loc {
    pub(crate) fn decode(raw: u32) -> Loc {
        debug_assert_ne!(raw, EMPTY, "decoding the empty marker");
        if raw & LARGE_FLAG != 0 {
            Loc::Large(raw & !LARGE_FLAG)
        } else {
            // Both casts are exact: the page field is 16 bits, the chunk field 15.
            Loc::Chunk {
                page: (raw >> CHUNK_BITS) as u16,
                chunk: (raw & CHUNK_MASK) as u16,
            }
        }
    }

    pub(crate) fn encode(self) -> u32 {
        match self {
            Loc::Chunk { page, chunk } => {
                debug_assert!(usize::from(chunk) < MAX_CHUNKS_PER_PAGE);
                (u32::from(page) << CHUNK_BITS) | u32::from(chunk)
            }
            Loc::Large(index) => {
                debug_assert!((index as usize) < MAX_LARGE);
                LARGE_FLAG | index
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_the_edges() {
        for loc in [
            Loc::Chunk { page: 0, chunk: 0 },
            Loc::Chunk {
                page: u16::MAX,
                chunk: (MAX_CHUNKS_PER_PAGE - 1) as u16,
            },
            Loc::Large(0),
            Loc::Large((MAX_LARGE - 1) as u32),
        ] {
            let raw = loc.encode();
            assert_ne!(raw, EMPTY);
            assert_eq!(Loc::decode(raw), loc);
        }
        // 64 GiB of slab pages must be addressable.
        assert_eq!(MAX_PAGES * (1 << 20), 64 << 30);
    }
}
