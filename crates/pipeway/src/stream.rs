//! The blocking byte-mode stream.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use crate::deadline;
use crate::error::Result;
use crate::name::IntoPipeName;
use crate::options::{ConnectOptions, Direction, PipeMode};
use crate::peer::PeerIdentity;
// Unused where the streams may be remote: their types call no trait.
#[cfg_attr(all(unix, feature = "remote"), allow(unused_imports))]
use crate::sys::prelude::blocking::*;
use crate::transport::blocking as sys;

/// One end of a byte-mode pipe: a bidirectional byte stream.
///
/// `Read` and `Write` are implemented for `PipeStream` and for `&PipeStream`,
/// so one thread can read while another writes (share it with an `Arc` or a
/// scoped thread). Writes go straight to the kernel: `flush` has nothing to
/// do, and [`wait_for_drain`](Self::wait_for_drain) waits until the peer has
/// read what was written (`WaitForPipeDrain`).
///
/// ```
/// use std::io::{Read, Write};
/// use pipeway::{PipeListener, PipeStream};
///
/// let name = format!("doc-pipe-stream-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     let mut stream = listener.accept()?;
///     let mut request = [0u8; 4];
///     stream.read_exact(&mut request)?;
///     stream.write_all(b"pong")
/// });
///
/// let mut stream = PipeStream::connect(&name)?; // waits up to 5 s for the pipe
/// stream.write_all(b"ping")?;
/// let mut reply = [0u8; 4];
/// stream.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"pong");
/// println!("served by {}", stream.peer()); // pid, user
/// server.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PipeStream {
    inner: sys::ByteStream,
}

impl PipeStream {
    /// The backend's stream, for the platform extensions.
    pub(crate) fn sys(&self) -> &sys::ByteStream {
        &self.inner
    }

    pub(crate) fn from_sys(inner: sys::ByteStream) -> Self {
        Self { inner }
    }

    /// Connects to `name` with the default options: waits up to 5 s for the
    /// pipe, and trusts only a server of this user or root.
    pub fn connect(name: impl IntoPipeName) -> Result<Self> {
        Self::connect_with(name, &ConnectOptions::new())
    }

    /// Connects to `name` with `options`.
    ///
    /// Waits, until the timeout, for a pipe that does not exist yet, refuses,
    /// or has no free instance, then fails with [`Error::NotFound`],
    /// [`Error::NotListening`] or [`Error::Busy`]. A server run by a user the
    /// options do not trust fails with [`Error::UntrustedServer`] before any
    /// byte is sent or read.
    ///
    /// # Message pipes
    ///
    /// On Windows a byte client opens a message-type pipe too (Docker's
    /// `\\.\pipe\docker_engine`, say, or any go-winio server with
    /// `MessageMode: true`), in byte read mode, as Win32, .NET and go-winio
    /// byte clients do. Message boundaries are then the server's affair
    /// only: a read returns what the buffer holds of one or more messages,
    /// run together; each `write` arrives at the server as one message; and
    /// a zero-length message (go-winio's `CloseWrite`) reads as end-of-file.
    /// A [`MessageStream`](crate::MessageStream) keeps the boundaries.
    ///
    /// On Unix a pipeway message pipe speaks pipeway's framed wire, which
    /// only a [`MessageStream`](crate::MessageStream) reads: a byte client
    /// fails with [`Error::WrongMode`](crate::Error::WrongMode).
    ///
    /// [`Error::NotFound`]: crate::Error::NotFound
    /// [`Error::NotListening`]: crate::Error::NotListening
    /// [`Error::Busy`]: crate::Error::Busy
    /// [`Error::UntrustedServer`]: crate::Error::UntrustedServer
    pub fn connect_with(name: impl IntoPipeName, options: &ConnectOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        let connection = sys::connect(name, options, PipeMode::Byte)?;
        Ok(Self::from_sys(sys::ByteStream::from_connection(
            connection,
        )?))
    }

    /// The socket's descriptor (the shared-memory channel passes its
    /// memory over it).
    #[cfg(unix)]
    pub(crate) fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.endpoint().as_fd()
    }

    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        &self.inner.endpoint().negotiated().peer
    }

    crate::impersonation::server_end_methods!();

    /// The pipe's direction, as this end sees it.
    pub fn direction(&self) -> Direction {
        self.inner.endpoint().negotiated().direction
    }

    /// Shuts down the read half, the write half, or both. Shutting down the
    /// write half delivers everything written before it, then end-of-file.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.endpoint().shutdown(how)
    }

    /// Ends the connection both ways (`DisconnectNamedPipe` on a server
    /// end). Unlike Windows, data already written is not discarded: the
    /// peer reads it, then end-of-file.
    pub fn disconnect(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }

    /// Makes reads fail with [`io::ErrorKind::TimedOut`] after `timeout`
    /// (`None`: wait forever). A timed-out read consumes nothing; the stream
    /// stays usable.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        deadline::refuse_zero(timeout)?;
        self.inner.endpoint().set_read_timeout(timeout)
    }

    /// Makes writes fail with [`io::ErrorKind::TimedOut`] after `timeout`.
    /// A timed-out write sent nothing (or, as `Write::write` allows, part
    /// of the buffer, which its return value says); the stream stays usable.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        deadline::refuse_zero(timeout)?;
        self.inner.endpoint().set_write_timeout(timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.endpoint().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.endpoint().write_timeout()
    }

    /// The kernel's (in, out) buffer sizes for this end, as it rounded them.
    pub fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        self.inner.endpoint().buffer_sizes()
    }

    /// Waits until the peer has read everything written so far
    /// (`FlushFileBuffers` / `WaitForPipeDrain`), or `timeout` passes.
    pub fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.endpoint().wait_for_drain(timeout)
    }
}

impl Read for PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Read for &PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for PipeStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &PipeStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
