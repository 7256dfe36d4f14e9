//! Errors, and why connections end.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::CodecError;
use crate::handshake::HandshakeError;
use crate::server::ClientId;
use crate::wire::{ErrorCode, FrameError};

/// A channel result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, typed so that callers can act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding, connecting or accepting failed (not found, busy, access
    /// denied, untrusted server, ...): the pipe layer's error.
    #[error(transparent)]
    Pipe(#[from] pipeway::Error),

    /// The connection's two ends do not match (codec, message types,
    /// version), or the other end is not a channel: see [`HandshakeError`].
    #[error(transparent)]
    Handshake(#[from] HandshakeError),

    /// A message could not be encoded, or a body did not decode as the
    /// expected type.
    #[error(transparent)]
    Codec(#[from] CodecError),

    /// A frame larger than the maximum message size: refused before it was
    /// sent, or announced by the peer and refused before anything was
    /// allocated for it.
    #[error("frame of {len} bytes is larger than the maximum of {max} bytes")]
    TooLarge {
        /// The frame's length (header and body).
        len: u64,
        /// The limit.
        max: u64,
    },

    /// The peer broke the wire format (a bad header, an unknown kind, a
    /// frame it should not send).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The outgoing queue is full: the peer is not reading fast enough.
    /// Nothing was queued.
    #[error("the outgoing queue is full ({capacity} messages): the peer is not keeping up")]
    QueueFull {
        /// The queue's capacity, in messages.
        capacity: usize,
    },

    /// The client's connection is down and its queue already holds as many
    /// messages as it may while reconnecting. Nothing was queued.
    #[error("not connected: {queued} messages already wait for the connection to come back")]
    Reconnecting {
        /// Messages waiting in the queue.
        queued: usize,
    },

    /// No connected client has this id (it never existed or has left).
    #[error("{0} is not connected")]
    UnknownClient(ClientId),

    /// A request got no reply in time. A reply that comes later is dropped.
    #[error("no reply within {0:?}")]
    Timeout(Duration),

    /// The connection broke after the request was sent, so its reply cannot
    /// come. (Requests still queued are sent after reconnecting.)
    #[error("the connection was lost before the reply came")]
    ConnectionLost,

    /// The peer answered with an error frame.
    #[error("the peer reported {code}: {message}")]
    Remote {
        /// Why, as a code.
        code: ErrorCode,
        /// Why, in words.
        message: String,
    },

    /// The client closed with messages it could not deliver: the connection
    /// was down, or the server did not read them within the linger time.
    #[error("closed with {count} messages unsent")]
    Unsent {
        /// How many.
        count: usize,
    },

    /// The server was shut down or the client closed.
    #[error("the channel is closed")]
    Closed,

    /// An operating-system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<pipeway::NameError> for Error {
    fn from(err: pipeway::NameError) -> Self {
        Error::Pipe(err.into())
    }
}

impl From<FrameError> for Error {
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::TooLarge { len, max } => Error::TooLarge { len, max },
            FrameError::Io(err) => Error::Io(err),
            other => Error::Protocol(other.to_string()),
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection between two frames.
    Closed,
    /// The peer's end closed part-way through a frame (a process killed while
    /// sending, say). The partial frame was discarded.
    EndedMidFrame {
        /// Bytes of the frame that arrived, prefix included.
        received: usize,
        /// The frame's full length with its prefix, when the prefix arrived.
        expected: Option<usize>,
    },
    /// Reading or writing failed (the peer reset the connection, say).
    Io(Arc<io::Error>),
    /// The peer broke the wire format and was dropped; an `Error` event
    /// before this one has the details.
    Protocol(String),
    /// The client's outgoing queue filled up and the server's policy is to
    /// drop clients that do not keep up.
    QueueFull {
        /// The queue's capacity, in messages.
        capacity: usize,
    },
    /// The server disconnected the client on purpose.
    ByServer,
    /// The server shut down.
    Shutdown,
}

impl DisconnectReason {
    pub(crate) fn from_read_error(err: FrameError) -> Self {
        match err {
            FrameError::EndedMidFrame { received, expected } => {
                DisconnectReason::EndedMidFrame { received, expected }
            }
            FrameError::Io(err) => DisconnectReason::Io(Arc::new(err)),
            other => DisconnectReason::Protocol(other.to_string()),
        }
    }

    /// Whether the connection ended cleanly, by either side's choice.
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            DisconnectReason::Closed | DisconnectReason::ByServer | DisconnectReason::Shutdown
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Closed => f.write_str("the peer closed the connection"),
            DisconnectReason::EndedMidFrame { received, expected } => {
                write!(f, "the connection ended {received} bytes into a frame")?;
                if let Some(expected) = expected {
                    write!(f, " of {expected} bytes")?;
                }
                Ok(())
            }
            DisconnectReason::Io(err) => write!(f, "I/O error: {err}"),
            DisconnectReason::Protocol(why) => write!(f, "protocol error: {why}"),
            DisconnectReason::QueueFull { capacity } => write!(
                f,
                "dropped for not keeping up: its queue of {capacity} messages was full"
            ),
            DisconnectReason::ByServer => f.write_str("disconnected by the server"),
            DisconnectReason::Shutdown => f.write_str("the server shut down"),
        }
    }
}
