//! Listening on a blocking socket: taking clients straight from the kernel
//! on the plain wire, and admitting them ahead of `accept` on the framed wire
//! or when SMB clients are served too (a thread of its own).

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rustix::net::SocketFlags;

use crate::accept::{self, ADMITTED_AHEAD, AcceptRetry, Next};
use crate::error::Error;
use crate::gate::InstanceGate;
use crate::name::PipeName;
use crate::options::{ListenOptions, PipeMode};
use crate::sync::{lock, wait};

use crate::sys::prelude::blocking::*;
use crate::sys::unix::admit::{Admission, Connection};
use crate::sys::unix::listen::{self, BoundListener, SocketFile};
use crate::sys::unix::smb_hook;
use crate::sys::unix::socket::{Socket, Wire};

/// The state the caller's `accept` and the eager acceptor thread share.
#[derive(Debug)]
struct Shared {
    socket: Socket,
    admission: Admission,
    gate: Option<Arc<InstanceGate>>,
    /// Take an instance after accepting a client (see `smb_hook::serves_smb`).
    permit_after_accept: bool,
    closed: AtomicBool,
    /// Clients admitted ahead of `accept` (framed wire only).
    queue: Mutex<VecDeque<Connection>>,
    arrived: Condvar,
    room: Condvar,
}

impl Shared {
    /// Takes one client off the kernel's queue and admits it. `None`: it
    /// was refused (and logged) or left.
    fn accept_one(&self) -> Result<Option<Connection>, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ListenerClosed);
        }
        let acquire = |now: bool| match &self.gate {
            Some(gate) if now => gate.acquire_blocking().map(Some),
            _ => Ok(None),
        };
        let early = acquire(!self.permit_after_accept).map_err(|_| Error::ListenerClosed)?;
        let mut retry = AcceptRetry::new();
        let fd = loop {
            match rustix::net::accept_with(&self.socket, SocketFlags::CLOEXEC) {
                Ok(fd) => {
                    retry.succeeded(&self.admission.name);
                    break fd;
                }
                Err(_) if self.closed.load(Ordering::Acquire) => {
                    return Err(Error::ListenerClosed);
                }
                Err(err) => match retry.failed(&self.admission.name, &err.into()) {
                    Next::Retry => {}
                    Next::Pause(pause) => std::thread::sleep(pause),
                    Next::Fail => return Err(Error::Io(err.into())),
                },
            }
        };
        // Taken after accepting, a framed client waits for its hello while
        // every instance is in use: busy, as if it waited in the queue.
        let late = acquire(self.permit_after_accept).map_err(|_| Error::ListenerClosed)?;
        Ok(self.admission.admit(Socket::from_fd(fd), early.or(late)))
    }

    /// Waits while the queue is full; its lock, or `None` once closed.
    fn room(&self) -> Option<MutexGuard<'_, VecDeque<Connection>>> {
        let mut queue = lock(&self.queue);
        while queue.len() >= ADMITTED_AHEAD && !self.closed.load(Ordering::Acquire) {
            queue = wait(&self.room, queue);
        }
        (!self.closed.load(Ordering::Acquire)).then_some(queue)
    }

    /// Queues an admitted client for `accept`; false once closed.
    fn deliver(&self, connection: Connection) -> bool {
        let Some(mut queue) = self.room() else {
            return false;
        };
        queue.push_back(connection);
        drop(queue);
        self.arrived.notify_one();
        true
    }

    /// The framed wire's acceptor: admits clients as soon as an instance is
    /// free, as Windows connects a client to any instance waiting for one,
    /// whether or not the server has called `ConnectNamedPipe` yet. Without
    /// it a client would wait for its hello until the server's next accept.
    /// (Also on the plain wire when SMB clients are served: see `smb_hook`.)
    fn run_acceptor(&self) {
        // Takes a client only when the queue has room for it.
        while self.room().is_some() {
            match self.accept_one() {
                Ok(Some(connection)) => {
                    self.deliver(connection);
                }
                Ok(None) => {}
                Err(Error::ListenerClosed) => break,
                Err(err) => {
                    std::thread::sleep(accept::accept_failed(&self.admission.name, &err));
                }
            }
        }
        self.arrived.notify_all();
    }
}

#[derive(Debug)]
pub(crate) struct Listener {
    shared: Arc<Shared>,
    file: SocketFile,
    /// The eager acceptor (framed wire, or serving SMB clients too).
    acceptor: Option<std::thread::JoinHandle<()>>,
    /// The SMB socket and its hand-off thread.
    smb: Option<smb_hook::Door>,
}

impl Listener {
    /// The SMB socket's path, when the listener serves SMB clients.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn smb_path(&self) -> Option<&std::path::Path> {
        self.smb.as_ref().map(|door| door.path())
    }
}

impl crate::sys::BlockingListener for Listener {
    type Connection = Connection;

    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error> {
        let BoundListener {
            socket,
            file,
            admission,
            gate,
        } = listen::listener(name, options, mode, false)?;
        let wire = admission.wire;
        let serves_smb = smb_hook::serves_smb(options);
        let shared = Arc::new(Shared {
            socket,
            gate,
            permit_after_accept: serves_smb,
            admission,
            closed: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            arrived: Condvar::new(),
            room: Condvar::new(),
        });
        let acceptor = match wire {
            Wire::Plain | Wire::Samba if !serves_smb => None,
            _ => {
                let shared = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name(format!("pipeway-accept {}", shared.admission.name))
                        .spawn(move || shared.run_acceptor())?,
                )
            }
        };
        let door = shared.clone();
        let smb = smb_hook::open(
            &shared.admission.name,
            mode,
            options,
            shared.gate.clone(),
            // The blocking face's streams are blocking sockets.
            move |c: Connection| c.socket.set_nonblocking(false).is_ok() && door.deliver(c),
        )?;
        Ok(Self {
            shared,
            file,
            acceptor,
            smb,
        })
    }

    /// Waits for the next admitted client. Refused clients are closed and
    /// logged, not returned. With an instance limit, waits for a free
    /// instance first.
    fn accept(&self) -> Result<Connection, Error> {
        if self.acceptor.is_none() {
            loop {
                if let Some(connection) = self.shared.accept_one()? {
                    return Ok(connection);
                }
            }
        }
        let mut queue = lock(&self.shared.queue);
        loop {
            if let Some(connection) = queue.pop_front() {
                self.shared.room.notify_one();
                return Ok(connection);
            }
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(Error::ListenerClosed);
            }
            queue = wait(&self.shared.arrived, queue);
        }
    }

    /// Stops accepting: pending and future `accept` calls fail with
    /// [`Error::ListenerClosed`] and new clients are refused. The socket file
    /// stays until the listener is dropped.
    fn shutdown(&self) -> io::Result<()> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        if let Some(gate) = &shared.gate {
            gate.close();
        }
        let result = shared.socket.shutdown(Shutdown::Both);
        if let Some(door) = &self.smb {
            door.shutdown();
        }
        // Wake waiters; taking the lock first means none can miss the flag.
        drop(lock(&shared.queue));
        shared.arrived.notify_all();
        shared.room.notify_all();
        result
    }

    fn name(&self) -> &PipeName {
        &self.shared.admission.name
    }

    fn endpoint(&self) -> &std::path::Path {
        self.file.path()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = self.shutdown();
            let _ = acceptor.join();
        }
    }
}
