//! The delays between reconnection attempts: exponential, capped, with jitter.

use std::hash::BuildHasher;
use std::time::Duration;

/// How a client waits between reconnection attempts: exponentially longer
/// delays, from `initial` up to `max`, each (with jitter on) drawn at random
/// from its upper half, so that many clients of a restarted server do not all
/// come back at once.
///
/// The default: 100 ms, doubling up to 5 s, with jitter, forever. Each
/// attempt also waits up to the connect timeout for the pipe to appear.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    pub(super) max_attempts: Option<u32>,
    jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `initial`, doubling, up to `max`; unlimited attempts.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
            max_attempts: None,
            jitter: true,
        }
    }

    /// Each delay is this many times the last (at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Gives up after `attempts` failed attempts in a row; the client then
    /// closes.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Whether delays are randomised (default on).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before attempt `attempt` (from 1), given a random number in
    /// `[0, 1)`.
    pub(super) fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let secs = (self.initial.as_secs_f64() * self.multiplier.powi(exponent))
            .min(self.max.as_secs_f64());
        let secs = if self.jitter {
            secs * (0.5 + 0.5 * random)
        } else {
            secs
        };
        Duration::from_secs_f64(secs)
    }
}

/// A small random number generator for jitter (xorshift, seeded from the
/// standard library's random hasher keys).
#[derive(Debug)]
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self(seed | 1)
    }

    pub(super) fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap() {
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(false);
        let delays: Vec<u128> = (1..=6).map(|a| backoff.delay(a, 0.5).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let backoff = Backoff::default();
        let mut jitter = Jitter::new();
        for _ in 0..1000 {
            let r = jitter.next();
            assert!((0.0..1.0).contains(&r));
            let d = backoff.delay(3, r);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }
}
