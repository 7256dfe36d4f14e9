//! Completion slots: where the connection's reader thread puts the response
//! to one request, for a blocking caller (condition variable) or a future
//! (waker) to take.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::client::error::Error;
use crate::client::wire::header::Header;

/// One response: its decoded header and the whole message (decrypted).
#[derive(Debug)]
pub struct Response {
    /// The header.
    pub header: Header,
    /// The whole message, header included.
    pub message: Vec<u8>,
}

impl Response {
    /// The NTSTATUS.
    pub fn status(&self) -> u32 {
        self.header.status
    }
}

#[derive(Debug, Default)]
struct State {
    outcome: Option<Result<Response, Error>>,
    waker: Option<Waker>,
    /// Given by a STATUS_PENDING interim response; CANCEL then names it.
    async_id: Option<u64>,
}

/// A request's slot.
#[derive(Debug, Default)]
pub struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Slot {
    /// Completes the request (from the reader thread).
    pub fn complete(&self, outcome: Result<Response, Error>) {
        let waker = {
            let mut s = lock(&self.state);
            if s.outcome.is_none() {
                s.outcome = Some(outcome);
            }
            s.waker.take()
        };
        self.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Notes the async id of an interim response.
    pub fn set_async_id(&self, id: u64) {
        lock(&self.state).async_id = Some(id);
    }

    /// The async id, if the server went async.
    pub fn async_id(&self) -> Option<u64> {
        lock(&self.state).async_id
    }

    /// Whether the outcome is in.
    pub fn is_done(&self) -> bool {
        lock(&self.state).outcome.is_some()
    }

    /// Waits for the outcome until `deadline`; `None` when the deadline passed first.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<Result<Response, Error>> {
        let mut s = lock(&self.state);
        loop {
            if let Some(outcome) = s.outcome.take() {
                return Some(outcome);
            }
            match deadline {
                None => s = self.done.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    s = self
                        .done
                        .wait_timeout(s, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Polls for the outcome from a future.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<Response, Error>> {
        let mut s = lock(&self.state);
        match s.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_blocking_waiter_wakes_on_completion_and_times_out_without_it() {
        let slot = Arc::new(Slot::default());
        let deadline = Some(Instant::now() + Duration::from_millis(20));
        assert!(slot.wait(deadline).is_none());
        let s2 = slot.clone();
        let t = std::thread::spawn(move || s2.wait(None));
        std::thread::sleep(Duration::from_millis(10));
        slot.complete(Err(Error::TimedOut));
        assert!(matches!(t.join().unwrap(), Some(Err(Error::TimedOut))));
    }
}
