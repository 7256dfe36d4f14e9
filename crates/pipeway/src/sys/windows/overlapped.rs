//! Overlapped I/O, the one way pipeway reads, writes and connects on Windows.
//!
//! Every handle is opened with `FILE_FLAG_OVERLAPPED`, so a read in one
//! thread never holds up a write in another (synchronous handles serialize
//! them), and every operation can be given up on: on a timeout or a
//! shutdown, `CancelIoEx` stops it.
//!
//! The one rule that keeps this memory-safe: the `OVERLAPPED` and the buffer
//! of an operation must stay put until Windows has finished with them, even
//! after a cancel. Two shapes keep it:
//! - [`read`] and [`write`] run one operation on the caller's stack and do
//!   not return before it has completed (waiting for the cancel to land if
//!   they cancel it), so the borrowed buffer outlives it.
//! - [`Op`] keeps the `OVERLAPPED` and its buffer on the heap, for
//!   operations that outlive a call: the listener's pending connects and
//!   the tokio face's message operations. Dropping an `Op` cancels it and
//!   waits for the cancel, or (for writes) lets it finish on a thread of
//!   its own, so no one tears a message.

use std::cell::{RefCell, UnsafeCell};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use windows_sys::Win32::Foundation::{ERROR_IO_INCOMPLETE, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Pipes::ConnectNamedPipe;

use super::instance::PipeHandle;
use super::win::{
    ERROR_IO_PENDING, ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_OPERATION_ABORTED,
    ERROR_PIPE_CONNECTED, Event, is, last_error, wait_any,
};

/// How an operation ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Finished: `n` bytes moved.
    Done(usize),
    /// A message longer than the buffer: its first `n` bytes moved, the rest
    /// waits in the pipe (`ERROR_MORE_DATA`).
    MoreData(usize),
    /// The timeout passed; `n` bytes moved before the cancel took hold.
    TimedOut(usize),
    /// The interrupt event fired (a shutdown); `n` bytes moved first.
    Interrupted(usize),
    /// The operation failed.
    Failed(io::Error),
}

/// The largest transfer one call makes (`DWORD` lengths).
pub(crate) const MAX_TRANSFER: usize = u32::MAX as usize;

// The event this thread's stack operations signal: one operation runs per
// thread at a time, and each start resets the event. Closed when the thread
// ends, after its last operation.
thread_local! {
    // It is const: clippy 1.96 misreads the macro when std is built with
    // -Zbuild-std.
    #[allow(clippy::missing_const_for_thread_local)]
    static EVENT: RefCell<Option<Event>> = const { RefCell::new(None) };
}

fn thread_event() -> io::Result<HANDLE> {
    EVENT.with(|cell| {
        let mut event = cell.borrow_mut();
        if event.is_none() {
            *event = Some(Event::manual()?);
        }
        Ok(event.as_ref().expect("just set").raw())
    })
}

/// Reads into `buf`, waiting up to `timeout` and until `interrupt` fires.
pub(crate) fn read(
    handle: HANDLE,
    buf: &mut [u8],
    interrupt: Option<&Event>,
    timeout: Option<Duration>,
) -> Outcome {
    let len = buf.len().min(MAX_TRANSFER) as u32;
    let ptr = buf.as_mut_ptr();
    // SAFETY: `run` returns only once the read has completed, so `buf`,
    // borrowed mutably for this whole call, outlives every write Windows
    // makes into it; `handle` is kept open by the caller.
    unsafe {
        run(handle, interrupt, timeout, |ov| {
            ReadFile(handle, ptr, len, std::ptr::null_mut(), ov)
        })
    }
}

/// Writes `buf`, waiting up to `timeout` and until `interrupt` fires.
pub(crate) fn write(
    handle: HANDLE,
    buf: &[u8],
    interrupt: Option<&Event>,
    timeout: Option<Duration>,
) -> Outcome {
    let len = buf.len().min(MAX_TRANSFER) as u32;
    let ptr = buf.as_ptr();
    // SAFETY: as for `read`: `buf` outlives the operation.
    unsafe {
        run(handle, interrupt, timeout, |ov| {
            WriteFile(handle, ptr, len, std::ptr::null_mut(), ov)
        })
    }
}

/// Runs one operation to completion on this thread's event.
///
/// # Safety
/// `start` must start one overlapped operation on `handle` with the
/// `OVERLAPPED` it is given, on memory that stays valid until `run` returns.
unsafe fn run(
    handle: HANDLE,
    interrupt: Option<&Event>,
    timeout: Option<Duration>,
    start: impl FnOnce(*mut OVERLAPPED) -> i32,
) -> Outcome {
    let event = match thread_event() {
        Ok(event) => event,
        Err(err) => return Outcome::Failed(err),
    };
    let mut ov = OVERLAPPED {
        hEvent: event,
        ..Default::default()
    };
    let mut pending = false;
    if start(&mut ov) == 0 {
        let err = last_error();
        pending = is(&err, ERROR_IO_PENDING);
        if !pending && !is(&err, ERROR_MORE_DATA) {
            // Failed at once: nothing is in flight.
            return Outcome::Failed(err);
        }
    }
    let mut stopped_by = None;
    if pending {
        let handles = [event, interrupt.map_or(event, Event::raw)];
        let count = if interrupt.is_some() { 2 } else { 1 };
        let waited = wait_any(&handles[..count], timeout);
        if !matches!(waited, Ok(Some(0))) {
            // SAFETY: `ov` is the in-flight operation's OVERLAPPED.
            unsafe { CancelIoEx(handle, &ov) };
            stopped_by = Some(match waited {
                Ok(None) => Stop::Timeout,
                Ok(Some(_)) => Stop::Interrupt,
                Err(err) => Stop::Error(err),
            });
        }
    }
    let mut moved = 0u32;
    // SAFETY: waits (bWait = TRUE) until the operation, cancelled or not, has
    // completed: after this Windows no longer touches `ov` or the buffer.
    let ok = unsafe { GetOverlappedResult(handle, &ov, &mut moved, 1) };
    let moved = moved as usize;
    if ok != 0 {
        // It finished, perhaps just before a cancel: its result stands.
        return Outcome::Done(moved);
    }
    let err = last_error();
    match stopped_by {
        _ if is(&err, ERROR_MORE_DATA) => Outcome::MoreData(moved),
        Some(Stop::Timeout) if is(&err, ERROR_OPERATION_ABORTED) => Outcome::TimedOut(moved),
        Some(Stop::Interrupt) if is(&err, ERROR_OPERATION_ABORTED) => Outcome::Interrupted(moved),
        Some(Stop::Error(wait_err)) => Outcome::Failed(wait_err),
        _ => Outcome::Failed(err),
    }
}

enum Stop {
    Timeout,
    Interrupt,
    Error(io::Error),
}

// ---------------------------------------------------------------------------
// Operations that outlive a call.

/// What to do with an operation still in flight when its [`Op`] is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnDrop {
    /// Cancel it (reads, connects).
    Cancel,
    /// Let it finish on a thread of its own (writes: a message is never torn).
    Finish,
}

/// The parts of an operation Windows writes to while it is in flight.
struct Slot {
    ov: UnsafeCell<OVERLAPPED>,
    event: Event,
    #[cfg(feature = "tokio")]
    waiter: super::async_wait::Waiter,
}

/// One overlapped operation whose `OVERLAPPED` and buffer live on the heap,
/// so that it can stay in flight across calls (and across `.await`s). It
/// holds its pipe open only while in flight.
pub(crate) struct Op {
    /// Boxed: Windows holds its address while the operation is in flight.
    slot: Option<Box<Slot>>,
    /// The operation's buffer; its heap block stays put while in flight.
    buf: Vec<u8>,
    /// The pipe of the operation in flight.
    pipe: Option<Arc<PipeHandle>>,
    in_flight: bool,
    on_drop: OnDrop,
}

// SAFETY: the raw pointers inside (`OVERLAPPED`, the event) are owned by the
// `Op`; Windows handles are usable from any thread.
unsafe impl Send for Op {}
// SAFETY: through `&self` an `Op` only reads the address of its `OVERLAPPED`
// (never its contents), signals or waits on its event, and registers wakers
// under a mutex; everything that writes the `OVERLAPPED` or the buffer
// takes `&mut self`.
unsafe impl Sync for Op {}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("in_flight", &self.in_flight)
            .field("on_drop", &self.on_drop)
            .finish()
    }
}

impl Op {
    pub(crate) fn new(on_drop: OnDrop) -> io::Result<Op> {
        Ok(Op {
            slot: Some(Box::new(Slot {
                ov: UnsafeCell::new(OVERLAPPED::default()),
                event: Event::manual()?,
                #[cfg(feature = "tokio")]
                waiter: super::async_wait::Waiter::default(),
            })),
            buf: Vec::new(),
            pipe: None,
            in_flight: false,
            on_drop,
        })
    }

    fn slot(&self) -> &Slot {
        self.slot
            .as_ref()
            .expect("an Op has its slot until dropped")
    }

    fn handle(&self) -> HANDLE {
        self.pipe
            .as_ref()
            .expect("an operation in flight has its pipe")
            .raw()
    }

    /// What cancels this operation from elsewhere (a shutdown), valid for
    /// as long as the `Op` lives.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn canceller(&self) -> Canceller {
        Canceller {
            ov: self.slot().ov.get() as usize,
        }
    }

    /// The event that is signaled when the operation completes.
    pub(crate) fn event(&self) -> HANDLE {
        self.slot().event.raw()
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The buffer, to fill before a write or to read after a read. Only
    /// while nothing is in flight.
    pub(crate) fn buffer_mut(&mut self) -> &mut Vec<u8> {
        assert!(!self.in_flight, "the buffer of an operation in flight");
        &mut self.buf
    }

    fn fresh_overlapped(&mut self) -> *mut OVERLAPPED {
        let slot = self.slot();
        slot.event.reset();
        let ov = slot.ov.get();
        // SAFETY: nothing is in flight (checked by every caller), so Windows
        // holds no reference to the OVERLAPPED we overwrite.
        unsafe {
            *ov = OVERLAPPED {
                hEvent: slot.event.raw(),
                ..Default::default()
            }
        };
        ov
    }

    /// Starts `ConnectNamedPipe` on a server instance. `Ok(true)`: a client
    /// had already connected (nothing in flight); `Ok(false)`: in flight.
    pub(crate) fn start_connect(&mut self, pipe: Arc<PipeHandle>) -> io::Result<bool> {
        assert!(!self.in_flight);
        self.pipe = Some(pipe);
        let ov = self.fresh_overlapped();
        // SAFETY: `ov` lives in the boxed slot, which outlives the operation
        // (see `Drop`); the handle is kept open by `self.pipe`.
        let ok = unsafe { ConnectNamedPipe(self.handle(), ov) };
        if ok != 0 {
            // Not how overlapped handles answer, but it can only mean connected.
            self.pipe = None;
            return Ok(true);
        }
        let err = last_error();
        if is(&err, ERROR_IO_PENDING) {
            self.in_flight = true;
            return Ok(false);
        }
        self.pipe = None;
        if is(&err, ERROR_PIPE_CONNECTED) {
            Ok(true)
        } else {
            Err(err)
        }
    }

    /// Starts reading into `buffer[at..at + len]`, growing the buffer to
    /// fit. An error means nothing is in flight.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn start_read(
        &mut self,
        pipe: Arc<PipeHandle>,
        at: usize,
        len: usize,
    ) -> io::Result<()> {
        assert!(!self.in_flight);
        let len = len.min(MAX_TRANSFER);
        if self.buf.len() < at + len {
            self.buf.resize(at + len, 0);
        }
        let ptr = self.buf[at..].as_mut_ptr();
        self.pipe = Some(pipe);
        let ov = self.fresh_overlapped();
        // SAFETY: the buffer's heap block is not touched (resized, moved or
        // freed) while in flight, and `ov` lives in the boxed slot.
        let ok = unsafe { ReadFile(self.handle(), ptr, len as u32, std::ptr::null_mut(), ov) };
        self.started(ok)
    }

    /// Starts writing the whole buffer. An error means nothing is in flight.
    pub(crate) fn start_write(&mut self, pipe: Arc<PipeHandle>) -> io::Result<()> {
        assert!(!self.in_flight);
        let len = self.buf.len().min(MAX_TRANSFER) as u32;
        let ptr = self.buf.as_ptr();
        self.pipe = Some(pipe);
        let ov = self.fresh_overlapped();
        // SAFETY: as for `start_read`.
        let ok = unsafe { WriteFile(self.handle(), ptr, len, std::ptr::null_mut(), ov) };
        self.started(ok)
    }

    fn started(&mut self, ok: i32) -> io::Result<()> {
        if ok == 0 {
            let err = last_error();
            if !is(&err, ERROR_IO_PENDING) && !is(&err, ERROR_MORE_DATA) {
                self.pipe = None;
                return Err(err);
            }
        }
        self.in_flight = true;
        Ok(())
    }

    /// The result once the operation has completed; `None` while it is
    /// still in flight.
    pub(crate) fn try_finish(&mut self) -> Option<Outcome> {
        if !self.in_flight {
            return None;
        }
        let mut moved = 0u32;
        // SAFETY: asks without waiting (bWait = FALSE) about the operation
        // whose OVERLAPPED is in the slot.
        let ok = unsafe { GetOverlappedResult(self.handle(), self.slot().ov.get(), &mut moved, 0) };
        let outcome = if ok != 0 {
            Outcome::Done(moved as usize)
        } else {
            let err = last_error();
            if is(&err, ERROR_IO_INCOMPLETE) {
                return None;
            }
            if is(&err, ERROR_MORE_DATA) {
                Outcome::MoreData(moved as usize)
            } else if is(&err, ERROR_OPERATION_ABORTED) {
                Outcome::Interrupted(moved as usize)
            } else {
                Outcome::Failed(err)
            }
        };
        self.in_flight = false;
        self.pipe = None;
        #[cfg(feature = "tokio")]
        self.slot().waiter.unregister();
        Some(outcome)
    }

    /// Waits for the operation up to `timeout`, or until `interrupt` fires.
    /// `None`: still in flight.
    pub(crate) fn wait(
        &mut self,
        interrupt: Option<&Event>,
        timeout: Option<Duration>,
    ) -> io::Result<Option<Outcome>> {
        if self.in_flight {
            let mut handles = vec![self.event()];
            handles.extend(interrupt.map(Event::raw));
            wait_any(&handles, timeout)?;
        }
        Ok(self.try_finish())
    }

    /// Asks Windows to stop the operation; it then completes with
    /// `ERROR_OPERATION_ABORTED` (or its result, if it finished first).
    pub(crate) fn cancel(&self) {
        if self.in_flight {
            // SAFETY: cancels only the operation whose OVERLAPPED is ours.
            unsafe { CancelIoEx(self.handle(), self.slot().ov.get()) };
        }
    }

    /// Polls for completion from a task (see `async_wait`).
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_complete(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if !self.in_flight {
            return std::task::Poll::Ready(Ok(()));
        }
        let slot = self.slot();
        slot.waiter.poll(&slot.event, cx)
    }

    /// Blocks until the operation completes, however long that takes.
    fn wait_out(&mut self) {
        while self.in_flight {
            if wait_any(&[self.event()], None).is_err() {
                // The event cannot fail to wait on; if it did, waiting on the
                // operation itself still tells when it is done.
                let mut moved = 0;
                // SAFETY: bWait = TRUE on our own operation.
                unsafe { GetOverlappedResult(self.handle(), self.slot().ov.get(), &mut moved, 1) };
            }
            self.try_finish();
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if !self.in_flight {
            return;
        }
        match self.on_drop {
            OnDrop::Cancel => {
                self.cancel();
                self.wait_out();
            }
            OnDrop::Finish => {
                // Hand the operation, its memory and its pipe to a thread
                // that waits for it: the caller does not block, the message
                // goes out whole, and the pipe closes after it.
                let mut op = Op {
                    slot: self.slot.take(),
                    buf: std::mem::take(&mut self.buf),
                    pipe: self.pipe.take(),
                    in_flight: true,
                    on_drop: OnDrop::Cancel,
                };
                self.in_flight = false;
                let spawned = std::thread::Builder::new()
                    .name("pipeway-finish-write".into())
                    .spawn(move || op.wait_out());
                if let Err(err) = spawned {
                    // No thread to spare: the op came back in the error's
                    // closure and was dropped, which cancelled it.
                    tracing::warn!(%err, "cannot finish a pending pipe write in the background");
                }
            }
        }
    }
}

/// Cancels one [`Op`] from another thread or task.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) struct Canceller {
    /// The operation's `OVERLAPPED`, as an address: Windows only compares
    /// it with the operations in flight, never reads through it.
    ov: usize,
}

impl Canceller {
    /// Cancels the operation if it is in flight on `pipe`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn cancel(&self, pipe: &PipeHandle) {
        // SAFETY: CancelIoEx matches the address against the handle's
        // operations in flight; an address that matches none cancels nothing.
        unsafe { CancelIoEx(pipe.raw(), self.ov as *const OVERLAPPED) };
    }
}

/// Whether a failed connect means the client came and went before the
/// server looked (the instance is spent, not broken).
pub(crate) fn client_gone(err: &io::Error) -> bool {
    is(err, ERROR_NO_DATA)
}
