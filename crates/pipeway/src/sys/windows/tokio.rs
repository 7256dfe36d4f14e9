//! The tokio face on Windows. Listening is the shared acceptor thread
//! (`listen`); connecting is the shared plan (`connect`), waiting with tokio
//! timers. Byte streams are tokio's own named pipes
//! (`tokio::net::windows::named_pipe`), on the handles pipeway opened.
//! Message streams do what tokio's pipes do not (whole messages,
//! `ERROR_MORE_DATA`, `BufferTooSmall`) with overlapped operations whose
//! completion wakes the task (`async_wait`).

use std::future::{Future, poll_fn};
use std::io;
use std::net::Shutdown;
use std::os::windows::io::{AsRawHandle, IntoRawHandle};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use ::tokio::io::ReadBuf;
use ::tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer};
use ::tokio::sync::Notify;
use windows_sys::Win32::Foundation::HANDLE;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, Direction, End, ListenOptions, Operation, PipeMode};
use crate::peer::PeerIdentity;
use crate::sync::lock;

use super::closing::{disconnected, no_close_write, no_half_close, write_shut};
use super::connect::{ConnectPlan, Step, wait_for_instance};
use super::drain::{self, OpenPipe};
use super::instance::{Connection, InstanceSlot, PipeHandle};
use super::listen::ListenerCore;
use super::message::{self, FIRST_READ, Next, Receiver};
use super::overlapped::{Canceller, OnDrop, Op, Outcome};

// ---------------------------------------------------------------------------
// Listening and connecting.

#[derive(Debug)]
pub(crate) struct AsyncListener {
    core: ListenerCore,
}

impl AsyncListener {
    pub(crate) fn bind(
        name: PipeName,
        options: &ListenOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        Ok(Self {
            core: ListenerCore::bind(name, options, mode)?,
        })
    }

    /// Cancel safe: a client is either returned or still queued.
    pub(crate) async fn accept(&self) -> Result<Connection, Error> {
        self.core.accept_async().await
    }

    pub(crate) fn name(&self) -> &PipeName {
        self.core.name()
    }

    pub(crate) fn sddl(&self) -> &str {
        self.core.sddl()
    }
}

/// The longest one wait for a busy pipe's instance lasts on a blocking
/// thread: how long a dropped connect may leave one behind.
const BUSY_WAIT_SLICE: Duration = Duration::from_millis(250);

pub(crate) async fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    let mut plan = ConnectPlan::new(name, options, mode)?;
    loop {
        match plan.step()? {
            Step::Connected(connection) => return Ok(connection),
            Step::Sleep(pause) => ::tokio::time::sleep(pause).await,
            Step::WaitBusy(limit) => {
                let path = plan.wide_path().to_vec();
                let limit = limit.min(BUSY_WAIT_SLICE);
                let waited =
                    ::tokio::task::spawn_blocking(move || wait_for_instance(&path, limit)).await;
                if !matches!(waited, Ok(Ok(_))) {
                    ::tokio::time::sleep(limit.min(Duration::from_millis(10))).await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Byte mode: tokio's named pipes.

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

/// `FlushFileBuffers` blocks: it runs on tokio's blocking threads, and
/// stops itself at the timeout (see `drain`).
async fn drain_on_blocking_thread<P: OpenPipe>(
    pipe: Arc<P>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    ::tokio::task::spawn_blocking(move || drain::wait_for_drain(pipe, timeout))
        .await
        .map_err(io::Error::other)?
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
    end: End,
    direction: Direction,
    peer: PeerIdentity,
}

impl AsyncEndpoint {
    fn io(&self) -> Option<Arc<PipeIo>> {
        lock(&self.io).clone()
    }

    pub(crate) fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn direction(&self) -> Direction {
        self.direction
    }

    /// As the blocking face's: `Read` and `Both` work, `Write` alone has
    /// no Windows equivalent.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
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

    pub(crate) async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.direction.writes(self.end) {
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

#[derive(Debug)]
pub(crate) struct AsyncByteStream {
    endpoint: AsyncEndpoint,
}

impl AsyncByteStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let io = PipeIo::new(connection.pipe, connection.end)?;
        Ok(Self {
            endpoint: AsyncEndpoint {
                io: Mutex::new(Some(Arc::new(io))),
                read_shut: AtomicBool::new(false),
                write_shut: AtomicBool::new(false),
                read_waker: Mutex::new(None),
                end: connection.end,
                direction: connection.direction,
                peer: connection.peer,
            },
        })
    }

    pub(crate) fn endpoint(&self) -> &AsyncEndpoint {
        &self.endpoint
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let endpoint = &self.endpoint;
        endpoint.direction.check(endpoint.end, Operation::Read)?;
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

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let endpoint = &self.endpoint;
        endpoint.direction.check(endpoint.end, Operation::Write)?;
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
    pub(crate) fn poll_write_vectored(
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

    pub(crate) fn is_write_vectored(&self) -> bool {
        true
    }

    /// Windows byte pipes have no half-close.
    pub(crate) fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        Poll::Ready(Err(no_half_close()))
    }
}

// ---------------------------------------------------------------------------
// Message mode: pipeway's own overlapped operations.

/// The ends of a message stream.
#[derive(Debug)]
pub(crate) struct MessageEndpoint {
    pipe: Mutex<Option<Arc<PipeHandle>>>,
    read_shut: AtomicBool,
    write_shut: AtomicBool,
    /// Wake receives, and sends, waiting when a shutdown comes.
    read_shut_notify: Notify,
    write_shut_notify: Notify,
    /// Cancels the receive operation, which may be in flight with no task
    /// waiting for it.
    read_cancel: Canceller,
    end: End,
    direction: Direction,
    peer: PeerIdentity,
}

impl MessageEndpoint {
    fn pipe(&self) -> Option<Arc<PipeHandle>> {
        lock(&self.pipe).clone()
    }

    pub(crate) fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn direction(&self) -> Direction {
        self.direction
    }

    /// Waits until the peer has read every message sent, a send still in
    /// flight included (the pipe counts it as written).
    pub(crate) async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.direction.writes(self.end) {
            return Ok(());
        }
        let pipe = self.pipe().ok_or_else(disconnected)?;
        drain_on_blocking_thread(pipe, timeout).await
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Write {
            return Err(no_close_write());
        }
        self.read_shut.store(true, Ordering::Release);
        if let Some(pipe) = self.pipe() {
            self.read_cancel.cancel(&pipe);
        }
        self.read_shut_notify.notify_waiters();
        if how == Shutdown::Both {
            self.write_shut.store(true, Ordering::Release);
            lock(&self.pipe).take();
            self.write_shut_notify.notify_waiters();
        }
        Ok(())
    }
}

#[derive(Debug)]
struct AsyncReading {
    rx: Receiver,
    /// The receive operation; it may stay in flight when a receive is
    /// dropped, and the next receive takes its result.
    op: Op,
}

#[derive(Debug)]
struct AsyncWriting {
    /// The send operation; a dropped send leaves it in flight, and the next
    /// send waits for it first, so messages never interleave or tear.
    op: Op,
    ended: bool,
}

#[derive(Debug)]
pub(crate) struct AsyncMessageStream {
    endpoint: MessageEndpoint,
    reading: ::tokio::sync::Mutex<AsyncReading>,
    writing: ::tokio::sync::Mutex<AsyncWriting>,
    max_message: usize,
    peer_max_message: u64,
    empty_ends: bool,
}

/// Why a wait for an operation stopped early.
struct ShutDown;

/// Waits for `op` to complete, or for a shutdown that `stopped` reports.
async fn complete(
    op: &Op,
    shut: &Notify,
    stopped: impl Fn() -> bool,
) -> Result<Result<(), ShutDown>, Error> {
    let notified = shut.notified();
    let mut notified = pin!(notified);
    notified.as_mut().enable();
    if stopped() {
        return Ok(Err(ShutDown));
    }
    poll_fn(|cx| {
        if notified.as_mut().poll(cx).is_ready() && stopped() {
            return Poll::Ready(Ok(Err(ShutDown)));
        }
        op.poll_complete(cx)
            .map(|done| done.map(Ok).map_err(Error::Io))
    })
    .await
}

impl AsyncMessageStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let reader = Op::new(OnDrop::Cancel)?;
        let read_cancel = reader.canceller();
        Ok(Self {
            endpoint: MessageEndpoint {
                pipe: Mutex::new(Some(connection.pipe)),
                read_shut: AtomicBool::new(false),
                write_shut: AtomicBool::new(false),
                read_shut_notify: Notify::new(),
                write_shut_notify: Notify::new(),
                read_cancel,
                end: connection.end,
                direction: connection.direction,
                peer: connection.peer,
            },
            reading: ::tokio::sync::Mutex::new(AsyncReading {
                rx: Receiver::new(connection.max_message, connection.empty_message_ends_stream),
                op: reader,
            }),
            writing: ::tokio::sync::Mutex::new(AsyncWriting {
                op: Op::new(OnDrop::Finish)?,
                ended: false,
            }),
            max_message: connection.max_message,
            peer_max_message: connection.peer_max_message,
            empty_ends: connection.empty_message_ends_stream,
        })
    }

    pub(crate) fn endpoint(&self) -> &MessageEndpoint {
        &self.endpoint
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message
    }

    pub(crate) fn peer_max_message_size(&self) -> u64 {
        self.peer_max_message
    }

    fn write_shut(&self) -> bool {
        self.endpoint.write_shut.load(Ordering::Acquire)
    }

    pub(crate) async fn send(&self, message: &[u8]) -> Result<(), Error> {
        let endpoint = &self.endpoint;
        endpoint.direction.check(endpoint.end, Operation::Write)?;
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await?;
        if writing.ended || self.write_shut() {
            return Err(Error::Io(write_shut()));
        }
        message::check_send(message, self.peer_max_message, self.empty_ends)?;
        self.start_write(&mut writing, message)?;
        self.flush_locked(&mut writing).await
    }

    fn start_write(&self, writing: &mut AsyncWriting, message: &[u8]) -> Result<(), Error> {
        let pipe = self.endpoint.pipe().ok_or_else(disconnected)?;
        let buf = writing.op.buffer_mut();
        buf.clear();
        buf.extend_from_slice(message);
        writing
            .op
            .start_write(pipe)
            .map_err(|err| Error::Io(message::write_error(err)))
    }

    /// Waits for the send in flight, if any.
    async fn flush_locked(&self, writing: &mut AsyncWriting) -> Result<(), Error> {
        if !writing.op.in_flight() {
            return Ok(());
        }
        if complete(&writing.op, &self.endpoint.write_shut_notify, || {
            self.write_shut()
        })
        .await?
        .is_err()
        {
            // Disconnected: the write finishes on its own (see `OnDrop::Finish`).
            return Err(Error::Io(write_shut()));
        }
        match writing.op.try_finish() {
            Some(Outcome::Done(_)) | None => Ok(()),
            Some(Outcome::Failed(err)) => Err(Error::Io(message::write_error(err))),
            Some(_) => Err(Error::Io(write_shut())),
        }
    }

    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await
    }

    pub(crate) async fn close_write(&self) -> Result<(), Error> {
        if !self.empty_ends {
            return Err(Error::Io(no_close_write()));
        }
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await?;
        if !writing.ended {
            self.start_write(&mut writing, &[])?;
            self.flush_locked(&mut writing).await?;
            writing.ended = true;
        }
        Ok(())
    }

    pub(crate) async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let endpoint = &self.endpoint;
        endpoint.direction.check(endpoint.end, Operation::Read)?;
        let mut reading = self.reading.lock().await;
        if !self.next_message(&mut reading).await? {
            return Ok(None);
        }
        reading.rx.assembly.deliver_into(buf)
    }

    pub(crate) async fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        let endpoint = &self.endpoint;
        endpoint.direction.check(endpoint.end, Operation::Read)?;
        let mut reading = self.reading.lock().await;
        if !self.next_message(&mut reading).await? {
            return Ok(None);
        }
        Ok(reading.rx.assembly.deliver_vec())
    }

    fn read_shut(&self) -> bool {
        self.endpoint.read_shut.load(Ordering::Acquire)
    }

    /// Assembles the next message in `rx.partial`. `false`: the stream
    /// ended. Cancel safe: the operation in flight and the bytes already
    /// read stay in `reading` for the next call.
    async fn next_message(&self, reading: &mut AsyncReading) -> Result<bool, Error> {
        let AsyncReading { rx, op } = reading;
        loop {
            if rx.partial().is_some_and(|p| p.is_complete()) {
                return Ok(true);
            }
            if let Next::End = rx.check()? {
                return Ok(false);
            }
            if self.read_shut() {
                return Ok(false);
            }
            if !op.in_flight() {
                let Some(pipe) = self.endpoint.pipe() else {
                    return Ok(false);
                };
                let len = match rx.partial() {
                    None => FIRST_READ,
                    Some(p) => (p.data.len() - p.got).clamp(1, FIRST_READ),
                };
                if let Err(err) = op.start_read(pipe, 0, len) {
                    match rx.failed(err)? {
                        Next::End => return Ok(false),
                        Next::Continue => continue,
                    }
                }
            }
            if complete(op, &self.endpoint.read_shut_notify, || self.read_shut())
                .await?
                .is_err()
            {
                op.cancel();
                return Ok(false);
            }
            let Some(outcome) = op.try_finish() else {
                continue;
            };
            let assembling = rx.partial().is_some();
            match outcome {
                Outcome::Done(n) if assembling => {
                    let bytes = op.buffer_mut()[..n].to_vec();
                    rx.append(&bytes, None)?;
                }
                Outcome::Done(n) => {
                    if let Next::End = rx.whole(n)? {
                        return Ok(false);
                    }
                    let message = op.buffer_mut()[..n].to_vec();
                    rx.set_whole(message);
                }
                Outcome::MoreData(n) => {
                    let pipe = self.endpoint.pipe().ok_or_else(disconnected)?;
                    let left = message::left_in_message(pipe.raw())?;
                    let bytes = op.buffer_mut()[..n].to_vec();
                    if assembling {
                        rx.append(&bytes, Some(left))?;
                    } else {
                        rx.begin(&bytes, left)?;
                    }
                }
                Outcome::Interrupted(_) | Outcome::TimedOut(_) => {
                    if self.read_shut() {
                        return Ok(false);
                    }
                }
                Outcome::Failed(err) => match rx.failed(err)? {
                    Next::End => return Ok(false),
                    Next::Continue => {}
                },
            }
        }
    }
}
