//! `WallClock`: the drivers' notion of now. The Unix time is read once at start and advanced by a
//! monotonic clock, so a wall-clock step never jumps the core (memcached's own clock works alike).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use keel_core::Timestamp;

#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    epoch_ms: u64,
    start: Instant,
}

impl WallClock {
    /// Anchors the clock at the current Unix time.
    pub fn start() -> WallClock {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        WallClock {
            epoch_ms,
            start: Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch as of the start, plus monotonic time elapsed since.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.epoch_ms)
            .saturating_add_millis(self.start.elapsed().as_millis() as u64)
    }
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
