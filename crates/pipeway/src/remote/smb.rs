//! A remote pipe stream on the SMB client: the operations the local
//! streams have, with timeouts and errors in pipeway's terms.

#[cfg(feature = "tokio")]
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "tokio")]
use std::task::Context;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use pipeway_smb::client::{self as smb, ClientOptions, Pipe, ReadMode, Session, Wait};

use crate::error::Error;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{ConnectOptions, Direction, End, PipeMode};
use crate::peer::{PeerIdentity, RemoteHost};
use crate::remote::Credentials;

/// An open pipe on another host.
#[derive(Debug)]
pub(crate) struct RemotePipe {
    pipe: Pipe,
    /// What the two ends settled, as a local stream keeps it: the client
    /// end, a duplex pipe, the host as the peer, the host's message limit
    /// both ways.
    negotiated: Negotiated,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    read_shut: AtomicBool,
    write_shut: AtomicBool,
}

/// Maps the SMB client's errors to pipeway's: busy pipes and long messages
/// to the variants local pipes use, timeouts to `io::ErrorKind::TimedOut`,
/// the rest (log-on refused, host unreachable, connection lost, …) to
/// [`Error::Remote`].
pub(crate) fn map_error(name: &PipeName, err: smb::Error) -> Error {
    match err {
        smb::Error::Busy { waited, .. } => Error::Busy {
            name: name.to_string(),
            waited,
        },
        smb::Error::MessageTooLong { len, max } => Error::MessageTooLarge { len, max },
        smb::Error::TimedOut => Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the remote pipe operation timed out",
        )),
        smb::Error::Io(e) => Error::Io(e),
        other => Error::Remote(other),
    }
}

fn client_options(name: &PipeName, options: &ConnectOptions) -> Result<ClientOptions, Error> {
    let credentials = options
        .remote
        .credentials
        .clone()
        .or_else(Credentials::from_env)
        .ok_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{name}: no credentials for the remote host: give ConnectOptions::credentials, \
                     or set PIPEWAY_USER and PIPEWAY_PASSWORD"
                ),
            ))
        })?;
    let mut o = ClientOptions::new(
        smb::Credentials::new(credentials.user, credentials.password.as_str())
            .domain(credentials.domain),
    );
    if let Some(port) = options.remote.port {
        o.port = port;
    }
    o.require_encryption = options.remote.require_encryption;
    if let Some(t) = options.timeout {
        // The log-on gets at least the default 5 s, however short the wait
        // for the pipe: a busy host answers slowly but answers.
        o.connect_timeout = t.max(Duration::from_secs(5));
    }
    Ok(o)
}

impl RemotePipe {
    /// Connects (blocking): session (shared or new), then the pipe.
    pub(crate) fn connect(
        name: &PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        let host = name.host().expect("a remote name");
        let pipe_name = name.pipe_name().expect("a remote name has a pipe");
        let client = client_options(name, options)?;
        let session = Session::get(host, &client).map_err(|e| map_error(name, e))?;
        let read_mode = match mode {
            PipeMode::Byte => ReadMode::Bytes,
            PipeMode::Message => ReadMode::Messages,
        };
        let timeout = options
            .timeout
            .unwrap_or(Duration::from_secs(u32::MAX as u64));
        let pipe =
            Pipe::open(session, pipe_name, read_mode, timeout).map_err(|e| map_error(name, e))?;
        let info = pipe.session().info();
        let protection = match (info.cipher, info.signing) {
            (Some(c), _) => format!("encrypted {}", c.name()),
            (None, Some(s)) => format!("signed {}", s.name()),
            (None, None) => "unprotected".to_owned(),
        };
        let peer = PeerIdentity::remote(RemoteHost {
            host: host.to_owned(),
            address: info.address,
            server_name: info.server_name.clone(),
            dialect: info.dialect_name(),
            protection,
            user: info.user.clone(),
        });
        let negotiated = Negotiated {
            end: End::Client,
            pipe_mode: mode,
            direction: Direction::Duplex,
            peer,
            limits: MessageLimits::symmetric(pipe.max_message()),
        };
        Ok(Self {
            pipe,
            negotiated,
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
            read_shut: AtomicBool::new(false),
            write_shut: AtomicBool::new(false),
        })
    }

    /// Connects from a tokio task: the handshake runs on the blocking pool.
    #[cfg(feature = "tokio")]
    pub(crate) async fn connect_async(
        name: PipeName,
        options: ConnectOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        ::tokio::task::spawn_blocking(move || Self::connect(&name, &options, mode))
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))?
    }

    fn name(&self) -> String {
        format!(
            r"\\{}\pipe\{}",
            self.pipe.session().host(),
            self.pipe.name()
        )
    }

    fn err(&self, e: smb::Error) -> Error {
        match PipeName::remote(self.pipe.session().host(), self.pipe.name()) {
            Ok(name) => map_error(&name, e),
            Err(_) => Error::Remote(e),
        }
    }

    fn io_err(&self, e: smb::Error) -> io::Error {
        self.err(e).into()
    }

    fn deadline(timeout: &Mutex<Option<Duration>>) -> Option<Instant> {
        timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| Instant::now() + t)
    }

    fn no_half_close(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: SMB cannot close one direction of a pipe; drop or disconnect the stream to end it",
                self.name()
            ),
        )
    }

    fn check_write(&self) -> io::Result<()> {
        if self.write_shut.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the write side is shut down",
            ));
        }
        Ok(())
    }

    // ---- what every stream has ------------------------------------------

    pub(crate) fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// A remote pipe's server cannot be acted as from here.
    pub(crate) fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only a server end can act as its client; a remote pipe is a client end",
        ))
    }

    /// What the pipe is, as far as SMB tells a client: its buffers are the
    /// largest READ and WRITE the host takes; instances are not told.
    pub(crate) fn info(&self) -> io::Result<crate::PipeInfo> {
        let (in_buffer_size, out_buffer_size) = self.buffer_sizes()?;
        Ok(crate::PipeInfo {
            mode: self.negotiated.pipe_mode,
            end: End::Client,
            direction: self.negotiated.direction,
            in_buffer_size,
            out_buffer_size,
            instances: None,
            max_instances: None,
        })
    }

    /// Shutting down the read side stops reading here; the write side
    /// cannot be shut down alone over SMB; both closes the pipe.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Read => {
                self.read_shut.store(true, Ordering::Release);
                Ok(())
            }
            Shutdown::Write => Err(self.no_half_close()),
            Shutdown::Both => {
                self.read_shut.store(true, Ordering::Release);
                self.write_shut.store(true, Ordering::Release);
                self.pipe.close().map_err(|e| self.io_err(e))
            }
        }
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.read_timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.write_timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.read_timeout.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.write_timeout.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The largest READ and WRITE the host takes.
    pub(crate) fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        let info = self.pipe.session().info();
        Ok((info.max_read as usize, info.max_write as usize))
    }

    /// Every blocking write has been answered by the host once it returns,
    /// so only a write-behind from the async face can be outstanding.
    pub(crate) fn wait_for_drain(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// A remote pipe's only descriptor: its host connection's TCP socket,
    /// shared with the other pipes to that host (passing descriptors over
    /// it fails, as it should).
    pub(crate) fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&**self.pipe.session())
    }

    /// SMB tells a client that the server has gone only in answer to a
    /// READ, which would take data: not something to wait for on the side.
    pub(crate) fn wait_for_hangup(&self, _timeout: Option<Duration>) -> io::Result<bool> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: a remote pipe shows that its server has gone only to a read",
                self.name()
            ),
        ))
    }

    // ---- bytes -----------------------------------------------------------

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read_shut.load(Ordering::Acquire) || buf.is_empty() {
            return Ok(0);
        }
        self.pipe
            .read(buf, Self::deadline(&self.read_timeout))
            .map_err(|e| self.io_err(e))
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.check_write()?;
        if buf.is_empty() {
            return Ok(0);
        }
        self.pipe
            .write(buf, Self::deadline(&self.write_timeout))
            .map_err(|e| self.io_err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ::tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read_shut.load(Ordering::Acquire) || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = ready!(
            self.pipe
                .poll_read(buf.initialize_unfilled(), &mut Wait::Async(cx))
        )
        .map_err(|e| self.io_err(e))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check_write()?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.pipe
            .poll_write_behind(cx, buf)
            .map_err(|e| self.io_err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe.poll_flush(cx).map_err(|e| self.io_err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.no_half_close()))
    }

    // ---- messages --------------------------------------------------------

    pub(crate) fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.check_write()?;
        self.pipe
            .send(message, Self::deadline(&self.write_timeout))
            .map_err(|e| self.err(e))
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let deadline = Self::deadline(&self.read_timeout);
        smb::block_on(deadline, |w| self.poll_recv_into(buf, w)).map_err(|e| self.err(e))?
    }

    /// Receives into `buf`, or leaves a message too long for it in place.
    fn poll_recv_into(
        &self,
        buf: &mut [u8],
        wait: &mut Wait<'_, '_>,
    ) -> Poll<Result<Result<Option<usize>, Error>, smb::Error>> {
        if self.read_shut.load(Ordering::Acquire) {
            return Poll::Ready(Ok(Ok(None)));
        }
        let Some(len) = ready!(self.pipe.poll_peek_len(wait))? else {
            return Poll::Ready(Ok(Ok(None)));
        };
        if len > buf.len() {
            return Poll::Ready(Ok(Err(Error::BufferTooSmall {
                needed: len,
                capacity: buf.len(),
            })));
        }
        let message = ready!(self.pipe.poll_recv(wait))?.unwrap_or_default();
        buf[..message.len()].copy_from_slice(&message);
        Poll::Ready(Ok(Ok(Some(message.len()))))
    }

    pub(crate) fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        if self.read_shut.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.pipe
            .recv(Self::deadline(&self.read_timeout))
            .map_err(|e| self.err(e))
    }

    pub(crate) fn close_write(&self) -> Result<(), Error> {
        Err(Error::Io(self.no_half_close()))
    }

    pub(crate) fn transact(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        self.check_write()?;
        let deadline = [&self.write_timeout, &self.read_timeout]
            .into_iter()
            .filter_map(Self::deadline)
            .max();
        self.pipe
            .transact(request, deadline)
            .map_err(|e| self.err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) async fn send_async(&self, message: &[u8]) -> Result<(), Error> {
        self.check_write()?;
        // Dropped mid-way, the ticket sends CANCEL.
        let mut ticket = None;
        poll_fn(|cx| {
            self.pipe
                .poll_send(&mut ticket, message, &mut Wait::Async(cx))
        })
        .await
        .map_err(|e| self.err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) async fn recv_async(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let guard = CancelReadOnDrop(Some(&self.pipe));
        let out = poll_fn(|cx| self.poll_recv_into(buf, &mut Wait::Async(cx))).await;
        guard.disarm();
        out.map_err(|e| self.err(e))?
    }

    #[cfg(feature = "tokio")]
    pub(crate) async fn recv_vec_async(&self) -> Result<Option<Vec<u8>>, Error> {
        if self.read_shut.load(Ordering::Acquire) {
            return Ok(None);
        }
        let guard = CancelReadOnDrop(Some(&self.pipe));
        let out = poll_fn(|cx| self.pipe.poll_recv(&mut Wait::Async(cx))).await;
        guard.disarm();
        out.map_err(|e| self.err(e))
    }

    #[cfg(feature = "tokio")]
    pub(crate) async fn transact_async(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        self.check_write()?;
        let mut op = smb::Transact::default();
        poll_fn(|cx| {
            self.pipe
                .poll_transact(&mut op, request, &mut Wait::Async(cx))
        })
        .await
        .map_err(|e| self.err(e))
    }
}

#[cfg(feature = "tokio")]
/// A receive future dropped while the host holds its READ sends CANCEL for
/// it. The READ stays the stream's: whatever it brings (data that raced the
/// CANCEL) goes to the next receive, so nothing is lost.
struct CancelReadOnDrop<'a>(Option<&'a Pipe>);

#[cfg(feature = "tokio")]
impl CancelReadOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

#[cfg(feature = "tokio")]
impl Drop for CancelReadOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(pipe) = self.0 {
            pipe.cancel_pending_read();
        }
    }
}

fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not allowed (use None to wait forever)",
        ));
    }
    Ok(())
}
