//! The server side: a pipe listener as tonic's stream of connections, and
//! the caller's identity in every request.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use pipeway::tokio::{PipeListener, PipeStream};
use pipeway::{IntoPipeName, ListenOptions, PeerIdentity, PeerProcess, PipeName, ProcessError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use crate::authority::AuthorityFix;

/// The first pause after an accept error; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause after repeated accept errors.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// How long a new client has, by default, to send the HTTP/2 client preface
/// before the server hangs up; see [`PipeIncoming::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The length of the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`).
const PREFACE_LEN: usize = 24;

type Accepting = Pin<Box<dyn Future<Output = pipeway::Result<PipeStream>> + Send>>;

/// A pipe listener as a stream of connections, for tonic's
/// [`serve_with_incoming`](tonic::transport::server::Router::serve_with_incoming)
/// and
/// [`serve_with_incoming_shutdown`](tonic::transport::server::Router::serve_with_incoming_shutdown).
///
/// The pipe keeps its options and its secure default: with
/// [`ListenOptions::new`] only the server's own user (and root) may connect.
/// Every connection carries the client's [`PipeConnectInfo`], which tonic puts
/// in the extensions of each request on that connection (see
/// [`peer_identity`]).
///
/// The stream never ends on a client's account: clients the access rules
/// refuse are dropped (and logged) by the listener, and an accept error (out
/// of file descriptors, say) is logged and followed by a short pause before
/// the next accept. It ends only if the listener is shut down. Dropping it
/// closes the pipe and removes its socket file.
///
/// Clients need no option to call it: grpcio (1.57 and later), grpc-java,
/// grpc-swift and grpcurl send a `unix:` target's socket path as the
/// HTTP/2 `:authority`, which tonic's HTTP/2 layer (h2) refuses with
/// `PROTOCOL_ERROR`; each connection replaces an `:authority` that is not a
/// valid authority with `localhost` before h2 reads it (see
/// [`normalize_authority`](Self::normalize_authority)).
///
/// A client that connects and then says nothing is hung up on after the
/// [handshake timeout](Self::handshake_timeout), so that silent clients
/// neither pile up nor hold up a graceful shutdown (hyper waits for a
/// connection's HTTP/2 handshake before it can close it).
///
/// ```
/// use pipeway_grpc::PipeIncoming;
/// use pipeway_grpc::buy::{BuyRequest, Buyer, my_service_client::MyServiceClient, my_service_server::MyServiceServer};
/// use tonic::transport::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let name = format!("doc-grpc-incoming-{}", std::process::id());
/// let incoming = PipeIncoming::bind(&name)?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(
///     Server::builder()
///         .add_service(MyServiceServer::new(Buyer))
///         .serve_with_incoming_shutdown(incoming, async { let _ = stopped.await; }),
/// );
///
/// let mut shop = MyServiceClient::new(pipeway_grpc::connect(&name).await?);
/// let reply = shop.buy(BuyRequest { id: "fig".into(), quantity: 2, price: 50 }).await?;
/// assert_eq!(reply.into_inner().result, "bought 2 of fig at 50");
/// drop(shop);
/// let _ = stop.send(());
/// server.await??; // the pipe's name is free again
/// # Ok(())
/// # }
/// ```
pub struct PipeIncoming {
    listener: Arc<PipeListener>,
    accepting: Option<Accepting>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    failures: u32,
    handshake_timeout: Option<Duration>,
    normalize_authority: bool,
}

impl PipeIncoming {
    /// Binds the pipe `name` with the default, owner-only options. Call it
    /// inside a tokio runtime.
    pub fn bind(name: impl IntoPipeName) -> pipeway::Result<Self> {
        Self::bind_with(name, &ListenOptions::new())
    }

    /// Binds the pipe `name` with `options` (access rules, buffer sizes, ...).
    ///
    /// With [`ListenOptions::max_instances`] the pipe uses pipeway's framed
    /// wire: pipeway clients (a [`PipeEndpoint`](crate::PipeEndpoint)) still
    /// reach it, other gRPC implementations dialing the socket do not.
    ///
    /// ```
    /// use pipeway::ListenOptions;
    /// use pipeway_grpc::PipeIncoming;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pipeway::Result<()> {
    /// let name = format!("doc-grpc-bind-with-{}", std::process::id());
    /// // Any user may call; `.allow_group("staff")` would admit one group.
    /// let incoming = PipeIncoming::bind_with(&name, &ListenOptions::new().allow_everyone())?;
    /// # drop(incoming);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind_with(name: impl IntoPipeName, options: &ListenOptions) -> pipeway::Result<Self> {
        Ok(Self::from_listener(PipeListener::bind_with(name, options)?))
    }

    /// Serves connections from a listener bound elsewhere.
    pub fn from_listener(listener: PipeListener) -> Self {
        Self {
            listener: Arc::new(listener),
            accepting: None,
            pause: None,
            failures: 0,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            normalize_authority: true,
        }
    }

    /// Whether to replace a request's `:authority` with `localhost` when it
    /// is not a valid URI authority, as the socket paths that grpcio (1.57
    /// and later), grpc-java, grpc-swift and grpcurl send for `unix:`
    /// targets are not (default: on). Each connection then follows the
    /// client's HTTP/2 frames and decodes its header blocks (HPACK) before
    /// h2 does; a block is written again only when it needs the fix, or when
    /// an earlier fix put h2's header table out of step with the client's.
    /// Off, such clients need an option (grpcio's `grpc.default_authority`)
    /// or h2 refuses their calls.
    pub fn normalize_authority(mut self, on: bool) -> Self {
        self.normalize_authority = on;
        self
    }

    /// How long a client has, after connecting, to send the HTTP/2 client
    /// preface (default [`DEFAULT_HANDSHAKE_TIMEOUT`]); past it, reading from
    /// the connection fails with [`io::ErrorKind::TimedOut`] and the server
    /// drops it. `None` waits forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The pipe's name.
    pub fn name(&self) -> &PipeName {
        self.listener.name()
    }

    /// Where the pipe lives: its socket file on Unix (what a gRPC
    /// implementation that knows Unix sockets dials, as `unix:` followed by
    /// this path), its `\\.\pipe\` path on Windows.
    pub fn endpoint(&self) -> &Path {
        self.listener.endpoint()
    }

    /// The pipe's socket file (its [`endpoint`](Self::endpoint) on Unix).
    #[cfg(unix)]
    pub fn socket_path(&self) -> &Path {
        self.listener.endpoint()
    }

    fn pause_after_failure(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        (FIRST_PAUSE * 2u32.pow(doublings)).min(MAX_PAUSE)
    }
}

impl std::fmt::Debug for PipeIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeIncoming")
            .field("pipe", self.listener.name())
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl Stream for PipeIncoming {
    /// Errors never reach the stream (see the type's docs), hence `Infallible`.
    type Item = Result<PipeConnection, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(pause) = this.pause.as_mut() {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            let accepting = this.accepting.get_or_insert_with(|| {
                let listener = this.listener.clone();
                Box::pin(async move { listener.accept().await })
            });
            let accepted = ready!(accepting.as_mut().poll(cx));
            this.accepting = None;
            match accepted {
                Ok(stream) => {
                    this.failures = 0;
                    let mut connection = PipeConnection::new(stream, this.listener.name().clone());
                    if let Some(timeout) = this.handshake_timeout {
                        connection.handshake = Some(Handshake::new(timeout));
                    }
                    if this.normalize_authority {
                        connection.authority = Some(AuthorityFix::new());
                    }
                    tracing::debug!(
                        pipe = %this.listener.name(),
                        peer = ?connection.info.peer,
                        "gRPC client connected"
                    );
                    return Poll::Ready(Some(Ok(connection)));
                }
                Err(pipeway::Error::ListenerClosed) => return Poll::Ready(None),
                Err(err) => {
                    let pause = this.pause_after_failure();
                    tracing::warn!(
                        pipe = %this.listener.name(),
                        %err,
                        ?pause,
                        "accept failed; pausing before the next accept"
                    );
                    this.pause = Some(Box::pin(tokio::time::sleep(pause)));
                }
            }
        }
    }
}

/// One client's connection to a [`PipeIncoming`]: a [`PipeStream`] that
/// tells tonic who is at the other end.
#[derive(Debug)]
pub struct PipeConnection {
    stream: PipeStream,
    info: PipeConnectInfo,
    handshake: Option<Handshake>,
    authority: Option<AuthorityFix>,
    /// What the authority fix made of bytes already read, for the next reads.
    rewritten: Vec<u8>,
    rewritten_at: usize,
}

/// The deadline for a new client's HTTP/2 preface.
#[derive(Debug)]
struct Handshake {
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    received: usize,
}

impl Handshake {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            received: 0,
        }
    }
}

impl PipeConnection {
    /// Wraps an accepted server stream of the pipe `pipe`.
    pub fn new(stream: PipeStream, pipe: PipeName) -> Self {
        let info = PipeConnectInfo {
            peer: Arc::new(stream.peer().clone()),
            pipe: Arc::new(pipe),
        };
        Self {
            stream,
            info,
            handshake: None,
            authority: None,
            rewritten: Vec::new(),
            rewritten_at: 0,
        }
    }

    /// The client's identity.
    pub fn peer(&self) -> &PeerIdentity {
        &self.info.peer
    }

    /// The stream.
    pub fn get_ref(&self) -> &PipeStream {
        &self.stream
    }

    /// The stream, unwrapped.
    pub fn into_inner(self) -> PipeStream {
        self.stream
    }
}

impl Connected for PipeConnection {
    type ConnectInfo = PipeConnectInfo;

    fn connect_info(&self) -> PipeConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for PipeConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.rewritten_at < this.rewritten.len() {
                let rest = &this.rewritten[this.rewritten_at..];
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                this.rewritten_at += n;
                if this.rewritten_at == this.rewritten.len() {
                    this.rewritten.clear();
                    this.rewritten_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            ready!(this.poll_read_client(cx, buf))?;
            let Some(fix) = this.authority.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let read = &buf.filled()[before..];
            if read.is_empty() {
                return Poll::Ready(Ok(())); // end-of-file
            }
            // What passes on unchanged stays where it was read; the rest
            // comes out of `rewritten` on the next turn.
            let passed = fix.feed(read, &mut this.rewritten)?;
            buf.set_filled(before + passed);
            if passed > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl PipeConnection {
    /// Reads from the client, hanging up on one that sends no HTTP/2
    /// preface in time.
    fn poll_read_client(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let Some(handshake) = this.handshake.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                handshake.received += read;
                if read == 0 || handshake.received >= PREFACE_LEN {
                    this.handshake = None;
                }
            }
            Poll::Ready(Err(_)) => this.handshake = None,
            Poll::Pending => {
                if handshake.deadline.as_mut().poll(cx).is_ready() {
                    let timeout = handshake.timeout;
                    this.handshake = None;
                    tracing::debug!(
                        peer = ?this.info.peer,
                        "client sent no HTTP/2 preface within {timeout:?}; hanging up"
                    );
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client sent no HTTP/2 preface within {timeout:?}"),
                    )));
                }
            }
        }
        polled
    }
}

impl AsyncWrite for PipeConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Who called, as the kernel reported it when the client connected to the
/// pipe: tonic's counterpart of `UdsConnectInfo` for pipes. Every request a
/// [`PipeIncoming`] serves carries one in its extensions; cloning it is cheap.
///
/// ```
/// use pipeway::Principal;
/// use pipeway_grpc::PipeConnectInfo;
/// use tonic::{Request, Status};
///
/// fn only_my_own_user<T>(request: &Request<T>) -> Result<(), Status> {
///     let info = request
///         .extensions()
///         .get::<PipeConnectInfo>()
///         .ok_or_else(|| Status::internal("not served on a pipe"))?;
///     let me = Principal::current().map_err(|err| Status::internal(err.to_string()))?;
///     if info.principal().as_ref() == Some(&me) {
///         Ok(())
///     } else {
///         Err(Status::permission_denied(format!("{} is not {me}", info.peer())))
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PipeConnectInfo {
    peer: Arc<PeerIdentity>,
    pipe: Arc<PipeName>,
}

impl PipeConnectInfo {
    /// The client's identity: pid, user ([`principal`](Self::principal)) and
    /// user name; on Unix also uid and gid (`pipeway::unix::PeerIdentityExt`).
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The pipe the client connected to.
    pub fn pipe(&self) -> &PipeName {
        &self.pipe
    }

    /// The client's process id, when the platform reports one.
    pub fn pid(&self) -> Option<u32> {
        self.peer.pid()
    }

    /// The user the client runs as (a uid on Unix, a SID on Windows); see
    /// [`PeerIdentity::principal`].
    pub fn principal(&self) -> Option<pipeway::Principal> {
        self.peer.principal()
    }

    /// The client's user id.
    #[cfg(unix)]
    pub fn uid(&self) -> u32 {
        pipeway::unix::PeerIdentityExt::uid(&*self.peer)
    }

    /// The client's primary group id.
    #[cfg(unix)]
    pub fn gid(&self) -> u32 {
        pipeway::unix::PeerIdentityExt::gid(&*self.peer)
    }

    /// The client's user name, when the user database knows the user. Looked
    /// up on first use and then kept for the connection's other requests.
    pub fn user_name(&self) -> Option<&str> {
        self.peer.user_name()
    }

    /// The client's process, held since it connected (a pidfd on Linux, a
    /// process handle on Windows; see [`PeerIdentity::process`]): whether
    /// it still runs and what program it is, never confused with a newer
    /// process that took its pid. Shared by every request of the connection.
    ///
    /// ```
    /// use pipeway_grpc::PipeConnectInfo;
    /// use tonic::{Request, Status};
    ///
    /// /// Serves only callers running `/usr/bin/trusted-agent`.
    /// fn only_the_agent<T>(request: &Request<T>) -> Result<(), Status> {
    ///     let info = request
    ///         .extensions()
    ///         .get::<PipeConnectInfo>()
    ///         .ok_or_else(|| Status::internal("not served on a pipe"))?;
    ///     let exe = info
    ///         .process()
    ///         .and_then(|process| process.exe())
    ///         .map_err(|err| Status::permission_denied(format!("caller unknown: {err}")))?;
    ///     if exe == std::path::Path::new("/usr/bin/trusted-agent") {
    ///         Ok(())
    ///     } else {
    ///         Err(Status::permission_denied(format!("{} is not the agent", exe.display())))
    ///     }
    /// }
    /// ```
    pub fn process(&self) -> Result<&PeerProcess, ProcessError> {
        self.peer.process()
    }
}

/// The identity of the process that made `request`, when it came through a
/// [`PipeIncoming`]; `None` for requests served another way (TCP, say).
///
/// ```
/// use pipeway_grpc::peer_identity;
/// use tonic::{Request, Response, Status};
///
/// async fn whoami(request: Request<()>) -> Result<Response<String>, Status> {
///     let peer = peer_identity(&request)
///         .ok_or_else(|| Status::unauthenticated("not a pipe client"))?;
///     Ok(Response::new(format!("you are {peer}")))
/// }
/// ```
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Option<&PeerIdentity> {
    request
        .extensions()
        .get::<PipeConnectInfo>()
        .map(PipeConnectInfo::peer)
}
