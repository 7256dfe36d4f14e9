//! What a client receives besides replies, and where its connection stands.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::inbox::InboxReceiver;
use crate::error::{DisconnectReason, Error};

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
    /// Closed for good: by [`Client::close`](super::Client::close), by dropping every handle, or
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
/// [`Client::connect`](super::Client::connect). It ends when the client closes.
///
/// Read it, or drop it: while it is kept and full, the client stops reading
/// from the server (replies included).
pub struct Incoming<M> {
    pub(super) rx: InboxReceiver<ClientEvent<M>>,
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
