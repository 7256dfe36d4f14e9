//! What both tokio stream types share: the registered socket, waiting for
//! readiness, the direction checks and the drain.

use std::io;
use std::net::Shutdown;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ::tokio::io::Interest;
use ::tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};

use crate::error::Error;
use crate::gate::Permit;
use crate::negotiated::Negotiated;
use crate::options::Operation;

use super::register;
use crate::sys::unix::admit::Connection;
use crate::sys::unix::halves::Halves;
use crate::sys::unix::linger::SmbEnd;
use crate::sys::unix::socket::{Socket, Wire};

#[derive(Debug)]
pub(crate) struct AsyncEndpoint {
    /// Read readiness.
    pub(super) fd: AsyncFd<Socket>,
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
    pub(super) negotiated: Negotiated,
    /// Which halves this end shut, to explain a broken pipe.
    halves: Halves,
    permit: Option<Permit>,
    /// An SMB client's delivery at close (see `linger`).
    smb: Option<Box<SmbEnd>>,
}

impl AsyncEndpoint {
    pub(super) fn new(connection: Connection) -> io::Result<(Self, Wire)> {
        let Connection {
            socket,
            wire,
            negotiated,
            permit,
            smb,
        } = connection;
        Ok((
            Self {
                fd: register(socket, Interest::READABLE)?,
                write_readiness: std::sync::OnceLock::new(),
                halves: Halves::new(negotiated.end, negotiated.direction),
                negotiated,
                permit,
                smb,
            },
            wire,
        ))
    }

    /// Refuses `op` where the pipe's direction rules it out, or a write
    /// after an SMB stream's write side was shut down.
    pub(super) fn may(&self, op: Operation) -> Result<(), Error> {
        crate::sys::unix::linger::may(&self.negotiated, self.smb.as_deref(), op)
    }

    /// A send's error, with a broken pipe explained (see [`Halves::explain`]).
    pub(super) fn explain(&self, err: Error) -> Error {
        match err {
            Error::Io(err) => self.halves.explain(err, self.fd.get_ref()),
            other => other,
        }
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

    /// Runs `op` once the socket is readable, until it stops saying `WouldBlock`.
    pub(super) async fn when_readable<R>(
        &self,
        mut op: impl FnMut(&Socket) -> Result<R, Error>,
    ) -> Result<R, Error> {
        loop {
            let mut ready = self.fd.readable().await?;
            if let Some(result) = try_once(&mut ready, &mut op) {
                return result;
            }
        }
    }

    /// Runs `op` until it stops saying `WouldBlock`, trying at once and
    /// waiting for writability only when the buffer is full.
    pub(super) async fn when_writable<R>(
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
            if let Some(result) = try_once(&mut ready, &mut op) {
                return result;
            }
        }
    }

    /// Runs `op` once, now, on the socket: `WouldBlock` if it is not
    /// readable (tokio's readiness is cleared for the next wait).
    pub(super) fn try_reading<R>(
        &self,
        op: impl FnOnce(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        self.fd.try_io(Interest::READABLE, op)
    }

    /// Runs `op` once, now, on the socket: `WouldBlock` if it is not
    /// writable.
    ///
    /// It tries the socket itself rather than tokio's idea of its
    /// readiness, as `poll_writable` does: so a try needs no write
    /// registration (registering one would make every read by the peer wake
    /// this process's reactor with write readiness: measured, that made a
    /// channel server that answers with `try_write` 7% slower a request),
    /// and the first try after a split does not fail for want of a readiness
    /// event the reactor has not yet seen.
    pub(super) fn try_writing<R>(
        &self,
        op: impl FnOnce(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        match op(self.fd.get_ref()) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                // A waiter's readiness must not outlive a write that would
                // block, or `writable().await` then `try_write` would spin.
                if let Some(registration) = self.write_readiness.get() {
                    let _ = registration.try_io(Interest::WRITABLE, |_| -> io::Result<()> {
                        Err(io::ErrorKind::WouldBlock.into())
                    });
                }
                Err(err)
            }
            other => other,
        }
    }

    /// Ready once a write may go, readiness left for the write.
    pub(super) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_registration()?.poll_write_ready(cx).map_ok(drop)
    }

    /// The poll form of [`when_writable`](Self::when_writable), for `AsyncWrite`.
    pub(super) fn poll_writable<R>(
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
}

/// One try of `op` on a socket tokio says is ready. `None`: it would block
/// after all, and the readiness is cleared for the next wait.
fn try_once<R>(
    ready: &mut AsyncFdReadyGuard<'_, Socket>,
    op: &mut impl FnMut(&Socket) -> Result<R, Error>,
) -> Option<Result<R, Error>> {
    let attempt = ready.try_io(|socket| match op(socket.get_ref()) {
        Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => Err(err),
        other => Ok(other),
    });
    match attempt {
        Ok(Ok(result)) => Some(result),
        Ok(Err(err)) => Some(Err(Error::Io(err))),
        Err(_would_block) => None,
    }
}

impl crate::sys::AsyncEndpoint for AsyncEndpoint {
    async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
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

impl crate::sys::Endpoint for AsyncEndpoint {
    fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        crate::sys::unix::linger::shutdown(self.fd.get_ref(), self.smb.as_deref(), how)?;
        self.halves.shut(how);
        Ok(())
    }

    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        crate::sys::unix::impersonate::begin(self.fd.get_ref(), &self.negotiated)
    }

    fn info(&self) -> io::Result<crate::PipeInfo> {
        crate::sys::unix::socket::pipe_info(
            self.fd.get_ref(),
            &self.negotiated,
            self.permit.as_ref(),
        )
    }

    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self.fd.get_ref())
    }
}
