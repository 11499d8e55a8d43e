//! Time. Handlers take `now` (Unix seconds) as an argument so tests can fix the clock; a request
//! that runs on (waiting for a concurrent press, calling Twilio) derives its later instants from
//! that `now` plus a monotonic timer, never from a second reading of the wall clock.

use std::time::{Duration, Instant};

/// Seconds since the Unix epoch: read once per request, by the Lambda entry points.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, for metric timestamps.
pub fn unix_now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One request's clock: the `now` it was handed, advanced by the time the request has taken.
#[derive(Clone, Copy, Debug)]
pub struct RequestClock {
    started_at: i64,
    started: Instant,
}

impl RequestClock {
    pub fn starting_at(now: i64) -> Self {
        Self {
            started_at: now,
            started: Instant::now(),
        }
    }

    /// The request's `now` plus the whole seconds it has run.
    pub fn now(&self) -> i64 {
        self.started_at
            .saturating_add(i64::try_from(self.elapsed().as_secs()).unwrap_or(i64::MAX))
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_instants_derive_from_the_given_now() {
        let clock = RequestClock::starting_at(1_000);
        assert_eq!(clock.now(), 1_000);
        std::thread::sleep(Duration::from_millis(1_050));
        assert_eq!(clock.now(), 1_001);
        assert!(clock.elapsed() >= Duration::from_millis(1_050));
    }
}
