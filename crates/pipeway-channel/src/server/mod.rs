//! The server: accepts clients on a pipe, reports what they do as events,
//! and sends to one client or to all.
//!
//! Each client gets two tasks: a reader, which decodes its frames and
//! delivers its events in order, and a writer, which owns the socket's write
//! half and drains the client's bounded outgoing queue. Sending never waits:
//! a message is encoded once, in the caller, and queued. So a slow or silent
//! client holds up only itself; the accept loop, the other clients and the
//! senders carry on. One shortcut: while the writer waits with nothing
//! queued, the answer to the client's only unanswered request is written by
//! the task that answers, with a write that takes what fits and never waits
//! (the rest is queued): a request costs one task wake-up less.

mod connection;
mod events;
pub(crate) mod queue;

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use pipeway::tokio::PipeListener;
use pipeway::{IntoPipeName, ListenOptions, PeerIdentity, PipeName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, Json};
use crate::error::{DisconnectReason, Error, Result};
use crate::framer::{Encode, Framer};
use crate::handshake::{DEFAULT_HANDSHAKE_TIMEOUT, Hello, Role};
use crate::wire::{DEFAULT_MAX_MESSAGE_SIZE, Kind};

use connection::{LiveGuard, Slot};
pub use events::{Event, Events, Responder};
use events::{HandlerFn, Sink};

/// The default capacity of each client's outgoing queue, in messages.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The default capacity of the server's event stream.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// The default time a closing connection is given to deliver what is queued
/// for it before it is cut.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// A connected client, numbered from 1 in the order clients connected. Ids
/// are never reused by a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(u64);

impl ClientId {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client #{}", self.0)
    }
}

/// What a server does with a message for a client whose outgoing queue is
/// full: the client has stopped reading, or reads slower than it is sent to.
///
/// Either way the sender is never made to wait, and the message is never
/// dropped silently: the send fails with [`Error::QueueFull`] (for a
/// broadcast, the client is listed in [`BroadcastReport::full`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullQueuePolicy {
    /// Also disconnect the client at once (what it had queued is dropped) with
    /// [`DisconnectReason::QueueFull`]. A reconnecting client comes back with
    /// an empty queue and knows, from the disconnection, that it missed
    /// messages. The default: one stalled client cannot hold the server's
    /// memory.
    #[default]
    Disconnect,
    /// Only refuse the message; the client stays connected and later sends
    /// succeed once it has caught up.
    Reject,
}

/// The per-client limits, shared by all of a server's clients.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_message_size: usize,
    pub queue_capacity: usize,
    pub on_full: FullQueuePolicy,
    pub linger: Duration,
    pub handshake_timeout: Duration,
}

/// A snapshot of one connected client.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientInfo {
    /// Its id.
    pub id: ClientId,
    /// Who it is, as the kernel reported at connect time.
    pub peer: PeerIdentity,
    /// Messages waiting in its outgoing queue.
    pub queued: usize,
}

/// Where a broadcast went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Clients the message was queued for.
    pub queued: usize,
    /// Clients whose queue was full, who did not get it (and who, under
    /// [`FullQueuePolicy::Disconnect`], are being disconnected).
    pub full: Vec<ClientId>,
}

/// Configures and starts a [`Server`]. Made by [`Server::builder`].
///
/// ```
/// use std::time::Duration;
/// use pipeway::ListenOptions;
/// use pipeway_channel::codec::Postcard;
/// use pipeway_channel::{Client, Event, FullQueuePolicy, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway_channel::Result<()> {
/// let name = format!("doc-server-builder-{}", std::process::id());
/// let (server, mut events) = Server::<String>::builder()
///     .codec(Postcard)
///     // Access rules, instances: `.allow_group("staff")`, say.
///     .listen_options(ListenOptions::new().max_instances(64))
///     .queue_capacity(256)
///     .on_full(FullQueuePolicy::Reject)
///     .linger(Duration::from_secs(1))
///     .bind(&name)?;
///
/// // A client with the same codec.
/// let (client, _incoming) = Client::<String>::builder().codec(Postcard).connect(&name).await?;
/// client.send(&"job 1".to_string()).await?;
/// assert!(matches!(events.recv().await, Some(Event::Connected { .. })));
/// assert!(matches!(events.recv().await, Some(Event::Message { message, .. }) if message == "job 1"));
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `bind` or `serve`"]
pub struct ServerBuilder<In, Out = In, C = Json> {
    listen: ListenOptions,
    codec: C,
    limits: Limits,
    schema: String,
    event_capacity: usize,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, C> fmt::Debug for ServerBuilder<In, Out, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("event_capacity", &self.event_capacity)
            .finish_non_exhaustive()
    }
}

impl<In, Out, C> ServerBuilder<In, Out, C>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + Sync + 'static,
    C: Codec,
{
    /// The codec for message bodies (default [`Json`]). Clients must use the
    /// same one: a client with another is refused at the handshake, and
    /// both ends are told which codec the other speaks.
    pub fn codec<C2: Codec>(self, codec: C2) -> ServerBuilder<In, Out, C2> {
        ServerBuilder {
            listen: self.listen,
            codec,
            limits: self.limits,
            schema: self.schema,
            event_capacity: self.event_capacity,
            _types: PhantomData,
        }
    }

    /// The pipe's options: who may connect, buffer sizes, and so on (default
    /// [`ListenOptions::new`]: the owner's user and root only).
    ///
    /// A limit on instances makes the pipe use pipeway's framed wire, which
    /// only pipeway clients speak; leave it unset for peers in other languages.
    pub fn listen_options(mut self, options: ListenOptions) -> Self {
        self.listen = options;
        self
    }

    /// The largest frame (header and body) the server accepts from a client
    /// or sends to one (default 16 MiB). A client announcing a larger frame
    /// is sent a `too_large` error and dropped, before anything is allocated
    /// for the frame; a larger message to send fails with [`Error::TooLarge`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// How many messages may wait to be written to each client (default
    /// [`DEFAULT_QUEUE_CAPACITY`]); see [`FullQueuePolicy`]. At least 1.
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.limits.queue_capacity = messages.max(1);
        self
    }

    /// What happens to a message for a client whose queue is full (default
    /// [`FullQueuePolicy::Disconnect`]).
    pub fn on_full(mut self, policy: FullQueuePolicy) -> Self {
        self.limits.on_full = policy;
        self
    }

    /// How many events may wait in the stream (default
    /// [`DEFAULT_EVENT_CAPACITY`]). When it is full, clients' readers wait
    /// for room, so a slow consumer slows clients down rather than losing
    /// events. At least 1.
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events.max(1);
        self
    }

    /// Names the message types (at most 40 bytes, say `"chat/1"`), sent in
    /// the handshake: a client that names other types is refused, and both
    /// ends are told both names. Clients that name none are not checked.
    /// Default: none.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// How long a new client has to send its hello (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]); one that does not is refused, so a
    /// client that never speaks holds nothing for long.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// How long a closing connection may take to deliver what is queued for
    /// it (default [`DEFAULT_LINGER`]): on [`Server::disconnect`], on
    /// shutdown, and after a client closes its side.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.limits.linger = linger;
        self
    }

    /// Binds `name` and starts accepting clients. Returns the server and the
    /// stream of its events. Must be called inside a tokio runtime.
    ///
    /// Drop the [`Events`] if you do not want them (requests are then
    /// answered with a `no_reply` error); while you keep it, read it: when it
    /// is full, clients wait.
    pub fn bind(self, name: impl IntoPipeName) -> Result<(Server<In, Out>, Events<In, Out>)> {
        let (tx, rx) = mpsc::channel(self.event_capacity);
        let server = self.start(name, Sink::Events(tx))?;
        Ok((server, Events::new(rx)))
    }

    /// Binds `name` and answers every client message with `handler`, the
    /// handler-style API on the same core as [`bind`](Self::bind).
    ///
    /// `handler(client, message)` runs for each one-way message and request,
    /// in order for each client and concurrently across clients. For a
    /// request its result is the reply (`None` answers with a `no_reply`
    /// error); for a one-way message, `Some` is sent back to that client.
    /// Connects, disconnects and errors are logged with `tracing`.
    ///
    /// ```
    /// use pipeway_channel::{Client, Server};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pipeway_channel::Result<()> {
    /// let name = format!("doc-server-serve-{}", std::process::id());
    /// let server = Server::<String>::builder().serve(&name, |_client, text: String| async move {
    ///     Some(text.to_uppercase())
    /// })?;
    ///
    /// let (client, _incoming) = Client::<String>::connect(&name).await?;
    /// assert_eq!(client.request(&"quiet".to_string()).await?, "QUIET");
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn serve<F, Fut>(self, name: impl IntoPipeName, handler: F) -> Result<Server<In, Out>>
    where
        F: Fn(ClientId, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Out>> + Send + 'static,
    {
        let handler: Arc<HandlerFn<In, Out>> =
            Arc::new(move |client, message| handler(client, message).boxed());
        self.start(name, Sink::Handler(handler))
    }

    fn start(self, name: impl IntoPipeName, sink: Sink<In, Out>) -> Result<Server<In, Out>> {
        let name = name.into_pipe_name()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Io(std::io::Error::other(
                "a channel server must be started inside a tokio runtime",
            )));
        }
        let hello = Hello::new(Role::Server, self.codec.name(), &self.schema)?;
        let listener = PipeListener::bind_with(name.clone(), &self.listen)?;
        let framer = Arc::new(Framer {
            codec: self.codec,
            max: self.limits.max_message_size,
        });
        let shared = Arc::new(Shared {
            name,
            encoder: framer.clone(),
            hello,
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            live: Arc::new(watch::Sender::new(0)),
            limits: self.limits,
        });
        let guard = LiveGuard::new(&shared.live);
        tokio::spawn(connection::accept_loop(
            listener,
            shared.clone(),
            framer,
            sink,
            guard,
        ));
        Ok(Server {
            handle: Arc::new(Handle { shared }),
            _in: PhantomData,
        })
    }
}

/// What the server's tasks share.
pub(crate) struct Shared<Out> {
    pub name: PipeName,
    pub encoder: Arc<dyn Encode<Out>>,
    /// What the server says in each handshake.
    pub hello: Hello,
    pub clients: Mutex<HashMap<ClientId, Arc<Slot>>>,
    pub next_id: AtomicU64,
    pub shutdown: CancellationToken,
    /// The accept loop and each client's writer: shutdown waits for none.
    pub live: Arc<watch::Sender<usize>>,
    pub limits: Limits,
}

impl<Out> Shared<Out> {
    pub fn clients(&self) -> MutexGuard<'_, HashMap<ClientId, Arc<Slot>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, client: ClientId) -> Result<Arc<Slot>> {
        self.clients()
            .get(&client)
            .cloned()
            .ok_or(Error::UnknownClient(client))
    }

    fn begin_shutdown(&self) {
        self.shutdown.cancel();
        for slot in self.clients().values() {
            slot.close(DisconnectReason::Shutdown);
        }
    }
}

/// Shuts the server down when the last [`Server`] handle goes.
struct Handle<Out> {
    shared: Arc<Shared<Out>>,
}

impl<Out> Drop for Handle<Out> {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

/// A channel server: clients connect to its pipe and exchange typed
/// messages with it. `In` is what clients send, `Out` what the server sends.
///
/// Cloning gives another handle to the same server. When the last handle is
/// dropped the server shuts down gracefully in the background; call
/// [`shutdown`](Self::shutdown) to wait for that.
///
/// ```
/// use pipeway_channel::{Client, ClientEvent, Event, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway_channel::Result<()> {
/// let name = format!("doc-server-{}", std::process::id());
/// let (server, mut events) = Server::<String>::bind(&name)?;
/// let hub = server.clone();
/// tokio::spawn(async move {
///     while let Some(event) = events.recv().await {
///         match event {
///             Event::Connected { client, peer } => println!("{client} connected: {peer}"),
///             Event::Message { client, message } => {
///                 let _ = hub.broadcast(&format!("{client}: {message}"));
///             }
///             Event::Request { message, responder, .. } => {
///                 let _ = responder.reply(&message.to_uppercase());
///             }
///             Event::Disconnected { client, reason } => println!("{client} left: {reason}"),
///             Event::Error { client, error } => eprintln!("{client}: {error}"),
///             _ => {}
///         }
///     }
/// });
///
/// let (client, mut incoming) = Client::<String>::connect(&name).await?;
/// assert_eq!(client.request(&"quiet".to_string()).await?, "QUIET");
/// client.send(&"hello".to_string()).await?;
/// while let Some(event) = incoming.recv().await {
///     if let ClientEvent::Message(text) = event {
///         assert!(text.ends_with(": hello"), "{text}"); // the broadcast, back to its sender too
///         break;
///     }
/// }
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Server<In, Out = In> {
    handle: Arc<Handle<Out>>,
    _in: PhantomData<fn() -> In>,
}

impl<In, Out> Clone for Server<In, Out> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            _in: PhantomData,
        }
    }
}

impl<In, Out> fmt::Debug for Server<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.handle.shared.name)
            .field("clients", &self.handle.shared.clients().len())
            .finish_non_exhaustive()
    }
}

impl<In, Out> Server<In, Out>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + Sync + 'static,
{
    /// A builder with the defaults: JSON, the pipe's default (owner-only)
    /// access, 16 MiB messages, queues of [`DEFAULT_QUEUE_CAPACITY`].
    pub fn builder() -> ServerBuilder<In, Out, Json> {
        ServerBuilder {
            listen: ListenOptions::new(),
            codec: Json,
            limits: Limits {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                queue_capacity: DEFAULT_QUEUE_CAPACITY,
                on_full: FullQueuePolicy::default(),
                linger: DEFAULT_LINGER,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            },
            schema: String::new(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            _types: PhantomData,
        }
    }

    /// Binds `name` with the defaults; see [`ServerBuilder::bind`].
    pub fn bind(name: impl IntoPipeName) -> Result<(Self, Events<In, Out>)> {
        Self::builder().bind(name)
    }
}

impl<In, Out> Server<In, Out>
where
    Out: Serialize + Send + Sync + 'static,
{
    fn shared(&self) -> &Shared<Out> {
        &self.handle.shared
    }

    /// The pipe this server serves.
    pub fn name(&self) -> &PipeName {
        &self.shared().name
    }

    /// Queues `message` for `client`. Never waits: fails with
    /// [`Error::QueueFull`] if the client's queue is full (see
    /// [`FullQueuePolicy`]) and [`Error::UnknownClient`] if it has gone.
    pub fn send(&self, client: ClientId, message: &Out) -> Result<()> {
        let slot = self.shared().slot(client)?;
        let frame = self.shared().encoder.frame(Kind::Message, 0, message)?;
        slot.push(frame)
    }

    /// Queues `message` for every connected client. The message is encoded
    /// once. Never waits; clients whose queue is full are listed in the
    /// report (see [`FullQueuePolicy`]).
    pub fn broadcast(&self, message: &Out) -> Result<BroadcastReport> {
        let frame = self.shared().encoder.frame(Kind::Message, 0, message)?;
        let mut report = BroadcastReport::default();
        for (id, slot) in self.shared().clients().iter() {
            match slot.push_shared(&frame) {
                Ok(()) => report.queued += 1,
                Err(Error::QueueFull { .. }) => report.full.push(*id),
                // Leaving already: it is no longer one of the clients.
                Err(_) => {}
            }
        }
        report.full.sort();
        Ok(report)
    }

    /// The connected clients, in the order they connected.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let mut clients: Vec<ClientInfo> =
            self.shared().clients().values().map(|s| s.info()).collect();
        clients.sort_by_key(|c| c.id);
        clients
    }

    /// One connected client.
    pub fn client(&self, client: ClientId) -> Option<ClientInfo> {
        self.shared().clients().get(&client).map(|s| s.info())
    }

    /// Disconnects `client` after delivering what is queued for it (within
    /// the linger time). Its `Disconnected` event says
    /// [`DisconnectReason::ByServer`]. Returns whether it was connected.
    pub fn disconnect(&self, client: ClientId) -> bool {
        match self.shared().slot(client) {
            Ok(slot) => {
                slot.close(DisconnectReason::ByServer);
                true
            }
            Err(_) => false,
        }
    }

    /// Stops accepting clients (the pipe's name is free again when this
    /// returns), delivers what is queued for each client within the linger
    /// time, and closes every connection. Each client's `Disconnected` event
    /// says [`DisconnectReason::Shutdown`]; after the last one the event
    /// stream ends. Safe to call more than once, from any handle.
    ///
    /// What clients send once the shutdown has begun may not be read: the
    /// server stops reading a client when its queue has been delivered.
    pub async fn shutdown(&self) {
        self.shared().begin_shutdown();
        let mut live = self.shared().live.subscribe();
        // `wait_for` fails only if the sender is gone, which `self` prevents.
        let _ = live.wait_for(|n| *n == 0).await;
    }

    /// Whether [`shutdown`](Self::shutdown) was called or every handle dropped.
    pub fn is_shut_down(&self) -> bool {
        self.shared().shutdown.is_cancelled()
    }
}
