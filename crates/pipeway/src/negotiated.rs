//! What the two ends of a connection settled when it was made: which end
//! this is, the pipe's direction, who the peer is, and the message limits.
//! Every backend's connection carries one, and every stream answers from it,
//! so that no backend keeps these facts, or checks them, its own way.

use crate::error::Error;
use crate::options::{Direction, End, Operation, PipeMode};
use crate::peer::PeerIdentity;

/// The largest messages each side accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MessageLimits {
    /// The largest message this end accepts.
    pub max: usize,
    /// The largest message the peer accepts: what a pipeway server's hello
    /// said; a server, or a client of a native Windows pipe (which carries
    /// no handshake), takes its own limit.
    pub peer_max: usize,
}

impl MessageLimits {
    /// Both sides at `max`: what an end assumes when the peer does not say.
    pub(crate) fn symmetric(max: usize) -> Self {
        Self { max, peer_max: max }
    }
}

/// What a connection's two ends settled.
#[derive(Debug)]
pub(crate) struct Negotiated {
    pub end: End,
    /// The pipe's own type (a byte client may read a message pipe).
    pub pipe_mode: PipeMode,
    pub direction: Direction,
    pub peer: PeerIdentity,
    pub limits: MessageLimits,
}

impl Negotiated {
    /// Refuses `op` where the pipe's direction rules it out for this end:
    /// checked before every read, write, send and receive, on every backend.
    pub(crate) fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)
    }
}
