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
//!
//! While the writer waits for frames it leaves the connection with the
//! queue, and an answer that finds the queue empty is written at once,
//! without waiting (what fits now; the rest is queued, and the writer woken):
//! it leaves from the task that answered, and the writer sleeps through.
//! Before, every answer woke the writer, which was about a fifth of the
//! server's instructions per request (callgrind, a blocking client's
//! requests). Only a sender that expects no frame to follow soon asks for
//! this ([`push_or_write`](ClientQueue::push_or_write)): written at once, a
//! burst of broadcasts would cost a system call a message (measured: 0.23×
//! of the batched raw writes fell to 0.02×).

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

/// The client's connection, as the queue writes it: through the writer
/// task, and directly while that task waits.
pub(crate) trait Connection: AsyncWrite + Unpin + Send {
    /// Writes what fits now without waiting, as tokio's `try_write` does.
    fn try_write_now(&mut self, bytes: &[u8]) -> io::Result<usize>;
}

impl Connection for pipeway::tokio::OwnedWriteHalf {
    fn try_write_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }
}

/// The connection, owned by the writer task or, while it waits, the queue.
pub(crate) type Writer = Box<dyn Connection>;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `capacity` frames are already waiting.
    Full,
    /// The writer has gone, or the queue was closed.
    Closed,
}

#[derive(Default)]
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
    /// The connection, left here while the writer waits for frames.
    parked: Option<Writer>,
    /// A direct write failed (a connection that cannot write without
    /// waiting, such as a remote pipe, or a broken one): leave writing to
    /// the writer from now on.
    no_direct: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("frames", &self.lens.len())
            .field("closed", &self.closed)
            .field("senders_gone", &self.senders_gone)
            .field("parked", &self.parked.is_some())
            .finish_non_exhaustive()
    }
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

    /// Writes `frame` at once if the writer waits with nothing queued (so
    /// nothing written earlier can still be on its way).
    fn write_directly(&mut self, frame: &Bytes) -> Direct {
        if !self.is_empty() {
            return Direct::Queue;
        }
        let Some(connection) = self.parked.as_mut() else {
            return Direct::Queue;
        };
        match connection.try_write_now(frame) {
            Ok(n) if n == frame.len() => Direct::Done,
            Ok(n) => Direct::Rest(frame.slice(n..)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Direct::Queue,
            // The writer meets the error itself, and reports it.
            Err(_) => {
                self.no_direct = true;
                Direct::Queue
            }
        }
    }
}

/// What a direct write left to queue.
enum Direct {
    /// All of the frame went.
    Done,
    /// The end of the frame, which did not fit.
    Rest(Bytes),
    /// All of it: nothing was written.
    Queue,
}

/// Gives the connection back to the writer when [`ClientQueue::take`]
/// ends, also when it is cancelled.
struct Parking<'a> {
    queue: &'a ClientQueue,
    writer: &'a mut Option<Writer>,
}

impl Drop for Parking<'_> {
    fn drop(&mut self) {
        if self.writer.is_none() {
            *self.writer = self.queue.state().parked.take();
        }
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
        self.push_with(frame, false)
    }

    /// Writes a frame at once if the writer waits with nothing queued;
    /// otherwise, or for what does not fit, queues it. For a frame that no
    /// other is expected to follow soon (the answer to a client's only
    /// request): frames written at once each cost a system call.
    pub fn push_or_write(&self, frame: &Bytes) -> Result<(), PushError> {
        self.push_with(frame, true)
    }

    fn push_with(&self, frame: &Bytes, direct: bool) -> Result<(), PushError> {
        let mut state = self.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        if state.lens.len() >= self.capacity {
            return Err(PushError::Full);
        }
        let was_empty = state.is_empty();
        let rest;
        let frame = match direct.then(|| state.write_directly(frame)) {
            Some(Direct::Done) => return Ok(()),
            Some(Direct::Rest(left)) => {
                rest = left;
                &rest
            }
            Some(Direct::Queue) | None => frame,
        };
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
    ///
    /// While it waits, `writer` (the connection, if given) stays with the
    /// queue, for senders to write to directly; it is back in `writer` when
    /// this returns or is dropped.
    pub async fn take(&self, batch: &mut Batch, writer: &mut Option<Writer>) -> bool {
        debug_assert!(batch.is_empty());
        let parking = Parking {
            queue: self,
            writer,
        };
        loop {
            {
                let mut state = self.state();
                let ended = state.senders_gone || state.closed;
                if !state.is_empty() || ended {
                    // Back under the lock that takes the frames: a sender
                    // must not write past frames the writer holds.
                    if parking.writer.is_none() {
                        *parking.writer = state.parked.take();
                    }
                }
                if !state.is_empty() {
                    state.seal();
                    std::mem::swap(&mut batch.chunks, &mut state.chunks);
                    std::mem::swap(&mut batch.lens, &mut state.lens);
                    batch.written = 0;
                    return true;
                }
                if ended {
                    return false;
                }
                if !state.no_direct && state.parked.is_none() {
                    state.parked = parking.writer.take();
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
    use crate::test_io::{Seen, Trickle, frame};

    #[tokio::test]
    async fn a_burst_of_small_frames_leaves_in_one_write_in_order() {
        let queue = ClientQueue::new(1024);
        for tag in 0..100 {
            queue.push(&frame(tag, 34)).unwrap();
        }
        assert_eq!(queue.len(), 100);
        let mut batch = Batch::default();
        assert!(queue.take(&mut batch, &mut None).await);
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
        assert!(queue.take(&mut batch, &mut None).await);
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
        assert!(queue.take(&mut batch, &mut None).await);
        let mut sink = Trickle::new(usize::MAX, usize::MAX);
        batch.write(&mut sink).await.unwrap();
        assert_eq!(sink.got.len(), 20);
        assert!(!queue.take(&mut batch, &mut None).await);
    }

    #[tokio::test]
    async fn the_writer_wakes_for_frames_and_for_the_senders_leaving() {
        let queue = std::sync::Arc::new(ClientQueue::new(8));
        let taker = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut batch = Batch::default();
                let first = queue.take(&mut batch, &mut None).await;
                let mut sink = Trickle::new(usize::MAX, usize::MAX);
                batch.write(&mut sink).await.unwrap();
                (first, sink.got, queue.take(&mut batch, &mut None).await)
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
        assert!(queue.take(&mut batch, &mut None).await);
        queue.push(&frame(9, 10)).unwrap();
        // 15 bytes go: frame 0 whole, frame 1 torn.
        let mut broken = Trickle::new(usize::MAX, 15);
        assert!(batch.write(&mut broken).await.is_err());
        assert_eq!(batch.discard(), 3);
        assert_eq!(queue.discard(), 1);
        assert_eq!(queue.push(&frame(1, 1)), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn while_the_writer_waits_a_sender_writes_directly_and_the_writer_sleeps_on() {
        let queue = ClientQueue::new(8);
        let seen = Seen::new(usize::MAX);
        let mut writer = seen.boxed();
        let mut batch = Batch::default();
        {
            let take = queue.take(&mut batch, &mut writer);
            tokio::pin!(take);
            assert!(poll_once(take.as_mut()).is_pending());
            queue.push_or_write(&frame(1, 34)).unwrap();
            queue.push_or_write(&frame(2, 34)).unwrap();
            assert_eq!(seen.got(), [vec![1; 34], vec![2; 34]].concat());
            assert_eq!(queue.len(), 0, "nothing was queued");
            assert!(
                poll_once(take.as_mut()).is_pending(),
                "the writer was not woken"
            );
        }
        assert!(
            writer.is_some(),
            "a cancelled take gives the connection back"
        );
        // With the writer away (writing a batch, say), frames are queued.
        queue.push_or_write(&frame(3, 34)).unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(seen.got().len(), 68);
    }

    #[tokio::test]
    async fn a_plain_push_is_queued_for_the_writer_even_while_it_waits() {
        let queue = ClientQueue::new(8);
        let seen = Seen::new(usize::MAX);
        let mut writer = seen.boxed();
        let mut batch = Batch::default();
        {
            let take = queue.take(&mut batch, &mut writer);
            tokio::pin!(take);
            assert!(poll_once(take.as_mut()).is_pending());
            // A broadcast's frames: gathered for one write, not written one
            // by one.
            queue.push(&frame(1, 34)).unwrap();
            queue.push(&frame(2, 34)).unwrap();
            assert!(seen.got().is_empty());
            assert!(take.await);
        }
        assert_eq!(batch.lens.len(), 2);
    }

    #[tokio::test]
    async fn what_a_direct_write_leaves_is_queued_and_later_frames_wait_behind_it() {
        let queue = ClientQueue::new(8);
        let seen = Seen::new(10);
        let mut writer = seen.boxed();
        let mut batch = Batch::default();
        {
            let take = queue.take(&mut batch, &mut writer);
            tokio::pin!(take);
            assert!(poll_once(take.as_mut()).is_pending());
            // 10 bytes go at once; the other 24 are queued, and the frame
            // after them is queued too rather than written past them.
            queue.push_or_write(&frame(1, 34)).unwrap();
            queue.push_or_write(&frame(2, 34)).unwrap();
            assert_eq!(seen.got(), vec![1; 10]);
            assert_eq!(queue.len(), 2);
            assert!(take.await);
        }
        let connection = back(&mut writer);
        batch.write(connection).await.unwrap();
        assert_eq!(seen.got(), [vec![1; 34], vec![2; 34]].concat());
    }

    #[tokio::test]
    async fn a_connection_that_cannot_write_at_once_is_left_to_the_writer() {
        let queue = ClientQueue::new(8);
        let mut seen = Seen::new(usize::MAX);
        seen.broken = true;
        let mut writer = seen.boxed();
        let mut batch = Batch::default();
        {
            let take = queue.take(&mut batch, &mut writer);
            tokio::pin!(take);
            assert!(poll_once(take.as_mut()).is_pending());
            queue.push_or_write(&frame(1, 34)).unwrap();
            assert_eq!(queue.len(), 1, "queued after the failed try");
            assert!(take.await);
        }
        batch.write(back(&mut writer)).await.unwrap();
        // Not left with the queue again: the next frame is queued untried.
        {
            let take = queue.take(&mut batch, &mut writer);
            tokio::pin!(take);
            assert!(poll_once(take.as_mut()).is_pending());
            assert!(!writer_is_parked(&queue));
        }
        queue.push_or_write(&frame(2, 34)).unwrap();
        assert_eq!(queue.len(), 1);
    }

    fn poll_once<F: std::future::Future>(
        future: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output> {
        future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    }

    fn writer_is_parked(queue: &ClientQueue) -> bool {
        queue.state().parked.is_some()
    }

    fn back(writer: &mut Option<Writer>) -> &mut Writer {
        writer.as_mut().expect("the connection is back")
    }
}
