//! Named shared memory, and a fast message channel on it.
//!
//! - [`SharedMemory`]: a named block of memory other processes open by name,
//!   read-only or read-write, like a Win32 file mapping (`Local\HelloWorld`).
//!   On Linux it is the file `/dev/shm/pipeway_<name>`, owner-only by
//!   default; its creator holds a lock on it while alive, so memory left by
//!   a crashed creator is told apart and reclaimed (see [`ShmName`]).
//! - [`ShmListener`] / [`ShmChannel`]: request/response messages between two
//!   processes through two rings in shared memory, set up over a pipe of
//!   the same name (so the pipe's access rules and identity checks apply),
//!   with the memory handed over as a descriptor (Linux) or as handles
//!   duplicated into the client's process (Windows), never left at a name.
//!   `pipeway::shm::tokio` has the async face.
//!
//! # The channel's protocol
//!
//! **Set-up.** The server accepts a pipe connection, makes an anonymous
//! memory file (`memfd`) sealed against shrinking, growing and unsealing,
//! writes the header (magic `PWSHMCH1`, version, ring size) and sends a
//! 24-byte [`Setup`](layout::Setup) message with the descriptor attached
//! (`SCM_RIGHTS`). The client checks the message, the seals, the file's
//! size and the header before it maps anything. The pipe stays open: it is
//! how each side learns that the other died.
//!
//! On Windows the server makes an unnamed section instead, and two unnamed
//! auto-reset events (one each side sleeps on), duplicates the three into
//! the client's process (`DuplicateHandle`, through the client's pid that
//! the pipe reported, pinned by the connection's process handle), and sends
//! the `Setup` message followed by a 24-byte
//! [`HandleOffer`](layout::HandleOffer): the three handle values in the
//! client's process. The client checks the values, then that each names an
//! object of the right kind (`NtQueryObject`) before it takes it, maps the
//! section (which fails if it is smaller than the set-up message says) and
//! checks the header.
//!
//! **Memory.** A 4 KiB control page, then ring 0 (server to client), then
//! ring 1 (client to server), each a power of two in bytes. The control
//! page holds a `closed` word per side, and per ring a control block with
//! the producer's cache lines (`head`: bytes published; `data_waiting`) and,
//! 128 bytes on, the consumer's (`tail`: bytes consumed; `space_waiting`).
//! `head` and `tail` only grow (mod 2^64); `head - tail` is what is
//! published and not yet consumed, never more than the ring.
//!
//! **Records.** Each message (or chunk of one) is an 8-byte header
//! (payload length u32 LE, flags u32 LE) and the payload, padded to 8
//! bytes; a record never wraps: when it does not fit before the ring's end
//! the producer publishes a `PAD` record to the end and starts again at 0.
//! A message of up to ring size − 8 bytes is one record (received in place
//! by `ShmChannel::recv_borrowed`); a larger one is chunks of a quarter
//! ring flagged `MORE` but the last. A send cancelled between chunks is
//! followed by an `ABORT` record, and the receiver drops the partial
//! message.
//!
//! **Ordering.** The producer writes a record's bytes with plain stores,
//! then `head` with a Release store; the consumer Acquire-loads `head`, so
//! it sees those bytes complete; after reading a record it Release-stores
//! `tail`, which the producer Acquire-loads before reusing the bytes. A
//! record is therefore never seen half written, and a peer that dies in the
//! middle of a record leaves it unpublished: it is never handed over.
//!
//! **Waiting.** A waiter spins (then spins yielding the CPU) for a while,
//! then sets its `…_waiting` word to 1, issues a SeqCst fence, looks once
//! more, and sleeps on the word with `futex` (shared, not private; on
//! Windows, where `WaitOnAddress` wakes only one process's threads, on its
//! side's event, and on the peer's process handle). The
//! other side, after its Release store of `head` (or `tail`), issues a
//! SeqCst fence and, only if the word is 1, clears it and wakes it (sets
//! the waiter's event). The
//! two fences make it impossible for both to miss each other (the
//! store-buffer litmus test), so a wake-up is never lost and a busy
//! channel makes no system call. Sleeps last at most 100 ms; after one that
//! nobody ended, the waiter polls the pipe: a hang-up there with no
//! `closed` word means the peer died ([`ShmError::PeerGone`]). (On Windows
//! the peer's exit ends the sleep at once; the pipe is polled only when
//! the peer's process could not be opened.)
//!
//! **Closing.** A side that closes sets its `closed` word (Release) after
//! its last publish and wakes both words; the peer's receive returns what
//! was published, then `None`, and its sends fail with
//! [`ShmError::PeerClosed`].
//!
//! **Trust.** Everything the peer writes (`head` or `tail`, record
//! headers, the set-up message) is checked before use by the pure
//! functions in [`layout`], which the fuzz targets exercise: a misbehaving
//! peer gets a [`ShmError::Protocol`] error, never an access outside the
//! rings. It can still change a message's bytes while they are lent.

mod error;
mod name;
mod region;

mod channel;
mod engine;
pub mod layout;
mod link;
mod setup;
#[cfg(feature = "tokio")]
pub mod tokio;

#[cfg(unix)]
mod list;

pub use channel::{Message, ShmChannel, ShmListener};
pub use error::ShmError;
#[cfg(unix)]
pub use list::{LocalSharedMemory, local_shared_memory};
pub use name::{MAX_SHM_NAME, ShmName};
pub use region::{SharedMemory, ShmAccess, ShmOptions};
pub use setup::{DEFAULT_RING_SIZE, DEFAULT_SPIN, ShmChannelOptions};
