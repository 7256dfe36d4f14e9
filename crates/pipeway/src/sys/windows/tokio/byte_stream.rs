//! Byte streams with tokio: tokio's own named pipes, on the handles
//! pipeway opened and checked.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::windows::io::{AsRawHandle, IntoRawHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use ::tokio::io::ReadBuf;
use ::tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer};
use windows_sys::Win32::Foundation::HANDLE;

use crate::negotiated::Negotiated;
use crate::options::{End, Operation};
use crate::sync::lock;

use super::drain_on_blocking_thread;
use crate::sys::windows::closing::{disconnected, no_half_close, write_shut};
use crate::sys::windows::drain::OpenPipe;
use crate::sys::windows::instance::{Connection, InstanceSlot, PipeHandle};
use crate::sys::windows::message::{self};

#[derive(Debug)]
enum TokioPipe {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
}

/// A tokio pipe and the instance slot its handle holds.
#[derive(Debug)]
struct PipeIo {
    // Field order is drop order: the pipe closes before the slot frees.
    pipe: TokioPipe,
    _slot: Option<InstanceSlot>,
}

impl OpenPipe for PipeIo {
    fn handle(&self) -> HANDLE {
        match &self.pipe {
            TokioPipe::Server(p) => p.as_raw_handle() as HANDLE,
            TokioPipe::Client(p) => p.as_raw_handle() as HANDLE,
        }
    }
}

impl PipeIo {
    /// Hands a connection's handle to tokio (which needs a runtime).
    fn new(pipe: Arc<PipeHandle>, end: End) -> io::Result<Self> {
        let pipe = Arc::try_unwrap(pipe)
            .map_err(|_| io::Error::other("a new connection's pipe is in use elsewhere"))?;
        let (handle, slot) = pipe.into_parts();
        let raw = handle.into_raw_handle();
        // SAFETY: `raw` was just released by the `OwnedHandle` that owned
        // it, so tokio becomes its only owner (and closes it, also if this
        // fails). It is an overlapped pipe handle, associated with no
        // completion port yet, as tokio requires.
        let pipe = unsafe {
            match end {
                End::Server => TokioPipe::Server(NamedPipeServer::from_raw_handle(raw)?),
                End::Client => TokioPipe::Client(NamedPipeClient::from_raw_handle(raw)?),
            }
        };
        Ok(Self { pipe, _slot: slot })
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.pipe {
            TokioPipe::Server(p) => p.poll_read_ready(cx),
            TokioPipe::Client(p) => p.poll_read_ready(cx),
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.pipe {
            TokioPipe::Server(p) => p.try_read(buf),
            TokioPipe::Client(p) => p.try_read(buf),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.pipe {
            TokioPipe::Server(p) => p.poll_write_ready(cx),
            TokioPipe::Client(p) => p.poll_write_ready(cx),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.pipe {
            TokioPipe::Server(p) => p.try_write(buf),
            TokioPipe::Client(p) => p.try_write(buf),
        }
    }

    /// Waits until the writes tokio accepted have reached the pipe.
    async fn writable(&self) -> io::Result<()> {
        match &self.pipe {
            TokioPipe::Server(p) => p.writable().await,
            TokioPipe::Client(p) => p.writable().await,
        }
    }
}

/// Runs `operation` for at most `timeout`.
async fn within<T>(
    timeout: Option<Duration>,
    operation: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        None => operation.await,
        Some(timeout) => ::tokio::time::timeout(timeout, operation)
            .await
            .map_err(|_| crate::deadline::not_drained())?,
    }
}

/// What is left of `timeout` since `started` (at least a millisecond).
fn remaining(timeout: Option<Duration>, started: Instant) -> Option<Duration> {
    timeout.map(|t| {
        t.saturating_sub(started.elapsed())
            .max(Duration::from_millis(1))
    })
}

/// The most one vectored write gathers.
const GATHER_LIMIT: usize = 256 * 1024;

/// The ends of a byte stream: what does not depend on reading or writing.
#[derive(Debug)]
pub(crate) struct AsyncEndpoint {
    io: Mutex<Option<Arc<PipeIo>>>,
    read_shut: AtomicBool,
    write_shut: AtomicBool,
    /// The task waiting in `poll_read`, woken by a shutdown of reads.
    read_waker: Mutex<Option<Waker>>,
    negotiated: Negotiated,
}

impl AsyncEndpoint {
    fn io(&self) -> Option<Arc<PipeIo>> {
        lock(&self.io).clone()
    }
}

impl crate::sys::AsyncEndpoint for AsyncEndpoint {
    async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.negotiated.direction.writes(self.negotiated.end) {
            return Ok(());
        }
        let io = self.io().ok_or_else(disconnected)?;
        let started = Instant::now();
        // What tokio accepted reaches the pipe first...
        within(timeout, io.writable()).await?;
        // ...then the peer reads it.
        drain_on_blocking_thread(io, remaining(timeout, started)).await
    }
}

impl crate::sys::Endpoint for AsyncEndpoint {
    fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// As the blocking face's: `Read` and `Both` work, `Write` alone has
    /// no Windows equivalent.
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Write => {
                return Err(no_half_close());
            }
            Shutdown::Read => self.read_shut.store(true, Ordering::Release),
            Shutdown::Both => {
                self.read_shut.store(true, Ordering::Release);
                self.write_shut.store(true, Ordering::Release);
                lock(&self.io).take();
            }
        }
        if let Some(waker) = lock(&self.read_waker).take() {
            waker.wake();
        }
        Ok(())
    }

    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        let io = self.io().ok_or_else(disconnected)?;
        crate::sys::windows::identity::impersonate(io.handle())
    }

    fn info(&self) -> io::Result<crate::PipeInfo> {
        let io = self.io().ok_or_else(disconnected)?;
        crate::sys::windows::connect::info_of(io.handle(), &self.negotiated)
    }

    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        self.io()
            .map_or(std::ptr::null_mut(), |io| io.handle() as _)
    }
}

#[derive(Debug)]
pub(crate) struct AsyncByteStream {
    endpoint: AsyncEndpoint,
}

impl crate::sys::AsyncByteStream for AsyncByteStream {
    type Connection = Connection;
    type Endpoint = AsyncEndpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let io = PipeIo::new(connection.pipe, connection.negotiated.end)?;
        Ok(Self {
            endpoint: AsyncEndpoint {
                io: Mutex::new(Some(Arc::new(io))),
                read_shut: AtomicBool::new(false),
                write_shut: AtomicBool::new(false),
                read_waker: Mutex::new(None),
                negotiated: connection.negotiated,
            },
        })
    }

    fn endpoint(&self) -> &AsyncEndpoint {
        &self.endpoint
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Read)?;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // Registered before looking at the flag, so a shutdown in between wakes us.
        *lock(&endpoint.read_waker) = Some(cx.waker().clone());
        if endpoint.read_shut.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let Some(io) = endpoint.io() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            ready!(io.poll_read_ready(cx))?;
            match io.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) if message::is_closed(&err) => return Poll::Ready(Ok(())),
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Write)?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if endpoint.write_shut.load(Ordering::Acquire) {
            return Poll::Ready(Err(write_shut()));
        }
        let io = endpoint.io().ok_or_else(disconnected)?;
        loop {
            ready!(io.poll_write_ready(cx))?;
            match io.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(message::write_error(err))),
            }
        }
    }

    /// tokio's pipes take each write whole into a buffer of their own: the
    /// buffers are gathered (up to [`GATHER_LIMIT`]) into one write, so a
    /// vectored write is one `WriteFile`.
    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut parts = bufs.iter().filter(|b| !b.is_empty());
        let (Some(first), Some(_)) = (parts.next(), parts.next()) else {
            let only = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, only);
        };
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut gathered = Vec::with_capacity(total.min(GATHER_LIMIT).max(first.len()));
        for buf in bufs {
            let room = GATHER_LIMIT.saturating_sub(gathered.len());
            if room == 0 {
                break;
            }
            gathered.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        self.poll_write(cx, &gathered)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Windows byte pipes have no half-close.
    fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        Poll::Ready(Err(no_half_close()))
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Read)?;
        if buf.is_empty() || endpoint.read_shut.load(Ordering::Acquire) {
            return Ok(0);
        }
        let Some(io) = endpoint.io() else {
            return Ok(0);
        };
        match io.try_read(buf) {
            Err(err) if message::is_closed(&err) => Ok(0),
            other => other,
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Write)?;
        if buf.is_empty() {
            return Ok(0);
        }
        if endpoint.write_shut.load(Ordering::Acquire) {
            return Err(write_shut());
        }
        let io = endpoint.io().ok_or_else(disconnected)?;
        io.try_write(buf).map_err(message::write_error)
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.endpoint.io() {
            Some(io) if !self.endpoint.read_shut.load(Ordering::Acquire) => io.poll_read_ready(cx),
            // Shut or disconnected: a read answers at once (end-of-file).
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.endpoint.io() {
            Some(io) => io.poll_write_ready(cx),
            None => Poll::Ready(Err(disconnected())),
        }
    }
}
