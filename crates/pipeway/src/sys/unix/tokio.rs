//! The tokio face on Unix: the same sockets, non-blocking, inside `AsyncFd`.
//! Every rule (admission, connecting, framing) is the shared code the
//! blocking face uses; only the waiting differs.

use std::io;
use std::net::Shutdown;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{Interest, ReadBuf};

use crate::error::Error;
use crate::gate::Permit;
use crate::name::PipeName;
use crate::options::{ConnectOptions, Direction, End, Operation, PipeMode};
use crate::peer::PeerIdentity;
use crate::sync::lock;

use super::admit::Connection;
use super::connect::{ConnectPlan, HelloResult, Step};
use super::framing::RecordBuffer;
use super::halves::Halves;
use super::linger::SmbEnd;
use super::message_wire::{MessageIn, MessageOut, Progress};
use super::socket::{Socket, Wire};

/// Registers `socket` with the current tokio reactor.
pub(super) fn register(socket: Socket, interest: Interest) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its descriptor as an `OwnedFd`, never swaps it for
    // another and closes it only on drop, so `as_raw_fd` names the same open
    // file for the whole life of the `AsyncFd`, as registration requires.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(|err| err.into_parts().1)
}

pub(crate) use super::tokio_listen::AsyncListener;

// ---------------------------------------------------------------------------
// Connecting.

pub(crate) async fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    let mut plan = ConnectPlan::new(name, options, mode)?;
    loop {
        let (socket, wire, peer) = loop {
            match plan.step()? {
                Step::Connected(socket, wire, peer) => break (socket, wire, peer),
                Step::Sleep(pause) => ::tokio::time::sleep(pause).await,
            }
        };
        if wire == Wire::Plain {
            return plan.finish(socket, wire, peer, None);
        }
        let fd = register(socket, Interest::READABLE)?;
        match wait_for_hello(&mut plan, &fd).await? {
            Some(HelloResult::Hello(hello)) => {
                return plan.finish(fd.into_inner(), wire, peer, Some(hello));
            }
            Some(HelloResult::Retry) => continue,
            None => return Err(plan.busy()),
        }
    }
}

async fn wait_for_hello(
    plan: &mut ConnectPlan,
    fd: &AsyncFd<Socket>,
) -> Result<Option<HelloResult>, Error> {
    loop {
        let readable = fd.readable();
        let mut ready = match plan.remaining() {
            Some(remaining) => match ::tokio::time::timeout(remaining, readable).await {
                Ok(ready) => ready?,
                Err(_elapsed) => return Ok(None),
            },
            None => readable.await?,
        };
        match plan.try_read_hello(fd.get_ref())? {
            Some(result) => return Ok(Some(result)),
            None => ready.clear_ready(),
        }
    }
}

// ---------------------------------------------------------------------------
// What both stream types share.

#[derive(Debug)]
pub(crate) struct AsyncEndpoint {
    /// Read readiness.
    fd: AsyncFd<Socket>,
    /// Write readiness: a second descriptor of the same socket, registered
    /// for writes only, made the first time a write finds the buffer full.
    /// Registered for writes from the start, a socket wakes its runtime each
    /// time the peer reads what it sent (an `EPOLLOUT` edge nobody waits
    /// for): on a round trip, one needless wake-up and `epoll_wait` at each
    /// end (measured: a tokio byte round trip of 64 B took 0.99× raw tokio's
    /// CPU that way, 0.72× this way). On a seqpacket socket, asking epoll
    /// for write readiness also makes every wake-up run the kernel's costly
    /// writability check (`unix_dgram_poll` locks the peer); measured here,
    /// registering for reads only took a 64 B message round trip from
    /// 15.6 µs to 12.6 µs.
    write_readiness: std::sync::OnceLock<AsyncFd<Socket>>,
    end: End,
    direction: Direction,
    halves: Halves,
    peer: PeerIdentity,
    _permit: Option<Permit>,
    /// An SMB client's delivery at close (see `linger`).
    smb: Option<SmbEnd>,
}

impl AsyncEndpoint {
    fn new(connection: Connection) -> io::Result<(Self, Wire, u64, usize)> {
        let Connection {
            socket,
            wire,
            end,
            direction,
            peer,
            peer_max_message,
            max_message,
            permit,
            smb,
        } = connection;
        Ok((
            Self {
                fd: register(socket, Interest::READABLE)?,
                write_readiness: std::sync::OnceLock::new(),
                end,
                direction,
                halves: Halves::new(end, direction),
                peer,
                _permit: permit,
                smb,
            },
            wire,
            peer_max_message,
            max_message,
        ))
    }

    /// Where to wait for write readiness.
    fn write_registration(&self) -> io::Result<&AsyncFd<Socket>> {
        if let Some(fd) = self.write_readiness.get() {
            return Ok(fd);
        }
        let fd = register(self.fd.get_ref().try_clone()?, Interest::WRITABLE)?;
        // If another sender won the race, its registration is kept and this
        // one is dropped (and deregistered).
        let _ = self.write_readiness.set(fd);
        Ok(self.write_readiness.get().expect("set just above"))
    }

    fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)?;
        match &self.smb {
            Some(smb) if op == Operation::Write => smb.may_write(),
            _ => Ok(()),
        }
    }

    pub(crate) fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn direction(&self) -> Direction {
        self.direction
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.smb {
            Some(smb) => smb.shutdown(self.fd.get_ref(), how)?,
            None => self.fd.get_ref().shutdown(how)?,
        }
        self.halves.shut(how);
        Ok(())
    }

    /// A send's error, with a broken pipe explained (see [`Halves::explain`]).
    fn explain(&self, err: Error) -> Error {
        match err {
            Error::Io(err) => self.halves.explain(err, self.fd.get_ref()),
            other => other,
        }
    }

    /// Runs `op` once the socket is readable, until it stops saying `WouldBlock`.
    async fn when_readable<R>(
        &self,
        mut op: impl FnMut(&Socket) -> Result<R, Error>,
    ) -> Result<R, Error> {
        loop {
            let mut ready = self.fd.readable().await?;
            let attempt = ready.try_io(|socket| match op(socket.get_ref()) {
                Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => Err(err),
                other => Ok(other),
            });
            match attempt {
                Ok(Ok(result)) => return result,
                Ok(Err(err)) => return Err(Error::Io(err)),
                Err(_would_block) => continue,
            }
        }
    }

    /// Runs `op` until it stops saying `WouldBlock`, trying at once and
    /// waiting for writability only when the buffer is full.
    async fn when_writable<R>(
        &self,
        mut op: impl FnMut(&Socket) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match op(self.fd.get_ref()) {
            Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {}
            other => return other,
        }
        let registration = self.write_registration()?;
        loop {
            let mut ready = registration.writable().await?;
            let attempt = ready.try_io(|socket| match op(socket.get_ref()) {
                Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => Err(err),
                other => Ok(other),
            });
            match attempt {
                Ok(Ok(result)) => return result,
                Ok(Err(err)) => return Err(Error::Io(err)),
                Err(_would_block) => continue,
            }
        }
    }

    /// The poll form of [`when_writable`](Self::when_writable), for `AsyncWrite`.
    fn poll_writable<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match op(self.fd.get_ref()) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            other => return Poll::Ready(other),
        }
        let registration = self.write_registration()?;
        loop {
            let mut ready = ready!(registration.poll_write_ready(cx))?;
            match ready.try_io(|socket| op(socket.get_ref())) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    pub(crate) async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        let drained = async {
            let mut pause = Duration::from_micros(100);
            while self.fd.get_ref().unread_by_peer()? > 0 {
                ::tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Ok(())
        };
        match timeout {
            Some(timeout) => ::tokio::time::timeout(timeout, drained)
                .await
                .map_err(|_| crate::deadline::not_drained())?,
            None => drained.await,
        }
    }
}

// ---------------------------------------------------------------------------
// Byte mode.

#[derive(Debug)]
pub(crate) struct AsyncByteStream {
    endpoint: AsyncEndpoint,
    wire: Wire,
    records: Mutex<RecordBuffer>,
    budget: usize,
}

impl AsyncByteStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let (endpoint, wire, _, _) = AsyncEndpoint::new(connection)?;
        let budget = match wire {
            Wire::Plain | Wire::Samba => 0,
            Wire::Framed => endpoint.fd.get_ref().record_budget()?,
        };
        Ok(Self {
            endpoint,
            wire,
            records: Mutex::new(RecordBuffer::default()),
            budget,
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

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
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
    pub(crate) fn poll_write_vectored(
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

    /// Whether a vectored write is one system call (the plain wire) rather
    /// than a write of the first buffer (the framed wire's records).
    pub(crate) fn is_write_vectored(&self) -> bool {
        self.wire != Wire::Framed
    }

    pub(crate) fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.endpoint.shutdown(Shutdown::Write))
    }
}

/// A message send in progress. While the send runs, the unsent rest stays
/// in the caller's message; only if the future is dropped part way does it
/// get copied into the writer, to go out before the next message.
struct Sending<'a> {
    writer: &'a mut MessageOut,
    message: &'a [u8],
    progress: Progress,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.writer.keep_rest(self.message, self.progress);
    }
}

/// A message receive in progress into the caller's buffer. If the future is
/// dropped part way, what arrived is moved into the reader for the next call.
struct Receiving<'a> {
    reader: &'a mut MessageIn,
    buf: &'a mut [u8],
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.reader.detach(self.buf);
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

// ---------------------------------------------------------------------------
// Message mode.

#[derive(Debug)]
pub(crate) struct AsyncMessageStream {
    endpoint: AsyncEndpoint,
    reader: ::tokio::sync::Mutex<MessageIn>,
    writer: ::tokio::sync::Mutex<MessageOut>,
    max_message: usize,
    peer_max_message: u64,
}

impl AsyncMessageStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let (endpoint, wire, peer_max_message, max_message) = AsyncEndpoint::new(connection)?;
        let budget = endpoint.fd.get_ref().record_budget()?;
        Ok(Self {
            reader: ::tokio::sync::Mutex::new(MessageIn::new(wire, max_message)),
            writer: ::tokio::sync::Mutex::new(MessageOut::new(wire, peer_max_message, budget)),
            endpoint,
            max_message,
            peer_max_message,
        })
    }

    pub(crate) fn endpoint(&self) -> &AsyncEndpoint {
        &self.endpoint
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message
    }

    pub(crate) fn peer_max_message_size(&self) -> u64 {
        self.peer_max_message
    }

    /// Cancel safe in the sense that matters: if the future is dropped after
    /// the first record left, the rest of the message is kept and goes out
    /// before the next message, so the peer never sees a torn message.
    pub(crate) async fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.endpoint.may(Operation::Write)?;
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await?;
        writer.check(message)?;
        let mut sending = Sending {
            writer: &mut writer,
            message,
            progress: None,
        };
        self.endpoint
            .when_writable(|socket| {
                sending
                    .writer
                    .send(sending.message, &mut sending.progress, socket)
                    .map_err(Error::Io)
            })
            .await
            .map_err(|err| self.endpoint.explain(err))
    }

    async fn flush_locked(&self, writer: &mut MessageOut) -> Result<(), Error> {
        if !writer.has_pending() {
            return Ok(());
        }
        self.endpoint
            .when_writable(|socket| writer.flush(socket).map_err(Error::Io))
            .await
            .map_err(|err| self.endpoint.explain(err))
    }

    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await
    }

    /// Cancel safe: records already taken from the socket stay in the reader.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reader = self.reader.lock().await;
        let receiving = Receiving {
            reader: &mut reader,
            buf,
        };
        self.endpoint
            .when_readable(|socket| receiving.reader.recv(receiving.buf, socket))
            .await
    }

    pub(crate) async fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reader = self.reader.lock().await;
        self.endpoint
            .when_readable(|socket| reader.recv_vec(socket))
            .await
    }

    pub(crate) async fn close_write(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await?;
        self.endpoint.shutdown(Shutdown::Write)?;
        Ok(())
    }
}
