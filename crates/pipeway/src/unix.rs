//! Unix extras: numeric user and group ids, socket paths, and the list of
//! local pipes. What Unix alone can do lives here, as extension traits, so
//! that using it elsewhere is a compile error rather than a surprise.

use std::path::Path;

use crate::access::Account;
use crate::name::PipeName;
use crate::options::{ConnectOptions, ListenOptions, ServerRequirement};
use crate::peer::PeerIdentity;
use crate::sealed::Sealed;
use crate::sys::prelude::blocking::*;
#[cfg(feature = "tokio")]
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
}

impl ListenerExt for crate::PipeListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
}

impl ListenerExt for crate::MessageListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
}

/// The local pipes, as the crate root lists them; kept here under their old
/// paths.
pub use crate::listing::{LocalPipe, PipeState, inspect, local_pipes};

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::PipeListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::MessageListener {
    fn socket_path(&self) -> &Path {
        self.endpoint()
    }
}

/// A stream's socket: open, and the same socket, for as long as the stream
/// lives (a shutdown or disconnect does not close it). Reading or writing it
/// directly bypasses pipeway's framing on a message or limited pipe.
macro_rules! socket_of_stream {
    ($($stream:ty),*) => {$(
        impl std::os::fd::AsFd for $stream {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                crate::sys::Endpoint::as_fd(self.sys().endpoint())
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
