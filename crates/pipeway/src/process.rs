//! The peer's process as a handle, so that pid reuse cannot fool a server.
//!
//! A pid is only a number: once the process that connected exits and is
//! reaped, the kernel may give the same number to an unrelated process, and
//! a server that later reads `/proc/PID/exe`, signals the pid or waits for
//! it acts on the wrong process. [`PeerProcess`] holds the process itself:
//!
//! - **Linux**: a pidfd taken from the socket with `getsockopt(SO_PEERPIDFD)`
//!   (Linux 6.5 and later) when the connection is accepted or made. The
//!   kernel recorded the peer process in the socket at `connect`/`listen`
//!   time, so the pidfd names exactly the process that connected (for a
//!   client's stream: the process that created the listening socket), even
//!   if it has exited since. A kernel without the option answers
//!   `ENOPROTOOPT`, which [`PeerIdentity::process`](crate::PeerIdentity::process)
//!   reports as [`ProcessError::Unsupported`].
//! - **Windows**: a process handle opened from the pid that
//!   `GetNamedPipeClientProcessId`/`GetNamedPipeServerProcessId` report.
//!   Windows records only the pid in the pipe, so the handle is opened after
//!   the fact: if the peer had already exited and its pid been given to a
//!   new process by then, the handle would name the newcomer. pipeway takes
//!   the time as the connection completes and refuses a process created
//!   after it (its creation time, from `GetProcessTimes`): what remains is a
//!   peer that exits, and whose pid is reused, between its own open of the
//!   pipe and that moment (microseconds), or within one tick of the
//!   system clock that stamps process creation (about 15.6 ms by default).
//! - **Other Unix systems** have no such handle: `Unsupported`.
//!
//! Each connection holds one more descriptor (or handle) for this; clones of
//! a [`PeerIdentity`](crate::PeerIdentity) share it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The process at the other end of a pipe, held by a handle that names that
/// process and no other, even after it exits and its pid is reused.
///
/// From [`PeerIdentity::process`](crate::PeerIdentity::process). Cloning is
/// cheap: clones share one handle, closed when the last goes.
///
/// A process can replace its program (`execve`) and stay the same process:
/// [`exe`](PeerProcess::exe) tells what it runs when asked, while the
/// identity's user and groups are what the kernel recorded at connect time.
///
/// ```
/// use pipeway::{PipeListener, PipeStream};
///
/// # let name = format!("process-doc-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// let client = PipeStream::connect(&name)?;
/// let server = listener.accept()?;
///
/// // Here the client is this very process.
/// let process = server.peer().process()?;
/// assert_eq!(process.pid(), std::process::id());
/// assert!(process.is_alive()?);
/// assert_eq!(process.exe()?, std::env::current_exe()?);
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PeerProcess {
    inner: Arc<crate::sys::process::Handle>,
}

impl PeerProcess {
    pub(crate) fn new(handle: crate::sys::process::Handle) -> Self {
        Self {
            inner: Arc::new(handle),
        }
    }

    pub(crate) fn sys(&self) -> &crate::sys::process::Handle {
        &self.inner
    }

    /// The process's pid as the kernel reported it for the connection. The
    /// number alone proves nothing once the process has exited: ask this
    /// handle, not the pid.
    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }

    /// Whether the process is still running. `false` once it has exited
    /// (a zombie not yet reaped by its parent counts as exited); a newer
    /// process that took its pid never makes this `true` again.
    pub fn is_alive(&self) -> io::Result<bool> {
        self.inner.is_alive()
    }

    /// The executable the process runs, read through the handle:
    /// [`ProcessError::Exited`] if it has exited, never the program of a
    /// newer process that took its pid.
    ///
    /// On Linux this is `/proc/PID/exe` (a binary deleted or replaced since
    /// it started reads as `PATH (deleted)`), which needs the right to
    /// inspect the process (ptrace read access): root (`CAP_SYS_PTRACE`), or
    /// the same user when the process is dumpable (not setuid, say);
    /// otherwise `PermissionDenied`. The pid is taken from the pidfd
    /// (`Pid:` in `/proc/self/fdinfo/FD`), the link read, and the pidfd
    /// asked again: a pid stays with its process until the process is
    /// reaped, and the pidfd then shows `-1` forever, so if the second
    /// answer is still the same pid the link read in between belonged to
    /// this process. On Windows it is `QueryFullProcessImageNameW` on the
    /// handle itself.
    pub fn exe(&self) -> Result<PathBuf, ProcessError> {
        self.inner.exe()
    }

    /// Waits until the process exits. Returns at once if it has.
    pub fn wait(&self) -> io::Result<()> {
        self.inner.wait(None).map(|_| ())
    }

    /// Waits until the process exits or `timeout` passes: `true` if it has
    /// exited.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        self.inner.wait(Some(timeout))
    }

    /// Resolves once the process exits: the tokio face of [`wait`](Self::wait).
    /// Waits in the runtime's reactor (a pidfd is pollable; on Windows a
    /// thread-pool wait on the handle), so it ties up no thread. Call it
    /// within a tokio runtime with I/O enabled. Dropping the future stops the
    /// wait.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use pipeway::tokio::{PipeListener, PipeStream};
    ///
    /// # let name = format!("process-exited-doc-{}", std::process::id());
    /// let listener = PipeListener::bind(&name)?;
    /// let _client = PipeStream::connect(&name).await?;
    /// let server = listener.accept().await?;
    /// let process = server.peer().process()?;
    /// // This process does not exit while it waits for itself.
    /// let waited = tokio::time::timeout(Duration::from_millis(20), process.exited()).await;
    /// assert!(waited.is_err());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn exited(&self) -> io::Result<()> {
        self.inner.exited().await
    }
}

impl fmt::Debug for PeerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerProcess")
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

/// Why the peer's process cannot be had or acted on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// This platform or kernel gives no handle to a pipe peer's process;
    /// the reason says which (on Linux: a kernel older than 6.5, where
    /// `getsockopt(SO_PEERPIDFD)` answers `ENOPROTOOPT`).
    #[error("the peer's process cannot be held here: {0}")]
    Unsupported(&'static str),

    /// The process has exited. Whatever runs under its pid now is another
    /// process.
    #[error("the peer process (pid {pid}) has exited")]
    Exited {
        /// The pid it had.
        pid: u32,
    },

    /// The system refused or failed (out of descriptors, no right to
    /// inspect the process, …).
    #[error("the peer's process: {0}")]
    Io(#[from] io::Error),
}

impl ProcessError {
    /// The [`io::ErrorKind`] this error maps to: `Unsupported`, `NotFound`
    /// for an exited process, or the system error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ProcessError::Unsupported(_) => io::ErrorKind::Unsupported,
            ProcessError::Exited { .. } => io::ErrorKind::NotFound,
            ProcessError::Io(err) => err.kind(),
        }
    }
}

impl From<ProcessError> for io::Error {
    fn from(err: ProcessError) -> io::Error {
        match err {
            ProcessError::Io(err) => err,
            other => io::Error::new(other.kind(), other),
        }
    }
}

/// Why a connection has no [`PeerProcess`]: kept in the identity in a form
/// that clones, and turned into a [`ProcessError`] when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    Unsupported(&'static str),
    Exited {
        pid: u32,
    },
    /// An OS error code (errno, or a Win32 error).
    Os(i32),
}

impl Unavailable {
    pub(crate) fn to_error(self) -> ProcessError {
        match self {
            Unavailable::Unsupported(why) => ProcessError::Unsupported(why),
            Unavailable::Exited { pid } => ProcessError::Exited { pid },
            Unavailable::Os(code) => ProcessError::Io(io::Error::from_raw_os_error(code)),
        }
    }

    /// Keeps what an `io::Error` says, as far as a code can.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn from_io(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) => Unavailable::Os(code),
            None => Unavailable::Unsupported("the system gave no error code"),
        }
    }
}

/// The peer's process, or why there is none: what a [`PeerIdentity`] holds.
///
/// [`PeerIdentity`]: crate::PeerIdentity
pub(crate) type ProcessSlot = Result<PeerProcess, Unavailable>;

/// The slot of an identity made where no process can be had (a peer that is
/// not a local process).
pub(crate) const fn no_process(why: &'static str) -> ProcessSlot {
    Err(Unavailable::Unsupported(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_kind_through_io_error() {
        let exited: io::Error = ProcessError::Exited { pid: 7 }.into();
        assert_eq!(exited.kind(), io::ErrorKind::NotFound);
        assert!(exited.to_string().contains("pid 7"));
        let unsupported: io::Error = Unavailable::Unsupported("old kernel").to_error().into();
        assert_eq!(unsupported.kind(), io::ErrorKind::Unsupported);
        assert!(unsupported.to_string().contains("old kernel"));
    }

    #[test]
    fn an_os_code_comes_back_as_the_same_os_error() {
        let err = io::Error::from_raw_os_error(24);
        let kept = Unavailable::from_io(&err);
        match kept.to_error() {
            ProcessError::Io(again) => assert_eq!(again.raw_os_error(), Some(24)),
            other => panic!("expected the OS error, got {other:?}"),
        }
    }
}
