//! What can go wrong with shared memory and the channel on it.

use std::io;

/// A shared-memory or shared-memory-channel error, typed so that callers can
/// act on it. Converts into [`io::Error`] with a matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The name is malformed.
    #[error("invalid shared memory name {name:?}: {why}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// A live creator holds the name.
    #[error("shared memory {name} is in use by {holder}")]
    InUse {
        /// The name.
        name: String,
        /// Who holds it, as far as known (`pid 123, uid 1000`).
        holder: String,
    },

    /// No shared memory of that name exists.
    #[error("shared memory {name} not found")]
    NotFound {
        /// The name.
        name: String,
    },

    /// The memory exists but its creator died without removing it. The next
    /// `create` of the name reclaims it.
    #[error("shared memory {name} is stale: its creator (uid {owner}) is gone")]
    Stale {
        /// The name.
        name: String,
        /// The uid that created it.
        owner: u32,
    },

    /// The memory's permissions do not admit this user, or not for the
    /// access asked for.
    #[error("access to shared memory {name} denied: {reason}")]
    AccessDenied {
        /// The name.
        name: String,
        /// What was refused.
        reason: String,
    },

    /// A size of zero, or one the platform cannot map.
    #[error("invalid shared memory size {size}: {why}")]
    InvalidSize {
        /// The size asked for.
        size: u64,
        /// Why it cannot be had.
        why: &'static str,
    },

    /// The access rules ask for something this platform cannot enforce on
    /// shared memory.
    #[error("{0}")]
    Unsupported(&'static str),

    /// The channel's set-up pipe failed (not found, untrusted server,
    /// access denied, ...).
    #[error(transparent)]
    Pipe(#[from] crate::Error),

    /// The peer's set-up message or its ring headers are malformed: it is
    /// not a pipeway shared-memory channel, or it is misbehaving.
    #[error("shared memory channel protocol error: {0}")]
    Protocol(String),

    /// A message larger than the peer accepts.
    #[error("message of {size} bytes exceeds the channel's maximum of {max} bytes")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The channel's maximum.
        max: usize,
    },

    /// The peer went away without closing the channel. `mid_message` is true
    /// when it had sent part of a message (which is dropped, never handed
    /// over torn).
    #[error("the channel's peer is gone{}", if *mid_message { " in the middle of a message (the partial message is dropped)" } else { " without closing the channel" })]
    PeerGone {
        /// The peer had sent part of a message.
        mid_message: bool,
    },

    /// The peer closed the channel, so nothing more can be sent to it.
    #[error("the channel's peer closed it")]
    PeerClosed,

    /// A send or receive timed out.
    #[error("timed out")]
    TimedOut,

    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<ShmError> for io::Error {
    fn from(err: ShmError) -> io::Error {
        let kind = match &err {
            ShmError::InvalidName { .. } | ShmError::InvalidSize { .. } => {
                io::ErrorKind::InvalidInput
            }
            ShmError::InUse { .. } => io::ErrorKind::AlreadyExists,
            ShmError::NotFound { .. } => io::ErrorKind::NotFound,
            ShmError::Stale { .. } | ShmError::PeerGone { .. } => io::ErrorKind::ConnectionReset,
            ShmError::PeerClosed => io::ErrorKind::BrokenPipe,
            ShmError::AccessDenied { .. } => io::ErrorKind::PermissionDenied,
            ShmError::Unsupported(_) => io::ErrorKind::Unsupported,
            ShmError::Protocol(_) => io::ErrorKind::InvalidData,
            ShmError::MessageTooLarge { .. } => io::ErrorKind::InvalidInput,
            ShmError::TimedOut => io::ErrorKind::TimedOut,
            ShmError::Pipe(_) => return io::Error::other(err),
            ShmError::Io(err) => return io::Error::new(err.kind(), err.to_string()),
        };
        io::Error::new(kind, err)
    }
}
