//! The peer's process as a process handle, opened from the pid Windows
//! records for the pipe, and checked to have existed when the connection
//! completed so that a newer process that took the pid is refused.

use std::ffi::OsString;
use std::io;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::path::PathBuf;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, FILETIME,
};
use windows_sys::Win32::System::SystemInformation::GetSystemTimeAsFileTime;
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, QueryFullProcessImageNameW,
};

use crate::process::{PeerProcess, ProcessError, ProcessSlot, Unavailable, no_process};

use super::win::{is, last_error, owned, raw, wait_any};

/// A moment on the clock that stamps process creation (the system time,
/// in 100 ns units since 1601, as `FILETIME` holds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// Now, read as the connection completes: `GetSystemTimeAsFileTime`,
    /// the same tick-granular system time Windows stamps a new process with.
    pub(crate) fn now() -> Self {
        let mut time = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        // SAFETY: `time` is a valid out pointer for the call.
        unsafe { GetSystemTimeAsFileTime(&mut time) };
        Stamp::from(time)
    }
}

impl From<FILETIME> for Stamp {
    fn from(time: FILETIME) -> Self {
        Stamp(u64::from(time.dwHighDateTime) << 32 | u64::from(time.dwLowDateTime))
    }
}

/// A handle to the process at the other end of a pipe.
#[derive(Debug)]
pub(crate) struct Handle {
    process: OwnedHandle,
    pid: u32,
}

/// Opens the process that holds `pid`, if it was created no later than
/// `connected_at`: one created afterwards took the pid of a peer that had
/// already exited, and is not the peer.
///
/// Why this is sound, and what it leaves open: Windows frees a pid only
/// when the process object is gone, and two processes never hold one pid at
/// once. A process holding the pid now that existed at `connected_at` held
/// it then, so it is the peer if the peer still held it at that moment.
/// The peer did unless it exited, and its pid was reused, between opening
/// the pipe and `connected_at`; and the creation stamp is tick-granular, so
/// a process created in the same tick as `connected_at` passes too. A
/// system clock set back between the peer's start and `connected_at` makes
/// a real peer look newer: it is then reported as exited, never confused.
pub(crate) fn open(pid: Option<u32>, connected_at: Stamp) -> ProcessSlot {
    let Some(pid) = pid else {
        return no_process("Windows did not tell the peer's pid");
    };
    // SAFETY: OpenProcess has no memory arguments; the handle is owned at once.
    let handle = unsafe {
        OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            pid,
        )
    };
    let process = match owned(handle) {
        Ok(process) => process,
        // No process has that pid any more.
        Err(err) if is(&err, ERROR_INVALID_PARAMETER) => return Err(Unavailable::Exited { pid }),
        Err(err) => return Err(Unavailable::from_io(&err)),
    };
    match creation_time(&process) {
        Ok(created) if created > connected_at => Err(Unavailable::Exited { pid }),
        Ok(_) => Ok(PeerProcess::new(Handle { process, pid })),
        Err(err) => Err(Unavailable::from_io(&err)),
    }
}

fn creation_time(process: &OwnedHandle) -> io::Result<Stamp> {
    let zero = || FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero(), zero(), zero(), zero());
    // SAFETY: `process` is a live handle with query rights; the four out
    // pointers are valid for the call.
    let ok = unsafe {
        GetProcessTimes(
            raw(process),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(Stamp::from(created))
}

impl Handle {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn as_handle(&self) -> BorrowedHandle<'_> {
        self.process.as_handle()
    }

    /// A process handle is signaled once the process has exited.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        Ok(wait_any(&[raw(&self.process)], timeout)?.is_some())
    }

    pub(crate) fn is_alive(&self) -> io::Result<bool> {
        self.wait(Some(Duration::ZERO)).map(|exited| !exited)
    }

    /// `QueryFullProcessImageNameW` on the handle: this process's image,
    /// whatever holds its pid.
    pub(crate) fn exe(&self) -> Result<PathBuf, ProcessError> {
        if !self.is_alive()? {
            return Err(ProcessError::Exited { pid: self.pid });
        }
        let mut buf = vec![0u16; 512];
        loop {
            let mut len = buf.len() as u32;
            // SAFETY: `buf` holds `len` writable units; the handle is live
            // and has PROCESS_QUERY_LIMITED_INFORMATION.
            let ok = unsafe {
                QueryFullProcessImageNameW(
                    raw(&self.process),
                    PROCESS_NAME_WIN32,
                    buf.as_mut_ptr(),
                    &mut len,
                )
            };
            if ok != 0 {
                buf.truncate(len as usize);
                return Ok(PathBuf::from(OsString::from_wide(&buf)));
            }
            let err = last_error();
            // Long paths (`\\?\` form) can reach 32 767 units.
            if is(&err, ERROR_INSUFFICIENT_BUFFER) && buf.len() < 32_768 {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if !self.is_alive()? {
                return Err(ProcessError::Exited { pid: self.pid });
            }
            return Err(ProcessError::Io(err));
        }
    }

    /// Waits for the handle with a thread-pool wait that wakes the task.
    #[cfg(feature = "tokio")]
    pub(crate) async fn exited(&self) -> io::Result<()> {
        let waiter = Box::new(super::async_wait::Waiter::default());
        let handle = raw(&self.process);
        std::future::poll_fn(|cx| {
            // SAFETY: `self.process` outlives `waiter`, which is dropped
            // (unregistering its wait) before this future is.
            unsafe { waiter.poll_handle(handle, cx) }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_created_after_the_connection_is_not_taken_for_the_peer() {
        let me = std::process::id();
        // This process existed when "the connection" completed now: held.
        let held = open(Some(me), Stamp::now()).expect("this process, opened");
        assert_eq!(held.pid(), me);
        assert!(held.is_alive().unwrap());
        // A connection that completed before this process was created cannot
        // have been this process: refused as the peer having exited.
        let before_this_process = Stamp(1);
        assert!(matches!(
            open(Some(me), before_this_process),
            Err(Unavailable::Exited { pid }) if pid == me
        ));
    }

    #[test]
    fn a_pid_no_process_holds_is_reported_exited() {
        // Pids are multiples of 4 on Windows: 3 is never one.
        assert!(matches!(
            open(Some(3), Stamp::now()),
            Err(Unavailable::Exited { pid: 3 })
        ));
        assert!(matches!(
            open(None, Stamp::now()),
            Err(Unavailable::Unsupported(_))
        ));
    }
}
