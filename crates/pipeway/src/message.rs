//! The blocking message-mode stream.

use std::io;
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

/// One end of a message-mode pipe: every [`send`](Self::send) arrives as
/// one message, boundaries kept, zero-length messages included.
///
/// All methods take `&self`: share a stream between threads with an `Arc`.
/// Concurrent senders never interleave their messages, and concurrent
/// receivers each get whole messages.
///
/// ```
/// use pipeway::{MessageListener, MessageStream};
///
/// let name = format!("doc-message-stream-{}", std::process::id());
/// let listener = MessageListener::bind(&name)?;
/// let stream = MessageStream::connect(&name)?;
/// stream.send(b"first")?;
/// stream.send(b"")?; // an empty message is a message
///
/// let server_end = listener.accept()?;
/// assert_eq!(server_end.recv_vec()?, Some(b"first".to_vec()));
/// assert_eq!(server_end.recv_vec()?, Some(Vec::new()));
/// # Ok::<(), pipeway::Error>(())
/// ```
#[derive(Debug)]
pub struct MessageStream {
    inner: sys::MessageStream,
}

impl MessageStream {
    /// The backend's stream, for the platform extensions.
    pub(crate) fn sys(&self) -> &sys::MessageStream {
        &self.inner
    }

    pub(crate) fn from_sys(inner: sys::MessageStream) -> Self {
        Self { inner }
    }

    /// Connects to the message pipe `name` with the default options.
    pub fn connect(name: impl IntoPipeName) -> Result<Self> {
        Self::connect_with(name, &ConnectOptions::new())
    }

    /// Connects to the message pipe `name` with `options`. See
    /// [`PipeStream::connect_with`](crate::PipeStream::connect_with); a byte
    /// pipe fails with [`Error::WrongMode`](crate::Error::WrongMode).
    pub fn connect_with(name: impl IntoPipeName, options: &ConnectOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        let connection = sys::connect(name, options, PipeMode::Message)?;
        Ok(Self::from_sys(sys::MessageStream::from_connection(
            connection,
        )?))
    }

    /// Sends one message.
    ///
    /// A message larger than the peer accepts fails with
    /// [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) and sends
    /// nothing. If a write timeout interrupts a large message part way, the
    /// error is returned and the rest of that message is kept: it goes out
    /// first on the next `send`, [`flush`](Self::flush) or
    /// [`close_write`](Self::close_write), so the peer never sees a torn message.
    pub fn send(&self, message: &[u8]) -> Result<()> {
        self.inner.send(message)
    }

    /// Sends what a timed-out [`send`](Self::send) left unsent, if anything.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Receives the next message into `buf` and returns its length, or `None`
    /// once the peer has closed its write side.
    ///
    /// If the message is longer than `buf`, fails with
    /// [`Error::BufferTooSmall`](crate::Error::BufferTooSmall), which gives
    /// its length; the message is kept for the next call
    /// (`ERROR_MORE_DATA`). A peer that announces a message larger than
    /// [`max_message_size`](Self::max_message_size) fails with
    /// [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) before
    /// anything is allocated for it; the stream then fails every later
    /// receive, since the message boundaries are lost.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.inner.recv(buf)
    }

    /// Receives the next message into a vector of exactly its length, or
    /// `None` once the peer has closed its write side.
    pub fn recv_vec(&self) -> Result<Option<Vec<u8>>> {
        self.inner.recv_vec()
    }

    /// Sends `request` and receives the reply (`TransactNamedPipe`). On a
    /// remote pipe this is one round trip (FSCTL_PIPE_TRANSCEIVE); on a
    /// local one, a send and a receive, so another thread receiving on the
    /// same stream could take the reply. A server that closes instead of
    /// replying gives an error of kind `UnexpectedEof`.
    pub fn transact(&self, request: &[u8]) -> Result<Vec<u8>> {
        crate::transport::transact(&self.inner, request)
    }

    /// Ends this end's messages: after what was sent, the peer's receive
    /// returns `None` (go-winio's `CloseWrite`). Receiving still works.
    pub fn close_write(&self) -> Result<()> {
        self.inner.close_write()
    }

    /// The largest message this end accepts.
    pub fn max_message_size(&self) -> usize {
        self.inner.endpoint().negotiated().limits.max
    }

    /// The largest message the peer accepts (a client learns it from the
    /// server; a server assumes its own limit).
    pub fn peer_max_message_size(&self) -> usize {
        self.inner.endpoint().negotiated().limits.peer_max
    }

    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        &self.inner.endpoint().negotiated().peer
    }

    crate::impersonation::server_end_methods!();

    /// The pipe's direction.
    pub fn direction(&self) -> Direction {
        self.inner.endpoint().negotiated().direction
    }

    /// Ends the connection both ways (`DisconnectNamedPipe`).
    pub fn disconnect(&self) -> io::Result<()> {
        self.inner.endpoint().shutdown(Shutdown::Both)
    }

    /// Makes receives fail with [`io::ErrorKind::TimedOut`] after `timeout`.
    /// A message that had begun to arrive is kept and completed by the next
    /// receive: nothing is lost.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        deadline::refuse_zero(timeout)?;
        self.inner.endpoint().set_read_timeout(timeout)
    }

    /// Makes sends fail with [`io::ErrorKind::TimedOut`] after `timeout`;
    /// see [`send`](Self::send) for what happens to the message.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        deadline::refuse_zero(timeout)?;
        self.inner.endpoint().set_write_timeout(timeout)
    }

    /// Waits until the peer has read everything sent so far, or `timeout` passes.
    pub fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.endpoint().wait_for_drain(timeout)
    }
}
