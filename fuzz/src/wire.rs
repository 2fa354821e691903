//! The inverse of `arbitrary`'s parsing (version 1.5), for writing seed inputs of the structured
//! targets from Rust values: integers are little-endian, a `bool` is a byte whose low bit is the
//! value, a derived enum is selected by a `u32` scaled to the variant count, an `Option` is a bool
//! then the value, and each `Vec` element is preceded by a "keep going" bool.
//!
//! `tests/replay.rs` checks that every seed parses back to the value it was written from, so a
//! change in `arbitrary`'s format is caught instead of silently degrading the corpus.

/// A seed input being written.
#[derive(Default)]
pub struct Enc {
    pub out: Vec<u8>,
}

/// A value that can be written in the form `arbitrary` reads it back.
pub trait Emit {
    fn emit(&self, e: &mut Enc);
}

impl Enc {
    pub fn u8(&mut self, v: u8) -> &mut Enc {
        self.out.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Enc {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Enc {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Enc {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Enc {
        self.u8(u8::from(v))
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Enc {
        self.out.extend_from_slice(v);
        self
    }

    /// Selects variant `index` of an enum with `count` variants: the derive picks
    /// `(u32 * count) >> 32`, so the smallest `u32` mapping to `index` is `ceil(index * 2^32 / count)`.
    pub fn variant(&mut self, index: u32, count: u32) -> &mut Enc {
        assert!(index < count);
        let x = (u64::from(index) << 32).div_ceil(u64::from(count));
        self.u32(x as u32)
    }

    /// A `Vec` of items; `last` leaves off the terminating bool, as `arbitrary_take_rest` allows
    /// for the final field.
    pub fn vec<T: Emit>(&mut self, items: &[T], last: bool) -> &mut Enc {
        for item in items {
            self.bool(true);
            item.emit(self);
        }
        if !last {
            self.bool(false);
        }
        self
    }
}
