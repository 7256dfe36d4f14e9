//! The blocking face on Unix: listeners and streams on blocking sockets.

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use crate::accept::{self, ADMITTED_AHEAD, AcceptRetry, Next};
use crate::error::Error;
use crate::gate::{InstanceGate, Permit};
use crate::name::PipeName;
use crate::options::{ConnectOptions, Direction, End, ListenOptions, Operation, PipeMode};
use crate::peer::PeerIdentity;
use crate::sync::{lock, wait};

use super::admit::{Admission, Admitted, Connection};
use super::connect::{ConnectPlan, HelloResult, Step};
use super::framing::RecordBuffer;
use super::halves::Halves;
use super::linger::SmbEnd;
use super::listen::{self, SocketFile};
use super::message_wire::{MessageIn, MessageOut};
use super::socket::{Socket, Wire};

// ---------------------------------------------------------------------------
// Listening.

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
        let permit = early.or(late);
        Ok(match self.admission.admit(Socket::from_fd(fd)) {
            Admitted::Client(mut connection) => {
                connection.permit = permit;
                Some(*connection)
            }
            Admitted::Refused | Admitted::Gone => None,
        })
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
    smb: Option<super::smb_hook::Door>,
}

impl Listener {
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
            false,
        )?;
        let wire = admission.wire;
        let serves_smb = super::smb_hook::serves_smb(options);
        let shared = Arc::new(Shared {
            socket,
            gate: options.max_instances.map(InstanceGate::new),
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
        let smb = super::smb_hook::open(
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
    pub(crate) fn accept(&self) -> Result<Connection, Error> {
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
    pub(crate) fn shutdown(&self) -> io::Result<()> {
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

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = self.shutdown();
            let _ = acceptor.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Connecting.

pub(crate) fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    let mut plan = ConnectPlan::new(name, options, mode)?;
    loop {
        let (socket, wire, peer) = loop {
            match plan.step()? {
                Step::Connected(socket, wire, peer) => break (socket, wire, peer),
                Step::Sleep(pause) => std::thread::sleep(pause),
            }
        };
        let hello = match wire {
            Wire::Plain | Wire::Samba => None,
            Wire::Framed => match wait_for_hello(&mut plan, &socket)? {
                Some(HelloResult::Hello(hello)) => Some(hello),
                Some(HelloResult::Retry) => continue,
                None => return Err(plan.busy()),
            },
        };
        socket.set_nonblocking(false)?;
        return plan.finish(socket, wire, peer, hello);
    }
}

/// Waits, without spinning, for the server to admit this client. `None`: the
/// deadline passed first (every instance stayed busy).
fn wait_for_hello(plan: &mut ConnectPlan, socket: &Socket) -> Result<Option<HelloResult>, Error> {
    loop {
        if let Some(result) = plan.try_read_hello(socket)? {
            return Ok(Some(result));
        }
        let timeout = match plan.remaining() {
            Some(Duration::ZERO) => return Ok(None),
            Some(remaining) => {
                Some(rustix::event::Timespec::try_from(remaining).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "connect timeout out of range")
                })?)
            }
            None => None,
        };
        let mut fds = [PollFd::new(socket, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(err) => return Err(Error::Io(err.into())),
        }
    }
}

// ---------------------------------------------------------------------------
// What both stream types share.

/// A blocking socket's timeout shows as `WouldBlock`; callers asked for a
/// deadline, so they get `TimedOut`.
fn timed_out(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::WouldBlock {
        crate::deadline::timed_out()
    } else {
        err
    }
}

fn timed_out_error(err: Error) -> Error {
    match err {
        Error::Io(err) => Error::Io(timed_out(err)),
        other => other,
    }
}

/// The parts of a connected pipe that do not depend on its mode.
#[derive(Debug)]
pub(crate) struct Endpoint {
    socket: Socket,
    end: End,
    direction: Direction,
    halves: Halves,
    peer: PeerIdentity,
    _permit: Option<Permit>,
    /// An SMB client's delivery at close (see `linger`).
    smb: Option<SmbEnd>,
}

impl Endpoint {
    fn new(connection: Connection) -> (Self, Wire, u64, usize) {
        let Connection {
            socket,
            wire,
            end,
            direction,
            peer,
            peer_max_message,
            max_message,
            permit,
            smb,
        } = connection;
        (
            Self {
                socket,
                end,
                direction,
                halves: Halves::new(end, direction),
                peer,
                _permit: permit,
                smb,
            },
            wire,
            peer_max_message,
            max_message,
        )
    }

    fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)?;
        match &self.smb {
            Some(smb) if op == Operation::Write => smb.may_write(),
            _ => Ok(()),
        }
    }

    pub(crate) fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The socket's descriptor, for the shared-memory channel's set-up.
    pub(crate) fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }

    pub(crate) fn direction(&self) -> Direction {
        self.direction
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.smb {
            Some(smb) => smb.shutdown(&self.socket, how)?,
            None => self.socket.shutdown(how)?,
        }
        self.halves.shut(how);
        Ok(())
    }

    /// A send's error, with a broken pipe explained (see [`Halves::explain`]).
    fn explain(&self, err: io::Error) -> Error {
        self.halves.explain(timed_out(err), &self.socket)
    }

    pub(crate) fn wait_for_hangup(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.socket.wait_for_hangup(timeout)
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }

    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.socket.read_timeout()
    }

    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.socket.write_timeout()
    }

    pub(crate) fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        Ok((
            self.socket.recv_buffer_size()?,
            self.socket.send_buffer_size()?,
        ))
    }

    pub(crate) fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_micros(100);
        while self.socket.unread_by_peer()? > 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(crate::deadline::not_drained());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Byte mode.

#[derive(Debug)]
pub(crate) struct ByteStream {
    endpoint: Endpoint,
    wire: Wire,
    /// The framed wire's partly read record; unused on the plain wire.
    records: Mutex<RecordBuffer>,
    budget: usize,
}

impl ByteStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let (endpoint, wire, _, _) = Endpoint::new(connection);
        let budget = match wire {
            Wire::Plain | Wire::Samba => 0,
            Wire::Framed => endpoint.socket.record_budget()?,
        };
        Ok(Self {
            endpoint,
            wire,
            records: Mutex::new(RecordBuffer::default()),
            budget,
        })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        let result = match self.wire {
            Wire::Plain | Wire::Samba => socket.recv(buf),
            Wire::Framed => lock(&self.records).read(buf, socket),
        };
        result.map_err(timed_out)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Write)?;
        let socket = &self.endpoint.socket;
        let result = match self.wire {
            Wire::Plain | Wire::Samba => socket.send(buf),
            Wire::Framed => RecordBuffer::write(buf, self.budget, socket),
        };
        result.map_err(|err| self.endpoint.explain(err).into())
    }
}

// ---------------------------------------------------------------------------
// Message mode.

#[derive(Debug)]
pub(crate) struct MessageStream {
    endpoint: Endpoint,
    reader: Mutex<MessageIn>,
    writer: Mutex<MessageOut>,
    max_message: usize,
    peer_max_message: u64,
}

impl MessageStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let (endpoint, wire, peer_max_message, max_message) = Endpoint::new(connection);
        let budget = endpoint.socket.record_budget()?;
        Ok(Self {
            reader: Mutex::new(MessageIn::new(wire, max_message)),
            writer: Mutex::new(MessageOut::new(wire, peer_max_message, budget)),
            endpoint,
            max_message,
            peer_max_message,
        })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message
    }

    pub(crate) fn peer_max_message_size(&self) -> u64 {
        self.peer_max_message
    }

    pub(crate) fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.endpoint.may(Operation::Write)?;
        let socket = &self.endpoint.socket;
        // One sender at a time, for the whole message: records never interleave.
        let mut writer = lock(&self.writer);
        writer
            .flush(socket)
            .map_err(|err| self.endpoint.explain(err))?;
        writer.check(message)?;
        let mut progress = None;
        writer.send(message, &mut progress, socket).map_err(|err| {
            // A timeout part way: the rest goes out before the next message.
            writer.keep_rest(message, progress);
            self.endpoint.explain(err)
        })
    }

    pub(crate) fn flush(&self) -> Result<(), Error> {
        let socket = &self.endpoint.socket;
        lock(&self.writer)
            .flush(socket)
            .map_err(|e| Error::Io(timed_out(e)))
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        let mut reader = lock(&self.reader);
        reader.recv(buf, socket).map_err(|err| {
            // The caller may come back with another buffer: keep what arrived.
            reader.detach(buf);
            timed_out_error(err)
        })
    }

    pub(crate) fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        lock(&self.reader).recv_vec(socket).map_err(timed_out_error)
    }

    /// Ends this end's stream of messages, after anything an interrupted send
    /// left (go-winio's `CloseWrite`).
    pub(crate) fn close_write(&self) -> Result<(), Error> {
        let socket = &self.endpoint.socket;
        let mut writer = lock(&self.writer);
        writer.flush(socket).map_err(timed_out)?;
        self.endpoint.shutdown(Shutdown::Write)?;
        Ok(())
    }
}
