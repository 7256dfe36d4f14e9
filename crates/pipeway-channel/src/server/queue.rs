//! A client's outgoing queue on the server: frames are appended by senders
//! (a broadcast, a reply, a send) and taken, all at once, by the client's
//! writer.
//!
//! Small frames are copied, as they are queued, into one growing buffer, so
//! that a burst of broadcasts leaves in one write and costs each client a
//! lock and a short copy per message. Before, each frame went through a
//! tokio `mpsc` channel (a semaphore, a slot, a wake-up check, and a mutex on
//! the receiving side to return the permit) and was copied into a batch
//! anyway: measured with callgrind on the broadcast benchmark, that was most
//! of the server's instructions per message. Large frames are queued as they
//! are (shared, not copied) and written on their own.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Frames up to this size are copied into the shared buffer; larger ones are
/// queued as they are.
const COPY_MAX: usize = 4 * 1024;

/// At most this many chunks go to one vectored write.
const MAX_SLICES: usize = 64;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `capacity` frames are already waiting.
    Full,
    /// The writer has gone, or the queue was closed.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    /// Chunks ready to write, in order: copied small frames, or one large
    /// frame each.
    chunks: VecDeque<Bytes>,
    /// Small frames being gathered, after `chunks`.
    open: BytesMut,
    /// The length of each frame waiting, oldest first.
    lens: VecDeque<usize>,
    /// No more frames are accepted.
    closed: bool,
    /// Every sender has gone: once empty, the queue ends.
    senders_gone: bool,
}

impl State {
    fn seal(&mut self) {
        if !self.open.is_empty() {
            let sealed = self.open.split().freeze();
            self.chunks.push_back(sealed);
        }
    }

    fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }
}

/// The queue, shared by the senders' side and the writer.
#[derive(Debug)]
pub(crate) struct ClientQueue {
    state: Mutex<State>,
    /// Wakes the writer when the queue goes from empty to not, or ends.
    ready: Notify,
    capacity: usize,
}

impl ClientQueue {
    /// A queue that holds at most `capacity` frames (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame without waiting.
    pub fn push(&self, frame: &Bytes) -> Result<(), PushError> {
        let mut state = self.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        if state.lens.len() >= self.capacity {
            return Err(PushError::Full);
        }
        let was_empty = state.is_empty();
        if frame.len() <= COPY_MAX {
            state.open.extend_from_slice(frame);
        } else {
            state.seal();
            state.chunks.push_back(frame.clone());
        }
        state.lens.push_back(frame.len());
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Frames waiting (not counting those the writer has taken).
    pub fn len(&self) -> usize {
        self.state().lens.len()
    }

    /// Refuses further frames; those already queued can still be taken.
    pub fn close(&self) {
        self.state().closed = true;
    }

    /// Says that no sender is left: the writer ends once the queue is empty.
    pub fn senders_gone(&self) {
        self.state().senders_gone = true;
        self.ready.notify_one();
    }

    /// Waits for frames and moves all of them into `batch` (which must be
    /// written out first). `false`: nothing is left and nothing more will
    /// come. Cancel safe.
    pub async fn take(&self, batch: &mut Batch) -> bool {
        debug_assert!(batch.is_empty());
        loop {
            {
                let mut state = self.state();
                if !state.is_empty() {
                    state.seal();
                    std::mem::swap(&mut batch.chunks, &mut state.chunks);
                    std::mem::swap(&mut batch.lens, &mut state.lens);
                    batch.written = 0;
                    return true;
                }
                if state.senders_gone || state.closed {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Closes the queue and drops what waits in it; returns how many frames
    /// that was.
    pub fn discard(&self) -> usize {
        let mut state = self.state();
        state.closed = true;
        state.chunks.clear();
        state.open.clear();
        let unsent = state.lens.len();
        state.lens.clear();
        unsent
    }
}

/// Frames taken from a [`ClientQueue`], being written.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    chunks: VecDeque<Bytes>,
    lens: VecDeque<usize>,
    /// Bytes of the batch written so far (of the frames in `lens`).
    written: usize,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Writes the whole batch, in as few system calls as the writer allows.
    /// Cancel safe: what was written stays counted.
    pub async fn write<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> io::Result<()> {
        while !self.chunks.is_empty() {
            let n = if self.chunks.len() == 1 || !writer.is_write_vectored() {
                writer.write(&self.chunks[0]).await?
            } else {
                let slices: Vec<IoSlice<'_>> = self
                    .chunks
                    .iter()
                    .take(MAX_SLICES)
                    .map(|chunk| IoSlice::new(chunk))
                    .collect();
                writer.write_vectored(&slices).await?
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.advance(n);
        }
        self.lens.clear();
        self.written = 0;
        Ok(())
    }

    fn advance(&mut self, mut n: usize) {
        self.written += n;
        while n > 0 {
            let chunk = self.chunks.front_mut().expect("written within the batch");
            let step = n.min(chunk.len());
            chunk.advance(step);
            n -= step;
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    /// Drops the batch; returns how many of its frames had not wholly left.
    pub fn discard(&mut self) -> usize {
        let mut end = 0;
        let mut unsent = 0;
        for len in self.lens.drain(..) {
            end += len;
            if end > self.written {
                unsent += 1;
            }
        }
        self.chunks.clear();
        self.written = 0;
        unsent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_io::Trickle;

    fn frame(tag: u8, len: usize) -> Bytes {
        Bytes::from(vec![tag; len])
    }

    #[tokio::test]
    async fn a_burst_of_small_frames_leaves_in_one_write_in_order() {
        let queue = ClientQueue::new(1024);
        for tag in 0..100 {
            queue.push(&frame(tag, 34)).unwrap();
        }
        assert_eq!(queue.len(), 100);
        let mut batch = Batch::default();
        assert!(queue.take(&mut batch).await);
        assert_eq!(queue.len(), 0);
        let mut sink = Trickle::new(usize::MAX, usize::MAX);
        batch.write(&mut sink).await.unwrap();
        assert_eq!(sink.writes, 1);
        let expected: Vec<u8> = (0..100).flat_map(|t| vec![t; 34]).collect();
        assert_eq!(sink.got, expected);
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn large_frames_keep_their_place_between_small_ones() {
        let queue = ClientQueue::new(16);
        queue.push(&frame(1, 10)).unwrap();
        queue.push(&frame(2, COPY_MAX + 1)).unwrap();
        queue.push(&frame(3, 10)).unwrap();
        queue.push(&frame(4, 70_000)).unwrap();
        let mut batch = Batch::default();
        assert!(queue.take(&mut batch).await);
        // Cut short writes at every turn: the bytes still come out in order.
        let mut sink = Trickle::new(777, usize::MAX);
        batch.write(&mut sink).await.unwrap();
        let expected = [
            vec![1u8; 10],
            vec![2u8; COPY_MAX + 1],
            vec![3u8; 10],
            vec![4u8; 70_000],
        ]
        .concat();
        assert_eq!(sink.got, expected);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_closed_one_ends() {
        let queue = ClientQueue::new(2);
        queue.push(&frame(1, 10)).unwrap();
        queue.push(&frame(2, 10)).unwrap();
        assert_eq!(queue.push(&frame(3, 10)), Err(PushError::Full));
        queue.close();
        assert_eq!(queue.push(&frame(3, 10)), Err(PushError::Closed));
        // What was queued before the close still leaves.
        let mut batch = Batch::default();
        assert!(queue.take(&mut batch).await);
        let mut sink = Trickle::new(usize::MAX, usize::MAX);
        batch.write(&mut sink).await.unwrap();
        assert_eq!(sink.got.len(), 20);
        assert!(!queue.take(&mut batch).await);
    }

    #[tokio::test]
    async fn the_writer_wakes_for_frames_and_for_the_senders_leaving() {
        let queue = std::sync::Arc::new(ClientQueue::new(8));
        let taker = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut batch = Batch::default();
                let first = queue.take(&mut batch).await;
                let mut sink = Trickle::new(usize::MAX, usize::MAX);
                batch.write(&mut sink).await.unwrap();
                (first, sink.got, queue.take(&mut batch).await)
            }
        });
        tokio::task::yield_now().await;
        queue.push(&frame(7, 3)).unwrap();
        tokio::task::yield_now().await;
        queue.senders_gone();
        let (first, got, second) = taker.await.unwrap();
        assert!(first);
        assert_eq!(got, vec![7; 3]);
        assert!(!second, "the queue ends once the senders have gone");
    }

    #[tokio::test]
    async fn a_broken_write_counts_the_frames_that_had_not_wholly_left() {
        let queue = ClientQueue::new(16);
        for tag in 0..4 {
            queue.push(&frame(tag, 10)).unwrap();
        }
        let mut batch = Batch::default();
        assert!(queue.take(&mut batch).await);
        queue.push(&frame(9, 10)).unwrap();
        // 15 bytes go: frame 0 whole, frame 1 torn.
        let mut broken = Trickle::new(usize::MAX, 15);
        assert!(batch.write(&mut broken).await.is_err());
        assert_eq!(batch.discard(), 3);
        assert_eq!(queue.discard(), 1);
        assert_eq!(queue.push(&frame(1, 1)), Err(PushError::Closed));
    }
}
