//! The bounded queue between a client's driver and its [`Incoming`]
//! stream.
//!
//! The reader takes everything queued at once, under one lock, and then
//! reads it without locking; the driver queues under a lock, and wakes the
//! reader only when the queue was empty. Before, every event went through a
//! tokio `mpsc` channel (a semaphore permit each way, the receiving side's
//! under a mutex) and woke the reader's waker: measured with callgrind on the
//! broadcast benchmark, that was a large part of each client's instructions
//! per message.
//!
//! [`Incoming`]: super::Incoming

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::sync::Notify;

#[derive(Debug)]
struct State<M> {
    events: VecDeque<M>,
    /// The driver has gone: once read out, the stream ends.
    sender_gone: bool,
    /// The stream was dropped: events are discarded.
    receiver_gone: bool,
}

#[derive(Debug)]
struct Shared<M> {
    state: Mutex<State<M>>,
    /// Events queued or taken and not yet read: bounded by `capacity`.
    unread: AtomicUsize,
    capacity: usize,
    /// The reader, waiting for events.
    readable: AtomicWaker,
    /// The driver, waiting for room.
    room: Notify,
}

impl<M> Shared<M> {
    fn state(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue holding at most `capacity` events (at least 1): the driver's end
/// and the reader's.
pub(crate) fn inbox<M>(capacity: usize) -> (InboxSender<M>, InboxReceiver<M>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            events: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        unread: AtomicUsize::new(0),
        capacity: capacity.max(1),
        readable: AtomicWaker::new(),
        room: Notify::new(),
    });
    (
        InboxSender {
            shared: shared.clone(),
        },
        InboxReceiver {
            shared,
            taken: VecDeque::new(),
        },
    )
}

/// Why an event was not queued.
#[derive(Debug)]
pub(crate) enum TrySendError<M> {
    /// `capacity` events are unread.
    Full(M),
    /// The reader has gone.
    Closed,
}

/// The driver's end. Dropping it ends the stream, after what was queued.
#[derive(Debug)]
pub(crate) struct InboxSender<M> {
    shared: Arc<Shared<M>>,
}

impl<M> InboxSender<M> {
    /// Queues `event` if there is room.
    pub fn try_send(&self, event: M) -> Result<(), TrySendError<M>> {
        let shared = &*self.shared;
        let mut state = shared.state();
        if state.receiver_gone {
            return Err(TrySendError::Closed);
        }
        if shared.unread.load(Ordering::Acquire) >= shared.capacity {
            return Err(TrySendError::Full(event));
        }
        shared.unread.fetch_add(1, Ordering::AcqRel);
        let was_empty = state.events.is_empty();
        state.events.push_back(event);
        drop(state);
        if was_empty {
            shared.readable.wake();
        }
        Ok(())
    }

    /// Queues `event`, waiting for room; `false` if the reader has gone (the
    /// event is dropped). Cancel safe: a cancelled send queued nothing.
    pub async fn send(&self, mut event: M) -> bool {
        loop {
            let room = self.shared.room.notified();
            event = match self.try_send(event) {
                Ok(()) => return true,
                Err(TrySendError::Closed) => return false,
                Err(TrySendError::Full(event)) => event,
            };
            // A read between the check and here left a permit: no wake is lost.
            room.await;
        }
    }
}

impl<M> InboxSender<M> {
    /// Queues every event of `batch`, in order, under one lock while there is
    /// room, waiting for room for the rest; leaves `batch` empty. With the
    /// reader gone, the events are dropped.
    ///
    /// When the queue is empty and has room for the whole batch (the usual
    /// case: the reader keeps up), the batch's buffer is swapped in rather
    /// than its events copied: with the reader's swap, an event is moved
    /// into the batch and out to the reader, never between buffers.
    pub async fn send_all(&self, batch: &mut VecDeque<M>) {
        let shared = &*self.shared;
        while !batch.is_empty() {
            let room = shared.room.notified();
            {
                let mut state = shared.state();
                if state.receiver_gone {
                    batch.clear();
                    return;
                }
                let free = shared
                    .capacity
                    .saturating_sub(shared.unread.load(Ordering::Acquire));
                let n = free.min(batch.len());
                if n > 0 {
                    shared.unread.fetch_add(n, Ordering::AcqRel);
                    let was_empty = state.events.is_empty();
                    if was_empty && n == batch.len() {
                        std::mem::swap(&mut state.events, batch);
                    } else {
                        state.events.extend(batch.drain(..n));
                    }
                    drop(state);
                    if was_empty {
                        shared.readable.wake();
                    }
                    continue;
                }
            }
            // A read between the check and here left a permit: no wake is lost.
            room.await;
        }
    }
}

impl<M> Drop for InboxSender<M> {
    fn drop(&mut self) {
        self.shared.state().sender_gone = true;
        self.shared.readable.wake();
    }
}

/// The reader's end, inside [`Incoming`](super::Incoming).
#[derive(Debug)]
pub(crate) struct InboxReceiver<M> {
    shared: Arc<Shared<M>>,
    /// Events taken from the queue, not yet read.
    taken: VecDeque<M>,
}

// Nothing in it is pinned: events are moved in and out.
impl<M> Unpin for InboxReceiver<M> {}

impl<M> InboxReceiver<M> {
    /// The next event; `None` once the driver has gone and everything it
    /// queued was read.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        if let Some(event) = self.taken.pop_front() {
            return Poll::Ready(Some(self.read(event)));
        }
        let mut state = self.shared.state();
        if state.events.is_empty() {
            if state.sender_gone {
                return Poll::Ready(None);
            }
            // Registered under the lock: a later event's wake finds it.
            self.shared.readable.register(cx.waker());
            return Poll::Pending;
        }
        std::mem::swap(&mut self.taken, &mut state.events);
        drop(state);
        let event = self.taken.pop_front().expect("taken a non-empty queue");
        Poll::Ready(Some(self.read(event)))
    }

    /// Counts `event` read, and wakes the driver if it waits for room.
    fn read(&self, event: M) -> M {
        let shared = &*self.shared;
        if shared.unread.fetch_sub(1, Ordering::AcqRel) == shared.capacity {
            shared.room.notify_one();
        }
        event
    }

    /// The next event. Cancel safe.
    pub async fn recv(&mut self) -> Option<M> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Events waiting to be read.
    pub fn len(&self) -> usize {
        self.shared.unread.load(Ordering::Acquire)
    }
}

impl<M> Drop for InboxReceiver<M> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.receiver_gone = true;
        state.events.clear();
        drop(state);
        self.shared.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_arrive_in_order_and_the_stream_ends_after_them() {
        let (tx, mut rx) = inbox(1000);
        for n in 0..100 {
            tx.try_send(n).unwrap();
        }
        drop(tx);
        for n in 0..100 {
            assert_eq!(rx.recv().await, Some(n));
        }
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_inbox_makes_the_sender_wait_until_an_event_is_read() {
        let (tx, mut rx) = inbox(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.len(), 2);
        let sender = tokio::spawn(async move {
            assert!(tx.send(3).await);
            assert!(tx.send(4).await);
        });
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, Some(4));
        sender.await.unwrap();
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn batches_keep_their_order_swapped_in_appended_or_split() {
        let (tx, mut rx) = inbox(5);
        // Into an empty queue: swapped in whole.
        let mut batch: VecDeque<_> = (0..2).collect();
        tx.send_all(&mut batch).await;
        assert!(batch.is_empty());
        // Onto queued events: appended.
        batch.extend([2]);
        tx.send_all(&mut batch).await;
        // More than there is room for: what fits, then the rest once read.
        batch.extend(3..7);
        let sender = tokio::spawn(async move {
            tx.send_all(&mut batch).await;
            batch
        });
        for n in 0..7 {
            assert_eq!(rx.recv().await, Some(n));
        }
        assert!(sender.await.unwrap().is_empty());
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_an_event() {
        let (tx, mut rx) = inbox(4);
        let reader = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::task::yield_now().await;
        tx.try_send(7).unwrap();
        tokio::task::yield_now().await;
        drop(tx);
        assert_eq!(reader.await.unwrap(), (Some(7), None));
    }

    #[tokio::test]
    async fn a_dropped_reader_frees_a_waiting_sender() {
        let (tx, rx) = inbox(1);
        tx.try_send(1).unwrap();
        let sender = tokio::spawn(async move { tx.send(2).await });
        tokio::task::yield_now().await;
        drop(rx);
        assert!(!sender.await.unwrap(), "the event is dropped, not queued");
    }
}
