//! The time handed to the core, on tokio's clock: the Unix time read once at start, advanced by
//! `tokio::time::Instant` (monotonic), so the core's deadlines map back onto tokio timers exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_core::Timestamp;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The Unix time at `start`, in milliseconds.
    epoch: Timestamp,
    start: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            epoch: Timestamp::from_millis(epoch_ms),
            start: Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch, never running backwards.
    pub fn now(&self) -> Timestamp {
        self.epoch
            .saturating_add_millis(self.start.elapsed().as_millis() as u64)
    }

    /// The tokio instant at which `now()` reaches `deadline` (at once for a past deadline).
    pub fn instant(&self, deadline: Timestamp) -> Instant {
        self.start + Duration::from_millis(deadline.millis_since(self.epoch))
    }
}
