//! Waking a task when an overlapped operation completes: a thread-pool wait
//! (`RegisterWaitForSingleObject`) on the operation's event wakes the task's
//! waker. This is how the tokio face waits for what tokio's own named pipes
//! do not cover (message mode: whole messages, `ERROR_MORE_DATA`).

use std::ffi::c_void;
use std::io;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Threading::{
    INFINITE, RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEINWAITTHREAD,
    WT_EXECUTEONLYONCE,
};

use super::win::{Event, last_error, wait_any};

/// The waker of the task waiting for one operation, and the thread-pool
/// wait that will wake it. Lives at a fixed address (inside a boxed
/// operation slot) for as long as a wait may call back into it.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    waker: Option<Waker>,
    /// The registered wait's handle as an address, or 0: a wait handle is
    /// usable from any thread, and an address keeps `State` `Send`.
    registration: usize,
}

impl Waiter {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Ready once `event` is signaled; until then the task is woken when it is.
    pub(crate) fn poll(&self, event: &Event, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // SAFETY: every caller keeps the event alive for as long as this
        // waiter (they live side by side in one operation slot).
        unsafe { self.poll_handle(event.raw(), cx) }
    }

    /// Ready once `handle` (an event, a process: anything waitable) is
    /// signaled; until then the task is woken when it is.
    ///
    /// # Safety
    /// `handle` must stay open until this waiter is unregistered or dropped.
    pub(crate) unsafe fn poll_handle(
        &self,
        handle: HANDLE,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let signaled = || matches!(wait_any(&[handle], Some(Duration::ZERO)), Ok(Some(0)));
        if signaled() {
            return Poll::Ready(Ok(()));
        }
        let mut state = self.lock();
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        if state.registration == 0 {
            let mut registration: HANDLE = std::ptr::null_mut();
            // SAFETY: `self` stays at this address until `unregister` has
            // waited out any running callback (it runs from `Drop` at the
            // latest), so the context pointer is valid whenever `wake` runs;
            // `handle` outlives the registration by this function's contract.
            let ok = unsafe {
                RegisterWaitForSingleObject(
                    &mut registration,
                    handle,
                    Some(wake),
                    self as *const Waiter as *mut c_void,
                    INFINITE,
                    WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD,
                )
            };
            if ok == 0 {
                return Poll::Ready(Err(last_error()));
            }
            state.registration = registration as usize;
        }
        drop(state);
        // It may have been signaled while the wait was being set up.
        if signaled() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Removes the thread-pool wait, waiting for a callback in progress.
    pub(crate) fn unregister(&self) {
        // Not under the lock: the callback takes it.
        let registration = std::mem::take(&mut self.lock().registration);
        if registration != 0 {
            // SAFETY: `registration` came from RegisterWaitForSingleObject
            // and is unregistered once; INVALID_HANDLE_VALUE makes the call
            // wait for a running callback, after which none can run.
            unsafe { UnregisterWaitEx(registration as HANDLE, INVALID_HANDLE_VALUE) };
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// The thread-pool callback: wakes the waiting task.
///
/// # Safety
/// Called by the thread pool only, with the context `Waiter::poll`
/// registered.
unsafe extern "system" fn wake(context: *mut c_void, _timed_out: bool) {
    // SAFETY: `context` is the `Waiter` that registered this wait, alive
    // until the wait is unregistered, which waits for this call to return.
    let waiter = unsafe { &*(context as *const Waiter) };
    let waker = waiter.lock().waker.take();
    if let Some(waker) = waker {
        waker.wake();
    }
}
