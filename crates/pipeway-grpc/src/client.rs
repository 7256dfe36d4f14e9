//! The client side: a connector that dials a pipe, and an endpoint that
//! turns it into a channel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use pipeway::tokio::PipeStream;
use pipeway::{ConnectOptions, IntoPipeName, PipeName};
use tonic::transport::{Endpoint, Uri};
use tower_service::Service;

use crate::channel::PipeChannel;
use crate::error::Error;

/// The URI a pipe channel's requests carry. Only its authority shows, in the
/// HTTP/2 `:authority` header; `localhost` is what .NET's named-pipe
/// channels use too.
const PIPE_URI: &str = "http://localhost";

/// A connector that dials one pipe: a `tower::Service<Uri>` for tonic's
/// [`Endpoint::connect_with_connector`] and
/// [`Endpoint::connect_with_connector_lazy`]. It ignores the URI and connects
/// to its pipe with [`PipeStream::connect_with`], so every connection (the
/// first, and each one after the server restarts) waits for the pipe up to
/// the connect timeout and checks who serves it.
///
/// [`PipeEndpoint`] uses it; use it directly to build a tonic channel by hand.
///
/// ```
/// use pipeway::ConnectOptions;
/// use pipeway_grpc::PipeConnector;
/// use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
/// use tonic::transport::Endpoint;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-grpc-connector-{}", std::process::id());
/// # let incoming = pipeway_grpc::PipeIncoming::bind(&name)?;
/// # tokio::spawn(
/// #     tonic::transport::Server::builder()
/// #         .add_service(pipeway_grpc::buy::my_service_server::MyServiceServer::new(pipeway_grpc::buy::Buyer))
/// #         .serve_with_incoming(incoming),
/// # );
/// let connector = PipeConnector::new(&name, ConnectOptions::new())?;
/// let channel = Endpoint::from_static("http://localhost").connect_with_connector_lazy(connector);
/// let mut shop = MyServiceClient::new(channel);
/// let reply = shop.buy(BuyRequest { id: "pear".into(), quantity: 1, price: 80 }).await?;
/// assert_eq!(reply.into_inner().result, "bought 1 of pear at 80");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PipeConnector {
    name: PipeName,
    options: ConnectOptions,
}

impl PipeConnector {
    /// A connector for the pipe `name`, connecting with `options`.
    pub fn new(name: impl IntoPipeName, options: ConnectOptions) -> pipeway::Result<Self> {
        Ok(Self {
            name: name.into_pipe_name()?,
            options,
        })
    }

    /// The pipe it dials.
    pub fn name(&self) -> &PipeName {
        &self.name
    }

    /// Connects once.
    pub async fn connect(&self) -> pipeway::Result<PipeStream> {
        PipeStream::connect_with(&self.name, &self.options).await
    }
}

type Connecting = Pin<Box<dyn Future<Output = pipeway::Result<TokioIo<PipeStream>>> + Send>>;

impl Service<Uri> for PipeConnector {
    type Response = TokioIo<PipeStream>;
    type Error = pipeway::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect().await.map(TokioIo::new) })
    }
}

/// A [`PipeConnector`] that hands out a stream connected beforehand first,
/// so that an eager connect reports pipe errors as typed errors.
struct Dialer {
    connector: PipeConnector,
    first: Option<PipeStream>,
}

impl Service<Uri> for Dialer {
    type Response = TokioIo<PipeStream>;
    type Error = pipeway::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match self.first.take() {
            Some(stream) => Box::pin(std::future::ready(Ok(TokioIo::new(stream)))),
            None => self.connector.call(uri),
        }
    }
}

/// How to reach a gRPC server on a pipe: the pipe's name, its
/// [`ConnectOptions`], and tonic's [`Endpoint`] settings for everything
/// above the pipe (request timeouts, HTTP/2 windows, keep-alive, ...).
///
/// The channels it makes reconnect by themselves: when the server goes away,
/// the call in flight fails with `Unavailable`, and the next call dials the
/// pipe again, waiting up to the connect timeout for a restarted server.
///
/// ```
/// use std::time::Duration;
/// use pipeway_grpc::PipeEndpoint;
/// use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-grpc-endpoint-{}", std::process::id());
/// # let incoming = pipeway_grpc::PipeIncoming::bind(&name)?;
/// # tokio::spawn(
/// #     tonic::transport::Server::builder()
/// #         .add_service(pipeway_grpc::buy::my_service_server::MyServiceServer::new(pipeway_grpc::buy::Buyer))
/// #         .serve_with_incoming(incoming),
/// # );
/// let channel = PipeEndpoint::new(&name)?
///     .connect_timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// let mut shop = MyServiceClient::new(channel);
/// let request = BuyRequest { id: "apple".into(), quantity: 3, price: 120 };
/// println!("{}", shop.buy(request).await?.into_inner().result);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PipeEndpoint {
    connector: PipeConnector,
    endpoint: Endpoint,
}

impl PipeEndpoint {
    /// An endpoint for the pipe `name`, with the default [`ConnectOptions`]
    /// (a 5 s connect timeout; a server of this user or root).
    pub fn new(name: impl IntoPipeName) -> pipeway::Result<Self> {
        Ok(Self {
            connector: PipeConnector::new(name, ConnectOptions::new())?,
            endpoint: Endpoint::from_static(PIPE_URI),
        })
    }

    /// Connects with `options`: the connect timeout, which server users to
    /// trust, buffer sizes.
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connector.options = options;
        self
    }

    /// How long each connection (the first and every reconnection) waits for
    /// the pipe to exist and accept, like `WaitNamedPipe`; past it the
    /// connect fails with [`pipeway::Error::NotFound`] or
    /// [`pipeway::Error::NotListening`]. Shorthand for setting it in the
    /// [`ConnectOptions`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connector.options = self.connector.options.timeout(timeout);
        self
    }

    /// Changes tonic's settings for the channel: `endpoint.timeout(...)`,
    /// `endpoint.http2_keep_alive_interval(...)`, and so on. The endpoint's
    /// URI is ignored, and so are its TCP and TLS settings; its
    /// `connect_timeout`, if set, applies on top of the pipe's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pipeway_grpc::PipeEndpoint;
    ///
    /// // Nothing connects until the endpoint is used.
    /// let endpoint = PipeEndpoint::new("shop")?
    ///     .configure(|endpoint| endpoint.timeout(Duration::from_secs(10)));
    /// # let _ = endpoint;
    /// # Ok::<(), pipeway::Error>(())
    /// ```
    pub fn configure(mut self, configure: impl FnOnce(Endpoint) -> Endpoint) -> Self {
        self.endpoint = configure(self.endpoint);
        self
    }

    /// The pipe.
    pub fn name(&self) -> &PipeName {
        self.connector.name()
    }

    /// The connector the channels use.
    pub fn connector(&self) -> &PipeConnector {
        &self.connector
    }

    /// Connects now: dials the pipe and completes the HTTP/2 handshake.
    /// Pipe failures come back as [`Error::Pipe`], typed (not found, access
    /// denied, untrusted server, ...).
    pub async fn connect(&self) -> Result<PipeChannel, Error> {
        let first = self.connector.connect().await?;
        let dialer = Dialer {
            connector: self.connector.clone(),
            first: Some(first),
        };
        let channel = self.endpoint.connect_with_connector(dialer).await?;
        Ok(PipeChannel::new(channel))
    }

    /// A channel that connects on its first call, and reconnects as
    /// [`connect`](Self::connect)'s channels do. Needs no server now; call it
    /// inside a tokio runtime.
    pub fn connect_lazy(&self) -> PipeChannel {
        PipeChannel::new(
            self.endpoint
                .connect_with_connector_lazy(self.connector.clone()),
        )
    }
}

/// Connects to the gRPC server on the pipe `name` with the default options:
/// [`PipeEndpoint::new`] then [`PipeEndpoint::connect`].
pub async fn connect(name: impl IntoPipeName) -> Result<PipeChannel, Error> {
    PipeEndpoint::new(name)?.connect().await
}

/// A channel to the pipe `name` that connects on its first call:
/// [`PipeEndpoint::new`] then [`PipeEndpoint::connect_lazy`].
pub fn connect_lazy(name: impl IntoPipeName) -> pipeway::Result<PipeChannel> {
    Ok(PipeEndpoint::new(name)?.connect_lazy())
}
