//! The client: connects to a channel server, sends, makes requests, and
//! reconnects when the connection is lost.
//!
//! A spawned driver task owns the connection: it writes the client's bounded
//! outgoing queue in batches, reads frames, routes replies to the requests
//! waiting for them and everything else to the [`Incoming`] stream, and
//! reconnects with backoff. Sends made while it reconnects wait in the queue
//! and go out, in order, on the next connection.

mod driver;
mod waiting;

use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use pipeway::tokio::PipeStream;
use pipeway::{ConnectOptions, IntoPipeName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, Json};
use crate::error::{DisconnectReason, Error, Result};
use crate::framer::{Decode, Encode, Framer};
use crate::handshake::{self, DEFAULT_HANDSHAKE_TIMEOUT, Hello, Role};
use crate::outbox::{ByteBudget, Outbox, QUEUE_BYTES};
use crate::wire::{DEFAULT_MAX_MESSAGE_SIZE, Kind};

use driver::Driver;
use waiting::Waiting;

/// The default time a request waits for its reply.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The default capacity of the client's outgoing queue, in messages; also
/// how many sends may wait while it reconnects.
pub const DEFAULT_CLIENT_QUEUE_CAPACITY: usize = 1024;

/// The default capacity of the [`Incoming`] stream.
pub const DEFAULT_INCOMING_CAPACITY: usize = 1024;

/// The default time [`Client::close`] gives queued messages to leave.
pub const DEFAULT_CLIENT_LINGER: Duration = Duration::from_secs(5);

/// How a client waits between reconnection attempts: exponentially longer
/// delays, from `initial` up to `max`, each (with jitter on) drawn at random
/// from its upper half, so that many clients of a restarted server do not all
/// come back at once.
///
/// The default: 100 ms, doubling up to 5 s, with jitter, forever. Each
/// attempt also waits up to the connect timeout for the pipe to appear.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    max_attempts: Option<u32>,
    jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `initial`, doubling, up to `max`; unlimited attempts.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
            max_attempts: None,
            jitter: true,
        }
    }

    /// Each delay is this many times the last (at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Gives up after `attempts` failed attempts in a row; the client then
    /// closes.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Whether delays are randomised (default on).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before attempt `attempt` (from 1), given a random number in
    /// `[0, 1)`.
    fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let secs = (self.initial.as_secs_f64() * self.multiplier.powi(exponent))
            .min(self.max.as_secs_f64());
        let secs = if self.jitter {
            secs * (0.5 + 0.5 * random)
        } else {
            secs
        };
        Duration::from_secs_f64(secs)
    }
}

/// A small random number generator for jitter (xorshift, seeded from the
/// standard library's random hasher keys).
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self(seed | 1)
    }

    fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where a client's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Connected: sends go out as fast as the server reads them.
    Connected,
    /// The connection was lost and the client is trying again; sends are
    /// queued, up to the queue's capacity.
    Reconnecting {
        /// The attempt under way, from 1.
        attempt: u32,
    },
    /// Closed for good: by [`Client::close`], by dropping every handle, or
    /// because reconnection is off or gave up. Sends fail with
    /// [`Error::Closed`].
    Closed,
}

/// What a client receives, besides replies: the server's one-way messages,
/// and changes in the connection's state.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent<M> {
    /// A one-way message (a send or broadcast) from the server.
    Message(M),
    /// The connection was lost. Requests sent on it fail with
    /// [`Error::ConnectionLost`]; queued messages wait for the next one.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// Whether the client will try to reconnect.
        reconnecting: bool,
    },
    /// A reconnection attempt failed; the next follows after a backoff.
    ReconnectFailed {
        /// Which attempt, from 1.
        attempt: u32,
        /// Why it failed.
        error: Error,
    },
    /// The client is connected again; queued messages are being sent.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// The server sent something wrong: a message that did not decode
    /// ([`Error::Codec`]), an error frame about no request
    /// ([`Error::Remote`]), or a frame a client does not expect
    /// ([`Error::Protocol`]).
    Error(Error),
}

/// The stream of what a client receives, made with the client by
/// [`Client::connect`]. It ends when the client closes.
///
/// Read it, or drop it: while it is kept and full, the client stops reading
/// from the server (replies included).
pub struct Incoming<M> {
    rx: mpsc::Receiver<ClientEvent<M>>,
}

impl<M> Incoming<M> {
    /// The next event; `None` once the client has closed. Cancel safe.
    pub async fn recv(&mut self) -> Option<ClientEvent<M>> {
        self.rx.recv().await
    }

    /// The next one-way message, skipping state changes and errors; `None`
    /// once the client has closed.
    pub async fn next_message(&mut self) -> Option<M> {
        loop {
            if let ClientEvent::Message(message) = self.rx.recv().await? {
                return Some(message);
            }
        }
    }
}

impl<M> fmt::Debug for Incoming<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("waiting", &self.rx.len())
            .finish()
    }
}

impl<M> futures::Stream for Incoming<M> {
    type Item = ClientEvent<M>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

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

impl<Up, Down, C> ClientBuilder<Up, Down, C>
where
    Up: Serialize + Send + Sync + 'static,
    Down: DeserializeOwned + Send + 'static,
    C: Codec,
{
    /// The codec for message bodies (default [`Json`]); the server's. With
    /// another, `connect` fails with [`Error::Handshake`] naming both.
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
        let (events, incoming) = mpsc::channel(self.incoming_capacity);
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

/// What the client handles and the driver share.
pub(crate) struct Shared {
    waiting: Arc<Waiting>,
    next_id: AtomicU64,
    state: watch::Sender<ConnectionState>,
    /// Close requested (by `close` or by dropping the last handle).
    close: CancellationToken,
    /// Frames left unsent when the client closed.
    unsent: AtomicUsize,
    /// The bytes of the frames in the queue (see [`ByteBudget`]).
    pub(crate) queued_bytes: Arc<ByteBudget>,
}

/// Forgets a request however its future ends (reply, error, timeout, drop).
struct Forget<'a> {
    waiting: &'a Waiting,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.waiting.forget(self.id);
    }
}

struct Inner<Up, Down> {
    queue: mpsc::Sender<Bytes>,
    capacity: usize,
    shared: Arc<Shared>,
    encoder: Arc<dyn Encode<Up>>,
    decoder: Arc<dyn Decode<Down>>,
    state: watch::Receiver<ConnectionState>,
    request_timeout: Duration,
}

impl<Up, Down> Drop for Inner<Up, Down> {
    fn drop(&mut self) {
        // The last handle: close gracefully in the background.
        self.shared.close.cancel();
    }
}

/// A channel client. `Up` is what it sends, `Down` what the server sends
/// (the same two types, in the same order, as the server's).
///
/// Cloning gives another handle to the same connection; requests from any
/// number of handles and tasks can be in flight at once. When the last handle
/// is dropped the client closes gracefully in the background.
///
/// ```
/// use pipeway_channel::{Client, ClientEvent, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway_channel::Result<()> {
/// let name = format!("doc-client-{}", std::process::id());
/// // A server that shouts requests back and echoes one-way messages.
/// let server = Server::<String>::builder().serve(&name, |_client, text: String| async move {
///     Some(text.to_uppercase())
/// })?;
///
/// let (client, mut incoming) = Client::<String>::connect(&name).await?;
/// let shout = client.request(&"quiet".to_string()).await?;
/// assert_eq!(shout, "QUIET");
/// client.send(&"hello".to_string()).await?;
/// while let Some(event) = incoming.recv().await {
///     if let ClientEvent::Message(text) = event {
///         assert_eq!(text, "HELLO");
///         break;
///     }
/// }
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Client<Up, Down = Up> {
    inner: Arc<Inner<Up, Down>>,
}

impl<Up, Down> Clone for Client<Up, Down> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<Up, Down> fmt::Debug for Client<Up, Down> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.inner.state.borrow())
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl<Up, Down> Client<Up, Down>
where
    Up: Serialize + Send + Sync + 'static,
    Down: DeserializeOwned + Send + 'static,
{
    /// A builder with the defaults: JSON, a 5 s connect timeout, requests
    /// timing out after 30 s, reconnection with [`Backoff::default`].
    pub fn builder() -> ClientBuilder<Up, Down, Json> {
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

    /// Connects to `name` with the defaults; see [`ClientBuilder::connect`].
    pub async fn connect(name: impl IntoPipeName) -> Result<(Self, Incoming<Down>)> {
        Self::builder().connect(name).await
    }

    /// Sends a one-way message.
    ///
    /// The message is encoded here (an encoding error or an oversized message
    /// fails at once) and queued. While connected, a full queue makes this
    /// wait for room; while reconnecting, a full queue fails with
    /// [`Error::Reconnecting`]. Queued messages go out in order, after a
    /// reconnection if need be. Delivery is at most once: a message written
    /// to a connection that then breaks may be lost.
    pub async fn send(&self, message: &Up) -> Result<()> {
        let frame = self.inner.encoder.frame(Kind::Message, 0, message)?;
        self.enqueue(frame).await
    }

    /// Sends a one-way message without waiting: fails with
    /// [`Error::QueueFull`] (or [`Error::Reconnecting`]) if the queue is full.
    pub fn try_send(&self, message: &Up) -> Result<()> {
        let frame = self.inner.encoder.frame(Kind::Message, 0, message)?;
        let bytes = &self.inner.shared.queued_bytes;
        if !bytes.has_room() {
            return Err(self.full_error());
        }
        let len = frame.len();
        bytes.add(len);
        match self.inner.queue.try_send(frame) {
            Ok(()) => Ok(()),
            Err(err) => {
                bytes.release(len);
                match err {
                    TrySendError::Full(_) => Err(self.full_error()),
                    TrySendError::Closed(_) => Err(Error::Closed),
                }
            }
        }
    }

    /// Sends a request and waits for its reply, up to the client's request
    /// timeout. See [`request_with_timeout`](Self::request_with_timeout).
    pub async fn request(&self, message: &Up) -> Result<Down> {
        self.request_with_timeout(message, self.inner.request_timeout)
            .await
    }

    /// Sends a request and waits up to `timeout` (queueing included) for its
    /// reply. Any number of requests may be in flight at once; each gets its
    /// own reply, whatever order the server answers in.
    ///
    /// Fails with [`Error::Timeout`] when no reply comes in time,
    /// [`Error::Remote`] when the server answers with an error,
    /// [`Error::ConnectionLost`] when the connection breaks after the request
    /// went out, and [`Error::Codec`] when the reply is not a `Down`.
    /// Dropping the future forgets the request.
    pub async fn request_with_timeout(&self, message: &Up, timeout: Duration) -> Result<Down> {
        let shared = &*self.inner.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.inner.encoder.frame(Kind::Request, id, message)?;
        // The deadline clock fails it when due, queueing included.
        let mut outcome = shared.waiting.add(id, timeout);
        let _forget = Forget {
            waiting: &shared.waiting,
            id,
        };
        let exchange = async {
            Ok::<_, Error>(tokio::select! {
                biased;
                // Failed (timed out, say) while waiting for room in the queue.
                early = &mut outcome => early,
                queued = self.enqueue(frame) => {
                    queued?;
                    outcome.await
                }
            })
        };
        let body = if Waiting::clocked() {
            exchange.await?
        } else {
            match tokio::time::timeout(timeout, exchange).await {
                Ok(body) => body?,
                Err(_elapsed) => return Err(Error::Timeout(timeout)),
            }
        };
        match body {
            Ok(body) => Ok(self.inner.decoder.decode(&body?)?),
            Err(_dropped) => Err(Error::Closed),
        }
    }

    /// Queues a frame, waiting for room (in frames and in bytes) only while
    /// connected.
    async fn enqueue(&self, frame: Bytes) -> Result<()> {
        let bytes = &self.inner.shared.queued_bytes;
        let len = frame.len();
        let frame = if bytes.has_room() {
            bytes.add(len);
            match self.inner.queue.try_send(frame) {
                Ok(()) => return Ok(()),
                Err(err) => {
                    bytes.release(len);
                    match err {
                        TrySendError::Closed(_) => return Err(Error::Closed),
                        TrySendError::Full(frame) => frame,
                    }
                }
            }
        } else {
            frame
        };
        let mut state = self.inner.state.clone();
        loop {
            match *state.borrow_and_update() {
                ConnectionState::Connected => {}
                ConnectionState::Reconnecting { .. } => return Err(self.full_error()),
                ConnectionState::Closed => return Err(Error::Closed),
            }
            let room = async {
                bytes.room().await;
                self.inner.queue.reserve().await
            };
            tokio::select! {
                permit = room => {
                    return match permit {
                        Ok(permit) => {
                            bytes.add(len);
                            permit.send(frame);
                            Ok(())
                        }
                        Err(_closed) => Err(Error::Closed),
                    };
                }
                changed = state.changed() => {
                    if changed.is_err() {
                        return Err(Error::Closed);
                    }
                }
            }
        }
    }

    fn full_error(&self) -> Error {
        match *self.inner.state.borrow() {
            ConnectionState::Connected => Error::QueueFull {
                capacity: self.inner.capacity,
            },
            _ => Error::Reconnecting {
                queued: self.queued(),
            },
        }
    }
}

impl<Up, Down> Client<Up, Down> {
    /// Where the connection stands now.
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// A watch on the connection's state, to wait for a change.
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.inner.capacity - self.inner.queue.capacity()
    }

    /// Closes the client: stops reconnecting, sends what is queued (if
    /// connected, within the linger time), closes the connection, and fails
    /// requests still waiting with [`Error::Closed`]. Returns
    /// [`Error::Unsent`] if queued messages could not be sent. Every handle is
    /// closed; [`Incoming`] ends.
    pub async fn close(&self) -> Result<()> {
        self.inner.shared.close.cancel();
        let mut state = self.inner.state.clone();
        let _ = state.wait_for(|s| *s == ConnectionState::Closed).await;
        match self.inner.shared.unsent.load(Ordering::Acquire) {
            0 => Ok(()),
            count => Err(Error::Unsent { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap() {
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(false);
        let delays: Vec<u128> = (1..=6).map(|a| backoff.delay(a, 0.5).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let backoff = Backoff::default();
        let mut jitter = Jitter::new();
        for _ in 0..1000 {
            let r = jitter.next();
            assert!((0.0..1.0).contains(&r));
            let d = backoff.delay(3, r);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }
}
