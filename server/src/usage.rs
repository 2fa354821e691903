//! The process's CPU time for STAT's `rusage_user` and `rusage_system`: the core cannot ask the
//! OS, so it calls this hook (`keel_core::ProcessUsage`).

use std::time::Duration;

/// User and system CPU time of the whole process (`getrusage(RUSAGE_SELF)`); zero if the call
/// fails, which it does not for a valid `who`.
pub(crate) fn process_cpu() -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    (timeval(usage.ru_utime), timeval(usage.ru_stime))
}

fn timeval(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let (user_before, _) = process_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let (user_after, _) = process_cpu();
        assert!(
            user_after > user_before,
            "{user_before:?} -> {user_after:?}"
        );
    }
}
