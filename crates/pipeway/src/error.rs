//! The error type every pipeway operation returns.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::name::NameError;
use crate::options::{Direction, PipeMode};

/// A pipeway result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, typed so that callers can act on it.
///
/// Converts into [`io::Error`] with a matching [`io::ErrorKind`] (busy pipes
/// become [`io::ErrorKind::ResourceBusy`], refused access
/// [`io::ErrorKind::PermissionDenied`], and so on); the original `Error` can be
/// recovered from the `io::Error` with [`Error::from_io`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pipe name is malformed or does not fit the platform.
    #[error(transparent)]
    Name(#[from] NameError),

    /// `\\host\pipe\name` names a pipe on another host: listeners serve
    /// local pipes only, and clients reach remote ones with the `remote`
    /// feature (on by default).
    #[error(
        "{name} names a pipe on another host: listeners serve local pipes only (other hosts reach them through Samba), and clients need pipeway's `remote` feature"
    )]
    RemoteNotSupported {
        /// The remote name as written.
        name: String,
    },

    /// No pipe of that name appeared before the connect timeout.
    #[cfg_attr(
        not(windows),
        error("pipe {name} not found (no socket at {path:?}; waited {waited:?})")
    )]
    #[cfg_attr(
        windows,
        error("pipe {name} not found (no pipe {path:?}; waited {waited:?})")
    )]
    NotFound {
        /// The pipe.
        name: String,
        /// Where its socket would be (on Windows, its `\\.\pipe\` path).
        path: PathBuf,
        /// How long the connect waited.
        waited: Duration,
    },

    /// A socket file exists but nobody accepted connections on it before the
    /// connect timeout: a stale file left by a server that died, or a server
    /// that has not started listening yet.
    #[error("pipe {name}: {path:?} exists but no server is listening on it (waited {waited:?})")]
    NotListening {
        /// The pipe.
        name: String,
        /// Its socket path.
        path: PathBuf,
        /// How long the connect waited.
        waited: Duration,
    },

    /// Every instance of the pipe stayed in use until the connect timeout
    /// (Windows' `ERROR_PIPE_BUSY`).
    #[error("pipe {name} is busy: all instances stayed in use for {waited:?}")]
    Busy {
        /// The pipe.
        name: String,
        /// How long the connect waited for a free instance.
        waited: Duration,
    },

    /// The pipe's access rules do not admit this client.
    #[error("access to pipe {name} denied: {reason}")]
    AccessDenied {
        /// The pipe.
        name: String,
        /// Who refused, and on what grounds.
        reason: String,
    },

    /// The process serving the pipe is not a user this client trusts (a
    /// squatter, perhaps). Nothing was sent to it or read from it.
    #[error(
        "pipe {name} is served by {actual} (pid {pid:?}), but {expected} was required: refused"
    )]
    UntrustedServer {
        /// The pipe.
        name: String,
        /// The user serving it.
        actual: String,
        /// The server's pid, when known.
        pid: Option<u32>,
        /// Who the client requires.
        expected: String,
    },

    /// Another live server holds the name.
    #[error("pipe {name} is in use by {holder}")]
    InUse {
        /// The pipe.
        name: String,
        /// Who holds it (`pid 123, uid 1000`, as far as known; Windows
        /// tells a pipe's server pid only to a connected client).
        holder: String,
    },

    /// Something that is not a socket sits where the pipe's socket must go.
    /// pipeway never deletes or changes it.
    #[error("{path:?} exists and is not a socket: pipeway will not remove or change it")]
    NotASocket {
        /// The path in the way.
        path: PathBuf,
    },

    /// A stale socket file is in the way and cannot be removed.
    #[error("stale socket {path:?} (owner uid {owner}) cannot be removed: {source}")]
    StaleNotRemovable {
        /// The stale socket file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Why removing it failed.
        source: io::Error,
    },

    /// The name exists and the listener asked to be its first instance.
    #[error("pipe {name} already exists ({path:?}) and first_instance was requested")]
    AlreadyExists {
        /// The pipe.
        name: String,
        /// Its socket path (on Windows, its `\\.\pipe\` path).
        path: PathBuf,
    },

    /// The pipe's transmission mode is not the one this end uses.
    #[error("pipe {name} is a {actual} pipe; this end uses {expected}")]
    WrongMode {
        /// The pipe.
        name: String,
        /// The mode this end asked for.
        expected: PipeMode,
        /// The mode the pipe has.
        actual: PipeMode,
    },

    /// The client asked for a direction the pipe does not offer.
    #[error("pipe {name} is {actual}; this client asked for {requested}")]
    DirectionMismatch {
        /// The pipe.
        name: String,
        /// What the client asked for.
        requested: Direction,
        /// What the pipe is.
        actual: Direction,
    },

    /// An operation this end of the pipe may not perform: a read on the client
    /// end of an inbound pipe, say, or a write on its server end.
    #[error("cannot {op} on this end: the pipe is {direction}")]
    WrongDirection {
        /// `read` or `write`.
        op: &'static str,
        /// The pipe's direction.
        direction: Direction,
    },

    /// A message larger than the maximum: refused before anything was sent,
    /// or announced by the peer and refused before anything was allocated.
    #[error("message of {len} bytes is larger than the maximum of {max} bytes")]
    MessageTooLarge {
        /// The message's length.
        len: u64,
        /// The limit.
        max: u64,
    },

    /// The next message does not fit the buffer given to `recv`; it is still
    /// there, whole, for a `recv` with a larger buffer (Windows' `ERROR_MORE_DATA`).
    #[error("the next message is {needed} bytes; the buffer holds {capacity}")]
    BufferTooSmall {
        /// The next message's length.
        needed: usize,
        /// The buffer's length.
        capacity: usize,
    },

    /// The peer broke the pipe's wire protocol.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// An access rule or server requirement names a user that does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),

    /// An access rule names a group that does not exist.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),

    /// The listener was shut down while this call waited.
    #[error("the listener was shut down")]
    ListenerClosed,

    /// A remote pipe's host or the SMB protocol failed: the log-on was
    /// refused, the host is unreachable, the connection was lost, the pipe
    /// does not exist, … ([`kind`](Self::kind) says which kind).
    #[cfg(all(unix, feature = "remote"))]
    #[error(transparent)]
    Remote(#[from] pipeway_smb::client::Error),

    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Recovers the pipeway error carried by an [`io::Error`] made from one
    /// (as the `Read`/`Write` implementations make them).
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref::<Error>()
    }

    /// The [`io::ErrorKind`] this error maps to.
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::Name(_) => K::InvalidInput,
            Error::RemoteNotSupported { .. } => K::Unsupported,
            Error::NotFound { .. } => K::NotFound,
            Error::NotListening { .. } => K::ConnectionRefused,
            Error::Busy { .. } => K::ResourceBusy,
            Error::AccessDenied { .. } | Error::UntrustedServer { .. } => K::PermissionDenied,
            Error::InUse { .. } => K::AddrInUse,
            Error::NotASocket { .. } | Error::AlreadyExists { .. } => K::AlreadyExists,
            Error::StaleNotRemovable { source, .. } => source.kind(),
            Error::WrongMode { .. } | Error::DirectionMismatch { .. } => K::InvalidInput,
            Error::WrongDirection { .. } => K::Unsupported,
            Error::MessageTooLarge { .. } => K::InvalidData,
            Error::BufferTooSmall { .. } => K::InvalidInput,
            Error::Protocol(_) => K::InvalidData,
            Error::UnknownUser(_) | Error::UnknownGroup(_) => K::NotFound,
            Error::ListenerClosed => K::NotConnected,
            #[cfg(all(unix, feature = "remote"))]
            Error::Remote(err) => err.kind(),
            Error::Io(err) => err.kind(),
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        match err {
            Error::Io(err) => err,
            other => io::Error::new(other.kind(), other),
        }
    }
}
