//! What can go wrong with a mailslot.

use std::io;
use std::path::PathBuf;

/// A mailslot error, typed so that callers can act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailslotError {
    /// The name is malformed or too long for the platform.
    #[error("invalid mailslot name {name:?}: {why}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A live server holds the name.
    #[error("mailslot {name} is in use by {holder}")]
    InUse {
        /// The mailslot.
        name: String,
        /// Who holds it, as far as known.
        holder: String,
    },
    /// Something that is not a socket is where the mailslot's socket goes.
    #[error("{path:?} exists and is not a socket: pipeway will not remove or change it")]
    NotASocket {
        /// The path in the way.
        path: PathBuf,
    },
    /// No mailslot of that name exists (or its server is gone).
    #[error("mailslot {name} not found")]
    NotFound {
        /// The mailslot.
        name: String,
    },
    /// The mailslot's permissions do not admit this writer.
    #[error("access to mailslot {name} denied")]
    AccessDenied {
        /// The mailslot.
        name: String,
    },
    /// A message larger than the mailslot (or the kernel) accepts.
    #[error("message of {size} bytes exceeds the mailslot's maximum of {max} bytes")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The largest accepted.
        max: usize,
    },
    /// No message arrived within the read timeout.
    #[error("no message within the read timeout")]
    TimedOut,
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<crate::Error> for MailslotError {
    fn from(err: crate::Error) -> Self {
        match err {
            crate::Error::InUse { name, holder } => MailslotError::InUse { name, holder },
            crate::Error::NotASocket { path } => MailslotError::NotASocket { path },
            other => MailslotError::Io(other.into()),
        }
    }
}

impl From<MailslotError> for io::Error {
    fn from(err: MailslotError) -> io::Error {
        let kind = match &err {
            MailslotError::InvalidName { .. } | MailslotError::MessageTooLarge { .. } => {
                io::ErrorKind::InvalidInput
            }
            MailslotError::InUse { .. } | MailslotError::NotASocket { .. } => {
                io::ErrorKind::AlreadyExists
            }
            MailslotError::NotFound { .. } => io::ErrorKind::NotFound,
            MailslotError::AccessDenied { .. } => io::ErrorKind::PermissionDenied,
            MailslotError::TimedOut => io::ErrorKind::TimedOut,
            MailslotError::Io(err) => return io::Error::new(err.kind(), err.to_string()),
        };
        io::Error::new(kind, err)
    }
}
