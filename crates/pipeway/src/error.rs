//! The error type every pipeway operation returns.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::name::NameError;
use crate::options::{Direction, PipeMode};
use crate::show::{Human, Plain, Quoted, ShownPath, Waited};

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
        "{} names a pipe on another host: listeners serve local pipes only (other hosts reach them through Samba), and clients need pipeway's `remote` feature",
        Plain(.name)
    )]
    RemoteNotSupported {
        /// The remote name as written.
        name: String,
    },

    /// No pipe of that name appeared before the connect timeout.
    #[cfg_attr(
        not(windows),
        error("pipe {} not found (no socket at {}{})", Plain(.name), ShownPath(.path), Waited(*.waited))
    )]
    #[cfg_attr(
        windows,
        error("pipe {} not found (no pipe {}{})", Plain(.name), ShownPath(.path), Waited(*.waited))
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
    #[error(
        "pipe {}: {} exists but no server is listening on it{}",
        Plain(.name),
        ShownPath(.path),
        Waited(*.waited)
    )]
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
    #[error(
        "pipe {} is busy: all instances stayed in use for {}",
        Plain(.name),
        Human(*.waited)
    )]
    Busy {
        /// The pipe.
        name: String,
        /// How long the connect waited for a free instance.
        waited: Duration,
    },

    /// The pipe's access rules do not admit this client.
    #[error("access to pipe {} denied: {reason}", Plain(.name))]
    AccessDenied {
        /// The pipe.
        name: String,
        /// Who refused, and on what grounds.
        reason: String,
    },

    /// The process serving the pipe is not a user this client trusts (a
    /// squatter, perhaps). Nothing was sent to it or read from it.
    #[error(
        "pipe {} is served by {actual}{}, but {expected} was required: refused",
        Plain(.name),
        .pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
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
    #[error("pipe {} is in use by {holder}", Plain(.name))]
    InUse {
        /// The pipe.
        name: String,
        /// Who holds it (`pid 123, uid 1000`, as far as known; Windows
        /// tells a pipe's server pid only to a connected client).
        holder: String,
    },

    /// Something that is not a socket sits where the pipe's socket must go.
    /// pipeway never deletes or changes it.
    #[error(
        "{} exists and is not a socket: pipeway will not remove or change it",
        ShownPath(.path)
    )]
    NotASocket {
        /// The path in the way.
        path: PathBuf,
    },

    /// A stale socket file is in the way and cannot be removed.
    #[error(
        "stale socket {} (owner uid {owner}) cannot be removed: {source}",
        ShownPath(.path)
    )]
    StaleNotRemovable {
        /// The stale socket file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Why removing it failed.
        source: io::Error,
    },

    /// The name exists and the listener asked to be its first instance.
    #[error(
        "pipe {} already exists ({}) and first_instance was requested",
        Plain(.name),
        ShownPath(.path)
    )]
    AlreadyExists {
        /// The pipe.
        name: String,
        /// Its socket path (on Windows, its `\\.\pipe\` path).
        path: PathBuf,
    },

    /// The pipe's transmission mode is not the one this end uses.
    #[error("pipe {} is a {actual} pipe; this end uses {expected}", Plain(.name))]
    WrongMode {
        /// The pipe.
        name: String,
        /// The mode this end asked for.
        expected: PipeMode,
        /// The mode the pipe has.
        actual: PipeMode,
    },

    /// The client asked for a direction the pipe does not offer.
    #[error("pipe {} is {actual}; this client asked for {requested}", Plain(.name))]
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

    /// The peer takes nothing more from this end: it shut down its read
    /// side. The server of an outbound byte pipe does so when it admits a
    /// client, and a client opened to write only does so at connect; on the
    /// plain wire a client cannot learn the direction sooner than this. The
    /// write that failed sent nothing. Its [`io::ErrorKind`] is
    /// [`BrokenPipe`](io::ErrorKind::BrokenPipe), as for any broken pipe.
    #[error(
        "the {peer} does not read this pipe ({}): this write sent nothing",
        if *.may_have_closed { "it shut its read side, or closed" } else { "it shut its read side" }
    )]
    PeerNotReading {
        /// `server` or `client`.
        peer: &'static str,
        /// The peer may instead have closed the pipe: an end that does not
        /// read either cannot tell the two apart.
        may_have_closed: bool,
    },

    /// A message larger than the maximum: refused before anything was sent,
    /// or announced by the peer and refused before anything was allocated.
    #[error("message of {len} bytes is larger than the maximum of {max} bytes")]
    MessageTooLarge {
        /// The message's length (a length a peer announced past
        /// `usize::MAX` shows as `usize::MAX`).
        len: usize,
        /// The limit.
        max: usize,
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
    #[error("unknown user {}", Quoted(.0))]
    UnknownUser(String),

    /// An access rule names a group that does not exist.
    #[error("unknown group {}", Quoted(.0))]
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
            Error::PeerNotReading { .. } => K::BrokenPipe,
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
