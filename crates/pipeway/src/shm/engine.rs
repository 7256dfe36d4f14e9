//! One implementation of sending and receiving on the rings, shared by the
//! blocking and tokio faces: they differ only in how they wait ([`Waiter`]).
//!
//! The engine is written as `async` code; the blocking face's waiter blocks
//! inside `poll` and never returns `Pending`, so [`run_blocking`] drives it
//! to completion in a single poll, with no runtime.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::ShmError;
use super::layout::{
    FLAG_ABORT, FLAG_MORE, FLAG_PAD, RECORD_HEADER, Record, align, decode_record, encode_record,
    used_bytes,
};
use super::link::{Link, Wait};

/// How a face waits for the peer.
pub(crate) trait Waiter {
    fn wait(&mut self, link: &Arc<Link>, what: Wait) -> impl Future<Output = Result<(), ShmError>>;
}

/// Drives an engine future whose waiter never pends.
pub(crate) fn run_blocking<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("the blocking waiter never returns Pending"),
    }
}

/// A message the engine received: in place in the ring, or assembled.
pub(crate) enum Received {
    /// `len` bytes at ring offset `pos`; the record (of `size` bytes) stays
    /// in the ring until [`Engine::release`].
    InPlace { pos: u64, len: usize },
    /// Assembled from chunks into the engine's buffer.
    Assembled,
}

/// One end's private state: where it is in each ring.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) link: Arc<Link>,
    /// Bytes this end has published into its send ring.
    tx_head: u64,
    /// A chunked send was cut short: the next send first tells the peer.
    tx_partial: bool,
    /// Bytes this end has consumed from its receive ring.
    rx_tail: u64,
    /// Chunks received so far of the message in progress.
    pub(crate) assembly: Vec<u8>,
    rx_partial: bool,
    /// A record handed out in place, to consume before the next receive.
    held: u64,
}

impl Engine {
    pub(crate) fn new(link: Link) -> Self {
        Self {
            link: Arc::new(link),
            tx_head: 0,
            tx_partial: false,
            rx_tail: 0,
            assembly: Vec::new(),
            rx_partial: false,
            held: 0,
        }
    }

    /// The largest payload one record carries: a message up to this size
    /// travels in place; larger ones go in chunks.
    pub(crate) fn max_record(&self) -> usize {
        (self.link.ring_size() as usize) - RECORD_HEADER
    }

    /// Chunks of a large message are a quarter of the ring, so the peer
    /// copies one out while the next is copied in.
    fn chunk_size(&self) -> usize {
        (self.link.ring_size() as usize) / 4 - RECORD_HEADER
    }

    fn check_size(&self, len: usize) -> Result<(), ShmError> {
        if len as u64 > self.link.max_message {
            return Err(ShmError::MessageTooLarge {
                size: len,
                max: self.link.max_message as usize,
            });
        }
        if self.link.peer_closed() {
            return Err(ShmError::PeerClosed);
        }
        Ok(())
    }

    /// Sends one message, copying it into the ring (in chunks if it is
    /// larger than [`max_record`](Self::max_record)).
    pub(crate) async fn send(
        &mut self,
        message: &[u8],
        waiter: &mut impl Waiter,
    ) -> Result<(), ShmError> {
        self.check_size(message.len())?;
        self.abandon_partial(waiter).await?;
        if message.len() <= self.max_record() {
            let pos = self.reserve(message.len(), waiter).await?;
            self.fill(pos, message);
            self.commit(message.len(), 0);
            return Ok(());
        }
        self.tx_partial = true;
        let mut chunks = message.chunks(self.chunk_size()).peekable();
        while let Some(chunk) = chunks.next() {
            let flags = if chunks.peek().is_some() {
                FLAG_MORE
            } else {
                0
            };
            let pos = self.reserve(chunk.len(), waiter).await?;
            self.fill(pos, chunk);
            self.commit(chunk.len(), flags);
        }
        self.tx_partial = false;
        Ok(())
    }

    /// Sends a message of `len` bytes that `write` fills in place in the
    /// ring (no copy) when it fits in one record; otherwise through a buffer.
    pub(crate) async fn send_with(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut [u8]),
        waiter: &mut impl Waiter,
    ) -> Result<(), ShmError> {
        self.write_message(None, len, |_, slot| write(slot), waiter)
            .await
    }

    /// Answers the held message `received` with a reply of `len` bytes
    /// that `write` fills in place, reading the request where it lies:
    /// the only copy is the one `write` makes.
    pub(crate) async fn reply_with(
        &mut self,
        received: &Received,
        len: usize,
        write: impl FnOnce(&[u8], &mut [u8]),
        waiter: &mut impl Waiter,
    ) -> Result<(), ShmError> {
        self.write_message(Some(received), len, write, waiter).await
    }

    /// Sends `len` bytes that `write` fills, given the request `answering`
    /// (empty without one): in place when they fit in one record.
    async fn write_message(
        &mut self,
        answering: Option<&Received>,
        len: usize,
        write: impl FnOnce(&[u8], &mut [u8]),
        waiter: &mut impl Waiter,
    ) -> Result<(), ShmError> {
        if len > self.max_record() {
            let mut buf = vec![0u8; len];
            write(answering.map_or(&[], |r| self.bytes(r)), &mut buf);
            return self.send(&buf, waiter).await;
        }
        self.check_size(len)?;
        self.abandon_partial(waiter).await?;
        let pos = self.reserve(len, waiter).await?;
        // The request stays where it is: in the receive ring (held, so the
        // peer does not reuse it) or in `assembly`; neither overlaps the
        // send ring's slot.
        let request = answering.map_or(&[][..], |r| self.bytes(r));
        let tx = self.link.tx();
        // SAFETY: `reserve` found `len` free bytes after the header at `pos`,
        // inside the ring; the consumer does not read them until `commit`
        // publishes them, and this end is the ring's only producer.
        let slot = unsafe {
            std::slice::from_raw_parts_mut(tx.data.add(pos as usize + RECORD_HEADER), len)
        };
        write(request, slot);
        self.commit(len, 0);
        Ok(())
    }

    async fn abandon_partial(&mut self, waiter: &mut impl Waiter) -> Result<(), ShmError> {
        if self.tx_partial {
            let pos = self.reserve(0, waiter).await?;
            self.fill(pos, &[]);
            self.commit(0, FLAG_ABORT);
            self.tx_partial = false;
        }
        Ok(())
    }

    /// Waits for room for a record of `len` payload bytes and returns its
    /// ring offset, padding to the ring's end first when it does not fit there.
    async fn reserve(&mut self, len: usize, waiter: &mut impl Waiter) -> Result<u64, ShmError> {
        let size = self.link.ring_size();
        let need = align((RECORD_HEADER + len) as u64);
        loop {
            let pos = self.tx_head & (size - 1);
            let room = size - pos;
            let want = need.min(room);
            self.wait_for_space(want, waiter).await?;
            if need <= room {
                return Ok(pos);
            }
            self.write_header(pos, encode_record(0, FLAG_PAD));
            self.publish(room);
        }
    }

    async fn wait_for_space(
        &mut self,
        need: u64,
        waiter: &mut impl Waiter,
    ) -> Result<(), ShmError> {
        let size = self.link.ring_size();
        loop {
            let tail = self.link.tx().tail.load(Ordering::Acquire);
            let used = used_bytes(self.tx_head, tail, size).map_err(|e| ShmError::Protocol(e.0))?;
            if size - used >= need {
                return Ok(());
            }
            if self.link.peer_closed() {
                return Err(ShmError::PeerClosed);
            }
            waiter
                .wait(
                    &self.link,
                    Wait::Space {
                        head: self.tx_head,
                        need,
                    },
                )
                .await?;
        }
    }

    fn write_header(&self, pos: u64, header: [u8; RECORD_HEADER]) {
        // SAFETY: `pos` is an 8-aligned offset with at least a header's room
        // before the ring's end, in space the consumer has released.
        unsafe {
            std::ptr::copy_nonoverlapping(
                header.as_ptr(),
                self.link.tx().data.add(pos as usize),
                RECORD_HEADER,
            )
        };
    }

    fn fill(&self, pos: u64, payload: &[u8]) {
        // SAFETY: `reserve` checked that header and payload fit at `pos`,
        // in space the consumer has released.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                self.link.tx().data.add(pos as usize + RECORD_HEADER),
                payload.len(),
            )
        };
    }

    fn commit(&mut self, len: usize, flags: u32) {
        let pos = self.tx_head & (self.link.ring_size() - 1);
        self.write_header(pos, encode_record(len as u32, flags));
        self.publish(align((RECORD_HEADER + len) as u64));
    }

    /// Publishes `bytes` more: the Release store makes everything written
    /// into them visible to a consumer that Acquire-loads the new head.
    fn publish(&mut self, bytes: u64) {
        self.tx_head = self.tx_head.wrapping_add(bytes);
        let tx = self.link.tx();
        tx.head.store(self.tx_head, Ordering::Release);
        self.link.wake(tx.data_waiting);
    }

    /// Consumes `bytes`: the Release store tells the producer it may reuse
    /// them (after this end's reads of them, which it orders before).
    fn consume(&mut self, bytes: u64) {
        self.rx_tail = self.rx_tail.wrapping_add(bytes);
        let rx = self.link.rx();
        rx.tail.store(self.rx_tail, Ordering::Release);
        self.link.wake(rx.space_waiting);
    }

    /// Gives back a record handed out in place.
    pub(crate) fn release(&mut self) {
        if self.held != 0 {
            let held = std::mem::take(&mut self.held);
            self.consume(held);
        }
    }

    /// Receives the next message: `None` once the peer has closed.
    pub(crate) async fn recv(
        &mut self,
        waiter: &mut impl Waiter,
    ) -> Result<Option<Received>, ShmError> {
        self.release();
        let size = self.link.ring_size();
        loop {
            let head = self.link.rx().head.load(Ordering::Acquire);
            let used = used_bytes(head, self.rx_tail, size).map_err(|e| ShmError::Protocol(e.0))?;
            if used == 0 {
                if self.link.peer_closed() {
                    // Closed is set after the last publish: look once more.
                    if self.link.rx().head.load(Ordering::Acquire) != self.rx_tail {
                        continue;
                    }
                    if self.rx_partial {
                        return Err(ShmError::PeerGone { mid_message: true });
                    }
                    return Ok(None);
                }
                let partial = self.rx_partial;
                waiter
                    .wait(&self.link, Wait::Data { tail: self.rx_tail })
                    .await
                    .map_err(|err| match err {
                        ShmError::PeerGone { .. } => ShmError::PeerGone {
                            mid_message: partial,
                        },
                        other => other,
                    })?;
                continue;
            }
            let pos = self.rx_tail & (size - 1);
            let mut header = [0u8; RECORD_HEADER];
            // SAFETY: `pos` is 8-aligned (checked by `used_bytes`) and below
            // the ring size, which is a multiple of 8: the header is inside.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.link.rx().data.add(pos as usize),
                    header.as_mut_ptr(),
                    RECORD_HEADER,
                )
            };
            match decode_record(header, pos, size, used).map_err(|e| ShmError::Protocol(e.0))? {
                Record::Pad { skip } => self.consume(skip),
                Record::Abort { size } => {
                    self.consume(size);
                    self.assembly.clear();
                    self.rx_partial = false;
                }
                Record::Data { len, more, size } => {
                    let len = len as usize;
                    if !more && !self.rx_partial {
                        self.held = size;
                        return Ok(Some(Received::InPlace { pos, len }));
                    }
                    if (self.assembly.len() + len) as u64 > self.link.max_message {
                        return Err(ShmError::Protocol(format!(
                            "the peer sent a message over the maximum of {} bytes",
                            self.link.max_message
                        )));
                    }
                    if !self.rx_partial {
                        self.assembly.clear();
                    }
                    // SAFETY: `decode_record` checked that the payload lies
                    // inside the ring and within the published bytes.
                    let chunk = unsafe {
                        std::slice::from_raw_parts(
                            self.link.rx().data.add(pos as usize + RECORD_HEADER),
                            len,
                        )
                    };
                    self.assembly.extend_from_slice(chunk);
                    self.consume(size);
                    self.rx_partial = more;
                    if !more {
                        return Ok(Some(Received::Assembled));
                    }
                }
            }
        }
    }

    /// The bytes of what [`recv`](Self::recv) returned.
    ///
    /// An in-place message is a view of the peer's ring: an honest peer
    /// does not touch it until it is released; a hostile one could change
    /// it, but never its bounds, which were checked.
    pub(crate) fn bytes(&self, received: &Received) -> &[u8] {
        match *received {
            // SAFETY: `decode_record` checked that these bytes lie inside
            // the ring and were published; they stay unreused until
            // `release`, which needs `&mut self`, so not while this borrow lives.
            Received::InPlace { pos, len } => unsafe {
                std::slice::from_raw_parts(
                    self.link.rx().data.add(pos as usize + RECORD_HEADER),
                    len,
                )
            },
            Received::Assembled => &self.assembly,
        }
    }
}
