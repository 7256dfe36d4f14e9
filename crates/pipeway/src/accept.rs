//! What every accept loop keeps, whatever its backend and face: how far it
//! may admit clients ahead of the caller's `accept`, and what it does when
//! taking a client fails.
//!
//! Running out of descriptors (`EMFILE`, `ENFILE`), of socket buffers
//! (`ENOBUFS`) or of memory (`ENOMEM`) says nothing about the listener: it
//! ends when some other connection closes. So such a failure of `accept`
//! never ends a listener (or an `accept` call) in either face: it is logged
//! and tried again after a pause (`AcceptRetry`), which grows while the
//! failures last so that a listener out of descriptors does not spin. A
//! client that gave up while queued (`ECONNABORTED`, `EPROTO`) or a signal
//! (`EINTR`) is no failure at all: the accept goes on at once. (Windows
//! creates instances rather than accepting; its listener retries a failed
//! create on its own, with `accept_failed`.)

#[cfg(unix)]
use std::io;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use crate::error::Error;
use crate::name::PipeName;

/// How many clients a listener admits ahead of the caller's `accept`: they
/// are connected and checked, and wait in the listener's queue. At the
/// limit the listener stops taking clients, so new ones wait as they would
/// for a busy pipe (in the kernel's queue on Unix, `ERROR_PIPE_BUSY` and
/// `WaitNamedPipe` on Windows).
pub(crate) const ADMITTED_AHEAD: usize = 64;

/// How long an accept loop pauses after taking a client failed for a reason
/// that may pass (out of descriptors or memory, say), rather than spin.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Logs a failure to take a client and says how long to pause before the
/// next try. The listener goes on: one failed accept never ends it.
pub(crate) fn accept_failed(pipe: &PipeName, err: &Error) -> Duration {
    tracing::warn!(pipe = %pipe, %err, "accept failed; trying again");
    RETRY_PAUSE
}

/// The first pause after a failure; each further failure doubles it, up to
/// [`MAX_PAUSE`].
#[cfg(unix)]
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause: how late a listener may notice that descriptors freed.
#[cfg(unix)]
const MAX_PAUSE: Duration = Duration::from_millis(100);
/// While failures go on, how often they are logged again.
#[cfg(unix)]
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How an accept failed.
#[cfg(unix)]
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
#[cfg(unix)]
pub(crate) fn classify(err: &io::Error) -> Failure {
    match err.raw_os_error() {
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR) => Failure::ClientGone,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => Failure::OutOfResources,
        _ if err.kind() == io::ErrorKind::OutOfMemory => Failure::OutOfResources,
        _ => Failure::Other,
    }
}

/// What the caller of [`AcceptRetry::failed`] does next.
#[cfg(unix)]
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
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct AcceptRetry {
    failures: u64,
    pause: Duration,
    logged: Option<Instant>,
}

#[cfg(unix)]
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
