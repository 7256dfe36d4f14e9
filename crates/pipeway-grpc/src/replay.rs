//! A request body that can be taken back if the request never started: what
//! lets a [`PipeChannel`](crate::PipeChannel) retry a call that a dead
//! connection turned away before sending any of it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use prost::bytes::Bytes;
use tonic::body::Body;

/// Where the request body waits until the connection first reads it.
#[derive(Debug)]
pub(crate) struct Replay {
    unsent: Arc<Mutex<Option<Body>>>,
}

impl Replay {
    /// Holds `body`; returns the holder and the body to send in its place.
    pub(crate) fn new(body: Body) -> (Replay, Body) {
        let unsent = Arc::new(Mutex::new(Some(body)));
        let stand_in = StandIn {
            unsent: unsent.clone(),
            body: None,
        };
        (Replay { unsent }, Body::new(stand_in))
    }

    /// The body, if the connection never read any of it.
    pub(crate) fn take_unsent(&self) -> Option<Body> {
        lock(&self.unsent).take()
    }
}

fn lock(slot: &Mutex<Option<Body>>) -> MutexGuard<'_, Option<Body>> {
    // The lock guards a take or a peek; a panic cannot leave it half done.
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The body the connection sees: it takes the real body on its first read.
struct StandIn {
    unsent: Arc<Mutex<Option<Body>>>,
    body: Option<Body>,
}

impl http_body::Body for StandIn {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        if this.body.is_none() {
            this.body = lock(&this.unsent).take();
        }
        match this.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Some(body) => body.is_end_stream(),
            None => lock(&self.unsent)
                .as_ref()
                .is_none_or(|b| b.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Some(body) => body.size_hint(),
            None => lock(&self.unsent)
                .as_ref()
                .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn body(text: &'static str) -> Body {
        Body::new(http_body_util::Full::new(Bytes::from_static(
            text.as_bytes(),
        )))
    }

    #[tokio::test]
    async fn an_unread_body_can_be_taken_back() {
        let (replay, stand_in) = Replay::new(body("hello"));
        assert!(!http_body::Body::is_end_stream(&stand_in));
        drop(stand_in);
        let back = replay.take_unsent().expect("never read");
        assert_eq!(back.collect().await.unwrap().to_bytes(), "hello");
    }

    #[tokio::test]
    async fn a_read_body_is_gone() {
        let (replay, stand_in) = Replay::new(body("hello"));
        assert_eq!(stand_in.collect().await.unwrap().to_bytes(), "hello");
        assert!(replay.take_unsent().is_none());
    }
}
