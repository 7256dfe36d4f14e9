//! The instance limit: at most `n` connections of a listener alive at once.
//!
//! A listener takes a permit before each accept and the stream holds it
//! until it is dropped. While no permit is free the listener does not accept,
//! so clients wait in the kernel's queue, in order, until an instance frees
//! or their connect timeout ends. Blocking listeners wait on a condition
//! variable, tokio listeners on a `Notify`; the count is kept in one place.

use std::sync::{Arc, Condvar, Mutex};

use crate::sync::{lock, wait};

#[derive(Debug)]
pub(crate) struct InstanceGate {
    max: usize,
    state: Mutex<GateState>,
    freed: Condvar,
    #[cfg(feature = "tokio")]
    freed_async: ::tokio::sync::Notify,
}

#[derive(Debug)]
struct GateState {
    active: usize,
    closed: bool,
}

/// The listener was closed while waiting for a free instance.
#[derive(Debug)]
pub(crate) struct GateClosed;

/// One instance in use; dropping it frees the instance.
#[derive(Debug)]
pub(crate) struct Permit {
    gate: Arc<InstanceGate>,
}

impl Permit {
    /// The instances in use now and the most there may be.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (lock(&self.gate.state).active, self.gate.max)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = lock(&self.gate.state);
        state.active -= 1;
        drop(state);
        self.gate.freed.notify_one();
        #[cfg(feature = "tokio")]
        self.gate.freed_async.notify_waiters();
    }
}

impl InstanceGate {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            state: Mutex::new(GateState {
                active: 0,
                closed: false,
            }),
            freed: Condvar::new(),
            #[cfg(feature = "tokio")]
            freed_async: ::tokio::sync::Notify::new(),
        })
    }

    #[cfg_attr(all(unix, not(feature = "tokio")), allow(dead_code))]
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Result<Option<Permit>, GateClosed> {
        let mut state = lock(&self.state);
        Self::take(self, &mut state)
    }

    fn take(self: &Arc<Self>, state: &mut GateState) -> Result<Option<Permit>, GateClosed> {
        if state.closed {
            return Err(GateClosed);
        }
        if state.active < self.max {
            state.active += 1;
            Ok(Some(Permit { gate: self.clone() }))
        } else {
            Ok(None)
        }
    }

    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn acquire_blocking(self: &Arc<Self>) -> Result<Permit, GateClosed> {
        let mut state = lock(&self.state);
        loop {
            if let Some(permit) = Self::take(self, &mut state)? {
                return Ok(permit);
            }
            state = wait(&self.freed, state);
        }
    }

    #[cfg(feature = "tokio")]
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) async fn acquire_async(self: &Arc<Self>) -> Result<Permit, GateClosed> {
        loop {
            // Register for the wake-up before looking, so a release between
            // the look and the wait is not missed.
            let freed = self.freed_async.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if let Some(permit) = self.try_acquire()? {
                return Ok(permit);
            }
            freed.await;
        }
    }

    /// Wakes every waiter with `GateClosed`.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        self.freed.notify_all();
        #[cfg(feature = "tokio")]
        self.freed_async.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_frees() {
        let gate = InstanceGate::new(2);
        let a = gate.try_acquire().unwrap().unwrap();
        let _b = gate.try_acquire().unwrap().unwrap();
        assert!(gate.try_acquire().unwrap().is_none());
        drop(a);
        assert!(gate.try_acquire().unwrap().is_some());
    }

    #[test]
    fn a_blocked_acquire_wakes_when_an_instance_frees_or_the_gate_closes() {
        let gate = InstanceGate::new(1);
        let held = gate.try_acquire().unwrap().unwrap();
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire_blocking().is_ok())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(held);
        assert!(waiter.join().unwrap());

        let gate = InstanceGate::new(1);
        let _held = gate.try_acquire().unwrap().unwrap();
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire_blocking().is_err())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        gate.close();
        assert!(waiter.join().unwrap());
    }
}
