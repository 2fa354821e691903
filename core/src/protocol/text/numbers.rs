//! Number parsing with memcached's `safe_strto*` rules (`util.c`) on one token: C white space may
//! lead, a sign may follow, then decimal digits; the digits must end the token or be followed by
//! white space (strtol stops there and memcached accepts it); no wrap-around.
//!
//! One deliberate difference: memcached parses into a 64-bit `long` and then silently truncates
//! to the 32-bit field (flags 4294967296 become 0, an exptime of 2147483648 becomes negative, a
//! length of 4294967297 becomes 1). keel refuses a number that does not fit its field, so the
//! command gets memcached's error line for a malformed number instead (README, compatibility).

/// memcached's `xisspace`: C `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// strtoull/strtol's scan: `Some((negative, magnitude))`, or `None` when no digit was read, the
/// magnitude overflows a u64 (ERANGE), or something other than white space follows the digits.
fn scan(token: &[u8]) -> Option<(bool, u64)> {
    let start = token.iter().take_while(|&&b| is_c_space(b)).count();
    let rest = &token[start..];
    let (negative, digits) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    scan_digits(digits).map(|n| (negative, n))
}

fn scan_digits(digits: &[u8]) -> Option<u64> {
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    // A NUL ends the C string memcached parses, so it ends the number too.
    if len == 0 || digits.get(len).is_some_and(|&b| !is_c_space(b) && b != 0) {
        return None;
    }
    digits[..len].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `safe_strtoull`: a negative number is strtoull's wrapped value, refused when that reads as
/// negative in 64 bits and the token has a minus sign anywhere (so "-0" is 0, "-1" is refused).
pub fn parse_u64(token: &[u8]) -> Option<u64> {
    let (negative, n) = scan(token)?;
    let value = if negative { n.wrapping_neg() } else { n };
    let refused = (value as i64) < 0 && token.contains(&b'-');
    (!refused).then_some(value)
}

/// `safe_strtoul` on a 32-bit field: as `parse_u64`, and the value must fit.
pub fn parse_u32(token: &[u8]) -> Option<u32> {
    parse_u64(token).and_then(|n| u32::try_from(n).ok())
}

/// `safe_strtol` on a 32-bit field: the value must fit.
pub fn parse_i32(token: &[u8]) -> Option<i32> {
    let (negative, n) = scan(token)?;
    let n = i64::try_from(n).ok()?;
    i32::try_from(if negative { -n } else { n }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoull_rules() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"-1"), None);
        // strtoull negates the magnitude; memcached only refuses what then reads as negative.
        assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_u64(b"+7"), Some(7));
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-"), None);
        assert_eq!(parse_u64(b"\t12"), Some(12));
        assert_eq!(parse_u64(b"12\tjunk"), Some(12));
        assert_eq!(parse_u64(b" "), None);
        assert_eq!(parse_u64(b"3\0x"), Some(3));
        // memcached looks for a minus sign anywhere in the token once the value reads negative.
        assert_eq!(parse_u64(b"18446744073709551615\t-"), None);
        assert_eq!(parse_u64(b"5\t-"), Some(5));
    }

    #[test]
    fn thirty_two_bit_fields_must_fit() {
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_i32(b"-5"), Some(-5));
        assert_eq!(parse_i32(b"+5"), Some(5));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"-2147483649"), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"99999999999999999999"), None);
    }
}
