//! What both blocking stream types share: the socket, its timeouts, the
//! direction checks and the drain.

use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::gate::Permit;
use crate::negotiated::Negotiated;

use crate::error::Error;
use crate::options::Operation;
use crate::sys::unix::admit::Connection;
use crate::sys::unix::halves::Halves;
use crate::sys::unix::linger::SmbEnd;
use crate::sys::unix::socket::{Socket, Wire};

/// The parts of a connected pipe that do not depend on its mode.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(super) socket: Socket,
    pub(super) negotiated: Negotiated,
    /// Which halves this end shut, to explain a broken pipe.
    halves: Halves,
    permit: Option<Permit>,
    /// An SMB client's delivery at close (see `linger`).
    smb: Option<Box<SmbEnd>>,
}

impl Endpoint {
    pub(super) fn new(connection: Connection) -> (Self, Wire) {
        let Connection {
            socket,
            wire,
            negotiated,
            permit,
            smb,
        } = connection;
        (
            Self {
                socket,
                halves: Halves::new(negotiated.end, negotiated.direction),
                negotiated,
                permit,
                smb,
            },
            wire,
        )
    }

    /// Refuses `op` where the pipe's direction rules it out, or a write
    /// after an SMB stream's write side was shut down.
    pub(super) fn may(&self, op: Operation) -> Result<(), Error> {
        crate::sys::unix::linger::may(&self.negotiated, self.smb.as_deref(), op)
    }

    /// A send's error: a timeout as the portable face words it, a broken
    /// pipe explained (see [`Halves::explain`]).
    pub(super) fn explain(&self, err: io::Error) -> Error {
        self.halves.explain(super::timed_out(err), &self.socket)
    }

    /// Waits until the connection is over both ways (`POLLHUP`).
    pub(crate) fn wait_for_hangup(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.socket.wait_for_hangup(timeout)
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
    fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        crate::sys::unix::linger::shutdown(&self.socket, self.smb.as_deref(), how)?;
        self.halves.shut(how);
        Ok(())
    }

    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        crate::sys::unix::impersonate::begin(&self.socket, &self.negotiated)
    }

    fn info(&self) -> io::Result<crate::PipeInfo> {
        crate::sys::unix::socket::pipe_info(&self.socket, &self.negotiated, self.permit.as_ref())
    }

    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }
}
