//! The local pipes on Windows: the entries of `\\.\pipe\`, as
//! `Get-ChildItem \\.\pipe\` lists them. Listing opens no pipe, so it learns
//! names only: a pipe's owner and server pid are told to a connected client.
//! One pipe is looked up with `WaitNamedPipeW`, which tells whether the name
//! exists without taking an instance.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_BAD_DEV_TYPE, ERROR_FILE_NOT_FOUND, ERROR_NO_MORE_FILES, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FindClose, FindFirstFileW, FindNextFileW, WIN32_FIND_DATAW,
};

use crate::error::Error;
use crate::listing::{LocalPipe, PipeState};
use crate::name::PipeName;

use super::PIPE_PREFIX;
use super::connect::wait_for_instance;
use super::win::{from_wide, is, last_error, wide};

/// A directory search `FindFirstFileW` started; closed on drop.
struct Search(HANDLE);

impl Drop for Search {
    fn drop(&mut self) {
        // SAFETY: the handle came from FindFirstFileW and is closed once.
        unsafe { FindClose(self.0) };
    }
}

/// Every pipe in `\\.\pipe\`.
pub(crate) fn local_pipes() -> io::Result<Vec<LocalPipe>> {
    let pattern = wide(format!("{PIPE_PREFIX}*"));
    let mut found = WIN32_FIND_DATAW::default();
    // SAFETY: a NUL-terminated pattern and a valid out structure.
    let handle = unsafe { FindFirstFileW(pattern.as_ptr(), &mut found) };
    if handle.is_null() || handle as isize == -1 {
        let err = last_error();
        // No pipe at all.
        if is(&err, ERROR_FILE_NOT_FOUND) || is(&err, ERROR_NO_MORE_FILES) {
            return Ok(Vec::new());
        }
        if is(&err, ERROR_BAD_DEV_TYPE) {
            // Wine 8's pipe device cannot be listed.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this system cannot list {PIPE_PREFIX} ({err})"),
            ));
        }
        return Err(err);
    }
    let search = Search(handle);
    let mut pipes = Vec::new();
    loop {
        let name = from_wide(&found.cFileName);
        if !name.is_empty() {
            pipes.push(entry(name));
        }
        // SAFETY: the search handle is open; `found` is a valid out structure.
        if unsafe { FindNextFileW(search.0, &mut found) } == 0 {
            let err = last_error();
            if is(&err, ERROR_NO_MORE_FILES) {
                return Ok(pipes);
            }
            return Err(err);
        }
    }
}

fn entry(name: String) -> LocalPipe {
    LocalPipe {
        path: PathBuf::from(format!("{PIPE_PREFIX}{name}")),
        name,
        owner_name: None,
        // A pipe is listed while a server holds an instance of it.
        state: PipeState::Live { pid: None },
    }
}

/// One pipe, by name: whether a server serves it, learned with a wait for
/// an instance of at most a millisecond, which takes none.
pub(crate) fn inspect(name: &PipeName) -> Result<LocalPipe, Error> {
    let path = name.local_path()?;
    match wait_for_instance(&wide(path), Duration::from_millis(1)) {
        // Free, or every instance busy: either way, served.
        Ok(_) => Ok(entry(name.pipe_name().unwrap_or_default().to_owned())),
        Err(err) if is(&err, ERROR_FILE_NOT_FOUND) => Err(Error::NotFound {
            name: name.to_string(),
            path: path.to_owned(),
            waited: Duration::ZERO,
        }),
        Err(err) => Err(Error::Io(err)),
    }
}
