//! Listening with tokio: taking clients straight from the kernel on the
//! plain wire, and admitting them ahead of `accept` on the framed wire or
//! when the listener also serves SMB clients.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ::tokio::io::Interest;
use ::tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use rustix::net::SocketFlags;

use crate::accept::{self, ADMITTED_AHEAD, AcceptRetry, Next};
use crate::error::Error;
use crate::gate::{InstanceGate, Permit};
use crate::name::PipeName;
use crate::options::{ListenOptions, PipeMode};

use super::register;
use crate::sys::unix::admit::{Admission, Connection};
use crate::sys::unix::listen::{self, BoundListener, SocketFile};
use crate::sys::unix::smb_hook;
use crate::sys::unix::socket::{Socket, Wire};

#[derive(Debug)]
struct AsyncShared {
    fd: AsyncFd<Socket>,
    admission: Admission,
    gate: Option<Arc<InstanceGate>>,
    /// Take an instance after accepting a client (see `smb_hook::serves_smb`).
    permit_after_accept: bool,
    /// `shutdown` was called: every accept fails with `ListenerClosed`.
    closed: AtomicBool,
    /// Wakes the accepts waiting when `shutdown` is called: a non-blocking
    /// accept on a shut-down Unix socket says "try again", not "closed".
    closing: ::tokio::sync::Notify,
}

impl AsyncShared {
    async fn permit(&self) -> Result<Option<Permit>, Error> {
        match &self.gate {
            Some(gate) => gate
                .acquire_async()
                .await
                .map(Some)
                .map_err(|_| Error::ListenerClosed),
            None => Ok(None),
        }
    }

    /// Waits until a client may be waiting, or the listener is shut down.
    async fn readable_or_closed(&self) -> Result<AsyncFdReadyGuard<'_, Socket>, Error> {
        let mut readable = std::pin::pin!(self.fd.readable());
        let mut closing = std::pin::pin!(self.closing.notified());
        // Registered before the flag is read, so a shutdown in between wakes it.
        closing.as_mut().enable();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ListenerClosed);
        }
        std::future::poll_fn(|cx| {
            if closing.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(Err(Error::ListenerClosed));
            }
            readable.as_mut().poll(cx).map_err(Error::Io)
        })
        .await
    }

    /// Takes one client off the kernel's queue and admits it. `None`: it was
    /// refused (and logged) or left. Cancel safe: a client is either
    /// returned or still queued in the kernel.
    async fn accept_one(&self) -> Result<Option<Connection>, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ListenerClosed);
        }
        let mut permit = None;
        if !self.permit_after_accept {
            permit = self.permit().await?;
        }
        let mut retry = AcceptRetry::new();
        let fd = loop {
            let mut ready = self.readable_or_closed().await?;
            let accepted = ready.try_io(|socket| {
                rustix::net::accept_with(
                    socket.get_ref(),
                    SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                )
                .map_err(io::Error::from)
            });
            match accepted {
                Ok(Ok(fd)) => {
                    retry.succeeded(&self.admission.name);
                    break fd;
                }
                // Shut down: the socket's shutdown woke this accept.
                Ok(Err(_)) if self.closed.load(Ordering::Acquire) => {
                    return Err(Error::ListenerClosed);
                }
                Ok(Err(err)) => match retry.failed(&self.admission.name, &err) {
                    Next::Retry => {}
                    Next::Pause(pause) => ::tokio::time::sleep(pause).await,
                    Next::Fail => return Err(Error::Io(err)),
                },
                Err(_would_block) => {}
            }
        };
        // Taken after accepting, a framed client waits for its hello while
        // every instance is in use: busy, as if it waited in the queue.
        if self.permit_after_accept {
            permit = self.permit().await?;
        }
        Ok(self.admission.admit(Socket::from_fd(fd), permit))
    }
}

#[derive(Debug)]
enum Accepting {
    /// The plain wire: `accept` takes clients straight from the kernel.
    Direct,
    /// The framed wire, or serving SMB clients too: a task admits clients
    /// while instances are free (see the blocking face's acceptor for why)
    /// and queues them here, as the SMB door does.
    Eager {
        admitted: ::tokio::sync::Mutex<::tokio::sync::mpsc::Receiver<Connection>>,
        task: ::tokio::task::JoinHandle<()>,
    },
}

#[derive(Debug)]
pub(crate) struct AsyncListener {
    shared: Arc<AsyncShared>,
    file: SocketFile,
    accepting: Accepting,
    /// The SMB socket and its hand-off thread. After `accepting`, so that
    /// the queue's receiver is gone (and the thread unblocked) before the
    /// thread is joined.
    smb: Option<smb_hook::Door>,
}

impl AsyncListener {
    /// The SMB socket's path, when the listener serves SMB clients.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn smb_path(&self) -> Option<&std::path::Path> {
        self.smb.as_ref().map(|door| door.path())
    }
}

impl crate::sys::AsyncListener for AsyncListener {
    type Connection = Connection;

    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error> {
        let BoundListener {
            socket,
            file,
            admission,
            gate,
        } = listen::listener(name, options, mode, true)?;
        let wire = admission.wire;
        let serves_smb = smb_hook::serves_smb(options);
        let shared = Arc::new(AsyncShared {
            fd: register(socket, Interest::READABLE)?,
            gate,
            permit_after_accept: serves_smb,
            admission,
            closed: AtomicBool::new(false),
            closing: ::tokio::sync::Notify::new(),
        });
        let mut smb_sender = None;
        let accepting = match wire {
            Wire::Plain | Wire::Samba if !serves_smb => Accepting::Direct,
            _ => {
                let (sender, receiver) = ::tokio::sync::mpsc::channel(ADMITTED_AHEAD);
                smb_sender = serves_smb.then(|| sender.clone());
                let task = ::tokio::spawn(run_acceptor(shared.clone(), sender));
                Accepting::Eager {
                    admitted: ::tokio::sync::Mutex::new(receiver),
                    task,
                }
            }
        };
        let smb = match smb_sender {
            // The door runs on a thread of its own, outside the runtime.
            Some(sender) => smb_hook::open(
                &shared.admission.name,
                mode,
                options,
                shared.gate.clone(),
                move |c: Connection| sender.blocking_send(c).is_ok(),
            )?,
            None => None,
        };
        Ok(Self {
            shared,
            file,
            accepting,
            smb,
        })
    }

    /// Cancel safe: a client is either returned or still queued.
    async fn accept(&self) -> Result<Connection, Error> {
        match &self.accepting {
            Accepting::Direct => loop {
                if let Some(connection) = self.shared.accept_one().await? {
                    return Ok(connection);
                }
            },
            Accepting::Eager { admitted, .. } => admitted
                .lock()
                .await
                .recv()
                .await
                .ok_or(Error::ListenerClosed),
        }
    }

    fn name(&self) -> &PipeName {
        &self.shared.admission.name
    }

    fn endpoint(&self) -> &std::path::Path {
        self.file.path()
    }

    /// Stops accepting: once the clients already admitted are taken, every
    /// waiting and later `accept` fails with `ListenerClosed`, and new
    /// clients are refused (the listening socket is shut down, which also
    /// wakes the accepts waiting on it; the SMB door, if any, closes too).
    fn shutdown(&self) -> io::Result<()> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        shared.closing.notify_waiters();
        if let Some(gate) = &shared.gate {
            gate.close();
        }
        if let Some(door) = &self.smb {
            door.shutdown();
        }
        shared.fd.get_ref().shutdown(std::net::Shutdown::Both)
    }
}

async fn run_acceptor(shared: Arc<AsyncShared>, admitted: ::tokio::sync::mpsc::Sender<Connection>) {
    // Take a place in the queue before taking a client, so that a client is
    // never admitted with nowhere to go.
    while let Ok(place) = admitted.reserve().await {
        match shared.accept_one().await {
            Ok(Some(connection)) => place.send(connection),
            Ok(None) => {}
            Err(Error::ListenerClosed) => break,
            Err(err) => {
                ::tokio::time::sleep(accept::accept_failed(&shared.admission.name, &err)).await;
            }
        }
    }
}

impl Drop for AsyncListener {
    fn drop(&mut self) {
        if let Accepting::Eager { task, .. } = &self.accepting {
            task.abort();
        }
    }
}
