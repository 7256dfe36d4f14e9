//! What both blocking stream types share: the socket, its timeouts, the
//! direction checks and the drain.

use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::gate::Permit;
use crate::options::{Direction, End, Operation};
use crate::peer::PeerIdentity;

use crate::sys::unix::admit::Connection;
use crate::sys::unix::socket::{Socket, Wire};

/// The parts of a connected pipe that do not depend on its mode.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(super) socket: Socket,
    end: End,
    direction: Direction,
    peer: PeerIdentity,
    _permit: Option<Permit>,
}

impl Endpoint {
    pub(super) fn new(connection: Connection) -> (Self, Wire, u64, usize) {
        let Connection {
            socket,
            wire,
            end,
            direction,
            peer,
            peer_max_message,
            max_message,
            permit,
        } = connection;
        (
            Self {
                socket,
                end,
                direction,
                peer,
                _permit: permit,
            },
            wire,
            peer_max_message,
            max_message,
        )
    }

    pub(super) fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)
    }
}

impl crate::sys::BlockingEndpoint for Endpoint {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.socket.read_timeout()
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.socket.write_timeout()
    }

    fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        Ok((
            self.socket.recv_buffer_size()?,
            self.socket.send_buffer_size()?,
        ))
    }

    fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_micros(100);
        while self.socket.unread_by_peer()? > 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(crate::deadline::not_drained());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl crate::sys::Endpoint for Endpoint {
    fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }
}
