//! How a caller waits: blocking until a deadline, or as a future. Each
//! pipe operation is written once as a poll function over a [`Wait`], and
//! both faces run it.

use std::task::{Context, Poll};
use std::time::Instant;

use super::conn::slot::Response;
use super::conn::{Shared, Ticket};
use super::error::Error;

/// A blocking caller with an optional deadline, or a task's context.
pub enum Wait<'a, 'b> {
    /// Block the thread until the deadline (`None`: forever).
    Blocking(Option<Instant>),
    /// Return `Pending` and be woken.
    Async(&'a mut Context<'b>),
}

impl Wait<'_, '_> {
    /// Takes credits for a request.
    pub fn reserve(&mut self, shared: &Shared, charge: u16) -> Poll<Result<(), Error>> {
        match self {
            Wait::Blocking(deadline) => Poll::Ready(shared.reserve(charge, *deadline)),
            Wait::Async(cx) => shared.poll_reserve(cx, charge),
        }
    }

    /// Waits for a ticket's response. A blocking wait whose deadline
    /// passes gives `Ready(Err(TimedOut))` and leaves the request in flight.
    pub fn response(&mut self, ticket: &mut Ticket) -> Poll<Result<Response, Error>> {
        match self {
            Wait::Blocking(deadline) => match ticket.wait(*deadline) {
                Some(outcome) => Poll::Ready(outcome),
                None => Poll::Ready(Err(Error::TimedOut)),
            },
            Wait::Async(cx) => ticket.poll(cx),
        }
    }
}

/// Runs a poll function to completion on this thread.
pub fn block_on<T>(
    deadline: Option<Instant>,
    mut f: impl FnMut(&mut Wait<'_, '_>) -> Poll<Result<T, Error>>,
) -> Result<T, Error> {
    match f(&mut Wait::Blocking(deadline)) {
        Poll::Ready(out) => out,
        // A blocking Wait never returns Pending.
        Poll::Pending => Err(Error::TimedOut),
    }
}
