//! Blocking listeners: [`PipeListener`] for byte pipes, [`MessageListener`]
//! for message pipes.

use std::io;

use crate::error::{Error, Result};
use crate::message::MessageStream;
use crate::name::{IntoPipeName, PipeName};
use crate::options::{ListenOptions, PipeMode};
use crate::stream::PipeStream;
use crate::sys::prelude::blocking::*;
use crate::transport::blocking as sys;

/// A byte-mode pipe server: binds a name and accepts clients.
///
/// Each accepted [`PipeStream`] is one instance of the pipe. With default
/// options the pipe admits only this process's user (and root), takes any
/// number of clients, and is a plain stream socket at .NET's path, so .NET's
/// `NamedPipeClientStream`, socat and Python reach it too.
///
/// Dropping the listener removes its socket file (only its own: a file
/// someone else put at the path since is left alone).
///
/// ```
/// use std::io::{Read, Write};
/// use pipeway::{PipeListener, PipeStream};
///
/// let name = format!("doc-pipe-listener-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// let server = std::thread::spawn(move || {
///     // An echo server, here for one client (`incoming()` alone goes on
///     // for ever): each client on a thread of its own.
///     for stream in listener.incoming().take(1) {
///         let Ok(mut stream) = stream else { continue };
///         std::thread::spawn(move || {
///             let mut buf = [0u8; 4096];
///             while let Ok(n @ 1..) = stream.read(&mut buf) {
///                 if stream.write_all(&buf[..n]).is_err() {
///                     break;
///                 }
///             }
///         });
///     }
/// });
///
/// let mut client = PipeStream::connect(&name)?;
/// client.write_all(b"ping")?;
/// let mut echo = [0u8; 4];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"ping");
/// server.join().unwrap(); // the listener is dropped: its socket file goes
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PipeListener {
    inner: sys::Listener,
}

impl PipeListener {
    /// Binds `name` with the default options.
    pub fn bind(name: impl IntoPipeName) -> Result<Self> {
        Self::bind_with(name, &ListenOptions::new())
    }

    /// Binds `name` with `options`.
    ///
    /// Fails with [`Error::InUse`] when a live server holds the name, with
    /// [`Error::NotASocket`] when something else sits at its path, and
    /// reclaims a stale socket file left by a server that died.
    pub fn bind_with(name: impl IntoPipeName, options: &ListenOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        Ok(Self {
            inner: sys::Listener::bind(name, options, PipeMode::Byte)?,
        })
    }

    /// Waits for the next admitted client. Clients the access rules refuse
    /// are closed (before anything is read from them) and logged, and the
    /// wait goes on. With an instance limit, waits for a free instance first.
    pub fn accept(&self) -> Result<PipeStream> {
        let connection = self.inner.accept()?;
        Ok(PipeStream::from_sys(sys::ByteStream::from_connection(
            connection,
        )?))
    }

    /// An endless iterator over accepted clients.
    pub fn incoming(&self) -> impl Iterator<Item = Result<PipeStream>> + '_ {
        std::iter::from_fn(move || match self.accept() {
            Err(Error::ListenerClosed) => None,
            other => Some(other),
        })
    }

    /// Stops accepting, waking any thread blocked in [`accept`](Self::accept)
    /// (it fails with [`Error::ListenerClosed`]); clients connecting from now
    /// on are refused. Streams already accepted are not affected.
    pub fn shutdown(&self) -> io::Result<()> {
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
    pub(crate) fn sys(&self) -> &sys::Listener {
        &self.inner
    }
}

/// A message-mode pipe server: like [`PipeListener`], but its clients
/// exchange whole messages ([`MessageStream`]).
///
/// ```
/// use pipeway::{MessageListener, MessageStream};
///
/// let name = format!("doc-message-listener-{}", std::process::id());
/// let listener = MessageListener::bind(&name)?;
/// let client = MessageStream::connect(&name)?;
///
/// let server_end = listener.accept()?;
/// client.send(b"job 1")?;
/// client.send(b"job 2")?;
/// for _ in 0..2 {
///     let message = server_end.recv_vec()?.expect("a message");
///     server_end.send(&message)?; // echo each message back, boundaries kept
/// }
/// assert_eq!(client.recv_vec()?, Some(b"job 1".to_vec()));
/// assert_eq!(client.recv_vec()?, Some(b"job 2".to_vec()));
/// # Ok::<(), pipeway::Error>(())
/// ```
#[derive(Debug)]
pub struct MessageListener {
    inner: sys::Listener,
}

impl MessageListener {
    /// Binds `name` with the default options.
    pub fn bind(name: impl IntoPipeName) -> Result<Self> {
        Self::bind_with(name, &ListenOptions::new())
    }

    /// Binds `name` with `options`. See [`PipeListener::bind_with`].
    pub fn bind_with(name: impl IntoPipeName, options: &ListenOptions) -> Result<Self> {
        let name = name.into_pipe_name()?;
        Ok(Self {
            inner: sys::Listener::bind(name, options, PipeMode::Message)?,
        })
    }

    /// Waits for the next admitted client. See [`PipeListener::accept`].
    pub fn accept(&self) -> Result<MessageStream> {
        let connection = self.inner.accept()?;
        Ok(MessageStream::from_sys(
            sys::MessageStream::from_connection(connection)?,
        ))
    }

    /// An endless iterator over accepted clients.
    pub fn incoming(&self) -> impl Iterator<Item = Result<MessageStream>> + '_ {
        std::iter::from_fn(move || match self.accept() {
            Err(Error::ListenerClosed) => None,
            other => Some(other),
        })
    }

    /// Stops accepting. See [`PipeListener::shutdown`].
    pub fn shutdown(&self) -> io::Result<()> {
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
    pub(crate) fn sys(&self) -> &sys::Listener {
        &self.inner
    }
}
