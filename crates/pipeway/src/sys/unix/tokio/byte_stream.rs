//! Byte streams with tokio.

use std::io;
use std::net::Shutdown;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use ::tokio::io::ReadBuf;

use crate::error::Error;
use crate::options::Operation;
use crate::sync::lock;

use super::endpoint::AsyncEndpoint;
use crate::sys::prelude::tokio::*;
use crate::sys::unix::admit::Connection;
use crate::sys::unix::framing::RecordBuffer;
use crate::sys::unix::socket::{Socket, Wire};

#[derive(Debug)]
pub(crate) struct AsyncByteStream {
    endpoint: AsyncEndpoint,
    wire: Wire,
    records: Mutex<RecordBuffer>,
    budget: usize,
}

impl crate::sys::AsyncByteStream for AsyncByteStream {
    type Connection = Connection;
    type Endpoint = AsyncEndpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let budget = connection.record_budget()?;
        let (endpoint, wire) = AsyncEndpoint::new(connection)?;
        Ok(Self {
            endpoint,
            wire,
            records: Mutex::new(RecordBuffer::default()),
            budget,
        })
    }

    fn endpoint(&self) -> &AsyncEndpoint {
        &self.endpoint
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.endpoint.may(Operation::Read)?;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut ready = ready!(self.endpoint.fd.poll_read_ready(cx))?;
            let wanted = buf.remaining();
            let attempt = ready.try_io(|socket| match self.wire {
                Wire::Plain | Wire::Samba => recv_into(socket.get_ref(), buf),
                Wire::Framed => {
                    let mut records = lock(&self.records);
                    let record = records.fill(socket.get_ref())?;
                    let n = record.len().min(buf.remaining());
                    buf.put_slice(&record[..n]);
                    records.consume(n);
                    Ok(())
                }
            });
            match attempt {
                Ok(result) => {
                    // A stream socket that gave less than was asked for has
                    // nothing more queued: the next read waits for readiness
                    // rather than asking again only to hear `EAGAIN` (as
                    // tokio's own streams do; one system call less for each
                    // message a reader takes).
                    let got = wanted - buf.remaining();
                    if self.wire != Wire::Framed && got > 0 && got < wanted {
                        ready.clear_ready();
                    }
                    return Poll::Ready(result);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.endpoint.may(Operation::Write)?;
        self.endpoint
            .poll_writable(cx, |socket| match self.wire {
                Wire::Plain | Wire::Samba => socket.send(buf),
                Wire::Framed => RecordBuffer::write(buf, self.budget, socket),
            })
            .map_err(|err| self.endpoint.explain(Error::Io(err)).into())
    }

    /// One `sendmsg` of several buffers on the plain wire; the framed wire
    /// writes the first non-empty buffer, as `AsyncWrite`'s default does.
    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.wire == Wire::Framed {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        self.endpoint.may(Operation::Write)?;
        self.endpoint
            .poll_writable(cx, |socket| socket.send_vectored(bufs, false))
            .map_err(|err| self.endpoint.explain(Error::Io(err)).into())
    }

    /// Whether a vectored write is one system call (the plain and Samba
    /// wires) rather than a write of the first buffer (the framed wire's
    /// records).
    fn is_write_vectored(&self) -> bool {
        self.wire != Wire::Framed
    }

    fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.endpoint.shutdown(Shutdown::Write))
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Read)?;
        if buf.is_empty() {
            return Ok(0);
        }
        self.endpoint.try_reading(|socket| match self.wire {
            Wire::Plain | Wire::Samba => socket.recv(buf),
            Wire::Framed => lock(&self.records).read(buf, socket),
        })
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Write)?;
        if buf.is_empty() {
            return Ok(0);
        }
        self.endpoint
            .try_writing(|socket| match self.wire {
                Wire::Plain | Wire::Samba => socket.send(buf),
                Wire::Framed => RecordBuffer::write(buf, self.budget, socket),
            })
            .map_err(|err| match err.kind() {
                io::ErrorKind::WouldBlock => err,
                _ => self.endpoint.explain(Error::Io(err)).into(),
            })
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The guard is dropped without clearing: readiness stays for the read.
        self.endpoint.fd.poll_read_ready(cx).map_ok(drop)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.endpoint.poll_write_ready(cx)
    }
}

/// Receives into the unfilled part of `buf` without zeroing it first: a
/// reader handing in kilobytes of spare capacity (a `FramedRead`, say) would
/// otherwise pay for a memset on every read.
fn recv_into(socket: &Socket, buf: &mut ReadBuf<'_>) -> io::Result<()> {
    // SAFETY: `recv_uninit` only writes into the slice; nothing de-initialises
    // memory that `buf` counts as initialised.
    let n = socket.recv_uninit(unsafe { buf.unfilled_mut() })?;
    // SAFETY: the kernel wrote the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(())
}
