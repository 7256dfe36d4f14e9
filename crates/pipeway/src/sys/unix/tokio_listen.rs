//! The tokio face's listener on Unix: accepts from the listening socket
//! inside `AsyncFd` (directly on the plain wire, through an admitting task on
//! the framed wire or when the listener also serves SMB clients), with the
//! shared admission and instance rules the blocking face uses.

use std::io;
use std::sync::Arc;

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use rustix::net::SocketFlags;

use crate::accept::{self, ADMITTED_AHEAD, AcceptRetry, Next};
use crate::error::Error;
use crate::gate::{InstanceGate, Permit};
use crate::name::PipeName;
use crate::options::{ListenOptions, PipeMode};

use super::admit::{Admission, Admitted, Connection};
use super::listen::{self, SocketFile};
use super::socket::{Socket, Wire};
use super::tokio::register;

#[derive(Debug)]
struct AsyncShared {
    fd: AsyncFd<Socket>,
    admission: Admission,
    gate: Option<Arc<InstanceGate>>,
    /// Take an instance after accepting a client (see `smb_hook::serves_smb`).
    permit_after_accept: bool,
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

    /// Takes one client off the kernel's queue and admits it. `None`: it was
    /// refused (and logged) or left. Cancel safe: a client is either
    /// returned or still queued in the kernel.
    async fn accept_one(&self) -> Result<Option<Connection>, Error> {
        let mut permit = None;
        if !self.permit_after_accept {
            permit = self.permit().await?;
        }
        let mut retry = AcceptRetry::new();
        let fd = loop {
            let mut ready = self.fd.readable().await?;
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
                Ok(Err(err)) => match retry.failed(&self.admission.name, &err) {
                    Next::Retry => {}
                    Next::Pause(pause) => ::tokio::time::sleep(pause).await,
                    Next::Fail => return Err(Error::Io(err)),
                },
                Err(_would_block) => {}
            }
        };
        if self.permit_after_accept {
            permit = self.permit().await?;
        }
        Ok(match self.admission.admit(Socket::from_fd(fd)) {
            Admitted::Client(mut connection) => {
                connection.permit = permit;
                Some(*connection)
            }
            Admitted::Refused | Admitted::Gone => None,
        })
    }
}

#[derive(Debug)]
enum Accepting {
    /// The plain wire: `accept` takes clients straight from the kernel.
    Direct,
    /// The framed wire: a task admits clients while instances are free (see
    /// the blocking face's acceptor for why) and queues them here.
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
    smb: Option<super::smb_hook::Door>,
}

impl AsyncListener {
    pub(crate) fn bind(
        name: PipeName,
        options: &ListenOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        let admission = Admission::new(name, mode, options)?;
        let (socket, file) = listen::bind(
            &admission.name,
            admission.wire,
            options.first_instance,
            super::access::file_permissions(&admission.access),
            true,
        )?;
        let wire = admission.wire;
        let serves_smb = super::smb_hook::serves_smb(options);
        let shared = Arc::new(AsyncShared {
            fd: register(socket, Interest::READABLE)?,
            gate: options.max_instances.map(InstanceGate::new),
            permit_after_accept: serves_smb,
            admission,
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
            Some(sender) => super::smb_hook::open(
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
    pub(crate) async fn accept(&self) -> Result<Connection, Error> {
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

    pub(crate) fn name(&self) -> &PipeName {
        &self.shared.admission.name
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.file.path()
    }

    /// The SMB socket's path, when the listener serves SMB clients.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn smb_path(&self) -> Option<&std::path::Path> {
        self.smb.as_ref().map(|door| door.path())
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
