//! Unix extras: numeric user and group ids, socket paths, and the list of
//! local pipes. What Unix alone can do lives here, as extension traits, so
//! that using it elsewhere is a compile error rather than a surprise.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::access::Account;
use crate::name::PipeName;
use crate::options::{ConnectOptions, ListenOptions, ServerRequirement};
use crate::peer::PeerIdentity;
use crate::process::{PeerProcess, ProcessError};
use crate::sealed::Sealed;
// Unused where the streams may be remote: their types call no trait.
#[cfg_attr(all(unix, feature = "remote"), allow(unused_imports))]
use crate::sys::prelude::blocking::*;
#[cfg(feature = "tokio")]
// Unused where the streams may be remote: their types call no trait.
#[cfg_attr(all(unix, feature = "remote"), allow(unused_imports))]
use crate::sys::prelude::tokio::*;

/// Numeric ids of the peer.
pub trait PeerIdentityExt: Sealed {
    /// The peer's user id.
    fn uid(&self) -> u32;
    /// The peer's primary group id.
    fn gid(&self) -> u32;
}

impl PeerIdentityExt for PeerIdentity {
    fn uid(&self) -> u32 {
        self.uid
    }
    fn gid(&self) -> u32 {
        self.gid
    }
}

/// The uid behind a [`Principal`](crate::Principal).
pub trait PrincipalExt: Sized + Sealed {
    /// The user's id.
    fn uid(&self) -> u32;
    /// The user with this uid.
    fn from_uid(uid: u32) -> Self;
}

impl PrincipalExt for crate::Principal {
    fn uid(&self) -> u32 {
        self.uid
    }
    fn from_uid(uid: u32) -> Self {
        crate::Principal { uid }
    }
}

/// Signals for the peer's process (Linux: `pidfd_send_signal`).
pub trait PeerProcessExt: Sealed {
    /// Sends `signal` (`libc::SIGTERM`, say: a signal the platform names)
    /// to the peer's process, through its pidfd: it reaches that process or
    /// none, never a newer one that took its pid.
    /// [`ProcessError::Exited`] once it has exited.
    ///
    /// ```
    /// use pipeway::unix::PeerProcessExt;
    /// use pipeway::{PipeListener, PipeStream};
    ///
    /// # let name = format!("signal-doc-{}", std::process::id());
    /// let listener = PipeListener::bind(&name)?;
    /// let _client = PipeStream::connect(&name)?;
    /// let server = listener.accept()?;
    /// // The client is this process: SIGCONT leaves a running process as it is.
    /// server.peer().process()?.send_signal(libc::SIGCONT)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn send_signal(&self, signal: i32) -> Result<(), ProcessError>;
}

impl PeerProcessExt for PeerProcess {
    fn send_signal(&self, signal: i32) -> Result<(), ProcessError> {
        self.sys().send_signal(signal)
    }
}

/// The pidfd itself, for what pipeway does not wrap (`waitid(P_PIDFD)` for
/// a child, `pidfd_getfd`, `setns`, an event loop of your own). It stays
/// owned by the identity: duplicate it to keep it longer.
impl AsFd for PeerProcess {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sys().as_fd()
    }
}

/// Where a name's socket lives.
pub trait PipeNameExt: Sealed {
    /// The socket path of a local name (`${TMPDIR:-/tmp}/CoreFxPipe_<name>`)
    /// or of a socket-path name; `None` for a remote name.
    fn socket_path(&self) -> Option<&Path>;
}

impl PipeNameExt for PipeName {
    fn socket_path(&self) -> Option<&Path> {
        self.endpoint()
    }
}

/// Access rules by numeric id.
pub trait ListenOptionsExt: Sealed {
    /// Also admits the user with this uid.
    fn allow_uid(self, uid: u32) -> Self;
    /// Also admits members of the group with this gid.
    fn allow_gid(self, gid: u32) -> Self;
    /// Refuses the user with this uid.
    fn deny_uid(self, uid: u32) -> Self;
    /// Refuses members of the group with this gid.
    fn deny_gid(self, gid: u32) -> Self;
    /// Also serves SMB clients from other hosts, through Samba, with their
    /// SMB identity: see [`crate::smb`].
    #[cfg(feature = "remote")]
    fn serve_smb(self, options: crate::smb::SmbOptions) -> Self;
}

impl ListenOptionsExt for ListenOptions {
    fn allow_uid(mut self, uid: u32) -> Self {
        self.access.allow_users.push(Account::Id(uid));
        self
    }
    fn allow_gid(mut self, gid: u32) -> Self {
        self.access.allow_groups.push(Account::Id(gid));
        self
    }
    fn deny_uid(mut self, uid: u32) -> Self {
        self.access.deny_users.push(Account::Id(uid));
        self
    }
    fn deny_gid(mut self, gid: u32) -> Self {
        self.access.deny_groups.push(Account::Id(gid));
        self
    }
    #[cfg(feature = "remote")]
    fn serve_smb(mut self, options: crate::smb::SmbOptions) -> Self {
        self.smb = Some(options);
        self
    }
}

/// Server requirements by numeric id.
pub trait ConnectOptionsExt: Sealed {
    /// Trusts only a server running as `uid` (or root).
    fn require_server_uid(self, uid: u32) -> Self;
}

impl ConnectOptionsExt for ConnectOptions {
    fn require_server_uid(mut self, uid: u32) -> Self {
        self.server = ServerRequirement::User(Account::Id(uid));
        self
    }
}

/// The socket path a listener bound.
pub trait ListenerExt: Sealed {
    /// The path of the listener's socket file.
    fn socket_path(&self) -> &Path;
    /// The path of the socket smbd hands SMB clients to, when the listener
    /// serves them ([`ListenOptionsExt::serve_smb`]).
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path>;
}

impl ListenerExt for crate::PipeListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

impl ListenerExt for crate::MessageListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

/// The local pipes, as the crate root lists them; kept here under their old
/// paths.
pub use crate::listing::{LocalPipe, PipeState, Wire, inspect, local_pipes};

/// Unix extras of a blocking byte stream.
pub trait PipeStreamExt: Sealed {
    /// Waits until the connection is over both ways (`POLLHUP`): nothing
    /// more will arrive and nothing more can be sent, because the peer closed
    /// its end, or because between them the two ends shut down both halves.
    /// Returns whether it is over; `timeout` of `None` waits for ever, zero
    /// just looks.
    ///
    /// After end-of-file this tells a peer that only stopped writing (the
    /// server of an inbound pipe does at once) from one that is gone: a relay
    /// such as `pipeway connect` keeps sending its input to the first and
    /// ends at once with the second.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// use pipeway::unix::PipeStreamExt;
    /// use pipeway::{Direction, ListenOptions, PipeListener, PipeStream};
    ///
    /// let name = format!("doc-hangup-{}", std::process::id());
    /// let inbound = ListenOptions::new().direction(Direction::Inbound);
    /// let listener = PipeListener::bind_with(&name, &inbound)?;
    /// let mut client = PipeStream::connect(&name)?;
    /// let server = listener.accept()?;
    /// // The server of an inbound pipe does not write: end-of-file at once...
    /// assert_eq!(client.read(&mut [0u8; 16])?, 0);
    /// // ...but it still reads, so the pipe is not over yet.
    /// assert!(!client.wait_for_hangup(Some(Duration::ZERO))?);
    /// drop(server);
    /// assert!(client.wait_for_hangup(None)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn wait_for_hangup(&self, timeout: Option<std::time::Duration>) -> io::Result<bool>;
}

impl PipeStreamExt for crate::PipeStream {
    fn wait_for_hangup(&self, timeout: Option<std::time::Duration>) -> io::Result<bool> {
        self.sys().endpoint().wait_for_hangup(timeout)
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::PipeListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::MessageListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

/// A stream's socket: open, and the same socket, for as long as the stream
/// lives (a shutdown or disconnect does not close it). Reading or writing it
/// directly bypasses pipeway's framing on a message or limited pipe.
macro_rules! socket_of_stream {
    ($($stream:ty),*) => {$(
        impl std::os::fd::AsFd for $stream {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.sys().endpoint().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $stream {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(self))
            }
        }
    )*};
}

socket_of_stream!(crate::PipeStream, crate::MessageStream);
#[cfg(feature = "tokio")]
socket_of_stream!(crate::tokio::PipeStream, crate::tokio::MessageStream);
