//! What a server reports, and how requests are answered.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use pipeway::PeerIdentity;
use tokio::sync::mpsc;

use super::ClientId;
use super::connection::Slot;
use crate::error::{DisconnectReason, Error, Result};
use crate::framer::Encode;
use crate::wire::{ErrorCode, Kind, error_frame};

/// Something that happened on a server.
///
/// For each client, events come in the order things happened: `Connected`
/// first, then its messages, requests and errors in the order it sent them,
/// then `Disconnected` last; or, for a client that fails the handshake,
/// `Refused` alone. Events of different clients interleave.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<In, Out = In> {
    /// A client connected.
    ///
    /// `peer` also holds the client's process ([`PeerIdentity::process`]):
    /// whether it still runs and which program it is, never confused with a
    /// newer process that took its pid.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use pipeway_channel::{Client, Event, Server};
    ///
    /// # let name = format!("connected-doc-{}", std::process::id());
    /// let (_server, mut events) = Server::<String>::bind(&name)?;
    /// let (_client, _incoming) = Client::<String>::connect(&name).await?;
    /// if let Some(Event::Connected { client, peer }) = events.recv().await {
    ///     let process = peer.process()?;
    ///     println!("{client}: pid {} runs {:?}", process.pid(), process.exe()?);
    ///     // The client here is this very process.
    ///     assert_eq!(process.exe()?, std::env::current_exe()?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    Connected {
        /// Its id.
        client: ClientId,
        /// Who it is (pid, user, process), as the kernel reported.
        peer: PeerIdentity,
    },
    /// A one-way message from a client.
    Message {
        /// Who sent it.
        client: ClientId,
        /// The message.
        message: In,
    },
    /// A request from a client, to be answered through `responder`.
    Request {
        /// Who sent it.
        client: ClientId,
        /// The request.
        message: In,
        /// Answers it. Dropping it unanswered answers with a `no_reply` error.
        responder: Responder<Out>,
    },
    /// A client's connection ended; it is no longer among the clients.
    Disconnected {
        /// Who left.
        client: ClientId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A client failed the channel handshake and was closed: it uses another
    /// codec or names other message types ([`Error::Handshake`], and the
    /// client was sent a `handshake` error saying so), it is not a channel
    /// client, or it sent no hello in time. It never connected: this is the
    /// only event about it.
    Refused {
        /// The id it would have had.
        client: ClientId,
        /// Who it is (pid, user), as the kernel reported.
        peer: PeerIdentity,
        /// Why it was refused.
        error: Error,
    },
    /// A client sent something wrong: a body that is not an `In`
    /// ([`Error::Codec`], and the client stays), a broken frame
    /// ([`Error::Protocol`] or [`Error::TooLarge`], and the client is dropped:
    /// a `Disconnected` follows), or an error frame of its own
    /// ([`Error::Remote`]).
    Error {
        /// Which client.
        client: ClientId,
        /// What was wrong.
        error: Error,
    },
}

impl<In, Out> Event<In, Out> {
    /// The client the event is about.
    pub fn client(&self) -> ClientId {
        match self {
            Event::Connected { client, .. }
            | Event::Message { client, .. }
            | Event::Request { client, .. }
            | Event::Disconnected { client, .. }
            | Event::Refused { client, .. }
            | Event::Error { client, .. } => *client,
        }
    }
}

/// The stream of a server's events, made by [`Server::bind`](super::Server::bind).
///
/// It ends after the server has shut down and every client's `Disconnected`
/// event has been delivered. Use [`recv`](Self::recv), or use it as a
/// [`Stream`](futures::Stream).
pub struct Events<In, Out = In> {
    rx: mpsc::Receiver<Event<In, Out>>,
}

impl<In, Out> Events<In, Out> {
    pub(super) fn new(rx: mpsc::Receiver<Event<In, Out>>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the server has shut down and all its
    /// events have been delivered. Cancel safe.
    pub async fn recv(&mut self) -> Option<Event<In, Out>> {
        self.rx.recv().await
    }
}

impl<In, Out> fmt::Debug for Events<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("waiting", &self.rx.len())
            .finish()
    }
}

impl<In, Out> futures::Stream for Events<In, Out> {
    type Item = Event<In, Out>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Answers one request. Made by the server with each
/// [`Event::Request`]; can be moved to another task and answered later, in
/// any order relative to other requests.
///
/// If it is dropped unanswered, the client's request fails at once with a
/// `no_reply` error rather than waiting for its timeout.
#[must_use = "an unanswered request fails with a `no_reply` error"]
pub struct Responder<Out> {
    slot: Arc<Slot>,
    encoder: Arc<dyn Encode<Out>>,
    id: u64,
    answered: bool,
}

impl<Out> Responder<Out> {
    pub(super) fn new(slot: Arc<Slot>, encoder: Arc<dyn Encode<Out>>, id: u64) -> Self {
        slot.request_pending();
        Self {
            slot,
            encoder,
            id,
            answered: false,
        }
    }

    /// The client that asked.
    pub fn client(&self) -> ClientId {
        self.slot.id
    }

    /// The request's id on the wire.
    pub fn request_id(&self) -> u64 {
        self.id
    }

    /// Sends `reply` as the answer. Never waits.
    ///
    /// A client that has gone is not an error: the reply is dropped, since
    /// no one is left to read it (the client's `Disconnected` event says
    /// why it left), and this returns `Ok`. So a handler can answer with
    /// `reply(..)?` without a client that closes early ending it. The
    /// errors are about the reply or the server's policy: it could not be
    /// encoded or is too large (the client is sent a `rejected` error
    /// instead, and the encoding error is returned), or the client's queue
    /// is full ([`Error::QueueFull`]; see [`FullQueuePolicy`](super::FullQueuePolicy)).
    pub fn reply(mut self, reply: &Out) -> Result<()> {
        self.answered = true;
        match self.encoder.frame(Kind::Reply, self.id, reply) {
            Ok(frame) => self.slot.push_answer(frame),
            Err(err) => {
                let text = format!("the server could not send its reply: {err}");
                let _ = self
                    .slot
                    .push(error_frame(self.id, ErrorCode::REJECTED, &text));
                Err(err)
            }
        }
    }

    /// Answers with a `rejected` error carrying `why`; the client's request
    /// fails with [`Error::Remote`]. Like [`reply`](Self::reply), `Ok` when
    /// the client has gone.
    pub fn reject(mut self, why: &str) -> Result<()> {
        self.answered = true;
        self.slot
            .push_answer(error_frame(self.id, ErrorCode::REJECTED, why))
    }
}

impl<Out> Drop for Responder<Out> {
    fn drop(&mut self) {
        self.slot.request_done();
        if !self.answered {
            let _ = self.slot.push(error_frame(
                self.id,
                ErrorCode::NO_REPLY,
                "the server dropped the request without answering it",
            ));
        }
    }
}

impl<Out> fmt::Debug for Responder<Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("client", &self.slot.id)
            .field("request_id", &self.id)
            .finish()
    }
}

/// A handler for [`ServerBuilder::serve`](super::ServerBuilder::serve).
pub(crate) type HandlerFn<In, Out> =
    dyn Fn(ClientId, In) -> BoxFuture<'static, Option<Out>> + Send + Sync;

/// Where a client's events go: the event stream, or a handler.
pub(crate) enum Sink<In, Out> {
    Events(mpsc::Sender<Event<In, Out>>),
    Handler(Arc<HandlerFn<In, Out>>),
}

impl<In, Out> Clone for Sink<In, Out> {
    fn clone(&self) -> Self {
        match self {
            Sink::Events(tx) => Sink::Events(tx.clone()),
            Sink::Handler(handler) => Sink::Handler(handler.clone()),
        }
    }
}

impl<In, Out> Sink<In, Out> {
    /// Delivers one event, waiting for room in the stream, or runs the
    /// handler on it.
    pub async fn deliver(&self, event: Event<In, Out>, slot: &Slot, encoder: &dyn Encode<Out>) {
        match self {
            // With the stream dropped the event goes too; a request's
            // responder then answers `no_reply`.
            // Room first without waiting (the common case), as the client's
            // reader does.
            Sink::Events(tx) => {
                if let Err(mpsc::error::TrySendError::Full(event)) = tx.try_send(event) {
                    drop(tx.send(event).await);
                }
            }
            Sink::Handler(handler) => match event {
                Event::Message { client, message } => {
                    if let Some(out) = run(&**handler, client, message).await {
                        let sent = encoder
                            .frame(Kind::Message, 0, &out)
                            .and_then(|frame| slot.push(frame));
                        if let Err(error) = sent {
                            tracing::warn!(%client, %error, "the handler's answer was not sent");
                        }
                    }
                }
                Event::Request {
                    client,
                    message,
                    responder,
                } => {
                    if let Some(out) = run(&**handler, client, message).await {
                        if let Err(error) = responder.reply(&out) {
                            tracing::warn!(%client, %error, "the handler's reply was not sent");
                        }
                    }
                }
                Event::Connected { client, peer } => {
                    tracing::debug!(%client, %peer, "client connected");
                }
                Event::Disconnected { client, reason } => {
                    tracing::debug!(%client, %reason, "client disconnected");
                }
                Event::Error { client, error } => {
                    tracing::warn!(%client, %error, "client error");
                }
                // Logged where it happened.
                Event::Refused { .. } => {}
            },
        }
    }

    /// Reports a client refused at the handshake: an event in the stream,
    /// or with a handler (which has nothing to run) a warning in the log.
    pub async fn refused(&self, event: Event<In, Out>) {
        match self {
            Sink::Events(tx) => drop(tx.send(event).await),
            Sink::Handler(_) => {
                if let Event::Refused { client, error, .. } = event {
                    tracing::warn!(%client, %error, "refused a client at the handshake");
                }
            }
        }
    }
}

/// Runs the handler; a panic is logged and counts as no answer.
async fn run<In, Out>(handler: &HandlerFn<In, Out>, client: ClientId, message: In) -> Option<Out> {
    // The call itself goes inside the future, so a panic before its first
    // await is caught too.
    match AssertUnwindSafe(async { handler(client, message).await })
        .catch_unwind()
        .await
    {
        Ok(answer) => answer,
        Err(_) => {
            tracing::error!(%client, "the message handler panicked");
            None
        }
    }
}
