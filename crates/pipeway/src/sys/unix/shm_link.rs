//! What the shared-memory channel needs from Linux: an anonymous memory file
//! (`memfd`) sealed against resizing, passing it over the set-up pipe
//! (`SCM_RIGHTS`), sleeping and waking on a word in it (`futex`), and
//! noticing that the peer's end of the pipe hung up.
//!
//! The backend contract (the Windows backend has the same items):
//! [`Mapping`], [`make_memory`] and [`send_offer`] (server),
//! [`receive_offer`] and [`map_offer`] (client), and [`Signals`].

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::thread::futex;

pub(crate) use super::mapping::Mapping;
use crate::shm::ShmError;

/// How the two ends wake each other: a futex on the word itself, which
/// works across processes when it is not `PRIVATE`. Nothing to hold.
#[derive(Debug)]
pub(crate) struct Signals;

impl Signals {
    /// Sleeps while `word` holds `expected`, for at most `timeout`. Returns
    /// whether the peer is known to have exited (never, here: the caller
    /// asks [`peer_gone`](Self::peer_gone) after a sleep nobody ended).
    pub(crate) fn wait(&self, word: &AtomicU32, expected: u32, timeout: Duration) -> bool {
        futex_wait(word, expected, timeout);
        false
    }

    /// Wakes the peer sleeping on `word`.
    pub(crate) fn wake_peer(&self, word: &AtomicU32) {
        futex_wake(word);
    }

    /// Wakes a thread of this process sleeping on `word`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // The tokio face's.
    pub(crate) fn wake_own(&self, word: &AtomicU32) {
        futex_wake(word);
    }

    /// Whether the peer's end of the set-up pipe hung up.
    pub(crate) fn peer_gone(&self, pipe: &crate::PipeStream) -> bool {
        peer_hung_up(pipe.socket_fd())
    }
}

/// The server's memory, made and not yet sent.
pub(crate) struct Offer(OwnedFd);

/// The server's side of set-up: sealed memory of `len` bytes, mapped here.
pub(crate) fn make_memory(len: u64) -> io::Result<(Mapping, Offer)> {
    let memory = sealed_memory(len)?;
    let mapping = Mapping::map(&memory, len as usize, true)?;
    Ok((mapping, Offer(memory)))
}

/// Sends the set-up message with the memory's descriptor attached.
pub(crate) fn send_offer(
    pipe: &crate::PipeStream,
    setup: &[u8],
    offer: Offer,
) -> Result<Signals, ShmError> {
    send_with_fd(pipe.socket_fd(), setup, offer.0.as_fd())?;
    Ok(Signals)
}

/// The memory a server sent, not yet checked.
pub(crate) struct Received(Option<OwnedFd>);

/// Receives the set-up message into `setup`, and the memory sent with it.
pub(crate) fn receive_offer(pipe: &crate::PipeStream, setup: &mut [u8]) -> io::Result<Received> {
    recv_with_fd(pipe.socket_fd(), setup).map(Received)
}

/// Checks the memory (sealed, at least `len` bytes) and maps it.
pub(crate) fn map_offer(
    _pipe: &crate::PipeStream,
    received: Received,
    len: u64,
) -> Result<(Mapping, Signals), ShmError> {
    let memory = received
        .0
        .ok_or_else(|| ShmError::Protocol("the set-up message came without its memory".into()))?;
    check_memory(memory.as_fd(), len).map_err(ShmError::Protocol)?;
    Ok((Mapping::map(&memory, len as usize, true)?, Signals))
}

/// The seals the memory must carry: nobody may shrink it under a mapping
/// (which would make touching the lost pages fatal), grow it, or unseal it.
const SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// A zeroed, sealed memory file of `len` bytes that exists at no path.
fn sealed_memory(len: u64) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        "pipeway-shm-channel",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    rustix::fs::ftruncate(&fd, len)?;
    rustix::fs::fcntl_add_seals(&fd, SEALS)?;
    Ok(fd)
}

/// Checks a memory file the peer sent: sealed as [`sealed_memory`] seals,
/// and at least `len` bytes long.
fn check_memory(fd: BorrowedFd<'_>, len: u64) -> Result<(), String> {
    let seals = rustix::fs::fcntl_get_seals(fd).map_err(|err| {
        format!("the memory the server sent is not a sealable memory file: {err}")
    })?;
    if !seals.contains(SealFlags::SHRINK | SealFlags::SEAL) {
        return Err("the memory the server sent can still be shrunk".into());
    }
    let size = rustix::fs::fstat(fd)
        .map_err(|err| err.to_string())?
        .st_size as u64;
    if size < len {
        return Err(format!(
            "the memory the server sent has {size} bytes, its set-up message says {len}"
        ));
    }
    Ok(())
}

/// Sends `bytes` with `fd` attached, in one `sendmsg`.
fn send_with_fd(socket: BorrowedFd<'_>, bytes: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            socket,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    if sent != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "set-up message cut short",
        ));
    }
    Ok(())
}

/// Receives exactly `buf.len()` bytes and the one descriptor sent with them.
fn recv_with_fd(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut received_fd = None;
    let mut filled = 0;
    while filled < buf.len() {
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = loop {
            match rustix::net::recvmsg(
                socket,
                &mut [IoSliceMut::new(&mut buf[filled..])],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other?,
            }
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for fd in fds {
                    // Keep the first; any others close when dropped here.
                    if received_fd.is_none() {
                        received_fd = Some(fd);
                    }
                }
            }
        }
        if msg.bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the pipe during set-up",
            ));
        }
        filled += msg.bytes;
    }
    Ok(received_fd)
}

/// Sleeps while `word` holds `expected`, for at most `timeout`. Returns on a
/// wake, a timeout, a signal, or at once if the word already differs.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = rustix::time::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // Shared (not PRIVATE): the word is in memory another process maps.
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&timeout));
}

/// Wakes the waiters sleeping on `word`, in any process.
fn futex_wake(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Whether the peer's end of the set-up pipe is gone: the peer never writes
/// to it after set-up, so anything readable is its hang-up.
fn peer_hung_up(socket: impl AsFd) -> bool {
    let mut fds = [PollFd::new(&socket, PollFlags::IN | PollFlags::RDHUP)];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut fds, Some(&zero)) {
        Ok(0) => false,
        Ok(_) => true,
        Err(_) => false,
    }
}
