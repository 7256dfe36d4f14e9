//! Writers and frames for the unit tests of the crate's queues: one writer
//! takes a few bytes per write and breaks after a budget, as a slow or
//! dying peer would; one shows what a client's queue wrote directly.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use crate::server::queue::{Connection, Writer};

/// Takes at most `limit` bytes per write (vectored or not); fails once
/// `budget` bytes have gone.
pub(crate) struct Trickle {
    pub(crate) got: Vec<u8>,
    limit: usize,
    budget: usize,
    /// Writes made, vectored or not.
    pub(crate) writes: usize,
}

impl Trickle {
    pub(crate) fn new(limit: usize, budget: usize) -> Self {
        Self {
            got: vec![],
            limit,
            budget,
            writes: 0,
        }
    }
}

impl AsyncWrite for Trickle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.writes += 1;
        let mut room = self.limit.min(self.budget);
        let mut n = 0;
        for buf in bufs {
            let step = buf.len().min(room);
            self.got.extend_from_slice(&buf[..step]);
            room -= step;
            n += step;
        }
        self.budget -= n;
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A connection whose bytes the test can see while the queue holds it:
/// it takes at most `room` bytes a try, and fails every try once
/// `broken`.
#[derive(Clone, Default)]
pub(crate) struct Seen {
    got: Arc<Mutex<Vec<u8>>>,
    room: usize,
    pub(crate) broken: bool,
}

impl Seen {
    pub(crate) fn new(room: usize) -> Self {
        Self {
            room,
            ..Self::default()
        }
    }

    pub(crate) fn got(&self) -> Vec<u8> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) fn boxed(&self) -> Option<Writer> {
        Some(Box::new(self.clone()))
    }
}

impl Connection for Seen {
    fn try_write_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let n = bytes.len().min(self.room);
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.got.lock().unwrap().extend_from_slice(&bytes[..n]);
        Ok(n)
    }
}

impl AsyncWrite for Seen {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.got.lock().unwrap().extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A frame of `len` bytes, each `tag`: the queues' tests need only its
/// bytes and their order.
pub(crate) fn frame(tag: u8, len: usize) -> Bytes {
    Bytes::from(vec![tag; len])
}
