//! Serving SMB clients through Samba: the listener's second socket, in
//! Samba's np directory, and the thread that takes smbd's hand-offs on it.
//!
//! The thread (one per listener, shared by both faces) accepts smbd's
//! connections, reads each hand-off without blocking, with a deadline, and
//! many at once (a silent or slow peer holds up nobody), admits or refuses
//! the caller ([`handoff`]), and delivers admitted clients to the listener's
//! queue, from which `accept` takes them alongside local clients.

pub(crate) mod access;
pub(crate) mod handoff;
pub(crate) mod place;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipeway_smb::np;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::accept::{AcceptRetry, Next};
use crate::error::Error;
use crate::gate::InstanceGate;
use crate::name::PipeName;
use crate::options::{ListenOptions, PipeMode};
use crate::smb::SmbOptions;

use super::admit::Connection;
use super::listen::SocketFile;
use super::socket::Socket;
use super::users;
use handoff::Rules;

/// At most this many hand-offs are read at once; more wait in the kernel's
/// queue (smbd waits for them, as it would for a busy server).
const MAX_PENDING: usize = 128;

/// Hands an admitted client to the listener; false once the listener is
/// closed (the door then stops).
pub(crate) type Deliver = Box<dyn FnMut(Connection) -> bool + Send>;

/// A listener's SMB socket and its hand-off thread. Dropping it stops the
/// thread and removes the socket file (only its own).
#[derive(Debug)]
pub(crate) struct SmbDoor {
    path: PathBuf,
    closed: Arc<AtomicBool>,
    /// Written to wake the thread from its wait.
    wake: Socket,
    thread: Option<JoinHandle<()>>,
    _file: SocketFile,
}

impl SmbDoor {
    /// Binds the SMB socket of the listener `name` and starts taking
    /// hand-offs, delivering admitted clients with `deliver` (as
    /// non-blocking sockets).
    pub(crate) fn open(
        name: &PipeName,
        mode: PipeMode,
        options: &ListenOptions,
        smb: &SmbOptions,
        gate: Option<Arc<InstanceGate>>,
        deliver: Deliver,
    ) -> Result<Self, Error> {
        let rules = Rules::new(name.clone(), mode, options, smb, gate)?;
        let (socket, file) = place::bind(name, smb)?;
        let (wake, woken) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(io::Error::from)?;
        let closed = Arc::new(AtomicBool::new(false));
        let path = file.path().to_owned();
        let thread = {
            let closed = closed.clone();
            let woken = Socket::from_fd(woken);
            std::thread::Builder::new()
                .name(format!("pipeway-smb {name}"))
                .spawn(move || Door::new(socket, woken, closed, rules, deliver).run())?
        };
        Ok(Self {
            path,
            closed,
            wake: Socket::from_fd(wake),
            thread: Some(thread),
            _file: file,
        })
    }

    /// The SMB socket's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Stops taking hand-offs; those being read are closed.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.wake.send(&[1]);
    }
}

impl Drop for SmbDoor {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A hand-off being read.
struct Pending {
    socket: Socket,
    /// The request so far; its full length once the prefix has arrived.
    buf: Vec<u8>,
    len: Option<usize>,
    deadline: Instant,
}

enum Progress {
    More,
    Complete,
    Failed,
}

impl Pending {
    /// Reads what has arrived, never past the request's end.
    fn read(&mut self, pipe: &PipeName) -> Progress {
        loop {
            let want = self.len.unwrap_or(4);
            if self.buf.len() == want {
                if self.len.is_some() {
                    return Progress::Complete;
                }
                let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
                match np::request_length(prefix) {
                    Ok(len) => {
                        self.len = Some(len);
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(%pipe, %err, "refused an SMB hand-off");
                        return Progress::Failed;
                    }
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let room = (want - self.buf.len()).min(chunk.len());
            match self.socket.recv(&mut chunk[..room]) {
                Ok(0) => {
                    tracing::debug!(%pipe, got = self.buf.len(), "smbd closed during its hand-off");
                    return Progress::Failed;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Progress::More,
                Err(err) => {
                    tracing::debug!(%pipe, %err, "SMB hand-off failed");
                    return Progress::Failed;
                }
            }
        }
    }
}

struct Door {
    listener: Socket,
    woken: Socket,
    closed: Arc<AtomicBool>,
    rules: Rules,
    deliver: Deliver,
    pending: Vec<Pending>,
    own_uid: u32,
    /// After a failed accept (out of descriptors, say), the listening
    /// socket is left alone until then, rather than spun on.
    paused_until: Option<Instant>,
    retry: AcceptRetry,
}

impl Door {
    fn new(
        listener: Socket,
        woken: Socket,
        closed: Arc<AtomicBool>,
        rules: Rules,
        deliver: Deliver,
    ) -> Self {
        Self {
            listener,
            woken,
            closed,
            rules,
            deliver,
            pending: Vec::new(),
            own_uid: users::effective_uid(),
            paused_until: None,
            retry: AcceptRetry::new(),
        }
    }

    fn run(mut self) {
        while !self.closed.load(Ordering::Acquire) {
            let (listener_ready, ready) = self.wait();
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if listener_ready {
                self.accept_all();
            }
            if !self.advance(&ready) {
                break;
            }
        }
    }

    /// Waits for a new connection, bytes of a pending hand-off, a wake-up
    /// or the nearest deadline. Says whether the listening socket is ready
    /// and which pending hand-offs are.
    fn wait(&mut self) -> (bool, Vec<bool>) {
        let now = Instant::now();
        let paused_until = self.paused_until.take_if(|until| *until > now);
        let accepting = self.pending.len() < MAX_PENDING && paused_until.is_none();
        let mut fds = Vec::with_capacity(self.pending.len() + 2);
        fds.push(PollFd::new(&self.woken, PollFlags::IN));
        fds.push(PollFd::new(
            &self.listener,
            if accepting {
                PollFlags::IN
            } else {
                PollFlags::empty()
            },
        ));
        for p in &self.pending {
            fds.push(PollFd::new(&p.socket, PollFlags::IN));
        }
        let timeout = self
            .pending
            .iter()
            .map(|p| p.deadline)
            .chain(paused_until)
            .map(|at| at.saturating_duration_since(now))
            .min()
            .map(|d| Timespec::try_from(d.max(Duration::from_millis(1))).expect("a deadline"));
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(err) => {
                tracing::warn!(pipe = %self.rules.name, %err, "SMB hand-off wait failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let woke = !fds[0].revents().is_empty();
        let listener_ready = !fds[1].revents().is_empty();
        let ready = fds[2..].iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        self.paused_until = paused_until;
        if woke {
            let mut sink = [0u8; 64];
            while matches!(self.woken.recv(&mut sink), Ok(1..)) {}
        }
        (listener_ready, ready)
    }

    /// Takes every connection waiting, keeping those from smbd (root) or
    /// this process's user: only they may hand a caller over.
    fn accept_all(&mut self) {
        let pipe = &self.rules.name;
        while self.pending.len() < MAX_PENDING {
            let fd = match rustix::net::accept_with(
                &self.listener,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            ) {
                Ok(fd) => {
                    self.retry.succeeded(pipe);
                    fd
                }
                Err(Errno::AGAIN) => return,
                // Out of descriptors, say: the waiting ones stay queued, and
                // the socket is left alone for the retry rule's pause. No
                // failure ends the door.
                Err(err) => match self.retry.failed(pipe, &err.into()) {
                    Next::Retry => continue,
                    Next::Pause(pause) => {
                        self.paused_until = Some(Instant::now() + pause);
                        return;
                    }
                    Next::Fail => {
                        let pause = crate::accept::accept_failed(pipe, &Error::Io(err.into()));
                        self.paused_until = Some(Instant::now() + pause);
                        return;
                    }
                },
            };
            let socket = Socket::from_fd(fd);
            match socket.peer_cred() {
                Ok(creds) if creds.uid == 0 || creds.uid == self.own_uid => {}
                Ok(creds) => {
                    tracing::warn!(%pipe, uid = creds.uid, pid = ?creds.pid,
                        "refused a connection to the SMB socket: only smbd (root) or this user may hand clients over");
                    continue;
                }
                Err(_) => continue,
            }
            self.pending.push(Pending {
                socket,
                buf: Vec::new(),
                len: None,
                deadline: Instant::now() + self.rules.handshake_timeout,
            });
        }
    }

    /// Reads the ready hand-offs, admits the complete ones and drops the
    /// failed and late. False once the listener has closed.
    fn advance(&mut self, ready: &[bool]) -> bool {
        let now = Instant::now();
        let pipe = &self.rules.name;
        let mut complete = Vec::new();
        // Hand-offs accepted since the wait were not polled: not ready yet.
        let ready = ready.iter().copied().chain(std::iter::repeat(false));
        for (mut p, is_ready) in std::mem::take(&mut self.pending).into_iter().zip(ready) {
            if is_ready {
                match p.read(pipe) {
                    Progress::More => {}
                    Progress::Complete => {
                        complete.push(p);
                        continue;
                    }
                    Progress::Failed => continue,
                }
            }
            if now >= p.deadline {
                tracing::warn!(%pipe, got = p.buf.len(), timeout = ?self.rules.handshake_timeout,
                    "closed an SMB hand-off that did not arrive in time");
                continue;
            }
            self.pending.push(p);
        }
        for p in complete {
            if let Some(connection) = self.rules.admit(p.socket, &p.buf) {
                if !(self.deliver)(connection) {
                    return false;
                }
            }
        }
        true
    }
}
