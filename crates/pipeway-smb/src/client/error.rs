//! The client's errors, typed and mapped from NTSTATUS.

use std::io;
use std::time::Duration;

use super::wire::DecodeError;
use super::wire::status;

/// What went wrong talking to a remote pipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host name did not resolve.
    #[error("cannot resolve host {host}: {source}")]
    Resolve {
        /// The host as written.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// No TCP connection to the host: unreachable, refused, or timed out.
    #[error("cannot reach {host}:{port}: {source}")]
    Unreachable {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// Why.
        source: io::Error,
    },
    /// The host refused the user name or password.
    #[error("{host} refused user {user}: wrong user name or password ({status})")]
    LogonFailure {
        /// The host.
        host: String,
        /// The user, as `DOMAIN\user` when a domain was given.
        user: String,
        /// The NTSTATUS name (`STATUS_LOGON_FAILURE`, `STATUS_ACCOUNT_DISABLED`, …).
        status: String,
    },
    /// The host logged the client on as a guest or anonymously, which this
    /// client refuses (it would be unsigned and the server could not tell
    /// who the caller is).
    #[error("{host} offered a {kind} session, which is refused: check the user name and password")]
    GuestRefused {
        /// The host.
        host: String,
        /// `guest` or `anonymous`.
        kind: &'static str,
    },
    /// Signing or encryption was required but the host cannot provide it.
    #[error("{host}: {what}")]
    SecurityUnavailable {
        /// The host.
        host: String,
        /// What is missing (`encryption was required but the host offers none`).
        what: String,
    },
    /// No pipe of that name on the host (after waiting for it).
    #[error(r"pipe \\{host}\pipe\{pipe} not found (waited {waited:?})")]
    NotFound {
        /// The host.
        host: String,
        /// The pipe.
        pipe: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// Every instance of the pipe stayed busy until the timeout.
    #[error(r"pipe \\{host}\pipe\{pipe} is busy: no free instance in {waited:?}")]
    Busy {
        /// The host.
        host: String,
        /// The pipe.
        pipe: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// The host denied access (to the share, the pipe, or an operation).
    #[error("{host} denied access to {what} ({status})")]
    AccessDenied {
        /// The host.
        host: String,
        /// What was refused.
        what: String,
        /// The NTSTATUS name.
        status: String,
    },
    /// A message longer than the pipe carries; nothing was sent.
    #[error(
        "message of {len} bytes is longer than the {max} bytes a remote pipe message can carry here; nothing was sent"
    )]
    MessageTooLong {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The connection to the host ended (the host went away or restarted,
    /// or the session expired). Open pipes on it are gone.
    #[error("connection to {host} lost: {reason}")]
    ConnectionLost {
        /// The host.
        host: String,
        /// What happened.
        reason: String,
    },
    /// The host answered an operation with an error status.
    #[error("{host}: {operation} failed: {status_name}")]
    Status {
        /// The host.
        host: String,
        /// The operation (`CREATE echo`).
        operation: String,
        /// The NTSTATUS.
        status: u32,
        /// Its name.
        status_name: String,
    },
    /// The host sent something malformed or wrongly signed.
    #[error("{host} broke the protocol: {detail}")]
    Protocol {
        /// The host.
        host: String,
        /// What was wrong.
        detail: String,
    },
    /// The operation did not finish before its deadline.
    #[error("the remote pipe operation timed out")]
    TimedOut,
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// The nearest [`io::ErrorKind`].
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::Resolve { .. } | Error::NotFound { .. } => K::NotFound,
            Error::Unreachable { source, .. } => match source.kind() {
                K::TimedOut => K::TimedOut,
                K::ConnectionRefused => K::ConnectionRefused,
                _ => K::HostUnreachable,
            },
            Error::LogonFailure { .. }
            | Error::GuestRefused { .. }
            | Error::AccessDenied { .. }
            | Error::SecurityUnavailable { .. } => K::PermissionDenied,
            Error::Busy { .. } => K::ResourceBusy,
            Error::MessageTooLong { .. } => K::InvalidInput,
            Error::ConnectionLost { .. } => K::ConnectionReset,
            // The pipe's server turned the client away at the open.
            Error::Status {
                status: status::CONNECTION_DISCONNECTED,
                ..
            } => K::ConnectionRefused,
            Error::Status { .. } => K::Other,
            Error::Protocol { .. } => K::InvalidData,
            Error::TimedOut => K::TimedOut,
            Error::Io(e) => e.kind(),
        }
    }

    pub(crate) fn protocol(host: &str, err: impl std::fmt::Display) -> Self {
        Error::Protocol {
            host: host.to_owned(),
            detail: err.to_string(),
        }
    }

    /// Maps a failed operation's status to the error a caller can act on.
    pub(crate) fn from_status(host: &str, operation: impl Into<String>, code: u32) -> Self {
        let operation = operation.into();
        match code {
            status::ACCESS_DENIED => Error::AccessDenied {
                host: host.to_owned(),
                what: operation,
                status: status::name(code),
            },
            status::PORT_MESSAGE_TOO_LONG => Error::MessageTooLong {
                len: 0,
                max: crate::client::SAMBA_MAX_MESSAGE,
            },
            status::USER_SESSION_DELETED
            | status::NETWORK_SESSION_EXPIRED
            | status::NETWORK_NAME_DELETED => Error::ConnectionLost {
                host: host.to_owned(),
                reason: status::name(code),
            },
            _ => Error::Status {
                host: host.to_owned(),
                operation,
                status: code,
                status_name: status::name(code),
            },
        }
    }

    pub(crate) fn from_decode(host: &str, err: DecodeError) -> Self {
        Self::protocol(host, err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        match err {
            Error::Io(e) => e,
            other => io::Error::new(other.kind(), other),
        }
    }
}
