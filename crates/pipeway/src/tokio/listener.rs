use crate::error::Result;
use crate::name::{IntoPipeName, PipeName};
use crate::options::{ListenOptions, PipeMode};
use crate::sys::prelude::tokio::*;
use crate::transport::tokio as sys;

use super::{MessageStream, PipeStream};

/// A byte-mode pipe server for tokio: the async form of
/// [`crate::PipeListener`], with the same options and defaults.
///
/// ```
/// use pipeway::tokio::{PipeListener, PipeStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway::Result<()> {
/// let name = format!("doc-tokio-pipe-listener-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// tokio::spawn(async move {
///     // An echo server: each client on a task of its own.
///     while let Ok(mut stream) = listener.accept().await {
///         tokio::spawn(async move {
///             let mut buf = vec![0u8; 4096];
///             while let Ok(n @ 1..) = stream.read(&mut buf).await {
///                 if stream.write_all(&buf[..n]).await.is_err() {
///                     break;
///                 }
///             }
///         });
///     }
/// });
///
/// let mut client = PipeStream::connect(&name).await?;
/// client.write_all(b"ping").await?;
/// let mut echo = [0u8; 4];
/// client.read_exact(&mut echo).await?;
/// assert_eq!(&echo, b"ping");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PipeListener {
    inner: sys::AsyncListener,
}

impl PipeListener {
    /// Binds `name` with the default options.
    pub fn bind(name: impl IntoPipeName) -> Result<Self> {
        Self::bind_with(name, &ListenOptions::new())
    }

    /// Binds `name` with `options`; see [`crate::PipeListener::bind_with`].
    pub fn bind_with(name: impl IntoPipeName, options: &ListenOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        Ok(Self {
            inner: sys::AsyncListener::bind(name, options, PipeMode::Byte)?,
        })
    }

    /// Waits for the next admitted client. Cancel safe: dropping the future
    /// leaves waiting clients queued for the next call.
    pub async fn accept(&self) -> Result<PipeStream> {
        let connection = self.inner.accept().await?;
        Ok(PipeStream::from_sys(sys::AsyncByteStream::from_connection(
            connection,
        )?))
    }

    /// The admitted clients, as a [`Stream`](futures_core::Stream) that ends
    /// when the listener shuts down; see [`Incoming`](super::Incoming).
    ///
    /// ```
    /// use futures_core::Stream;
    /// # fn main() -> pipeway::Result<()> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let name = format!("incoming-doc-{}", std::process::id());
    /// let listener = pipeway::tokio::PipeListener::bind(name.as_str())?;
    /// let mut clients = listener.incoming();
    /// let _client = pipeway::tokio::PipeStream::connect(name.as_str()).await?;
    /// let first = std::future::poll_fn(|cx| std::pin::Pin::new(&mut clients).poll_next(cx)).await;
    /// assert!(first.is_some_and(|stream| stream.is_ok()));
    /// listener.shutdown()?;
    /// let after = std::future::poll_fn(|cx| std::pin::Pin::new(&mut clients).poll_next(cx)).await;
    /// assert!(after.is_none(), "shutting down ends the stream");
    /// # Ok(()) })
    /// # }
    /// ```
    pub fn incoming(&self) -> super::Incoming<'_, PipeStream> {
        super::Incoming::new(move || Box::pin(self.accept()))
    }

    /// Stops accepting, waking every task waiting in
    /// [`accept`](Self::accept) (it fails with
    /// [`Error::ListenerClosed`](crate::Error::ListenerClosed)); clients
    /// connecting from now on are refused. Streams already accepted are not
    /// affected. See [`crate::PipeListener::shutdown`].
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.inner.shutdown()
    }

    /// The name this listener serves.
    pub fn name(&self) -> &PipeName {
        self.inner.name()
    }

    /// Where the pipe lives: its socket file on Unix, its `\\.\pipe\` path
    /// on Windows (see [`PipeName::endpoint`]).
    pub fn endpoint(&self) -> &std::path::Path {
        self.inner.endpoint()
    }

    #[cfg(any(windows, feature = "remote"))]
    pub(crate) fn sys(&self) -> &sys::AsyncListener {
        &self.inner
    }

    /// [`accept`](Self::accept), handing the client over as a blocking
    /// stream (the shared-memory channel's set-up, which passes a descriptor).
    #[cfg(unix)]
    pub(crate) async fn accept_blocking(&self) -> Result<crate::PipeStream> {
        #[cfg(not(feature = "remote"))]
        use crate::sys::BlockingByteStream as _;
        let connection = self.inner.accept().await?;
        connection.socket.set_nonblocking(false)?;
        Ok(crate::PipeStream::from_sys(
            crate::transport::blocking::ByteStream::from_connection(connection)?,
        ))
    }

    /// [`accept`](Self::accept), handing the client over as a blocking
    /// stream (the shared-memory channel's set-up, which duplicates handles
    /// into the client's process). An accepted instance is not yet tied to
    /// the runtime, so the blocking face takes it as it is.
    #[cfg(windows)]
    pub(crate) async fn accept_blocking(&self) -> Result<crate::PipeStream> {
        use crate::sys::BlockingByteStream as _;
        let connection = self.inner.accept().await?;
        Ok(crate::PipeStream::from_sys(
            crate::transport::blocking::ByteStream::from_connection(connection)?,
        ))
    }
}

/// A message-mode pipe server for tokio: the async form of
/// [`crate::MessageListener`].
#[derive(Debug)]
pub struct MessageListener {
    inner: sys::AsyncListener,
}

impl MessageListener {
    /// Binds `name` with the default options.
    pub fn bind(name: impl IntoPipeName) -> Result<Self> {
        Self::bind_with(name, &ListenOptions::new())
    }

    /// Binds `name` with `options`; see [`crate::PipeListener::bind_with`].
    pub fn bind_with(name: impl IntoPipeName, options: &ListenOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        Ok(Self {
            inner: sys::AsyncListener::bind(name, options, PipeMode::Message)?,
        })
    }

    /// Waits for the next admitted client. Cancel safe.
    pub async fn accept(&self) -> Result<MessageStream> {
        let connection = self.inner.accept().await?;
        Ok(MessageStream::from_sys(
            sys::AsyncMessageStream::from_connection(connection)?,
        ))
    }

    /// The admitted clients, as a stream; see [`PipeListener::incoming`].
    pub fn incoming(&self) -> super::Incoming<'_, MessageStream> {
        super::Incoming::new(move || Box::pin(self.accept()))
    }

    /// Stops accepting; see [`PipeListener::shutdown`].
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.inner.shutdown()
    }

    /// The name this listener serves.
    pub fn name(&self) -> &PipeName {
        self.inner.name()
    }

    /// Where the pipe lives: its socket file on Unix, its `\\.\pipe\` path
    /// on Windows (see [`PipeName::endpoint`]).
    pub fn endpoint(&self) -> &std::path::Path {
        self.inner.endpoint()
    }

    #[cfg(any(windows, feature = "remote"))]
    pub(crate) fn sys(&self) -> &sys::AsyncListener {
        &self.inner
    }
}
