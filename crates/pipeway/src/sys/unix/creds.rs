//! What the kernel says about the process at the other end of a socket, and
//! the socket queries that rustix does not wrap.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The peer's credentials, recorded by the kernel at `connect`/`listen` time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub pid: Option<u32>,
    pub uid: u32,
    pub gid: u32,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<Credentials> {
    let cred = rustix::net::sockopt::socket_peercred(fd)?;
    Ok(Credentials {
        pid: Some(cred.pid.as_raw_nonzero().get() as u32),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<Credentials> {
    let (uid, gid) = nix::unistd::getpeereid(fd).map_err(io::Error::from)?;
    Ok(Credentials {
        pid: None,
        uid: uid.as_raw(),
        gid: gid.as_raw(),
    })
}

/// The peer's supplementary groups as its process held them at connect time.
/// Where the kernel cannot say, the user database's view of the peer's user.
pub(crate) fn peer_groups(fd: BorrowedFd<'_>, creds: &Credentials) -> io::Result<Vec<u32>> {
    match so_peergroups::get(fd) {
        Some(Ok(groups)) => Ok(groups),
        // Older kernels: fall back to the user database.
        Some(Err(err)) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            super::users::groups_of_uid(creds.uid, creds.gid)
        }
        Some(Err(err)) => Err(err),
        None => super::users::groups_of_uid(creds.uid, creds.gid),
    }
}

/// `SO_PEERGROUPS` (Linux 4.13+), on the architectures that number socket
/// options the generic way; libc does not export the constant.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x",
        target_arch = "powerpc64"
    )
))]
mod so_peergroups {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    const SO_PEERGROUPS: libc::c_int = 59;

    pub(super) fn get(fd: BorrowedFd<'_>) -> Option<io::Result<Vec<u32>>> {
        let mut groups: Vec<libc::gid_t> = vec![0; 32];
        loop {
            let mut len = std::mem::size_of_val(groups.as_slice()) as libc::socklen_t;
            // SAFETY: `groups` is an initialised buffer of exactly `len` bytes
            // and the kernel writes at most `len` bytes into it, updating `len`.
            let rc = unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    SO_PEERGROUPS,
                    groups.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            let count = len as usize / std::mem::size_of::<libc::gid_t>();
            if rc == 0 {
                groups.truncate(count);
                return Some(Ok(groups));
            }
            let err = io::Error::last_os_error();
            // ERANGE: the kernel set `len` to what it needs.
            if err.raw_os_error() == Some(libc::ERANGE) && count > groups.len() {
                groups.resize(count, 0);
                continue;
            }
            return Some(Err(err));
        }
    }
}

#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x",
        target_arch = "powerpc64"
    )
)))]
mod so_peergroups {
    pub(super) fn get(_fd: std::os::fd::BorrowedFd<'_>) -> Option<std::io::Result<Vec<u32>>> {
        None
    }
}

/// Bytes this socket has sent that its peer has not yet read (`SIOCOUTQ`):
/// for Unix sockets the kernel keeps charging the sender until the receiver
/// consumes the data, so zero means the peer has read everything.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn outq_len(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (== TIOCOUTQ) writes one c_int through the pointer,
    // which points at `queued`, alive for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(queued.max(0) as usize)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn outq_len(_fd: BorrowedFd<'_>) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform cannot tell how much of a socket's output the peer has read",
    ))
}
