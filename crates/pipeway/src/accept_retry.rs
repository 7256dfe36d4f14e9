//! What a listener does when `accept` fails for a reason that passes: one
//! rule for both faces and both wires.
//!
//! Running out of descriptors (`EMFILE`, `ENFILE`), of socket buffers
//! (`ENOBUFS`) or of memory (`ENOMEM`) says nothing about the listener: it
//! ends when some other connection closes. So such a failure never ends a
//! listener (or an `accept` call): it is logged and the accept is tried
//! again after a pause, which grows while the failures last so that a
//! listener out of descriptors does not spin. A client that gave up while
//! queued (`ECONNABORTED`, `EPROTO`) or a signal (`EINTR`) is no failure at
//! all: the accept goes on at once.

use std::io;
use std::time::{Duration, Instant};

/// The first pause after a failure; each further failure doubles it, up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause: how late a listener may notice that descriptors freed.
const MAX_PAUSE: Duration = Duration::from_millis(100);
/// While failures go on, how often they are logged again.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How an accept failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The client left, or a signal came: accept the next one at once.
    ClientGone,
    /// Out of descriptors, buffers or memory: wait, then try again.
    OutOfResources,
    /// Anything else: the caller's error.
    Other,
}

/// Sorts an accept error by what the listener should do about it.
pub(crate) fn classify(err: &io::Error) -> Failure {
    #[cfg(unix)]
    {
        match err.raw_os_error() {
            Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR) => Failure::ClientGone,
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                Failure::OutOfResources
            }
            _ if err.kind() == io::ErrorKind::OutOfMemory => Failure::OutOfResources,
            _ => Failure::Other,
        }
    }
    #[cfg(not(unix))]
    {
        if err.kind() == io::ErrorKind::OutOfMemory {
            Failure::OutOfResources
        } else {
            Failure::Other
        }
    }
}

/// What the caller of [`AcceptRetry::failed`] does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Accept again now.
    Retry,
    /// Sleep this long, then accept again.
    Pause(Duration),
    /// Give the error to the caller.
    Fail,
}

/// The state of one accept loop: how many failures in a row, the next
/// pause, and when they were last logged.
#[derive(Debug)]
pub(crate) struct AcceptRetry {
    failures: u64,
    pause: Duration,
    logged: Option<Instant>,
}

impl AcceptRetry {
    pub(crate) fn new() -> Self {
        Self {
            failures: 0,
            pause: FIRST_PAUSE,
            logged: None,
        }
    }

    /// An accept on `pipe` failed with `err`: logs it (a warning when it
    /// starts, then every [`LOG_EVERY`] while it lasts) and says what to do.
    pub(crate) fn failed(&mut self, pipe: &dyn std::fmt::Display, err: &io::Error) -> Next {
        match classify(err) {
            Failure::ClientGone => {
                tracing::debug!(%pipe, %err, "a client left before it was accepted");
                Next::Retry
            }
            Failure::Other => Next::Fail,
            Failure::OutOfResources => {
                self.failures += 1;
                if self.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                    self.logged = Some(Instant::now());
                    tracing::warn!(
                        %pipe,
                        %err,
                        failures = self.failures,
                        "cannot accept a client now; trying again until it passes (clients wait meanwhile)"
                    );
                }
                let pause = self.pause;
                self.pause = (self.pause * 2).min(MAX_PAUSE);
                Next::Pause(pause)
            }
        }
    }

    /// An accept succeeded: logs the end of a run of failures, if any.
    pub(crate) fn succeeded(&mut self, pipe: &dyn std::fmt::Display) {
        if self.failures > 0 {
            tracing::info!(%pipe, failures = self.failures, "accepting clients again");
            *self = Self::new();
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn running_out_of_something_is_waited_out() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(classify(&os(code)), Failure::OutOfResources, "{code}");
        }
    }

    #[test]
    fn a_client_that_left_is_skipped_at_once() {
        let mut retry = AcceptRetry::new();
        for code in [libc::ECONNABORTED, libc::EPROTO, libc::EINTR] {
            assert_eq!(retry.failed(&"p", &os(code)), Next::Retry, "{code}");
        }
    }

    #[test]
    fn other_errors_go_to_the_caller() {
        let mut retry = AcceptRetry::new();
        for code in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK] {
            assert_eq!(retry.failed(&"p", &os(code)), Next::Fail, "{code}");
        }
    }

    #[test]
    fn pauses_grow_while_failures_last_and_start_over_after_a_success() {
        let mut retry = AcceptRetry::new();
        let pauses: Vec<u128> = (0..7)
            .map(|_| match retry.failed(&"p", &os(libc::EMFILE)) {
                Next::Pause(pause) => pause.as_millis(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 100, 100]);
        retry.succeeded(&"p");
        assert_eq!(
            retry.failed(&"p", &os(libc::ENFILE)),
            Next::Pause(FIRST_PAUSE)
        );
    }
}
