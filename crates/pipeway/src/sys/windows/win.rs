//! Small safe wrappers over the Win32 calls every other module makes: wide
//! strings, error codes, events, waiting, and the pipe handle itself.

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    HANDLE, INVALID_HANDLE_VALUE, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, ResetEvent, SetEvent, WaitForMultipleObjects,
};

pub(crate) use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_BROKEN_PIPE, ERROR_FILE_NOT_FOUND, ERROR_IO_PENDING,
    ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED,
    ERROR_PIPE_NOT_CONNECTED, ERROR_SEM_TIMEOUT,
};

/// `s` as a NUL-terminated UTF-16 string, for the `W` functions.
pub(crate) fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(Some(0)).collect()
}

/// A UTF-16 string without its NUL, as a Rust string.
pub(crate) fn from_wide(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

/// The calling thread's last Win32 error.
pub(crate) fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// An `io::Error` for a Win32 error code.
pub(crate) fn os_error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}

/// Whether `err` is the Win32 error `code`.
pub(crate) fn is(err: &io::Error, code: u32) -> bool {
    err.raw_os_error() == Some(code as i32)
}

/// The raw `HANDLE` of an owned handle, for a call that borrows it.
pub(crate) fn raw(handle: &OwnedHandle) -> HANDLE {
    handle.as_raw_handle() as HANDLE
}

/// Takes ownership of a handle a Win32 call returned, or the error it set.
pub(crate) fn owned(handle: HANDLE) -> io::Result<OwnedHandle> {
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: the caller passes a handle just returned by a Win32 call that
    // created or opened it; nothing else owns it, so it is closed exactly once.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle as _) })
}

/// A Win32 event object.
#[derive(Debug)]
pub(crate) struct Event(OwnedHandle);

impl Event {
    /// An event that stays signaled until reset.
    pub(crate) fn manual() -> io::Result<Self> {
        Self::new(true)
    }

    /// An event that a wait resets as it returns.
    pub(crate) fn auto() -> io::Result<Self> {
        Self::new(false)
    }

    fn new(manual_reset: bool) -> io::Result<Self> {
        // SAFETY: no security attributes and no name; the returned handle is
        // checked and owned at once.
        let handle =
            unsafe { CreateEventW(std::ptr::null(), manual_reset as i32, 0, std::ptr::null()) };
        owned(handle).map(Event)
    }

    pub(crate) fn set(&self) {
        // SAFETY: the handle is a live event owned by `self`. Setting an
        // event can only fail for a bad handle, which ownership rules out.
        unsafe { SetEvent(self.raw()) };
    }

    pub(crate) fn reset(&self) {
        // SAFETY: as for `set`.
        unsafe { ResetEvent(self.raw()) };
    }

    pub(crate) fn raw(&self) -> HANDLE {
        raw(&self.0)
    }

    /// Whether the event is signaled, without waiting. (Looking resets an
    /// auto-reset event: use it on manual-reset events.)
    pub(crate) fn is_set(&self) -> bool {
        matches!(wait_any(&[self.raw()], Some(Duration::ZERO)), Ok(Some(0)))
    }
}

/// A timeout in the milliseconds the wait functions take, rounded up so
/// that a wait never ends early; `None` is `INFINITE`.
pub(crate) fn millis(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(u128::from(INFINITE - 1)) as u32
        }
    }
}

/// Waits until one of `handles` is signaled (its index) or `timeout` passes
/// (`None`). At most 64 handles (`MAXIMUM_WAIT_OBJECTS`).
pub(crate) fn wait_any(handles: &[HANDLE], timeout: Option<Duration>) -> io::Result<Option<usize>> {
    debug_assert!(!handles.is_empty() && handles.len() <= 64);
    // SAFETY: `handles` is a valid array of `len` live handles for the call.
    let rc = unsafe {
        WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, millis(timeout))
    };
    let index = rc.wrapping_sub(WAIT_OBJECT_0) as usize;
    match rc {
        WAIT_TIMEOUT => Ok(None),
        WAIT_FAILED => Err(last_error()),
        _ if index < handles.len() => Ok(Some(index)),
        // WAIT_ABANDONED_*: only mutexes are abandoned, and none is waited on.
        rc => Err(io::Error::other(format!("unexpected wait result {rc:#x}"))),
    }
}
