//! The tokio stream types over a local pipe or a remote one.

use std::io;
use std::net::Shutdown;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::ReadBuf;

use super::no_reply;
use crate::error::Error;
use crate::name::PipeName;
use crate::negotiated::Negotiated;
use crate::options::{ConnectOptions, PipeMode};
use crate::remote::smb::RemotePipe;
use crate::sys::prelude::tokio::*;
use crate::sys::tokio as local;

pub(crate) use local::AsyncListener;

pub(crate) use super::either::Connection;

pub(crate) async fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    if name.is_local() {
        return local::connect(name, options, mode)
            .await
            .map(Connection::Local);
    }
    let remote = RemotePipe::connect_async(name, options.clone(), mode).await?;
    Ok(Connection::Remote(Box::new(remote)))
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum AsyncEndpoint<'a> {
    Local(&'a local::AsyncEndpoint),
    Remote(&'a RemotePipe),
}

impl<'a> AsyncEndpoint<'a> {
    pub(crate) fn negotiated(self) -> &'a Negotiated {
        match self {
            AsyncEndpoint::Local(e) => e.negotiated(),
            AsyncEndpoint::Remote(r) => r.negotiated(),
        }
    }
    pub(crate) fn shutdown(self, how: Shutdown) -> io::Result<()> {
        match self {
            AsyncEndpoint::Local(e) => e.shutdown(how),
            AsyncEndpoint::Remote(r) => r.shutdown(how),
        }
    }
    pub(crate) fn info(self) -> io::Result<crate::PipeInfo> {
        match self {
            AsyncEndpoint::Local(e) => e.info(),
            AsyncEndpoint::Remote(r) => r.info(),
        }
    }
    /// The socket: the local pipe's, or the remote host connection's.
    pub(crate) fn as_fd(self) -> std::os::fd::BorrowedFd<'a> {
        match self {
            AsyncEndpoint::Local(e) => e.as_fd(),
            AsyncEndpoint::Remote(r) => r.socket_fd(),
        }
    }
    pub(crate) async fn wait_for_drain(self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            AsyncEndpoint::Local(e) => e.wait_for_drain(timeout).await,
            AsyncEndpoint::Remote(r) => {
                std::future::poll_fn(|cx| r.poll_flush(cx)).await?;
                r.wait_for_drain(timeout)
            }
        }
    }
}

/// What the portable face asks of any end (acting as the client checks the
/// end first).
impl crate::sys::Endpoint for AsyncEndpoint<'_> {
    fn negotiated(&self) -> &Negotiated {
        (*self).negotiated()
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        (*self).shutdown(how)
    }
    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        match self {
            AsyncEndpoint::Local(e) => e.impersonate_client(),
            AsyncEndpoint::Remote(r) => r.impersonate_client(),
        }
    }
    fn info(&self) -> io::Result<crate::PipeInfo> {
        (*self).info()
    }
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        (*self).as_fd()
    }
}

/// What a remote pipe cannot do without waiting: every read and write is a
/// request the host answers.
fn remote_cannot_try() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a remote pipe reads and writes only by asking its host: use read and write",
    )
}

#[derive(Debug)]
pub(crate) enum AsyncByteStream {
    Local(local::AsyncByteStream),
    Remote(RemotePipe),
}

impl AsyncByteStream {
    pub(crate) fn from_connection(connection: impl Into<Connection>) -> io::Result<Self> {
        Ok(match connection.into() {
            Connection::Local(c) => {
                AsyncByteStream::Local(local::AsyncByteStream::from_connection(c)?)
            }
            Connection::Remote(r) => AsyncByteStream::Remote(*r),
        })
    }

    pub(crate) fn endpoint(&self) -> AsyncEndpoint<'_> {
        match self {
            AsyncByteStream::Local(s) => AsyncEndpoint::Local(s.endpoint()),
            AsyncByteStream::Remote(r) => AsyncEndpoint::Remote(r),
        }
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_read(cx, buf),
            AsyncByteStream::Remote(r) => r.poll_read(cx, buf),
        }
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_write(cx, buf),
            AsyncByteStream::Remote(r) => r.poll_write(cx, buf),
        }
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_write_vectored(cx, bufs),
            AsyncByteStream::Remote(r) => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                r.poll_write(cx, first)
            }
        }
    }

    pub(crate) fn is_write_vectored(&self) -> bool {
        match self {
            AsyncByteStream::Local(s) => s.is_write_vectored(),
            AsyncByteStream::Remote(_) => false,
        }
    }

    /// Local writes go straight to the kernel; a remote write is in flight
    /// until the host answers it.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            AsyncByteStream::Local(_) => Poll::Ready(Ok(())),
            AsyncByteStream::Remote(r) => r.poll_flush(cx),
        }
    }

    pub(crate) fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_shutdown(),
            AsyncByteStream::Remote(r) => r.poll_shutdown(),
        }
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AsyncByteStream::Local(s) => s.try_read(buf),
            AsyncByteStream::Remote(_) => Err(remote_cannot_try()),
        }
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AsyncByteStream::Local(s) => s.try_write(buf),
            AsyncByteStream::Remote(_) => Err(remote_cannot_try()),
        }
    }

    /// A remote pipe is "ready" at once: its `try_read` then says why not.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_read_ready(cx),
            AsyncByteStream::Remote(_) => Poll::Ready(Ok(())),
        }
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            AsyncByteStream::Local(s) => s.poll_write_ready(cx),
            AsyncByteStream::Remote(_) => Poll::Ready(Ok(())),
        }
    }
}

#[derive(Debug)]
pub(crate) enum AsyncMessageStream {
    Local(local::AsyncMessageStream),
    Remote(RemotePipe),
}

impl AsyncMessageStream {
    pub(crate) fn from_connection(connection: impl Into<Connection>) -> io::Result<Self> {
        Ok(match connection.into() {
            Connection::Local(c) => {
                AsyncMessageStream::Local(local::AsyncMessageStream::from_connection(c)?)
            }
            Connection::Remote(r) => AsyncMessageStream::Remote(*r),
        })
    }

    pub(crate) fn endpoint(&self) -> AsyncEndpoint<'_> {
        match self {
            AsyncMessageStream::Local(s) => AsyncEndpoint::Local(s.endpoint()),
            AsyncMessageStream::Remote(r) => AsyncEndpoint::Remote(r),
        }
    }

    pub(crate) async fn send(&self, message: &[u8]) -> Result<(), Error> {
        match self {
            AsyncMessageStream::Local(s) => s.send(message).await,
            AsyncMessageStream::Remote(r) => r.send_async(message).await,
        }
    }

    pub(crate) async fn flush(&self) -> Result<(), Error> {
        match self {
            AsyncMessageStream::Local(s) => s.flush().await,
            AsyncMessageStream::Remote(_) => Ok(()),
        }
    }

    pub(crate) async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        match self {
            AsyncMessageStream::Local(s) => s.recv(buf).await,
            AsyncMessageStream::Remote(r) => r.recv_async(buf).await,
        }
    }

    pub(crate) async fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        match self {
            AsyncMessageStream::Local(s) => s.recv_vec().await,
            AsyncMessageStream::Remote(r) => r.recv_vec_async().await,
        }
    }

    pub(crate) async fn close_write(&self) -> Result<(), Error> {
        match self {
            AsyncMessageStream::Local(s) => s.close_write().await,
            AsyncMessageStream::Remote(r) => r.close_write(),
        }
    }

    pub(crate) async fn transact(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            AsyncMessageStream::Local(s) => {
                s.send(request).await?;
                s.recv_vec().await?.ok_or_else(no_reply)
            }
            AsyncMessageStream::Remote(r) => r.transact_async(request).await,
        }
    }
}
