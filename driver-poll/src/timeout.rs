//! The `poll()` timeout argument: whole milliseconds, rounded up so a wait never ends before its
//! deadline, clamped to `c_int`, and -1 for "no timeout" (as mio's own poll selector does).

use std::time::Duration;

use libc::c_int;

pub(crate) fn poll_timeout_ms(wait: Option<Duration>) -> c_int {
    let Some(wait) = wait else {
        return -1;
    };
    let whole = wait.as_millis();
    let ms = if wait.subsec_nanos() % 1_000_000 != 0 {
        whole + 1
    } else {
        whole
    };
    ms.min(c_int::MAX as u128) as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_clamps_and_maps_none() {
        assert_eq!(poll_timeout_ms(None), -1);
        assert_eq!(poll_timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(poll_timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(poll_timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(poll_timeout_ms(Some(Duration::from_millis(1000))), 1000);
        assert_eq!(
            poll_timeout_ms(Some(Duration::from_secs(u64::MAX))),
            c_int::MAX
        );
    }
}
