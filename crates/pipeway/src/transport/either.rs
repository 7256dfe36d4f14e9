//! The blocking stream types over a local pipe or a remote one.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use crate::error::Error;
use crate::name::PipeName;
use crate::negotiated::Negotiated;
use crate::options::{ConnectOptions, PipeMode};
use crate::remote::smb::RemotePipe;
use crate::sys::blocking as local;
use crate::sys::prelude::blocking::*;

pub(crate) use local::Listener;

/// A connected pipe, before it becomes a stream.
#[derive(Debug)]
pub(crate) enum Connection {
    Local(crate::sys::unix::admit::Connection),
    Remote(Box<RemotePipe>),
}

impl From<crate::sys::unix::admit::Connection> for Connection {
    fn from(c: crate::sys::unix::admit::Connection) -> Self {
        Connection::Local(c)
    }
}

pub(crate) fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    if name.is_local() {
        return local::connect(name, options, mode).map(Connection::Local);
    }
    Ok(Connection::Remote(Box::new(RemotePipe::connect(
        &name, options, mode,
    )?)))
}

/// The parts every stream has, of either kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    Local(&'a local::Endpoint),
    Remote(&'a RemotePipe),
}

macro_rules! both {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            Endpoint::Local($e) => $body,
            Endpoint::Remote($e) => $body,
        }
    };
}

impl<'a> Endpoint<'a> {
    pub(crate) fn negotiated(self) -> &'a Negotiated {
        both!(self, e => e.negotiated())
    }
    pub(crate) fn shutdown(self, how: Shutdown) -> io::Result<()> {
        both!(self, e => e.shutdown(how))
    }
    pub(crate) fn info(self) -> io::Result<crate::PipeInfo> {
        both!(self, e => e.info())
    }
    pub(crate) fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        both!(self, e => e.set_read_timeout(timeout))
    }
    pub(crate) fn set_write_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        both!(self, e => e.set_write_timeout(timeout))
    }
    pub(crate) fn read_timeout(self) -> io::Result<Option<Duration>> {
        both!(self, e => e.read_timeout())
    }
    pub(crate) fn write_timeout(self) -> io::Result<Option<Duration>> {
        both!(self, e => e.write_timeout())
    }
    pub(crate) fn buffer_sizes(self) -> io::Result<(usize, usize)> {
        both!(self, e => e.buffer_sizes())
    }
    pub(crate) fn wait_for_drain(self, timeout: Option<Duration>) -> io::Result<()> {
        both!(self, e => e.wait_for_drain(timeout))
    }
    /// The socket: the local pipe's, or the remote host connection's.
    pub(crate) fn as_fd(self) -> std::os::fd::BorrowedFd<'a> {
        match self {
            Endpoint::Local(e) => e.as_fd(),
            Endpoint::Remote(r) => r.socket_fd(),
        }
    }
    pub(crate) fn wait_for_hangup(self, timeout: Option<Duration>) -> io::Result<bool> {
        both!(self, e => e.wait_for_hangup(timeout))
    }
}

/// What the portable face asks of any end (acting as the client checks the
/// end first).
impl crate::sys::Endpoint for Endpoint<'_> {
    fn negotiated(&self) -> &Negotiated {
        (*self).negotiated()
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        (*self).shutdown(how)
    }
    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        both!(*self, e => e.impersonate_client())
    }
    fn info(&self) -> io::Result<crate::PipeInfo> {
        (*self).info()
    }
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        (*self).as_fd()
    }
}

#[derive(Debug)]
pub(crate) enum ByteStream {
    Local(local::ByteStream),
    Remote(Box<RemotePipe>),
}

impl ByteStream {
    pub(crate) fn from_connection(connection: impl Into<Connection>) -> io::Result<Self> {
        Ok(match connection.into() {
            Connection::Local(c) => ByteStream::Local(local::ByteStream::from_connection(c)?),
            Connection::Remote(r) => ByteStream::Remote(r),
        })
    }

    pub(crate) fn endpoint(&self) -> Endpoint<'_> {
        match self {
            ByteStream::Local(s) => Endpoint::Local(s.endpoint()),
            ByteStream::Remote(r) => Endpoint::Remote(r),
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ByteStream::Local(s) => s.read(buf),
            ByteStream::Remote(r) => r.read(buf),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ByteStream::Local(s) => s.write(buf),
            ByteStream::Remote(r) => r.write(buf),
        }
    }
}

#[derive(Debug)]
pub(crate) enum MessageStream {
    Local(local::MessageStream),
    Remote(RemotePipe),
}

impl MessageStream {
    pub(crate) fn from_connection(connection: impl Into<Connection>) -> io::Result<Self> {
        Ok(match connection.into() {
            Connection::Local(c) => MessageStream::Local(local::MessageStream::from_connection(c)?),
            Connection::Remote(r) => MessageStream::Remote(*r),
        })
    }

    pub(crate) fn endpoint(&self) -> Endpoint<'_> {
        match self {
            MessageStream::Local(s) => Endpoint::Local(s.endpoint()),
            MessageStream::Remote(r) => Endpoint::Remote(r),
        }
    }

    pub(crate) fn send(&self, message: &[u8]) -> Result<(), Error> {
        match self {
            MessageStream::Local(s) => s.send(message),
            MessageStream::Remote(r) => r.send(message),
        }
    }

    pub(crate) fn flush(&self) -> Result<(), Error> {
        match self {
            MessageStream::Local(s) => s.flush(),
            // Every remote send is answered by the host before it returns.
            MessageStream::Remote(_) => Ok(()),
        }
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        match self {
            MessageStream::Local(s) => s.recv(buf),
            MessageStream::Remote(r) => r.recv(buf),
        }
    }

    pub(crate) fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        match self {
            MessageStream::Local(s) => s.recv_vec(),
            MessageStream::Remote(r) => r.recv_vec(),
        }
    }

    pub(crate) fn close_write(&self) -> Result<(), Error> {
        match self {
            MessageStream::Local(s) => s.close_write(),
            MessageStream::Remote(r) => r.close_write(),
        }
    }

    /// One request and its reply: FSCTL_PIPE_TRANSCEIVE on a remote pipe
    /// (one round trip), a send and a receive on a local one.
    pub(crate) fn transact(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            MessageStream::Local(s) => {
                s.send(request)?;
                s.recv_vec()?.ok_or_else(super::no_reply)
            }
            MessageStream::Remote(r) => r.transact(request),
        }
    }
}
