//! How long a connect waits, and how it paces its attempts: one rule for
//! every platform, `WaitNamedPipe` that backs off rather than spins.

use std::time::{Duration, Instant};

/// The first pause between attempts; each pause doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause: how late a waiting client may notice that the pipe
/// appeared or freed.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A connect's clock: when it started, when it gives up, and the pause
/// before its next attempt.
#[derive(Debug)]
pub(crate) struct ConnectClock {
    started: Instant,
    deadline: Option<Instant>,
    next_pause: Duration,
}

impl ConnectClock {
    /// Starts now; `None` waits forever.
    pub(crate) fn start(timeout: Option<Duration>) -> Self {
        let started = Instant::now();
        Self {
            started,
            deadline: timeout.map(|timeout| started + timeout),
            next_pause: FIRST_PAUSE,
        }
    }

    /// How long the connect has waited so far.
    pub(crate) fn waited(&self) -> Duration {
        self.started.elapsed()
    }

    /// The time left before the deadline (zero once it has passed), or
    /// `None` without a deadline.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// The pause before the next attempt, never reaching past the deadline,
    /// or `None` once the deadline has passed: time to give up.
    pub(crate) fn next_pause(&mut self) -> Option<Duration> {
        let pause = match self.remaining() {
            Some(Duration::ZERO) => return None,
            Some(remaining) => self.next_pause.min(remaining),
            None => self.next_pause,
        };
        self.next_pause = (self.next_pause * 2).min(MAX_PAUSE);
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap() {
        let mut clock = ConnectClock::start(None);
        let pauses: Vec<u128> = (0..9)
            .map(|_| clock.next_pause().unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 50, 50, 50]);
        assert_eq!(clock.remaining(), None);
    }

    #[test]
    fn no_pause_reaches_past_the_deadline_and_none_follows_it() {
        let mut clock = ConnectClock::start(Some(Duration::from_millis(30)));
        let mut slept = Duration::ZERO;
        while let Some(pause) = clock.next_pause() {
            assert!(
                clock
                    .remaining()
                    .is_some_and(|left| pause <= left + Duration::from_millis(1))
            );
            std::thread::sleep(pause);
            slept += pause;
        }
        assert!(clock.waited() >= Duration::from_millis(30));
        assert_eq!(clock.remaining(), Some(Duration::ZERO));
        assert!(
            slept >= Duration::from_millis(20),
            "it waited rather than gave up early"
        );
    }

    #[test]
    fn a_zero_timeout_gives_up_at_once() {
        let mut clock = ConnectClock::start(Some(Duration::ZERO));
        assert_eq!(clock.next_pause(), None);
    }
}
