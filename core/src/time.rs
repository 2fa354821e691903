//! `Timestamp`: the only notion of time the core has, always handed in by the caller.

use std::fmt;

/// Milliseconds on the caller's clock. Drivers use milliseconds since the Unix epoch (anchored once,
/// advanced by a monotonic clock), which is what memcached's absolute expiry times need; tests and
/// fuzzers may start anywhere. The core never reads a clock itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's zero (the Unix epoch, for drivers).
    pub const ZERO: Timestamp = Timestamp(0);

    /// `ms` milliseconds on the caller's clock.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// `secs` whole seconds (saturating at the largest timestamp).
    pub const fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000))
    }

    /// The milliseconds on the caller's clock.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds, the granularity of memcached's expiry clock.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `ms` milliseconds later, saturating at the largest timestamp.
    pub const fn saturating_add_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// `secs` seconds later, saturating at the largest timestamp.
    pub const fn saturating_add_secs(self, secs: u64) -> Timestamp {
        self.saturating_add_millis(secs.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self`; 0 when `earlier` is not earlier.
    pub const fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// The earlier of two optional deadlines (or durations); `None` means "none". Drivers fold their
/// own deadlines with the core's `poll_timeout()` this way on every turn.
pub fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A clock that never runs backwards: the core clamps whatever it is given to the latest time seen,
/// so a caller's clock step back cannot resurrect expired items or panic a subtraction.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MonotonicClock {
    latest: Timestamp,
}

impl MonotonicClock {
    pub(crate) fn new(start: Timestamp) -> MonotonicClock {
        MonotonicClock { latest: start }
    }

    pub(crate) fn advance(&mut self, now: Timestamp) -> Timestamp {
        if now > self.latest {
            self.latest = now;
        }
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_clamps_backwards_time() {
        let mut clock = MonotonicClock::new(Timestamp::from_secs(10));
        assert_eq!(
            clock.advance(Timestamp::from_secs(5)),
            Timestamp::from_secs(10)
        );
        assert_eq!(
            clock.advance(Timestamp::from_millis(10_500)),
            Timestamp::from_millis(10_500)
        );
    }

    #[test]
    fn earliest_ignores_missing_deadlines() {
        let t = Timestamp::from_millis;
        assert_eq!(earliest(Some(t(5)), Some(t(3))), Some(t(3)));
        assert_eq!(earliest(None, Some(t(3))), Some(t(3)));
        assert_eq!(earliest(Some(t(5)), None), Some(t(5)));
        assert_eq!(earliest::<Timestamp>(None, None), None);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(u64::MAX - 1);
        assert_eq!(t.saturating_add_secs(5).as_millis(), u64::MAX);
        assert_eq!(Timestamp::ZERO.millis_since(t), 0);
        assert_eq!(Timestamp::from_millis(1234).to_string(), "1.234s");
    }
}
