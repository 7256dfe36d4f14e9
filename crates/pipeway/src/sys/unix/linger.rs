//! Closing an SMB stream without losing its last bytes.
//!
//! On a byte pipe, smbd reads what the server wrote only when the client
//! reads, and after each read it asks the socket whether more is pending;
//! if by then the server has shut its write side or closed, smbd fails that
//! read (`STATUS_PIPE_BROKEN`) and the bytes it had just read are lost. So
//! the end of an SMB stream must wait until smbd has read everything
//! (`SIOCOUTQ` is zero) and finished that read, or until the client has
//! gone.
//!
//! An SMB stream holds an [`SmbEnd`]: a second descriptor of its socket.
//! When the stream is dropped or its write side shut down, the descriptor
//! goes to one process-wide lingerer thread, which shuts the socket down
//! once smbd has read all of it and [`SETTLE`] has passed, or smbd has
//! closed its end, or the stream's linger bound has run out. The thread
//! polls every few milliseconds while it holds sockets and sleeps on a
//! channel when it holds none.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::error::Error;

use super::socket::Socket;

/// How long after smbd has read the last byte the socket stays open: the
/// time smbd needs to finish the read that took it (microseconds; this
/// leaves room for a busy machine).
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// How often the lingerer looks at its sockets.
const TICK: Duration = Duration::from_millis(5);

/// An SMB stream's way out (see the module docs).
#[derive(Debug)]
pub(crate) struct SmbEnd {
    /// The second descriptor, until it goes to the lingerer.
    socket: Mutex<Option<Socket>>,
    bound: Duration,
    write_closed: AtomicBool,
}

impl SmbEnd {
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn new(socket: &Socket, bound: Duration) -> io::Result<Self> {
        Ok(Self {
            socket: Mutex::new(Some(socket.try_clone()?)),
            bound,
            write_closed: AtomicBool::new(false),
        })
    }

    /// Refuses writes after the write side was shut down (the socket's own
    /// write side stays open until the lingerer is done).
    pub(crate) fn may_write(&self) -> Result<(), Error> {
        if self.write_closed.load(Ordering::Acquire) {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the write side of this SMB stream is shut down",
            )));
        }
        Ok(())
    }

    /// Shuts down `how`: the read side at once, the write side once the
    /// client has read what was written (SMB pipes have no half-close, so
    /// this ends the pipe for the client).
    pub(crate) fn shutdown(&self, socket: &Socket, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Write {
            socket.shutdown(Shutdown::Read)?;
        }
        if how != Shutdown::Read {
            self.write_closed.store(true, Ordering::Release);
            self.hand_over();
        }
        Ok(())
    }

    fn hand_over(&self) {
        let taken = self.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(socket) = taken {
            linger(socket, self.bound);
        }
    }
}

impl Drop for SmbEnd {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// Whether an end may do `op`: its direction allows it, and, for an SMB
/// stream, its write side was not shut down. Both faces ask this.
pub(crate) fn may(
    negotiated: &crate::negotiated::Negotiated,
    smb: Option<&SmbEnd>,
    op: crate::options::Operation,
) -> Result<(), Error> {
    negotiated.may(op)?;
    match smb {
        Some(smb) if op == crate::options::Operation::Write => smb.may_write(),
        _ => Ok(()),
    }
}

/// Shuts down `how` an end's socket: at once, or for an SMB stream as
/// [`SmbEnd::shutdown`] does. Both faces shut down through this.
pub(crate) fn shutdown(socket: &Socket, smb: Option<&SmbEnd>, how: Shutdown) -> io::Result<()> {
    match smb {
        Some(smb) => smb.shutdown(socket, how),
        None => socket.shutdown(how),
    }
}

struct Entry {
    socket: Socket,
    deadline: Instant,
    drained_at: Option<Instant>,
}

/// Gives `socket` to the lingerer (starting it the first time).
fn linger(socket: Socket, bound: Duration) {
    static LINGERER: OnceLock<Mutex<Sender<Entry>>> = OnceLock::new();
    let entry = Entry {
        socket,
        deadline: Instant::now() + bound,
        drained_at: None,
    };
    let sender = LINGERER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("pipeway-smb-linger".into())
            .spawn(move || run(receiver));
        if let Err(err) = started {
            tracing::warn!(%err, "cannot start the SMB lingerer: SMB streams close at once");
        }
        Mutex::new(sender)
    });
    let sent = sender.lock().unwrap_or_else(|p| p.into_inner()).send(entry);
    if let Err(mpsc::SendError(entry)) = sent {
        // No lingerer: close now, as a local stream would.
        let _ = entry.socket.shutdown(Shutdown::Both);
    }
}

fn run(receiver: Receiver<Entry>) {
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        if entries.is_empty() {
            match receiver.recv() {
                Ok(entry) => entries.push(entry),
                Err(_) => return,
            }
        }
        entries.extend(receiver.try_iter());
        let gone = peers_gone(&entries);
        let now = Instant::now();
        let mut index = 0;
        entries.retain_mut(|entry| {
            let peer_gone = gone[index];
            index += 1;
            let unread = entry.socket.unread_by_peer().unwrap_or(0);
            if unread == 0 && entry.drained_at.is_none() {
                entry.drained_at = Some(now);
            }
            let settled = entry
                .drained_at
                .is_some_and(|at| now.duration_since(at) >= SETTLE);
            let expired = now >= entry.deadline;
            if !(peer_gone || settled || expired) {
                return true;
            }
            if unread > 0 && !peer_gone {
                tracing::debug!(
                    unread,
                    "closing an SMB stream whose client left bytes unread"
                );
            }
            let _ = entry.socket.shutdown(Shutdown::Both);
            false
        });
    }
}

/// Waits up to a tick and says, for each entry, whether smbd has closed
/// its end (or the socket failed).
fn peers_gone(entries: &[Entry]) -> Vec<bool> {
    let mut fds: Vec<PollFd<'_>> = entries
        .iter()
        .map(|e| PollFd::new(&e.socket, PollFlags::RDHUP))
        .collect();
    let tick = Timespec::try_from(TICK).expect("a small duration");
    if rustix::event::poll(&mut fds, Some(&tick)).is_err() {
        return vec![false; entries.len()];
    }
    fds.iter()
        .map(|fd| {
            fd.revents()
                .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL)
        })
        .collect()
}
