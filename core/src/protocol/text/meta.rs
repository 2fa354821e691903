//! Meta-command flags (`mg`, `ms`, `md`, `ma`): memcached's `_meta_flag_preparse`, plus the `E`
//! flag of later memcached releases.

use super::numbers::{parse_i32, parse_u32, parse_u64};
use super::request::text_exptime;

/// memcached rejects a meta command with more tokens than this (MFLAG_MAX_OPT_LENGTH).
pub const MAX_META_TOKENS: usize = 20;
/// The longest opaque (`O`) token echoed back.
pub const MAX_OPAQUE_LEN: usize = 32;

/// Flags of one meta command. Return flags are echoed in request order from the raw tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaFlags {
    /// `b`: the key is base64-encoded.
    pub base64_key: bool,
    /// `v`: return the value.
    pub value: bool,
    /// `q`: quiet mode: the common answer (a miss for `mg`, success otherwise) is left out.
    pub quiet: bool,
    /// `u`: do not bump the item or mark it fetched.
    pub no_update: bool,
    /// `I`: invalidate (mark stale) instead of deleting, or store over a newer CAS.
    pub invalidate: bool,
    /// `T`: new TTL (already in the binary protocol's exptime form).
    pub ttl: Option<u32>,
    /// `N`: create on miss with this TTL.
    pub vivify: Option<u32>,
    /// `R`: win a recache token when the TTL is below this.
    pub recache: Option<u32>,
    /// `F`: client flags for a store.
    pub client_flags: u32,
    /// `C`: compare-and-swap against this CAS.
    pub compare_cas: Option<u64>,
    /// `E`: the CAS to give a newly stored item.
    pub explicit_cas: Option<u64>,
    /// `M`: the mode byte, read by `ms` (which store) and `ma` (incr or decr).
    pub mode: Option<u8>,
    /// `D`: the `ma` delta.
    pub delta: Option<u64>,
    /// `J`: the initial value of a counter `ma` creates.
    pub initial: Option<u64>,
}

/// Parses the flag tokens; the error is the exact line memcached answers.
pub fn parse_flags(tokens: &[&[u8]]) -> Result<MetaFlags, &'static str> {
    let mut f = MetaFlags::default();
    let mut seen = [false; 128];
    let mut error = None;
    let bad_token = "CLIENT_ERROR bad token in command line format";
    for token in tokens {
        let o = token[0];
        if o >= 127 || seen[usize::from(o)] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[usize::from(o)] = true;
        let arg = &token[1..];
        let mut fail = |msg: &'static str| {
            error.get_or_insert(msg);
        };
        match o {
            b'b' => f.base64_key = true,
            b'N' => match parse_i32(arg) {
                Some(t) => f.vivify = Some(text_exptime(t)),
                None => fail(bad_token),
            },
            b'T' => match parse_i32(arg) {
                Some(t) => f.ttl = Some(text_exptime(t)),
                None => fail(bad_token),
            },
            b'R' => match parse_i32(arg) {
                Some(t) => f.recache = Some(text_exptime(t)),
                None => fail(bad_token),
            },
            b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'l' | b'h' => {}
            b'v' => f.value = true,
            b'u' => f.no_update = true,
            b'q' => f.quiet = true,
            b'I' => f.invalidate = true,
            b'F' => match parse_u32(arg) {
                Some(v) => f.client_flags = v,
                None => fail("CLIENT_ERROR bad command line format"),
            },
            b'C' => match parse_u64(arg) {
                Some(v) => f.compare_cas = Some(v),
                None => fail(bad_token),
            },
            b'E' => match parse_u64(arg) {
                Some(v) => f.explicit_cas = Some(v),
                None => fail(bad_token),
            },
            b'M' => match arg {
                [m] => f.mode = Some(*m),
                _ => fail("CLIENT_ERROR incorrect length for M token"),
            },
            b'J' => match parse_u64(arg) {
                Some(v) => f.initial = Some(v),
                None => fail("CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match parse_u64(arg) {
                Some(v) => f.delta = Some(v),
                None => fail("CLIENT_ERROR invalid numeric delta value"),
            },
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
    }
    match error {
        Some(msg) => Err(msg),
        None => Ok(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_like_memcached() {
        let f = parse_flags(&[
            b"v", b"T30", b"N0", b"C5", b"MA", b"D2", b"J7", b"E9", b"F3", b"q", b"Oabc",
        ])
        .unwrap();
        assert!(f.value && f.quiet);
        assert_eq!(
            (f.ttl, f.vivify, f.compare_cas, f.mode),
            (Some(30), Some(0), Some(5), Some(b'A'))
        );
        assert_eq!(
            (f.delta, f.initial, f.explicit_cas, f.client_flags),
            (Some(2), Some(7), Some(9), 3)
        );
        assert_eq!(
            parse_flags(&[b"v", b"v"]),
            Err("CLIENT_ERROR duplicate flag")
        );
        assert_eq!(parse_flags(&[b"x"]), Err("CLIENT_ERROR invalid flag"));
        assert_eq!(
            parse_flags(&[b"MAB"]),
            Err("CLIENT_ERROR incorrect length for M token")
        );
        assert_eq!(
            parse_flags(&[b"Tx"]),
            Err("CLIENT_ERROR bad token in command line format")
        );
        assert_eq!(
            parse_flags(&[b"Dz"]),
            Err("CLIENT_ERROR invalid numeric delta value")
        );
        assert_eq!(
            parse_flags(&[b"T-1"]).unwrap().ttl,
            Some(crate::cache::RELATIVE_EXPTIME_MAX + 1)
        );
    }
}
