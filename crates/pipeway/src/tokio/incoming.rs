//! A tokio listener's clients as a stream, as the blocking listeners'
//! `incoming` gives them as an iterator.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};

type Accepting<'a, S> = Pin<Box<dyn Future<Output = Result<S>> + Send + 'a>>;

/// The clients a tokio listener accepts, one stream item each, until the
/// listener is shut down ([`Error::ListenerClosed`] ends the stream; any
/// other error is an item, and the stream goes on). Made by the listeners'
/// `incoming`; every accept is cancel safe, so dropping the stream between
/// items loses no client.
pub struct Incoming<'a, S> {
    accept: Box<dyn FnMut() -> Accepting<'a, S> + Send + 'a>,
    next: Option<Accepting<'a, S>>,
    ended: bool,
}

impl<'a, S> Incoming<'a, S> {
    pub(crate) fn new(accept: impl FnMut() -> Accepting<'a, S> + Send + 'a) -> Self {
        Self {
            accept: Box::new(accept),
            next: None,
            ended: false,
        }
    }
}

impl<S> Stream for Incoming<'_, S> {
    type Item = Result<S>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<S>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let accepting = this.next.get_or_insert_with(&mut this.accept);
        let accepted = std::task::ready!(accepting.as_mut().poll(cx));
        this.next = None;
        match accepted {
            Err(Error::ListenerClosed) => {
                this.ended = true;
                Poll::Ready(None)
            }
            other => Poll::Ready(Some(other)),
        }
    }
}

impl<S> fmt::Debug for Incoming<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
