//! Number parsing with memcached's `safe_strto*` rules on whole tokens: an optional sign, decimal
//! digits, nothing else, and no wrap-around.

/// `safe_strtoull`: u64; a minus sign is accepted only for zero.
pub fn parse_u64(token: &[u8]) -> Option<u64> {
    let (negative, digits) = split_sign(token);
    let n = parse_digits(digits)?;
    (!negative || n == 0).then_some(n)
}

/// `safe_strtoul` on a 32-bit value.
pub fn parse_u32(token: &[u8]) -> Option<u32> {
    parse_u64(token).and_then(|n| u32::try_from(n).ok())
}

/// `safe_strtol` on a 32-bit value.
pub fn parse_i32(token: &[u8]) -> Option<i32> {
    let (negative, digits) = split_sign(token);
    let n = i64::try_from(parse_digits(digits)?).ok()?;
    i32::try_from(if negative { -n } else { n }).ok()
}

fn split_sign(token: &[u8]) -> (bool, &[u8]) {
    match token.first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    }
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_whole_token() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_i32(b"-5"), Some(-5));
        assert_eq!(parse_i32(b"+5"), Some(5));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-"), None);
    }
}
