//! How long a connect waits, how it paces its attempts, and which error it
//! gives up with: one rule for every platform, `WaitNamedPipe` that backs
//! off rather than spins.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::name::PipeName;

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

/// Why a connect's last attempt did not get in: what the error says when
/// the connect gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Nothing of that name exists (yet).
    Missing,
    /// Something of that name exists, but no server takes clients on it: a
    /// stale socket file, or a server that has not started listening.
    #[cfg_attr(windows, allow(dead_code))]
    Refused,
    /// Every instance stayed in use.
    Busy,
}

/// A connect in progress: the pipe it waits for, its clock, and why it is
/// still waiting. Both backends' connects keep one, so that they wait, pace
/// themselves and give up alike.
#[derive(Debug)]
pub(crate) struct ConnectWait {
    name: PipeName,
    path: PathBuf,
    clock: ConnectClock,
    waiting: Waiting,
}

impl ConnectWait {
    /// Starts waiting for the local pipe `name`; a remote name fails here.
    pub(crate) fn start(name: PipeName, timeout: Option<Duration>) -> Result<Self, Error> {
        let path = name.local_path()?.to_owned();
        Ok(Self {
            name,
            path,
            clock: ConnectClock::start(timeout),
            waiting: Waiting::Missing,
        })
    }

    /// The pipe.
    pub(crate) fn name(&self) -> &PipeName {
        &self.name
    }

    /// Its endpoint: the socket path, or the `\\.\pipe\` path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records why the last attempt did not get in.
    pub(crate) fn waiting_for(&mut self, why: Waiting) {
        self.waiting = why;
    }

    /// The time left (zero once the deadline has passed), or `None` without
    /// a deadline.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.clock.remaining()
    }

    /// The pause before the next attempt, or, once the deadline has passed,
    /// the error the connect ends with.
    pub(crate) fn next_pause(&mut self) -> Result<Duration, Error> {
        self.clock.next_pause().ok_or_else(|| self.give_up())
    }

    /// The error for a connect that ran out of time: it names the pipe, how
    /// long it waited, and why it was waiting.
    pub(crate) fn give_up(&self) -> Error {
        let name = self.name.to_string();
        let waited = self.clock.waited();
        match self.waiting {
            Waiting::Missing => Error::NotFound {
                name,
                path: self.path.clone(),
                waited,
            },
            Waiting::Refused => Error::NotListening {
                name,
                path: self.path.clone(),
                waited,
            },
            Waiting::Busy => Error::Busy { name, waited },
        }
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
        while let Some(pause) = clock.next_pause() {
            assert!(
                clock
                    .remaining()
                    .is_some_and(|left| pause <= left + Duration::from_millis(1))
            );
            std::thread::sleep(pause);
        }
        // It gave up only once the deadline had passed. (How many pauses
        // that took depends on how long a sleep really lasts: under Wine a
        // 1 ms sleep takes several, so the pauses asked for are not summed.)
        assert!(clock.waited() >= Duration::from_millis(30));
        assert_eq!(clock.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn a_zero_timeout_gives_up_at_once() {
        let mut clock = ConnectClock::start(Some(Duration::ZERO));
        assert_eq!(clock.next_pause(), None);
    }

    #[test]
    fn giving_up_says_what_the_connect_waited_for() {
        let name = PipeName::parse("wait-test").unwrap();
        let mut wait = ConnectWait::start(name, Some(Duration::ZERO)).unwrap();
        assert!(matches!(wait.next_pause(), Err(Error::NotFound { .. })));
        wait.waiting_for(Waiting::Refused);
        assert!(matches!(wait.give_up(), Error::NotListening { .. }));
        wait.waiting_for(Waiting::Busy);
        assert!(matches!(wait.give_up(), Error::Busy { .. }));
        let remote = PipeName::parse(r"\\elsewhere\pipe\x").unwrap();
        assert!(matches!(
            ConnectWait::start(remote, None),
            Err(Error::RemoteNotSupported { .. })
        ));
    }
}
