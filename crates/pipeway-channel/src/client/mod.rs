//! The client: connects to a channel server, sends, makes requests, and
//! reconnects when the connection is lost.
//!
//! A spawned driver task owns the connection: it writes the client's bounded
//! outgoing queue in batches, reads frames, routes replies to the requests
//! waiting for them and everything else to the [`Incoming`] stream, and
//! reconnects with backoff. Sends made while it reconnects wait in the queue
//! and go out, in order, on the next connection.
//!
//! | module | its one job |
//! |---|---|
//! | `builder` | configuring and connecting a client |
//! | `events` | what a client receives besides replies, and its connection's state |
//! | `backoff` | the delays between reconnection attempts |
//! | `driver` | the task that owns the connection |
//! | `waiting` | requests waiting for their replies |
//! | this module | the client handle: send, request, close |

mod backoff;
mod builder;
mod driver;
mod events;
mod inbox;
mod waiting;

pub use backoff::Backoff;
pub use builder::ClientBuilder;
pub use events::{ClientEvent, ConnectionState, Incoming};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use pipeway::IntoPipeName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::codec::Json;
use crate::error::{Error, Result};
use crate::framer::{Decode, Encode};
use crate::outbox::ByteBudget;
use crate::wire::Kind;

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
        ClientBuilder::new()
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
