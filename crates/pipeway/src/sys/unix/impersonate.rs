//! A server thread acting as its client on Linux: the thread's effective
//! uid and gid and its supplementary groups become the client's, through
//! the raw system calls, which change only the calling thread (the C
//! library's `seteuid` and friends change every thread of the process).
//! The real and saved ids stay root's, which is what lets the thread switch
//! back; while it acts as the client its effective capabilities are gone,
//! so the kernel checks every file access as the client's.

use std::io;
use std::os::fd::AsFd;

use crate::negotiated::Negotiated;

use super::creds::Credentials;
use super::socket::Socket;

/// The thread's own identity, put back on drop (`None`: the thread already
/// was the client's user, and nothing was switched).
#[derive(Debug)]
pub(crate) struct Impersonation {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    own: Option<Own>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
struct Own {
    uid: rustix::process::Uid,
    gid: rustix::process::Gid,
    groups: Vec<rustix::process::Gid>,
}

/// Makes the calling thread act as the client of `socket`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn begin(socket: &Socket, negotiated: &Negotiated) -> io::Result<Impersonation> {
    use rustix::process::{Gid, Uid, getegid, geteuid, getgroups};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

    let peer = &negotiated.peer;
    let (uid, gid) = (Uid::from_raw(peer.uid), Gid::from_raw(peer.gid));
    if !geteuid().is_root() && (uid, gid) == (geteuid(), getegid()) {
        // The client is this user: the thread acts as it already.
        return Ok(Impersonation { own: None });
    }
    let creds = Credentials {
        pid: peer.pid,
        uid: peer.uid,
        gid: peer.gid,
    };
    let groups: Vec<Gid> = super::creds::peer_groups(socket.as_fd(), &creds)?
        .into_iter()
        .map(Gid::from_raw)
        .collect();
    let own = Own {
        uid: geteuid(),
        gid: getegid(),
        groups: getgroups()?,
    };
    let needs_root = |err: rustix::io::Errno| {
        let err = io::Error::from(err);
        io::Error::new(
            err.kind(),
            format!(
                "cannot act as uid {}: {err} (it needs root: CAP_SETUID and CAP_SETGID)",
                peer.uid
            ),
        )
    };
    // Groups and gid first, while the thread may still set them; the uid
    // last, since it takes the capabilities away. Nothing has changed if the
    // groups fail; after them, dropping the guard puts back what changed.
    set_thread_groups(&groups).map_err(needs_root)?;
    let guard = Impersonation { own: Some(own) };
    set_thread_res_gid(None, gid, None).map_err(needs_root)?;
    set_thread_res_uid(None, uid, None).map_err(needs_root)?;
    Ok(guard)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn begin(_socket: &Socket, _negotiated: &Negotiated) -> io::Result<Impersonation> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this system has no per-thread user ids: a server cannot act as its client on one thread",
    ))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Drop for Impersonation {
    fn drop(&mut self) {
        use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
        let Some(own) = &self.own else {
            return;
        };
        // The uid first: with it come back the capabilities the rest needs.
        let restored = set_thread_res_uid(None, own.uid, None)
            .and_then(|()| set_thread_res_gid(None, own.gid, None))
            .and_then(|()| set_thread_groups(&own.groups));
        if let Err(err) = restored {
            // Carrying on as the client would give it this thread's work.
            eprintln!(
                "pipeway: cannot switch a thread back from its pipe client's ids: {err}; aborting"
            );
            std::process::abort();
        }
    }
}
