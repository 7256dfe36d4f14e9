//! Configuring and connecting a client.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use pipeway::tokio::PipeStream;
use pipeway::{ConnectOptions, IntoPipeName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, Json};
use crate::error::Result;
use crate::framer::Framer;
use crate::handshake::{self, DEFAULT_HANDSHAKE_TIMEOUT, Hello, Role};
use crate::outbox::{ByteBudget, Outbox, QUEUE_BYTES};
use crate::wire::DEFAULT_MAX_MESSAGE_SIZE;

use super::Backoff;
use super::events::{ConnectionState, Incoming};
use super::{
    Client, DEFAULT_CLIENT_LINGER, DEFAULT_CLIENT_QUEUE_CAPACITY, DEFAULT_INCOMING_CAPACITY,
    DEFAULT_REQUEST_TIMEOUT, Inner, Shared,
};

use super::driver::Driver;
use super::inbox::inbox;
use super::waiting::Waiting;

/// Configures and connects a [`Client`]. Made by [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use pipeway::ConnectOptions;
/// use pipeway_channel::codec::Postcard;
/// use pipeway_channel::{Backoff, Client, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway_channel::Result<()> {
/// let name = format!("doc-client-builder-{}", std::process::id());
/// let server = Server::<String>::builder()
///     .codec(Postcard)
///     .serve(&name, |_client, job: String| async move { Some(format!("done: {job}")) })?;
///
/// let (client, _incoming) = Client::<String>::builder()
///     .codec(Postcard)
///     .connect_options(ConnectOptions::new().timeout(Duration::from_secs(1)))
///     .request_timeout(Duration::from_secs(2))
///     .reconnect(Backoff::new(Duration::from_millis(50), Duration::from_secs(2)).max_attempts(20))
///     .connect(&name)
///     .await?;
/// assert_eq!(client.request(&"job 1".to_string()).await?, "done: job 1");
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `connect`"]
pub struct ClientBuilder<Up, Down = Up, C = Json> {
    connect: ConnectOptions,
    codec: C,
    max_message_size: usize,
    queue_capacity: usize,
    incoming_capacity: usize,
    request_timeout: Duration,
    reconnect: Option<Backoff>,
    linger: Duration,
    schema: String,
    handshake_timeout: Duration,
    _types: PhantomData<fn(Up) -> Down>,
}

impl<Up, Down, C> fmt::Debug for ClientBuilder<Up, Down, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("connect", &self.connect)
            .field("max_message_size", &self.max_message_size)
            .field("queue_capacity", &self.queue_capacity)
            .field("request_timeout", &self.request_timeout)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl<Up, Down> ClientBuilder<Up, Down, Json> {
    /// The defaults (see [`Client::builder`]).
    pub(super) fn new() -> Self {
        ClientBuilder {
            connect: ConnectOptions::new(),
            codec: Json,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            queue_capacity: DEFAULT_CLIENT_QUEUE_CAPACITY,
            incoming_capacity: DEFAULT_INCOMING_CAPACITY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reconnect: Some(Backoff::default()),
            linger: DEFAULT_CLIENT_LINGER,
            schema: String::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            _types: PhantomData,
        }
    }
}

impl<Up, Down, C> ClientBuilder<Up, Down, C>
where
    Up: Serialize + Send + Sync + 'static,
    Down: DeserializeOwned + Send + 'static,
    C: Codec,
{
    /// The codec for message bodies (default [`Json`]); the server's. With
    /// another, `connect` fails with [`Error::Handshake`](crate::Error::Handshake) naming both.
    pub fn codec<C2: Codec>(self, codec: C2) -> ClientBuilder<Up, Down, C2> {
        ClientBuilder {
            connect: self.connect,
            codec,
            max_message_size: self.max_message_size,
            queue_capacity: self.queue_capacity,
            incoming_capacity: self.incoming_capacity,
            request_timeout: self.request_timeout,
            reconnect: self.reconnect,
            linger: self.linger,
            schema: self.schema,
            handshake_timeout: self.handshake_timeout,
            _types: PhantomData,
        }
    }

    /// How to connect, and reconnect: the connect timeout (default 5 s),
    /// which server user to trust, and so on.
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// The connect timeout alone (a shortcut for
    /// [`ConnectOptions::timeout`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect = self.connect.timeout(timeout);
        self
    }

    /// The largest frame the client sends or accepts (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How many messages may wait to be sent (default
    /// [`DEFAULT_CLIENT_QUEUE_CAPACITY`]), which bounds the sends queued
    /// while reconnecting. At least 1. The queue is also full while it
    /// holds 1 MiB of encoded messages.
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages.max(1);
        self
    }

    /// How many received events may wait in [`Incoming`] (default
    /// [`DEFAULT_INCOMING_CAPACITY`]). At least 1.
    pub fn incoming_capacity(mut self, events: usize) -> Self {
        self.incoming_capacity = events.max(1);
        self
    }

    /// How long [`Client::request`] waits for a reply (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]), time in the queue included.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Reconnects with `backoff` when the connection is lost (the default,
    /// with [`Backoff::default`]).
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = Some(backoff);
        self
    }

    /// Never reconnects: a lost connection closes the client.
    pub fn no_reconnect(mut self) -> Self {
        self.reconnect = None;
        self
    }

    /// How long a closing client gives queued messages to leave (default
    /// [`DEFAULT_CLIENT_LINGER`]).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Names the message types (at most 40 bytes, say `"chat/1"`), sent in
    /// the handshake: a server that names other types refuses the client,
    /// and `connect` fails naming both. Default: none (not checked).
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// How long to wait for the server's hello once connected (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects to `name`, waiting up to the connect timeout for the server,
    /// then exchanges hellos with it (the codec and schema must match: see
    /// [`handshake`](crate::handshake)), and returns the client and the
    /// stream of what it receives. Must be called inside a tokio runtime.
    pub async fn connect(
        self,
        name: impl IntoPipeName,
    ) -> Result<(Client<Up, Down>, Incoming<Down>)> {
        let name = name.into_pipe_name()?;
        let hello = Hello::new(Role::Client, self.codec.name(), &self.schema)?;
        let mut stream = PipeStream::connect_with(&name, &self.connect).await?;
        handshake::exchange(&mut stream, &hello, self.handshake_timeout).await?;
        let framer = Arc::new(Framer {
            codec: self.codec,
            max: self.max_message_size,
        });
        let (queue, rx) = mpsc::channel(self.queue_capacity);
        let (events, incoming) = inbox(self.incoming_capacity);
        let (state, state_rx) = watch::channel(ConnectionState::Connected);
        let shared = Arc::new(Shared {
            waiting: Waiting::new(),
            next_id: AtomicU64::new(1),
            state,
            close: CancellationToken::new(),
            unsent: AtomicUsize::new(0),
            queued_bytes: ByteBudget::new(QUEUE_BYTES),
        });
        let driver = Driver {
            name,
            connect: self.connect,
            reconnect: self.reconnect,
            hello,
            handshake_timeout: self.handshake_timeout,
            linger: self.linger,
            max: self.max_message_size,
            shared: shared.clone(),
            decoder: framer.clone(),
            events,
            queue: queue.downgrade(),
            outbox: Outbox::with_budget(rx, shared.queued_bytes.clone()),
        };
        tokio::spawn(driver.run(stream));
        let client = Client {
            inner: Arc::new(Inner {
                queue,
                capacity: self.queue_capacity,
                shared,
                encoder: framer.clone(),
                decoder: framer,
                state: state_rx,
                request_timeout: self.request_timeout,
            }),
        };
        Ok((client, Incoming { rx: incoming }))
    }
}
