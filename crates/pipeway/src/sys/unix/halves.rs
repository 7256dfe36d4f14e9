//! Which halves of a connection this end has shut down, and what a broken
//! pipe means given them: that the peer does not read this pipe (it shut
//! down its read side, as the server of an outbound byte pipe does when it
//! admits a client), or that the peer is gone.
//!
//! Both faces keep one [`Halves`] per stream and pass every send error
//! through [`Halves::explain`].

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
use crate::options::{Direction, End};

use super::socket::Socket;

#[derive(Debug)]
pub(crate) struct Halves {
    end: End,
    read_shut: AtomicBool,
    write_shut: AtomicBool,
}

impl Halves {
    /// The halves of a new connection: shut where the direction rules them
    /// out (`admit::shut_unused_halves` has done it).
    pub(crate) fn new(end: End, direction: Direction) -> Self {
        Self {
            end,
            read_shut: AtomicBool::new(!direction.reads(end)),
            write_shut: AtomicBool::new(!direction.writes(end)),
        }
    }

    /// Records a shutdown this end made.
    pub(crate) fn shut(&self, how: Shutdown) {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.read_shut.store(true, Ordering::Relaxed);
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.write_shut.store(true, Ordering::Relaxed);
        }
    }

    /// A send's error, explained. `EPIPE` while this end's write side is
    /// open means the peer's read side is shut: either the peer shut it and
    /// still holds the pipe (it does not read this pipe), or the peer closed.
    /// While this end still reads, the kernel tells the two apart: a closed
    /// peer leaves the connection hung up both ways (`POLLHUP`), a peer that
    /// only stopped reading does not. An end that does not read either
    /// cannot tell, and says so.
    pub(crate) fn explain(&self, err: io::Error, socket: &Socket) -> Error {
        if err.raw_os_error() != Some(libc::EPIPE) || self.write_shut.load(Ordering::Relaxed) {
            return Error::Io(err);
        }
        let may_have_closed = self.read_shut.load(Ordering::Relaxed);
        if !may_have_closed && socket.hung_up().unwrap_or(true) {
            return Error::Io(err);
        }
        Error::PeerNotReading {
            peer: match self.end {
                End::Server => "client",
                End::Client => "server",
            },
            may_have_closed,
        }
    }
}
