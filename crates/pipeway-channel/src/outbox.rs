//! The writing side of a connection: a bounded queue of encoded frames,
//! written in batches so that many small messages cost few system calls.
//!
//! Only the connection's writer writes, so frames from concurrent senders
//! never interleave (H.Pipes' interleaved-writes bug cannot happen here).
//! Progress is kept in the `Outbox`, not in a future, so a write that is
//! cancelled (by a timeout, or because the connection is closing) can be
//! resumed or accounted for: after a lost connection, the frames that had not
//! begun to leave are known exactly and can go out on the next connection.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// Frames at least this large are written on their own, never copied; smaller
/// ones are gathered into batches of up to this size.
const BATCH_BYTES: usize = 64 * 1024;

/// The bytes of the frames queued and not yet written, and a limit that
/// senders wait on: the queue's length is bounded in frames, and this bounds
/// it in bytes, so that a sender of large messages waits for the writer
/// instead of holding megabytes of frames (1024 frames of 64 KiB are 64 MiB,
/// freshly paged in: measured, that cost a channel transfer 2 page faults
/// per message).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    room: Notify,
}

impl ByteBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
            room: Notify::new(),
        })
    }

    /// Whether a frame may be queued now (always when nothing is queued, so
    /// that a frame larger than the limit still goes).
    pub fn has_room(&self) -> bool {
        let used = self.used.load(Ordering::Acquire);
        used == 0 || used < self.limit
    }

    /// Waits until [`has_room`](Self::has_room). Cancel safe.
    pub async fn room(&self) {
        loop {
            let freed = self.room.notified();
            if self.has_room() {
                return;
            }
            freed.await;
        }
    }

    /// Counts `n` bytes queued.
    pub fn add(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Counts `n` bytes written or dropped, and wakes waiting senders.
    pub fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
        self.room.notify_waiters();
    }
}

/// At most this many bytes of frames wait in a client's queue.
pub(crate) const QUEUE_BYTES: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Outbox {
    rx: mpsc::Receiver<Bytes>,
    /// Frames taken from the queue (or kept from a lost connection) that have
    /// not begun to leave, oldest first.
    carry: VecDeque<Bytes>,
    /// The frames of the batch being written.
    frames: Vec<Bytes>,
    /// The batch's bytes: one frame, or several copied together.
    data: Bytes,
    /// How much of `data` has been written.
    written: usize,
    scratch: BytesMut,
    /// The queued bytes senders count, when they count them (a client's).
    budget: Option<Arc<ByteBudget>>,
}

impl Outbox {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            carry: VecDeque::new(),
            frames: Vec::new(),
            data: Bytes::new(),
            written: 0,
            scratch: BytesMut::new(),
            budget: None,
        }
    }

    /// An outbox whose senders count every frame they queue in `budget`;
    /// frames leave it as they are written or dropped.
    pub fn with_budget(rx: mpsc::Receiver<Bytes>, budget: Arc<ByteBudget>) -> Self {
        Self {
            budget: Some(budget),
            ..Self::new(rx)
        }
    }

    fn release(&self, n: usize) {
        if let Some(budget) = &self.budget {
            budget.release(n);
        }
    }

    /// Waits until there is a batch to write (or one is already part-written).
    /// `false`: the queue is closed and nothing is left. Cancel safe.
    pub async fn fill(&mut self) -> bool {
        if !self.data.is_empty() {
            return true;
        }
        let first = match self.carry.pop_front() {
            Some(frame) => frame,
            None => match self.rx.recv().await {
                Some(frame) => frame,
                None => return false,
            },
        };
        self.frames.clear();
        self.written = 0;
        let mut total = first.len();
        self.frames.push(first);
        while total < BATCH_BYTES {
            let next = match self.carry.pop_front() {
                Some(frame) => frame,
                None => match self.rx.try_recv() {
                    Ok(frame) => frame,
                    Err(_) => break,
                },
            };
            if total + next.len() > BATCH_BYTES {
                self.carry.push_front(next);
                break;
            }
            total += next.len();
            self.frames.push(next);
        }
        self.data = if let [only] = &self.frames[..] {
            only.clone()
        } else {
            self.scratch.reserve(total);
            for frame in &self.frames {
                self.scratch.extend_from_slice(frame);
            }
            self.scratch.split().freeze()
        };
        true
    }

    /// The frames of the current batch.
    pub fn batch(&self) -> &[Bytes] {
        &self.frames
    }

    /// Writes the current batch. Cancel safe: what was written stays counted.
    pub async fn write<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> io::Result<()> {
        while self.written < self.data.len() {
            let n = writer.write(&self.data[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.release(self.data.len());
        self.data = Bytes::new();
        self.frames.clear();
        self.written = 0;
        Ok(())
    }

    /// After a connection was lost: puts the frames of the current batch that
    /// had not begun to leave back at the front of the line, calling
    /// `requeued` for each, and returns how many had begun (and are lost).
    pub fn rewind(&mut self, mut requeued: impl FnMut(&Bytes)) -> usize {
        let mut start = 0;
        let mut lost = 0;
        let mut keep = Vec::new();
        let mut gone = 0;
        for frame in self.frames.drain(..) {
            let len = frame.len();
            if start >= self.written {
                requeued(&frame);
                keep.push(frame);
            } else {
                lost += 1;
                gone += len;
            }
            start += len;
        }
        self.release(gone);
        for frame in keep.into_iter().rev() {
            self.carry.push_front(frame);
        }
        self.data = Bytes::new();
        self.written = 0;
        lost
    }

    /// Refuses further frames; those already queued can still be written.
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// Frames waiting, not counting the batch being written.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.carry.len() + self.rx.len()
    }

    /// Closes the queue and discards everything not wholly written, returning
    /// how many frames that was.
    pub fn discard(&mut self) -> usize {
        self.rx.close();
        let mut start = 0;
        let mut unsent = 0;
        let mut bytes = 0;
        for frame in self.frames.drain(..) {
            start += frame.len();
            bytes += frame.len();
            if start > self.written {
                unsent += 1;
            }
        }
        self.data = Bytes::new();
        self.written = 0;
        unsent += self.carry.len();
        bytes += self.carry.iter().map(Bytes::len).sum::<usize>();
        self.carry.clear();
        while let Ok(frame) = self.rx.try_recv() {
            unsent += 1;
            bytes += frame.len();
        }
        self.release(bytes);
        unsent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_io::{Trickle, frame};

    #[tokio::test]
    async fn small_frames_go_out_together_in_order() {
        let (tx, rx) = mpsc::channel(16);
        for tag in 0..5 {
            tx.try_send(frame(tag, 10)).unwrap();
        }
        let mut outbox = Outbox::new(rx);
        let mut sink = Trickle::new(7, usize::MAX);
        assert!(outbox.fill().await);
        assert_eq!(outbox.batch().len(), 5);
        outbox.write(&mut sink).await.unwrap();
        let expected: Vec<u8> = (0..5).flat_map(|t| vec![t; 10]).collect();
        assert_eq!(sink.got, expected);
        drop(tx);
        assert!(!outbox.fill().await);
    }

    #[tokio::test]
    async fn a_lost_connection_keeps_the_frames_that_had_not_begun() {
        let (tx, rx) = mpsc::channel(16);
        for tag in 0..4 {
            tx.try_send(frame(tag, 10)).unwrap();
        }
        let mut outbox = Outbox::new(rx);
        // The connection breaks 15 bytes in: frame 0 went, frame 1 is torn.
        let mut broken = Trickle::new(100, 15);
        assert!(outbox.fill().await);
        assert!(outbox.write(&mut broken).await.is_err());
        let mut requeued = vec![];
        assert_eq!(outbox.rewind(|f| requeued.push(f[0])), 2);
        assert_eq!(requeued, vec![2, 3]);

        let mut fresh = Trickle::new(100, usize::MAX);
        assert!(outbox.fill().await);
        outbox.write(&mut fresh).await.unwrap();
        assert_eq!(fresh.got, [vec![2u8; 10], vec![3u8; 10]].concat());
    }

    #[tokio::test]
    async fn queued_bytes_are_counted_until_written_or_dropped() {
        let budget = ByteBudget::new(100);
        assert!(budget.has_room());
        let (tx, rx) = mpsc::channel(16);
        for tag in 0..3 {
            budget.add(60);
            tx.try_send(frame(tag, 60)).unwrap();
        }
        // Over the limit: senders wait (or, with try_send, are refused).
        assert!(!budget.has_room());
        let mut outbox = Outbox::with_budget(rx, budget.clone());
        let mut sink = Trickle::new(usize::MAX, usize::MAX);
        let room = tokio::spawn({
            let budget = budget.clone();
            async move { budget.room().await }
        });
        assert!(outbox.fill().await);
        outbox.write(&mut sink).await.unwrap();
        // The written batch left the count, and the waiting sender woke.
        assert!(budget.has_room());
        room.await.unwrap();
        assert_eq!(outbox.discard(), 0);
        assert_eq!(budget.used.load(Ordering::Acquire), 0);
        // A frame larger than the limit still goes when nothing is queued.
        let big = ByteBudget::new(10);
        assert!(big.has_room());
        big.add(1000);
        assert!(!big.has_room());
        big.release(1000);
        assert!(big.has_room());
    }

    #[tokio::test]
    async fn big_frames_are_written_alone() {
        let (tx, rx) = mpsc::channel(16);
        tx.try_send(frame(1, 10)).unwrap();
        tx.try_send(frame(2, BATCH_BYTES)).unwrap();
        tx.try_send(frame(3, 10)).unwrap();
        let mut outbox = Outbox::new(rx);
        assert!(outbox.fill().await);
        assert_eq!(outbox.batch().len(), 1);
        let mut sink = Trickle::new(usize::MAX, usize::MAX);
        outbox.write(&mut sink).await.unwrap();
        assert!(outbox.fill().await);
        assert_eq!(outbox.batch().len(), 1);
        assert_eq!(outbox.batch()[0].len(), BATCH_BYTES);
        assert_eq!(outbox.waiting(), 1);
        assert_eq!(outbox.discard(), 2);
    }
}
