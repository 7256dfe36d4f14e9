//! The peer's process as a pidfd (Linux 6.5+: `SO_PEERPIDFD`): taken at
//! accept/connect, then asked whether the process lives, what it runs, to
//! wait for its exit, and to deliver a signal. Other Unix systems have no
//! handle for a socket's peer and say so.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::{Handle, of_socket};
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use other::{Handle, of_socket};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::io::Errno;

    use crate::process::{PeerProcess, ProcessError, ProcessSlot, Unavailable};

    /// `SO_PEERPIDFD` (Linux 6.5): 77 wherever socket options are numbered
    /// the generic way, 0x56 on SPARC. libc exports it only for some
    /// targets, so it is written here.
    #[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
    const SO_PEERPIDFD: libc::c_int = 77;
    #[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
    const SO_PEERPIDFD: libc::c_int = 0x56;

    const NO_SO_PEERPIDFD: &str = "this kernel has no SO_PEERPIDFD (getsockopt answered ENOPROTOOPT; \
         Linux 6.5 and later have it)";

    /// A pidfd for the process at the other end of a socket, and the pid the
    /// socket's credentials gave for it.
    #[derive(Debug)]
    pub(crate) struct Handle {
        pidfd: OwnedFd,
        pid: u32,
    }

    /// The peer's process, from the socket. Never fails the connection: what
    /// cannot be had is recorded for [`crate::PeerIdentity::process`] to say.
    pub(crate) fn of_socket(socket: BorrowedFd<'_>, pid: Option<u32>) -> ProcessSlot {
        let Some(pid) = pid else {
            return Err(Unavailable::Unsupported(
                "the kernel gave no pid for the peer",
            ));
        };
        match peer_pidfd(socket) {
            Ok(pidfd) => Ok(PeerProcess::new(Handle { pidfd, pid })),
            Err(errno) => Err(unavailable(errno, pid)),
        }
    }

    /// What an `SO_PEERPIDFD` failure means.
    pub(super) fn unavailable(errno: Errno, pid: u32) -> Unavailable {
        match errno {
            // The option is unknown: a kernel older than 6.5.
            Errno::NOPROTOOPT => Unavailable::Unsupported(NO_SO_PEERPIDFD),
            // Kernels 6.5 to 6.15 make no pidfd for a peer already reaped
            // (newer ones hand out one that reports it exited).
            Errno::INVAL | Errno::SRCH => Unavailable::Exited { pid },
            // ENODATA (the socket recorded no peer process), EMFILE, ENFILE,
            // ENOMEM: kept as they are.
            other => Unavailable::Os(other.raw_os_error()),
        }
    }

    /// `getsockopt(SO_PEERPIDFD)`: a new close-on-exec pidfd for the process
    /// the kernel recorded at `connect` (for a client: at `listen`).
    fn peer_pidfd(socket: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
        let mut pidfd: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes (one c_int) into
        // `pidfd`, which lives for the call, and updates `len`.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERPIDFD,
                (&mut pidfd as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            let code = io::Error::last_os_error().raw_os_error();
            return Err(code.map_or(Errno::IO, Errno::from_raw_os_error));
        }
        if pidfd < 0 || len as usize != std::mem::size_of::<libc::c_int>() {
            return Err(Errno::IO);
        }
        // SAFETY: on success the kernel installed a new descriptor, `pidfd`,
        // in this process's table; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
    }

    /// Where a pidfd's process stands, from `Pid:` in its fdinfo.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum PidState {
        /// It holds this pid (running, or exited and not yet reaped).
        Holds(u32),
        /// It has been reaped: its pid is free for any new process.
        Reaped,
        /// It lives in a pid namespace this `/proc` does not show.
        Invisible,
    }

    /// Reads `Pid:` from an fdinfo text. `None` if there is no such line
    /// (not a pidfd, or a kernel that does not say).
    pub(super) fn parse_fdinfo_pid(fdinfo: &str) -> Option<PidState> {
        let value = fdinfo.lines().find_map(|line| line.strip_prefix("Pid:"))?;
        match value.trim().parse::<i64>().ok()? {
            -1 => Some(PidState::Reaped),
            0 => Some(PidState::Invisible),
            pid => u32::try_from(pid).ok().map(PidState::Holds),
        }
    }

    impl Handle {
        pub(crate) fn pid(&self) -> u32 {
            self.pid
        }

        pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
            self.pidfd.as_fd()
        }

        /// The pid the process holds in the pid namespace of the `/proc`
        /// mounted here (the one `/proc/PID/...` paths resolve in).
        fn pid_state(&self) -> io::Result<PidState> {
            let path = format!("/proc/self/fdinfo/{}", self.pidfd.as_raw_fd());
            let text = std::fs::read_to_string(&path)?;
            parse_fdinfo_pid(&text).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{path} has no Pid: line"),
                )
            })
        }

        /// Whether the process has exited: a pidfd polls readable once it
        /// has (a zombie included).
        fn poll_exited(&self, timeout: Option<Duration>) -> io::Result<bool> {
            let deadline = timeout.map(|t| Instant::now() + t);
            loop {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let timespec = left
                    .map(Timespec::try_from)
                    .transpose()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timeout too long"))?;
                let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
                match rustix::event::poll(&mut fds, timespec.as_ref()) {
                    Ok(0) => return Ok(false),
                    Ok(_) => return Ok(true),
                    Err(Errno::INTR) => continue,
                    Err(err) => return Err(err.into()),
                }
            }
        }

        pub(crate) fn is_alive(&self) -> io::Result<bool> {
            self.poll_exited(Some(Duration::ZERO)).map(|exited| !exited)
        }

        pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
            self.poll_exited(timeout)
        }

        /// `/proc/PID/exe`, read between two looks at the pidfd's pid.
        ///
        /// Why the order is sound: a process keeps its pid from its creation
        /// until it is reaped, and no other process can hold that pid
        /// meanwhile; once reaped, its pidfd shows `Pid: -1` for good. So
        /// if the pidfd shows the same pid after the link was read as before,
        /// the process held the pid the whole time and `/proc/PID` named it.
        /// If it shows -1, the pid may have been reused and the link is
        /// thrown away. Both looks and the link go through the same `/proc`,
        /// so the pid is in the namespace the path is resolved in.
        pub(crate) fn exe(&self) -> Result<PathBuf, ProcessError> {
            let exited = ProcessError::Exited { pid: self.pid };
            let pid = match self.pid_state()? {
                PidState::Holds(pid) => pid,
                PidState::Reaped => return Err(exited),
                PidState::Invisible => {
                    return Err(ProcessError::Io(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the peer process is in a pid namespace this /proc does not show",
                    )));
                }
            };
            let link = std::fs::read_link(format!("/proc/{pid}/exe"));
            if self.pid_state()? != PidState::Holds(pid) {
                return Err(exited);
            }
            match link {
                Ok(path) => Ok(path),
                // A zombie has no executable any more: it exited.
                Err(_) if !self.is_alive()? => Err(exited),
                Err(err) => Err(ProcessError::Io(err)),
            }
        }

        /// `pidfd_send_signal`: reaches this process or none.
        pub(crate) fn send_signal(&self, signal: i32) -> Result<(), ProcessError> {
            let signal = rustix::process::Signal::from_named_raw(signal).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{signal} is not a signal this platform names"),
                )
            })?;
            if !self.is_alive()? {
                return Err(ProcessError::Exited { pid: self.pid });
            }
            match rustix::process::pidfd_send_signal(&self.pidfd, signal) {
                Ok(()) => Ok(()),
                Err(Errno::SRCH) => Err(ProcessError::Exited { pid: self.pid }),
                Err(err) => Err(ProcessError::Io(err.into())),
            }
        }

        /// Waits in tokio's reactor until the pidfd polls readable. Each
        /// wait registers its own duplicate of the pidfd, so that clones of
        /// one identity can wait at once (a descriptor can be registered
        /// with a reactor only once).
        #[cfg(feature = "tokio")]
        pub(crate) async fn exited(&self) -> io::Result<()> {
            use tokio::io::Interest;
            use tokio::io::unix::AsyncFd;

            let fd: OwnedFd = rustix::io::fcntl_dupfd_cloexec(&self.pidfd, 0)?;
            // SAFETY: the `OwnedFd` is moved into the `AsyncFd`, which closes
            // it only when dropped, so its number names the same open file
            // for the registration's whole life.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(|err| err.into_parts().1)?;
            loop {
                let mut ready = fd.readable().await?;
                if self.poll_exited(Some(Duration::ZERO))? {
                    return Ok(());
                }
                ready.clear_ready();
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod other {
    use std::io;
    use std::os::fd::BorrowedFd;
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::process::{ProcessError, ProcessSlot, no_process};

    /// No handle exists on this platform: a value of this type cannot be made.
    #[derive(Debug)]
    pub(crate) enum Handle {}

    pub(crate) fn of_socket(_socket: BorrowedFd<'_>, _pid: Option<u32>) -> ProcessSlot {
        no_process("this system gives no handle for a socket peer's process (Linux 6.5+ does)")
    }

    impl Handle {
        pub(crate) fn pid(&self) -> u32 {
            match *self {}
        }
        pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
            match *self {}
        }
        pub(crate) fn is_alive(&self) -> io::Result<bool> {
            match *self {}
        }
        pub(crate) fn wait(&self, _timeout: Option<Duration>) -> io::Result<bool> {
            match *self {}
        }
        pub(crate) fn exe(&self) -> Result<PathBuf, ProcessError> {
            match *self {}
        }
        pub(crate) fn send_signal(&self, _signal: i32) -> Result<(), ProcessError> {
            match *self {}
        }
        #[cfg(feature = "tokio")]
        pub(crate) async fn exited(&self) -> io::Result<()> {
            match *self {}
        }
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use rustix::io::Errno;

    use super::linux::{PidState, parse_fdinfo_pid, unavailable};
    use crate::process::Unavailable;

    #[test]
    fn an_old_kernels_enoprotoopt_is_unsupported_and_a_reaped_peer_exited() {
        assert!(matches!(
            unavailable(Errno::NOPROTOOPT, 9).to_error(),
            crate::ProcessError::Unsupported(why) if why.contains("ENOPROTOOPT") && why.contains("6.5")
        ));
        assert_eq!(unavailable(Errno::INVAL, 9), Unavailable::Exited { pid: 9 });
        assert_eq!(unavailable(Errno::SRCH, 9), Unavailable::Exited { pid: 9 });
        assert_eq!(
            unavailable(Errno::MFILE, 9),
            Unavailable::Os(libc::EMFILE),
            "out of descriptors is an error of its own"
        );
    }

    #[test]
    fn fdinfo_pid_lines_say_held_reaped_or_invisible() {
        let held = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1\nPid:\t4242\nNSpid:\t4242\n";
        assert_eq!(parse_fdinfo_pid(held), Some(PidState::Holds(4242)));
        assert_eq!(
            parse_fdinfo_pid("Pid:\t-1\nNSpid:\t-1\n"),
            Some(PidState::Reaped)
        );
        assert_eq!(parse_fdinfo_pid("Pid:\t0\n"), Some(PidState::Invisible));
        assert_eq!(parse_fdinfo_pid("flags:\t02\n"), None);
        assert_eq!(parse_fdinfo_pid("Pid:\tnonsense\n"), None);
    }
}
