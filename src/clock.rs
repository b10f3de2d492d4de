//! The clock, as a seam: wall time for the record and the journal, monotonic time for
//! durations. The engine never calls `SystemTime::now()` itself, so its unit tests pin time.

use std::time::{Duration, Instant, SystemTime};

pub trait Clock {
    /// Now, for timestamps.
    fn now(&self) -> SystemTime;
    /// Time since some fixed point, for durations.
    fn elapsed(&self) -> Duration;

    /// Now as RFC 3339 UTC to the second, as the report and the journal write it.
    fn stamp(&self) -> String {
        humantime::format_rfc3339_seconds(self.now()).to_string()
    }
}

/// The machine's clock.
pub struct SystemClock {
    started: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            started: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Milliseconds between two readings of `elapsed`, saturating.
pub fn millis_between(from: Duration, to: Duration) -> u64 {
    u64::try_from(to.saturating_sub(from).as_millis()).unwrap_or(u64::MAX)
}

/// A clock that stands still, for tests.
#[cfg(test)]
pub struct FixedClock(pub SystemTime);

#[cfg(test)]
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }

    fn elapsed(&self) -> Duration {
        Duration::ZERO
    }
}
