//! The two processes' shared state: the mapped memory with its two rings,
//! the set-up pipe that tells whether the peer is alive, and the waiting
//! rule (spin briefly, then sleep until woken: on the word itself with a
//! futex on Linux, on this end's event on Windows; see `sys::shm_link`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::sys::shm_link::{Mapping, Signals};

use super::ShmError;
use super::layout::{
    CLOSED_OFFSET, CONSUMER_OFFSET, CONTROL_SIZE, RING_CONTROL_OFFSET, RING_CONTROL_SIZE,
};

/// How long a sleeping waiter goes before it checks that the peer is still
/// alive (a peer that dies cannot wake anyone): at most this late a death
/// is noticed, and an idle channel wakes this often (a few µs of CPU each).
pub(crate) const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How long a waiter spins without yielding the CPU, before it spins with
/// `sched_yield` (which lets a peer pinned to the same CPU run).
const PURE_SPIN: Duration = Duration::from_micros(2);

/// Which end this process is: the server produces into ring 0, the client
/// into ring 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// One ring's control words and data, as seen from this process.
#[derive(Clone, Copy)]
pub(crate) struct RingView<'a> {
    /// Written by the producer: the total bytes it has published.
    pub head: &'a AtomicU64,
    /// 1 while the consumer sleeps waiting for data; the producer clears it
    /// and wakes the consumer. On the producer's cache line, which the
    /// producer touches on every send anyway.
    pub data_waiting: &'a AtomicU32,
    /// Written by the consumer: the total bytes it has consumed.
    pub tail: &'a AtomicU64,
    /// 1 while the producer sleeps waiting for room; on the consumer's line.
    pub space_waiting: &'a AtomicU32,
    pub data: *mut u8,
}

/// What a waiter waits for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// The peer to publish past `tail` in the receive ring.
    Data { tail: u64 },
    /// `need` free bytes in the send ring, whose head is `head`.
    Space { head: u64, need: u64 },
}

pub(crate) struct Link {
    mapping: Mapping,
    /// How the two ends wake each other (and, on Windows, see the peer exit).
    signals: Signals,
    /// The set-up pipe, kept open: its hang-up is how a death is seen.
    pipe: crate::PipeStream,
    side: Side,
    ring_size: u64,
    pub(crate) max_message: u64,
    pub(crate) spin: Duration,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("side", &self.side)
            .field("ring_size", &self.ring_size)
            .field("peer", self.pipe.peer())
            .finish()
    }
}

impl Link {
    /// `mapping` must be at least `layout::memory_size(ring_size)` bytes,
    /// checked by the caller.
    pub(crate) fn new(
        mapping: Mapping,
        signals: Signals,
        pipe: crate::PipeStream,
        side: Side,
        ring_size: u32,
        max_message: u64,
        spin: Duration,
    ) -> Self {
        assert!(mapping.len() as u64 >= super::layout::memory_size(ring_size));
        Self {
            mapping,
            signals,
            pipe,
            side,
            ring_size: ring_size as u64,
            max_message,
            spin,
        }
    }

    pub(crate) fn peer(&self) -> &crate::PeerIdentity {
        self.pipe.peer()
    }

    pub(crate) fn ring_size(&self) -> u64 {
        self.ring_size
    }

    fn u64_at(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= CONTROL_SIZE);
        // SAFETY: the offset is 8-aligned inside the control page of a live,
        // page-aligned mapping that `self` owns; every process touches these
        // words only atomically.
        unsafe { AtomicU64::from_ptr(self.mapping.ptr().add(offset).cast()) }
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset % 4 == 0 && offset + 4 <= CONTROL_SIZE);
        // SAFETY: as for `u64_at`, 4-aligned.
        unsafe { AtomicU32::from_ptr(self.mapping.ptr().add(offset).cast()) }
    }

    fn ring(&self, index: usize) -> RingView<'_> {
        let control = RING_CONTROL_OFFSET + index * RING_CONTROL_SIZE;
        let data_offset = CONTROL_SIZE + index * self.ring_size as usize;
        RingView {
            head: self.u64_at(control),
            data_waiting: self.u32_at(control + 8),
            tail: self.u64_at(control + CONSUMER_OFFSET),
            space_waiting: self.u32_at(control + CONSUMER_OFFSET + 8),
            // SAFETY (in bounds): the mapping holds the control page and both rings.
            data: unsafe { self.mapping.ptr().add(data_offset) },
        }
    }

    /// The ring this end writes.
    pub(crate) fn tx(&self) -> RingView<'_> {
        self.ring(match self.side {
            Side::Server => 0,
            Side::Client => 1,
        })
    }

    /// The ring this end reads.
    pub(crate) fn rx(&self) -> RingView<'_> {
        self.ring(match self.side {
            Side::Server => 1,
            Side::Client => 0,
        })
    }

    fn closed_word(&self, side: Side) -> &AtomicU32 {
        self.u32_at(CLOSED_OFFSET + if side == Side::Server { 0 } else { 4 })
    }

    /// Whether the peer closed the channel (after publishing all it sent).
    pub(crate) fn peer_closed(&self) -> bool {
        let peer = match self.side {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        };
        self.closed_word(peer).load(Ordering::Acquire) != 0
    }

    /// Marks this end closed and wakes the peer wherever it sleeps.
    pub(crate) fn close(&self) {
        self.closed_word(self.side).store(1, Ordering::Release);
        fence(Ordering::SeqCst);
        let (tx, rx) = (self.tx(), self.rx());
        for word in [tx.data_waiting, rx.space_waiting] {
            word.store(0, Ordering::Relaxed);
            self.signals.wake_peer(word);
        }
    }

    /// After the producer's `head` store: wakes the consumer if it sleeps.
    /// The SeqCst fence pairs with the one in [`wait_blocking`]: either the
    /// consumer sees the new head, or this sees its flag (Dekker).
    #[inline]
    pub(crate) fn wake(&self, word: &AtomicU32) {
        fence(Ordering::SeqCst);
        if word.load(Ordering::Relaxed) != 0 {
            word.store(0, Ordering::Relaxed);
            self.signals.wake_peer(word);
        }
    }

    pub(crate) fn ready(&self, what: Wait) -> bool {
        match what {
            Wait::Data { tail } => {
                self.rx().head.load(Ordering::Acquire) != tail || self.peer_closed()
            }
            Wait::Space { head, need } => {
                let tail = self.tx().tail.load(Ordering::Acquire);
                // A nonsensical tail counts as ready: the caller reports it.
                head.wrapping_sub(tail) > self.ring_size
                    || self.ring_size - head.wrapping_sub(tail) >= need
                    || self.peer_closed()
            }
        }
    }

    /// Waits until `what` is ready, the peer closed, the peer is gone (an
    /// error), `deadline` passes (an error), or `cancelled` says stop.
    /// Spins for `spin` first, then sleeps on the futex word.
    pub(crate) fn wait_blocking(
        &self,
        what: Wait,
        spin: Duration,
        deadline: Option<Instant>,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), ShmError> {
        if self.ready(what) {
            return Ok(());
        }
        if !spin.is_zero() {
            let started = Instant::now();
            let mut round = 0u32;
            loop {
                for _ in 0..64 {
                    if self.ready(what) {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
                round += 1;
                let spun = started.elapsed();
                if spun >= spin {
                    break;
                }
                if spun >= PURE_SPIN && round % 4 == 0 {
                    std::thread::yield_now();
                }
            }
        }
        let word = match what {
            Wait::Data { .. } => self.rx().data_waiting,
            Wait::Space { .. } => self.tx().space_waiting,
        };
        loop {
            word.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if self.ready(what) || cancelled() {
                word.store(0, Ordering::Relaxed);
                return Ok(());
            }
            let mut nap = PEER_CHECK_INTERVAL;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    word.store(0, Ordering::Relaxed);
                    return Err(ShmError::TimedOut);
                }
                nap = nap.min(left);
            }
            let slept = Instant::now();
            let exited = self.signals.wait(word, 1, nap);
            // Woken by the peer, by its exit, or by nobody for a while: is
            // it still there? (What it published before it went is taken.)
            if (exited || slept.elapsed() >= nap)
                && !self.ready(what)
                && (exited || self.signals.peer_gone(&self.pipe))
            {
                word.store(0, Ordering::Relaxed);
                return Err(ShmError::PeerGone { mid_message: false });
            }
        }
    }

    /// Wakes a waiter of this process that [`wait_blocking`] runs elsewhere
    /// (a tokio face's cancelled wait), so that it sees `cancelled`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // The tokio face's.
    pub(crate) fn wake_local(&self, what: Wait) {
        let word = match what {
            Wait::Data { .. } => self.rx().data_waiting,
            Wait::Space { .. } => self.tx().space_waiting,
        };
        self.signals.wake_own(word);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}
