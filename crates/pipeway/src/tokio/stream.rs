use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Result;
use crate::name::IntoPipeName;
use crate::options::{ConnectOptions, Direction, PipeMode};
use crate::peer::PeerIdentity;
use crate::transport::tokio as sys;

/// One end of a byte-mode pipe for tokio: the async form of
/// [`crate::PipeStream`]. Reads and writes are cancel safe.
///
/// ```
/// use pipeway::tokio::{PipeListener, PipeStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway::Result<()> {
/// let name = format!("doc-tokio-pipe-stream-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// tokio::spawn(async move {
///     let mut stream = listener.accept().await?;
///     let mut request = [0u8; 4];
///     stream.read_exact(&mut request).await?;
///     stream.write_all(b"pong").await?;
///     Ok::<_, pipeway::Error>(())
/// });
///
/// let stream = PipeStream::connect(&name).await?;
/// let (mut reader, mut writer) = stream.into_split(); // halves for two tasks
/// writer.write_all(b"ping").await?;
/// let mut reply = [0u8; 4];
/// reader.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"pong");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PipeStream {
    inner: Arc<sys::AsyncByteStream>,
}

impl PipeStream {
    pub(crate) fn from_sys(inner: sys::AsyncByteStream) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Connects to `name` with the default options (a 5 s wait; a server of
    /// this user or root).
    pub async fn connect(name: impl IntoPipeName) -> Result<Self> {
        Self::connect_with(name, &ConnectOptions::new()).await
    }

    /// Connects to `name` with `options`; see [`crate::PipeStream::connect_with`].
    pub async fn connect_with(name: impl IntoPipeName, options: &ConnectOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        let connection = sys::connect(name, options, PipeMode::Byte).await?;
        Ok(Self::from_sys(sys::AsyncByteStream::from_connection(
            connection,
        )?))
    }

    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        self.inner.endpoint().peer()
    }

    /// The pipe's direction, as this end sees it.
    pub fn direction(&self) -> Direction {
        self.inner.endpoint().direction()
    }

    /// Shuts down the read half, the write half, or both, at once.
    pub fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
        self.inner.endpoint().shutdown(how)
    }

    /// Ends the connection both ways (`DisconnectNamedPipe`); the peer still
    /// reads what was written, then end-of-file.
    pub fn disconnect(&self) -> io::Result<()> {
        self.shutdown_now(Shutdown::Both)
    }

    /// Waits until the peer has read everything written so far
    /// (`WaitForPipeDrain`), or `timeout` passes.
    pub async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.endpoint().wait_for_drain(timeout).await
    }

    /// Splits into halves that can move to different tasks. Dropping the
    /// write half shuts down the write side, as tokio's `UnixStream` halves do.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf { inner: self.inner },
        )
    }
}

impl AsyncRead for PipeStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        crate::transport::poll_flush(&self.inner, cx)
    }
    /// Shuts down the write side: the peer reads everything written, then
    /// end-of-file.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown()
    }
}

/// The read half of a [`PipeStream`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<sys::AsyncByteStream>,
}

impl OwnedReadHalf {
    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        self.inner.endpoint().peer()
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read(cx, buf)
    }
}

/// The write half of a [`PipeStream`]; dropping it shuts down the write side.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<sys::AsyncByteStream>,
}

impl OwnedWriteHalf {
    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        self.inner.endpoint().peer()
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        crate::transport::poll_flush(&self.inner, cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        let _ = self.inner.poll_shutdown();
    }
}
