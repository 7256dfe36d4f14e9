use std::io;
use std::net::Shutdown;
use std::time::Duration;

use crate::error::Result;
use crate::name::IntoPipeName;
use crate::options::{ConnectOptions, Direction, PipeMode};
use crate::peer::PeerIdentity;
// Unused where the streams may be remote: their types call no trait.
#[cfg_attr(all(unix, feature = "remote"), allow(unused_imports))]
use crate::sys::prelude::tokio::*;
use crate::transport::tokio as sys;

/// One end of a message-mode pipe for tokio: the async form of
/// [`crate::MessageStream`], with the same guarantees. Methods take `&self`:
/// share a stream between tasks with an `Arc`; concurrent senders never
/// interleave their messages.
///
/// `recv` and `recv_vec` are cancel safe. `send` keeps, if its future is
/// dropped after the first part of a large message left, the rest of that
/// message and sends it before the next one, so the peer never sees a torn
/// message.
///
/// ```
/// use pipeway::tokio::{MessageListener, MessageStream};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway::Result<()> {
/// let name = format!("doc-tokio-message-stream-{}", std::process::id());
/// let listener = MessageListener::bind(&name)?;
/// let client = MessageStream::connect(&name).await?;
/// let server = listener.accept().await?;
/// client.send(b"job 1").await?;
/// assert_eq!(server.recv_vec().await?, Some(b"job 1".to_vec()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MessageStream {
    inner: sys::AsyncMessageStream,
}

impl MessageStream {
    /// The backend's stream, for the platform extensions.
    pub(crate) fn sys(&self) -> &sys::AsyncMessageStream {
        &self.inner
    }

    pub(crate) fn from_sys(inner: sys::AsyncMessageStream) -> Self {
        Self { inner }
    }

    /// Connects to the message pipe `name` with the default options.
    pub async fn connect(name: impl IntoPipeName) -> Result<Self> {
        Self::connect_with(name, &ConnectOptions::new()).await
    }

    /// Connects to the message pipe `name` with `options`.
    pub async fn connect_with(name: impl IntoPipeName, options: &ConnectOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        let connection = sys::connect(name, options, PipeMode::Message).await?;
        Ok(Self::from_sys(sys::AsyncMessageStream::from_connection(
            connection,
        )?))
    }

    /// Sends one message; see [`crate::MessageStream::send`].
    pub async fn send(&self, message: &[u8]) -> Result<()> {
        self.inner.send(message).await
    }

    /// Sends what an interrupted send left unsent, if anything.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    /// Receives the next message into `buf`; see [`crate::MessageStream::recv`].
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.inner.recv(buf).await
    }

    /// Receives the next message into a vector of exactly its length, or
    /// `None` once the peer has closed its write side.
    pub async fn recv_vec(&self) -> Result<Option<Vec<u8>>> {
        self.inner.recv_vec().await
    }

    /// Sends `request` and receives the reply; see
    /// [`crate::MessageStream::transact`]. Dropping the future of a remote
    /// transact before its reply sends CANCEL to the host.
    pub async fn transact(&self, request: &[u8]) -> Result<Vec<u8>> {
        crate::transport::transact_async(&self.inner, request).await
    }

    /// Ends this end's messages (go-winio's `CloseWrite`).
    pub async fn close_write(&self) -> Result<()> {
        self.inner.close_write().await
    }

    /// The largest message this end accepts.
    pub fn max_message_size(&self) -> usize {
        self.inner.endpoint().negotiated().limits.max
    }

    /// The largest message the peer accepts.
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

    /// Waits until the peer has read everything sent so far, or `timeout` passes.
    pub async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.endpoint().wait_for_drain(timeout).await
    }
}
