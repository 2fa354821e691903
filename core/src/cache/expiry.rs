//! memcached's expiry clock rules (`memcached.c realtime`), in Unix seconds.

/// Exptimes up to this many seconds are relative to now; larger ones are absolute Unix times.
pub const RELATIVE_EXPTIME_MAX: u32 = 60 * 60 * 24 * 30;

/// The absolute expiry (Unix seconds, 0 = never) of a request's exptime. An absolute time at or
/// before `now` yields an already-dead item, as in memcached.
pub fn absolute_exptime(exptime: u32, now_secs: u32) -> u32 {
    match exptime {
        0 => 0,
        relative if relative <= RELATIVE_EXPTIME_MAX => now_secs.saturating_add(relative).max(1),
        absolute => absolute,
    }
}

/// The core's time in whole Unix seconds, saturated at the end of memcached's 32-bit clock.
pub fn unix_secs(now: crate::time::Timestamp) -> u32 {
    u32::try_from(now.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_absolute_and_never() {
        assert_eq!(absolute_exptime(0, 1000), 0);
        assert_eq!(absolute_exptime(10, 1000), 1010);
        assert_eq!(
            absolute_exptime(RELATIVE_EXPTIME_MAX, 0),
            RELATIVE_EXPTIME_MAX
        );
        assert_eq!(
            absolute_exptime(RELATIVE_EXPTIME_MAX + 1, 5),
            RELATIVE_EXPTIME_MAX + 1
        );
        assert_eq!(absolute_exptime(u32::MAX, 5), u32::MAX);
        assert_eq!(absolute_exptime(5, u32::MAX - 1), u32::MAX);
    }
}
