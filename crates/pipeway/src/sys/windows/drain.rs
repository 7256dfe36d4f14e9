//! Waiting until the peer has read everything written (`FlushFileBuffers`,
//! which on a pipe blocks until then), with a timeout Windows does not
//! offer: the flush runs on a helper thread and `CancelSynchronousIo` stops
//! it when the timeout passes.

use std::io;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use windows_sys::Win32::Foundation::{DUPLICATE_SAME_ACCESS, DuplicateHandle};
use windows_sys::Win32::Storage::FileSystem::FlushFileBuffers;
use windows_sys::Win32::System::IO::CancelSynchronousIo;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetCurrentThread};

use windows_sys::Win32::Foundation::HANDLE;

use super::instance::PipeHandle;
use super::win::{last_error, owned, raw};

/// Something that holds a pipe handle open: what a drain flushes.
pub(crate) trait OpenPipe: Send + Sync + 'static {
    fn handle(&self) -> HANDLE;
}

impl OpenPipe for PipeHandle {
    fn handle(&self) -> HANDLE {
        self.raw()
    }
}

/// Blocks until the peer has read everything written on `pipe`, or
/// `timeout` passes (`TimedOut`).
pub(crate) fn wait_for_drain<P: OpenPipe>(
    pipe: Arc<P>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let Some(timeout) = timeout else {
        return flush(&*pipe);
    };
    let (report, outcome) = mpsc::channel();
    let helper = std::thread::Builder::new()
        .name("pipeway-drain".into())
        .spawn(move || {
            let thread = this_thread();
            // Tell the waiter which thread to cancel, then flush.
            let _ = report.send(Report::Started(thread));
            let result = flush(&*pipe);
            let _ = report.send(Report::Done(result));
        })?;
    let Ok(Report::Started(thread)) = outcome.recv() else {
        return Err(io::Error::other("the drain helper thread failed to start"));
    };
    let thread = thread?;
    let result = match outcome.recv_timeout(timeout) {
        Ok(Report::Done(result)) => result,
        Ok(Report::Started(_)) => unreachable!("the helper reports its start once"),
        Err(_) => {
            // Cancel until the flush gives up: a cancel can land before the
            // helper has entered the flush, so it is repeated until it ends.
            loop {
                // SAFETY: `thread` is a live handle to the helper thread.
                unsafe { CancelSynchronousIo(raw(&thread)) };
                if let Ok(Report::Done(_)) = outcome.recv_timeout(Duration::from_millis(1)) {
                    break;
                }
            }
            Err(crate::deadline::not_drained())
        }
    };
    let _ = helper.join();
    result
}

enum Report {
    Started(io::Result<std::os::windows::io::OwnedHandle>),
    Done(io::Result<()>),
}

fn flush<P: OpenPipe>(pipe: &P) -> io::Result<()> {
    // SAFETY: `pipe` holds the handle open for the call.
    if unsafe { FlushFileBuffers(pipe.handle()) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// A real handle to the calling thread (not the pseudo-handle), which
/// another thread can use.
fn this_thread() -> io::Result<std::os::windows::io::OwnedHandle> {
    let mut handle = std::ptr::null_mut();
    // SAFETY: duplicates this thread's pseudo-handle into a real one that
    // this process owns; `handle` is a valid out pointer.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            GetCurrentThread(),
            GetCurrentProcess(),
            &mut handle,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    owned(handle)
}
