//! The backend contract: what each platform backend provides, written down
//! as traits, and the one door through which the portable face reaches a
//! backend.
//!
//! A backend is a module (`unix`, `windows`) that provides:
//!
//! | item | implements | what it is |
//! |---|---|---|
//! | `Os` | [`Platform`] | where names live, this machine's name, user names |
//! | `blocking::Face` | [`BlockingFace`] | the blocking listener and streams, and connecting |
//! | `tokio::Face` | [`TokioFace`] | the same for tokio (with the `tokio` feature) |
//!
//! The portable face (`listener`, `stream`, `message`, `tokio`, `name`,
//! `peer`) names backend types only through the aliases in [`blocking`] and
//! [`tokio`] and calls them only through these traits. So a backend that
//! drifts from the contract fails to compile on its own platform, and the
//! portable code cannot come to depend on something only one backend has:
//! what compiles on Linux asks nothing of Windows that the contract does not.
//!
//! What the traits leave to the portable face, so that no backend writes it:
//! parsing names, the zero-timeout refusal (`deadline`), the options and
//! their defaults. What every backend calls instead of writing its own: the
//! access decision (`access`), direction negotiation (`options`), trust in
//! the server (`trust`), connect waiting (`wait`), accept limits (`accept`),
//! message reassembly and limits (`messages`), locks (`sync`).

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::info::PipeInfo;
use crate::listing::LocalPipe;
use crate::name::{NameError, PipeName};
use crate::negotiated::Negotiated;
use crate::options::{ConnectOptions, ListenOptions, PipeMode};
use crate::peer::PeerIdentity;
use crate::principal::Principal;

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
use unix as backend;

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
use windows as backend;

// ---------------------------------------------------------------------------
// The contract.

/// Names and this machine.
pub(crate) trait Platform {
    /// The endpoint of the local pipe `name` (the part after `\\.\pipe\`),
    /// checked against the platform's length limit.
    fn local_endpoint(name: &str) -> Result<PathBuf, NameError>;
    /// Whether names may be socket paths here.
    fn socket_paths_supported() -> Result<(), NameError>;
    /// Checks a socket path against the platform's limit.
    fn check_socket_path(path: &Path) -> Result<(), NameError>;
    /// This machine's name, as `\\host\pipe\name` would name it.
    fn host_name() -> Option<String>;
    /// The peer's user name, from the platform's account database.
    fn user_name(peer: &PeerIdentity) -> Option<String>;
    /// The user this process runs as.
    fn current_principal() -> io::Result<Principal>;
    /// A user's account name (`DOMAIN\name` on Windows).
    fn account_name(principal: &Principal) -> Option<String>;
    /// The local pipes, in any order, without connecting to them.
    fn local_pipes() -> io::Result<Vec<LocalPipe>>;
    /// One local pipe, without connecting to it.
    fn inspect(name: &PipeName) -> Result<LocalPipe, Error>;
}

/// What every connected end offers, whatever its face and mode.
pub(crate) trait Endpoint {
    /// What the connection's two ends settled: this end, the direction,
    /// the peer, the message limits.
    fn negotiated(&self) -> &Negotiated;
    /// Shuts down reads, writes or both. `Both` ends the connection, and the
    /// peer still reads what was written before it.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// Makes the calling thread act as the client of this server end until
    /// the result is dropped (the portable face has checked it is a server
    /// end).
    fn impersonate_client(&self) -> io::Result<Impersonation>;
    /// What the pipe is, as this end sees it.
    fn info(&self) -> io::Result<PipeInfo>;
    /// The socket, for `AsFd`: open for as long as the end lives.
    #[cfg(unix)]
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_>;
    /// The pipe handle, for `AsRawHandle`; null once disconnected.
    #[cfg(windows)]
    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle;
}

/// A borrowed end is an end (the remote-capable streams lend theirs by value).
impl<T: Endpoint + ?Sized> Endpoint for &T {
    fn negotiated(&self) -> &Negotiated {
        (**self).negotiated()
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        (**self).shutdown(how)
    }
    fn impersonate_client(&self) -> io::Result<Impersonation> {
        (**self).impersonate_client()
    }
    fn info(&self) -> io::Result<PipeInfo> {
        (**self).info()
    }
    #[cfg(unix)]
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        (**self).as_fd()
    }
    #[cfg(windows)]
    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        (**self).as_raw_handle()
    }
}

/// The blocking face of a backend.
pub(crate) trait BlockingFace {
    /// A connected end before it takes the shape of a stream: what
    /// accepting and connecting produce.
    type Connection;
    type Listener: BlockingListener<Connection = Self::Connection>;
    type ByteStream: BlockingByteStream<Connection = Self::Connection>;
    type MessageStream: BlockingMessageStream<Connection = Self::Connection>;

    /// Connects to `name`, waiting as the options say and checking the
    /// server before a byte goes either way.
    fn connect(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Self::Connection, Error>;
}

/// A blocking listener.
pub(crate) trait BlockingListener: Sized + fmt::Debug {
    type Connection;
    /// Binds `name`: a live name is never taken over.
    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error>;
    /// The next admitted client; [`Error::ListenerClosed`] after `shutdown`.
    fn accept(&self) -> Result<Self::Connection, Error>;
    /// Stops accepting and wakes every `accept`.
    fn shutdown(&self) -> io::Result<()>;
    fn name(&self) -> &PipeName;
    /// Where the pipe lives: the socket file, or the `\\.\pipe\` path.
    fn endpoint(&self) -> &Path;
}

/// A blocking end's deadlines and drain. Timeouts are never zero (the
/// portable face refuses zero), and `None` waits forever.
pub(crate) trait BlockingEndpoint: Endpoint {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    fn write_timeout(&self) -> io::Result<Option<Duration>>;
    /// The (in, out) buffer sizes, as the kernel rounded them.
    fn buffer_sizes(&self) -> io::Result<(usize, usize)>;
    /// Waits until the peer has read everything written, or `timeout` passes.
    fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()>;
}

/// A blocking byte stream. Reads and writes take `&self`: one thread may
/// read while another writes.
pub(crate) trait BlockingByteStream: Sized + fmt::Debug {
    type Connection;
    type Endpoint: BlockingEndpoint;
    fn from_connection(connection: Self::Connection) -> io::Result<Self>;
    fn endpoint(&self) -> &Self::Endpoint;
    /// Zero at end-of-file (or once reads are shut down).
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// A blocking message stream: whole messages, never torn or interleaved.
pub(crate) trait BlockingMessageStream: Sized + fmt::Debug {
    type Connection;
    type Endpoint: BlockingEndpoint;
    fn from_connection(connection: Self::Connection) -> io::Result<Self>;
    fn endpoint(&self) -> &Self::Endpoint;
    fn send(&self, message: &[u8]) -> Result<(), Error>;
    /// Sends what a timed-out send left in flight.
    fn flush(&self) -> Result<(), Error>;
    /// The next message's length, or `None` at the end of the stream; a
    /// message longer than `buf` stays whole ([`Error::BufferTooSmall`]).
    fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error>;
    fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error>;
    fn close_write(&self) -> Result<(), Error>;
}

/// The tokio face of a backend. Every future is `Send`, and every receive
/// and accept is cancel safe.
#[cfg(feature = "tokio")]
pub(crate) trait TokioFace {
    type Connection: Send;
    type Listener: AsyncListener<Connection = Self::Connection>;
    type ByteStream: AsyncByteStream<Connection = Self::Connection>;
    type MessageStream: AsyncMessageStream<Connection = Self::Connection>;

    /// As [`BlockingFace::connect`], waiting with tokio's timers.
    fn connect(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> impl Future<Output = Result<Self::Connection, Error>> + Send;
}

/// A tokio listener.
#[cfg(feature = "tokio")]
pub(crate) trait AsyncListener: Sized + fmt::Debug + Send + Sync {
    type Connection;
    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error>;
    /// The next admitted client. Cancel safe: a client is either returned
    /// or still queued.
    fn accept(&self) -> impl Future<Output = Result<Self::Connection, Error>> + Send;
    /// Stops accepting and wakes every `accept`, as the blocking face's does.
    fn shutdown(&self) -> io::Result<()>;
    fn name(&self) -> &PipeName;
    fn endpoint(&self) -> &Path;
}

/// A tokio end's drain.
#[cfg(feature = "tokio")]
pub(crate) trait AsyncEndpoint: Endpoint {
    fn wait_for_drain(
        &self,
        timeout: Option<Duration>,
    ) -> impl Future<Output = io::Result<()>> + Send;
}

/// A tokio byte stream, polled by `AsyncRead` and `AsyncWrite`.
#[cfg(feature = "tokio")]
pub(crate) trait AsyncByteStream: Sized + fmt::Debug + Send + Sync {
    type Connection;
    type Endpoint: AsyncEndpoint;
    fn from_connection(connection: Self::Connection) -> io::Result<Self>;
    fn endpoint(&self) -> &Self::Endpoint;
    fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut ::tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>>;
    fn poll_write(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>>;
    fn poll_write_vectored(
        &self,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>>;
    fn is_write_vectored(&self) -> bool;
    /// Shuts down the write side (where the platform can).
    fn poll_shutdown(&self) -> std::task::Poll<io::Result<()>>;
    /// Reads what is there now, without waiting: `WouldBlock` if nothing is.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what fits now, without waiting: `WouldBlock` if nothing does.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Ready once a read may find something (spurious readiness allowed).
    fn poll_read_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>>;
    /// Ready once a write may go (spurious readiness allowed).
    fn poll_write_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>>;
}

/// A tokio message stream. Sends cut short by a dropped future finish
/// before the next send, so the peer never sees a torn message.
#[cfg(feature = "tokio")]
pub(crate) trait AsyncMessageStream: Sized + fmt::Debug + Send + Sync {
    type Connection;
    type Endpoint: AsyncEndpoint;
    fn from_connection(connection: Self::Connection) -> io::Result<Self>;
    fn endpoint(&self) -> &Self::Endpoint;
    fn send(&self, message: &[u8]) -> impl Future<Output = Result<(), Error>> + Send;
    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send;
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = Result<Option<usize>, Error>> + Send;
    fn recv_vec(&self) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;
    fn close_write(&self) -> impl Future<Output = Result<(), Error>> + Send;
}

// ---------------------------------------------------------------------------
// The door: what the portable face uses.

/// The contract's traits, for calling their methods: one set per face (one
/// type may serve both faces, as the Windows listener does).
pub(crate) mod prelude {
    /// The blocking face's traits.
    pub(crate) mod blocking {
        pub(crate) use crate::sys::{
            BlockingByteStream as _, BlockingEndpoint as _, BlockingListener as _,
            BlockingMessageStream as _, Endpoint as _,
        };
    }

    /// The tokio face's traits.
    #[cfg(feature = "tokio")]
    pub(crate) mod tokio {
        pub(crate) use crate::sys::{
            AsyncByteStream as _, AsyncEndpoint as _, AsyncListener as _, AsyncMessageStream as _,
            Endpoint as _,
        };
    }
}

// The backend modules the shared-memory, mailslot and peer-process layers
// reach directly (each has its own small per-platform interface: `Region`,
// `Handle`, the mailslot functions).
pub(crate) use backend::{mailslot, process, shm};
#[cfg(unix)]
pub(crate) use unix::{pipe_directory, shm_link, users};
#[cfg(windows)]
pub(crate) use windows::shm_link;

/// The calling thread acting as a server's client, until dropped.
pub(crate) type Impersonation = backend::Impersonation;

pub(crate) fn local_endpoint(name: &str) -> Result<PathBuf, NameError> {
    <backend::Os as Platform>::local_endpoint(name)
}

pub(crate) fn socket_paths_supported() -> Result<(), NameError> {
    <backend::Os as Platform>::socket_paths_supported()
}

pub(crate) fn check_socket_path(path: &Path) -> Result<(), NameError> {
    <backend::Os as Platform>::check_socket_path(path)
}

pub(crate) fn host_name() -> Option<String> {
    <backend::Os as Platform>::host_name()
}

pub(crate) fn user_name(peer: &PeerIdentity) -> Option<String> {
    <backend::Os as Platform>::user_name(peer)
}

pub(crate) fn current_principal() -> io::Result<Principal> {
    <backend::Os as Platform>::current_principal()
}

pub(crate) fn account_name(principal: &Principal) -> Option<String> {
    <backend::Os as Platform>::account_name(principal)
}

pub(crate) fn local_pipes() -> io::Result<Vec<LocalPipe>> {
    <backend::Os as Platform>::local_pipes()
}

pub(crate) fn inspect(name: &PipeName) -> Result<LocalPipe, Error> {
    <backend::Os as Platform>::inspect(name)
}

/// The blocking face's types, as the backend provides them.
pub(crate) mod blocking {
    use super::{BlockingFace, backend};

    type Face = backend::blocking::Face;

    pub(crate) type Connection = <Face as BlockingFace>::Connection;
    pub(crate) type Listener = <Face as BlockingFace>::Listener;
    pub(crate) type ByteStream = <Face as BlockingFace>::ByteStream;
    pub(crate) type MessageStream = <Face as BlockingFace>::MessageStream;
    /// What both stream types share (one type in each backend).
    #[cfg_attr(not(all(unix, feature = "remote")), allow(dead_code))]
    pub(crate) type Endpoint = <ByteStream as super::BlockingByteStream>::Endpoint;

    pub(crate) fn connect(
        name: crate::PipeName,
        options: &crate::ConnectOptions,
        mode: crate::PipeMode,
    ) -> Result<Connection, crate::Error> {
        Face::connect(name, options, mode)
    }
}

/// The tokio face's types, as the backend provides them.
#[cfg(feature = "tokio")]
pub(crate) mod tokio {
    use super::{TokioFace, backend};

    type Face = backend::tokio::Face;

    pub(crate) type Connection = <Face as TokioFace>::Connection;
    pub(crate) type AsyncListener = <Face as TokioFace>::Listener;
    pub(crate) type AsyncByteStream = <Face as TokioFace>::ByteStream;
    pub(crate) type AsyncMessageStream = <Face as TokioFace>::MessageStream;
    /// What both stream types share (one type in each backend).
    #[cfg_attr(not(all(unix, feature = "remote")), allow(dead_code))]
    pub(crate) type AsyncEndpoint = <AsyncByteStream as super::AsyncByteStream>::Endpoint;

    pub(crate) async fn connect(
        name: crate::PipeName,
        options: &crate::ConnectOptions,
        mode: crate::PipeMode,
    ) -> Result<Connection, crate::Error> {
        Face::connect(name, options, mode).await
    }
}
