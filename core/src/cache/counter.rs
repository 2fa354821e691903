//! INCR/DECR arithmetic on stored values, byte-for-byte as memcached does it
//! (`util.c safe_strtoull`, `memcached.c do_add_delta`).

use crate::protocol::CounterMode;

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses a stored value as memcached's `safe_strtoull` does on the item data: leading white
/// space and a sign are accepted, at least one digit is required, the number must be followed by
/// white space, a NUL or the end, and a negative number is refused. `None` means "non-numeric".
pub fn parse_counter(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut i = value.iter().take_while(|&&b| is_c_space(b)).count();
    let negative = match value.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut n: u64 = 0;
    while let Some(d) = value.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    // strtoull read nothing: non-numeric. Otherwise the number must end the value or be followed
    // by white space or a NUL (the item's own "\r\n" ends it in memcached).
    if i == digits_start {
        return None;
    }
    if value.get(i).is_some_and(|&b| !is_c_space(b) && b != 0) {
        return None;
    }
    let n = if negative { n.wrapping_neg() } else { n };
    if negative && n >= 1 << 63 {
        return None;
    }
    Some(n)
}

/// INCR wraps at 2^64; DECR stops at 0.
pub fn apply(mode: CounterMode, value: u64, delta: u64) -> u64 {
    match mode {
        CounterMode::Incr => value.wrapping_add(delta),
        CounterMode::Decr => value.saturating_sub(delta),
    }
}

/// Writes the stored form of a new counter value: its decimal digits, padded with spaces to the old
/// length when shorter, as memcached rewrites the item in place ("10" decremented reads "9 ").
pub fn render(value: u64, old_len: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    if out.len() < old_len {
        out.resize(old_len, b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_strtoull() {
        assert_eq!(parse_counter(b"0"), Some(0));
        assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_counter(b"18446744073709551616"), None);
        assert_eq!(parse_counter(b"  42"), Some(42));
        assert_eq!(parse_counter(b"42 "), Some(42));
        assert_eq!(parse_counter(b"42 trailing"), Some(42));
        assert_eq!(parse_counter(b"+7"), Some(7));
        assert_eq!(parse_counter(b"-0"), Some(0));
        assert_eq!(parse_counter(b"-1"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"   "), None);
        assert_eq!(parse_counter(b"12\0junk"), Some(12));
        assert_eq!(parse_counter(b"abc"), None);
        assert_eq!(parse_counter(b"12abc"), None);
        assert_eq!(parse_counter(b"0x10"), None);
    }

    #[test]
    fn arithmetic_wraps_and_floors() {
        assert_eq!(apply(CounterMode::Incr, u64::MAX, 2), 1);
        assert_eq!(apply(CounterMode::Decr, 3, 5), 0);
        assert_eq!(apply(CounterMode::Decr, 10, 1), 9);
    }

    #[test]
    fn renders_with_memcached_padding() {
        let mut out = Vec::new();
        render(9, 2, &mut out);
        assert_eq!(out, b"9 ");
        render(0, 2, &mut out);
        assert_eq!(out, b"0 ");
        render(100, 2, &mut out);
        assert_eq!(out, b"100");
        render(u64::MAX, 0, &mut out);
        assert_eq!(out, b"18446744073709551615");
    }
}
