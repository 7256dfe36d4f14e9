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
// Unused where the streams may be remote: their types call no trait.
#[cfg_attr(all(unix, feature = "remote"), allow(unused_imports))]
use crate::sys::prelude::tokio::*;
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
    /// The backend's stream, for the platform extensions.
    pub(crate) fn sys(&self) -> &sys::AsyncByteStream {
        &self.inner
    }

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
        &self.inner.endpoint().negotiated().peer
    }

    crate::impersonation::server_end_methods!();

    /// The pipe's direction, as this end sees it.
    pub fn direction(&self) -> Direction {
        self.inner.endpoint().negotiated().direction
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
    /// write half shuts down the write side, as tokio's `UnixStream` halves
    /// do; [`OwnedReadHalf::reunite`] puts the stream back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf {
                inner: self.inner,
                shut_on_drop: true,
            },
        )
    }

    /// Reads what has arrived, without waiting: fails with
    /// [`io::ErrorKind::WouldBlock`] when nothing has (tokio's `try_read`).
    /// Zero is end-of-file.
    ///
    /// ```
    /// # fn main() -> pipeway::Result<()> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let name = format!("try-doc-{}", std::process::id());
    /// let listener = pipeway::tokio::PipeListener::bind(name.as_str())?;
    /// let client = pipeway::tokio::PipeStream::connect(name.as_str()).await?;
    /// let server = listener.accept().await?;
    /// let mut buf = [0u8; 16];
    /// let nothing = server.try_read(&mut buf).unwrap_err();
    /// assert_eq!(nothing.kind(), std::io::ErrorKind::WouldBlock);
    /// // As with tokio's streams: wait for readiness, try, and on
    /// // `WouldBlock` wait again.
    /// loop {
    ///     client.writable().await?;
    ///     match client.try_write(b"ping") {
    ///         Ok(n) => break assert_eq!(n, 4),
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// }
    /// let n = loop {
    ///     server.readable().await?;
    ///     match server.try_read(&mut buf) {
    ///         Ok(n) => break n,
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// };
    /// assert_eq!(&buf[..n], b"ping");
    /// # Ok(()) })
    /// # }
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read(buf)
    }

    /// Writes what fits now, without waiting: fails with
    /// [`io::ErrorKind::WouldBlock`] when nothing does (tokio's `try_write`).
    /// On Unix it tries the pipe itself, so it writes at once whenever there
    /// is room, also before [`writable`](Self::writable) was ever awaited.
    /// On Windows, like tokio's named pipes, it goes by the readiness the
    /// runtime has seen, and may say `WouldBlock` on an empty pipe until
    /// `writable` has been awaited once. Either way, use it in the loop shown
    /// at [`try_read`](Self::try_read).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_write(buf)
    }

    /// Waits until a read may find something (data, or end-of-file), for
    /// [`try_read`](Self::try_read). A wake-up without data is possible:
    /// `try_read` then says `WouldBlock`, and waiting again is right.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.inner.poll_read_ready(cx)).await
    }

    /// Waits until a write may go, for [`try_write`](Self::try_write).
    pub async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.inner.poll_write_ready(cx)).await
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
        &self.inner.endpoint().negotiated().peer
    }

    /// Puts the stream back together from its two halves; halves of two
    /// different streams come back in the error.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let name = format!("reunite-doc-{}", std::process::id());
    /// let _listener = pipeway::tokio::PipeListener::bind(name.as_str())?;
    /// let stream = pipeway::tokio::PipeStream::connect(name.as_str()).await?;
    /// let (read, write) = stream.into_split();
    /// let stream = read.reunite(write)?;
    /// # drop(stream); Ok(()) })
    /// # }
    /// ```
    pub fn reunite(self, write: OwnedWriteHalf) -> Result<PipeStream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &write.inner) {
            return Err(ReuniteError(self, write));
        }
        let mut write = write;
        write.shut_on_drop = false;
        drop(write);
        Ok(PipeStream { inner: self.inner })
    }

    /// Reads what has arrived, without waiting; see [`PipeStream::try_read`].
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read(buf)
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
    /// Cleared by `reunite`: the stream goes on whole.
    shut_on_drop: bool,
}

/// Two halves that came from different streams, given back
/// ([`OwnedReadHalf::reunite`]).
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl std::fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to reunite halves of two different pipe streams")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedWriteHalf {
    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        &self.inner.endpoint().negotiated().peer
    }

    /// Puts the stream back together; see [`OwnedReadHalf::reunite`].
    pub fn reunite(self, read: OwnedReadHalf) -> Result<PipeStream, ReuniteError> {
        read.reunite(self)
    }

    /// Writes what fits now, without waiting; see [`PipeStream::try_write`].
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_write(buf)
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
        if self.shut_on_drop {
            let _ = self.inner.poll_shutdown();
        }
    }
}
