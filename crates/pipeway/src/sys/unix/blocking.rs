//! The blocking face on Unix: listeners and streams on blocking sockets.

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
use super::framing::{MessageReader, MessageWriter, RecordBuffer};
use super::halves::Halves;
use super::listen::{self, SocketFile};
use super::socket::{Socket, Wire};

// ---------------------------------------------------------------------------
// Listening.

/// The state the caller's `accept` and the eager acceptor thread share.
#[derive(Debug)]
struct Shared {
    socket: Socket,
    admission: Admission,
    gate: Option<Arc<InstanceGate>>,
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
        let permit = match &self.gate {
            Some(gate) => Some(gate.acquire_blocking().map_err(|_| Error::ListenerClosed)?),
            None => None,
        };
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
        Ok(match self.admission.admit(Socket::from_fd(fd)) {
            Admitted::Client(mut connection) => {
                connection.permit = permit;
                Some(*connection)
            }
            Admitted::Refused | Admitted::Gone => None,
        })
    }

    /// The framed wire's acceptor: admits clients as soon as an instance is
    /// free, as Windows connects a client to any instance waiting for one,
    /// whether or not the server has called `ConnectNamedPipe` yet. Without
    /// it a client would wait for its hello until the server's next accept.
    fn run_acceptor(&self) {
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.len() >= ADMITTED_AHEAD && !self.closed.load(Ordering::Acquire) {
                    queue = wait(&self.room, queue);
                }
            }
            match self.accept_one() {
                Ok(Some(connection)) => {
                    lock(&self.queue).push_back(connection);
                    self.arrived.notify_one();
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
    /// The eager acceptor (framed wire only).
    acceptor: Option<std::thread::JoinHandle<()>>,
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
        let shared = Arc::new(Shared {
            socket,
            gate: options.max_instances.map(InstanceGate::new),
            admission,
            closed: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            arrived: Condvar::new(),
            room: Condvar::new(),
        });
        let acceptor = match wire {
            Wire::Plain => None,
            Wire::Framed => {
                let shared = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name(format!("pipeway-accept {}", shared.admission.name))
                        .spawn(move || shared.run_acceptor())?,
                )
            }
        };
        Ok(Self {
            shared,
            file,
            acceptor,
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
            Wire::Plain => None,
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
        } = connection;
        (
            Self {
                socket,
                end,
                direction,
                halves: Halves::new(end, direction),
                peer,
                _permit: permit,
            },
            wire,
            peer_max_message,
            max_message,
        )
    }

    fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)
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
        self.socket.shutdown(how)?;
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
            Wire::Plain => 0,
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
            Wire::Plain => socket.recv(buf),
            Wire::Framed => lock(&self.records).read(buf, socket),
        };
        result.map_err(timed_out)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Write)?;
        let socket = &self.endpoint.socket;
        let result = match self.wire {
            Wire::Plain => socket.send(buf),
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
    reader: Mutex<MessageReader>,
    writer: Mutex<MessageWriter>,
    max_message: usize,
    peer_max_message: u64,
}

impl MessageStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let (endpoint, _, peer_max_message, max_message) = Endpoint::new(connection);
        let budget = endpoint.socket.record_budget()?;
        Ok(Self {
            reader: Mutex::new(MessageReader::new(max_message)),
            writer: Mutex::new(MessageWriter::new(peer_max_message, budget)),
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
        socket.shutdown(Shutdown::Write)?;
        Ok(())
    }
}
