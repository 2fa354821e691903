//! `WallClock`: the drivers' notion of now. The Unix time is read once at start and advanced by a
//! monotonic clock, so a wall-clock step never jumps the core (memcached's own clock works alike).
//! The drivers read it on every wake-up, so it uses the kernel's coarse monotonic clock where there
//! is one: a few milliseconds of resolution is plenty for timeouts counted in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

use keel_core::Timestamp;

#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    epoch_ms: u64,
    start_ms: u64,
}

impl WallClock {
    /// Anchors the clock at the current Unix time.
    pub fn start() -> WallClock {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        WallClock {
            epoch_ms,
            start_ms: monotonic_ms(),
        }
    }

    /// Milliseconds since the Unix epoch as of the start, plus monotonic time elapsed since.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.epoch_ms)
            .saturating_add_millis(monotonic_ms().saturating_sub(self.start_ms))
    }
}

#[cfg(target_os = "linux")]
const MONOTONIC: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
#[cfg(not(target_os = "linux"))]
const MONOTONIC: libc::clockid_t = libc::CLOCK_MONOTONIC;

fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call; the clock id is a constant the
    // platform defines. A monotonic clock cannot fail with valid arguments, so the result is
    // not checked (on failure `ts` stays zero and time merely stands still).
    unsafe { libc::clock_gettime(MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1000) + ts.tv_nsec as u64 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_near_system_time_and_never_goes_back() {
        let clock = WallClock::start();
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let a = clock.now();
        assert!(a.as_millis().abs_diff(system) < 5_000);
        assert!(clock.now() >= a);
    }
}
