//! What every accept loop keeps, whatever its backend and face: how far it
//! may admit clients ahead of the caller's `accept`, and what it does when
//! taking a client fails.

use std::time::Duration;

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
