//! The blocking face on Windows: listeners and streams on overlapped
//! handles, each operation waited for on the calling thread.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use windows_sys::Win32::System::Pipes::GetNamedPipeInfo;

use crate::deadline::timed_out;
use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, Direction, End, ListenOptions, Operation, PipeMode};
use crate::peer::PeerIdentity;
use crate::sync::lock;

use super::closing::{disconnected, no_close_write, no_half_close, write_shut};
use super::connect::{ConnectPlan, Step, wait_for_instance};
use super::drain;
use super::instance::{Connection, PipeHandle};
use super::listen::ListenerCore;
use super::message::{self, FIRST_READ, Next, Receiver};
use super::overlapped::{self, OnDrop, Op, Outcome};
use super::win::{Event, last_error};

// ---------------------------------------------------------------------------
// Listening and connecting.

#[derive(Debug)]
pub(crate) struct Listener {
    core: ListenerCore,
}

impl Listener {
    pub(crate) fn bind(
        name: PipeName,
        options: &ListenOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        Ok(Self {
            core: ListenerCore::bind(name, options, mode)?,
        })
    }

    pub(crate) fn accept(&self) -> Result<Connection, Error> {
        self.core.accept()
    }

    pub(crate) fn shutdown(&self) -> io::Result<()> {
        self.core.shutdown();
        Ok(())
    }

    pub(crate) fn name(&self) -> &PipeName {
        self.core.name()
    }

    pub(crate) fn sddl(&self) -> &str {
        self.core.sddl()
    }
}

pub(crate) fn connect(
    name: PipeName,
    options: &ConnectOptions,
    mode: PipeMode,
) -> Result<Connection, Error> {
    let mut plan = ConnectPlan::new(name, options, mode)?;
    loop {
        match plan.step()? {
            Step::Connected(connection) => return Ok(connection),
            Step::Sleep(pause) => std::thread::sleep(pause),
            Step::WaitBusy(limit) => {
                if wait_for_instance(plan.wide_path(), limit).is_err() {
                    // The pipe went away under the wait: look again soon.
                    std::thread::sleep(limit.min(Duration::from_millis(10)));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What both stream types share.

/// The (in, out) buffer sizes of the pipe `pipe` is an end of.
pub(crate) fn buffer_sizes(pipe: &PipeHandle) -> io::Result<(usize, usize)> {
    let (mut out, mut inn) = (0u32, 0u32);
    // SAFETY: `pipe` is open; the out pointers are valid, the rest null.
    let ok = unsafe {
        GetNamedPipeInfo(
            pipe.raw(),
            std::ptr::null_mut(),
            &mut out,
            &mut inn,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok((inn as usize, out as usize))
}

/// A shutdown of one direction: a flag to look at without a system call,
/// and an event that interrupts the operations waiting in that direction.
#[derive(Debug)]
struct Shut {
    flag: AtomicBool,
    event: Event,
}

impl Shut {
    fn new() -> io::Result<Self> {
        Ok(Self {
            flag: AtomicBool::new(false),
            event: Event::manual()?,
        })
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.event.set();
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn event(&self) -> &Event {
        &self.event
    }
}

/// The parts of a connected pipe that do not depend on its mode.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `None` once disconnected: the handle closes when the last operation
    /// using it returns.
    pipe: Mutex<Option<Arc<PipeHandle>>>,
    /// Set by shutdowns; they interrupt the operations waiting on them.
    shut_read: Shut,
    shut_write: Shut,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    end: End,
    direction: Direction,
    mode: PipeMode,
    peer: PeerIdentity,
}

impl Endpoint {
    fn new(connection: Connection) -> io::Result<Self> {
        Ok(Self {
            pipe: Mutex::new(Some(connection.pipe)),
            shut_read: Shut::new()?,
            shut_write: Shut::new()?,
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
            end: connection.end,
            direction: connection.direction,
            mode: connection.mode,
            peer: connection.peer,
        })
    }

    fn may(&self, op: Operation) -> Result<(), Error> {
        self.direction.check(self.end, op)
    }

    /// The pipe, for one read; `None` once reads are shut down.
    fn for_reading(&self) -> Option<Arc<PipeHandle>> {
        if self.shut_read.is_set() {
            return None;
        }
        lock(&self.pipe).clone()
    }

    /// The pipe, for one write.
    fn for_writing(&self) -> io::Result<Arc<PipeHandle>> {
        if self.shut_write.is_set() {
            return Err(write_shut());
        }
        lock(&self.pipe).clone().ok_or_else(disconnected)
    }

    fn read(&self, pipe: &PipeHandle, buf: &mut [u8]) -> Outcome {
        let timeout = *lock(&self.read_timeout);
        overlapped::read(pipe.raw(), buf, Some(self.shut_read.event()), timeout)
    }

    fn write(&self, pipe: &PipeHandle, buf: &[u8]) -> Outcome {
        let timeout = *lock(&self.write_timeout);
        overlapped::write(pipe.raw(), buf, Some(self.shut_write.event()), timeout)
    }

    pub(crate) fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn direction(&self) -> Direction {
        self.direction
    }

    /// `Read` ends reads here; `Both` also ends writes and closes the handle
    /// (gracefully: the peer reads what was written, then end-of-file).
    /// `Write` alone has no Windows equivalent.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Read => self.shut_read.set(),
            Shutdown::Write => {
                return Err(match self.mode {
                    PipeMode::Byte => no_half_close(),
                    PipeMode::Message => no_close_write(),
                });
            }
            Shutdown::Both => {
                self.shut_read.set();
                self.shut_write.set();
                lock(&self.pipe).take();
            }
        }
        Ok(())
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *lock(&self.read_timeout) = timeout;
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *lock(&self.write_timeout) = timeout;
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*lock(&self.read_timeout))
    }

    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*lock(&self.write_timeout))
    }

    pub(crate) fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        buffer_sizes(&pipe)
    }

    pub(crate) fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.direction.writes(self.end) {
            return Ok(());
        }
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        drain::wait_for_drain(pipe, timeout)
    }
}

// ---------------------------------------------------------------------------
// Byte mode.

#[derive(Debug)]
pub(crate) struct ByteStream {
    endpoint: Endpoint,
}

impl ByteStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        Ok(Self {
            endpoint: Endpoint::new(connection)?,
        })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Read)?;
        if buf.is_empty() {
            // A zero-length ReadFile on a pipe waits for data: answer at once.
            return Ok(0);
        }
        let Some(pipe) = self.endpoint.for_reading() else {
            return Ok(0);
        };
        match self.endpoint.read(&pipe, buf) {
            Outcome::Done(n) | Outcome::MoreData(n) | Outcome::Interrupted(n) => Ok(n),
            Outcome::TimedOut(0) => Err(timed_out()),
            Outcome::TimedOut(n) => Ok(n),
            Outcome::Failed(err) if message::is_closed(&err) => Ok(0),
            Outcome::Failed(err) => Err(err),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Write)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let pipe = self.endpoint.for_writing()?;
        match self.endpoint.write(&pipe, buf) {
            Outcome::Done(n) | Outcome::MoreData(n) => Ok(n),
            Outcome::TimedOut(0) => Err(timed_out()),
            Outcome::TimedOut(n) | Outcome::Interrupted(n) if n > 0 => Ok(n),
            Outcome::TimedOut(_) | Outcome::Interrupted(_) => Err(write_shut()),
            Outcome::Failed(err) => Err(message::write_error(err)),
        }
    }
}

// ---------------------------------------------------------------------------
// Message mode.

#[derive(Debug)]
struct Reading {
    rx: Receiver,
    /// Where `recv_vec` reads a message before it knows its length.
    scratch: Vec<u8>,
}

#[derive(Debug, Default)]
struct Writing {
    /// A send's write, kept (and in flight) when a timeout interrupted it.
    op: Option<Op>,
    /// `close_write` was called.
    ended: bool,
}

#[derive(Debug)]
pub(crate) struct MessageStream {
    endpoint: Endpoint,
    reading: Mutex<Reading>,
    writing: Mutex<Writing>,
    max_message: usize,
    peer_max_message: u64,
    empty_ends: bool,
}

/// What ended a read that delivered no message.
fn read_stopped(rx: &mut Receiver, outcome: Outcome) -> Result<Option<usize>, Error> {
    match outcome {
        Outcome::TimedOut(_) => Err(Error::Io(timed_out())),
        // A shutdown of reads: the end, as on Unix.
        Outcome::Interrupted(_) => Ok(None),
        Outcome::Failed(err) => match rx.failed(err)? {
            Next::End => Ok(None),
            Next::Continue => unreachable!("a failed read does not continue"),
        },
        Outcome::Done(_) | Outcome::MoreData(_) => unreachable!("not a stop"),
    }
}

impl MessageStream {
    pub(crate) fn from_connection(connection: Connection) -> io::Result<Self> {
        let max_message = connection.max_message;
        let peer_max_message = connection.peer_max_message;
        let empty_ends = connection.empty_message_ends_stream;
        Ok(Self {
            endpoint: Endpoint::new(connection)?,
            reading: Mutex::new(Reading {
                rx: Receiver::new(max_message, empty_ends),
                scratch: Vec::new(),
            }),
            writing: Mutex::new(Writing::default()),
            max_message,
            peer_max_message,
            empty_ends,
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
        let mut writing = lock(&self.writing);
        self.flush_locked(&mut writing)?;
        if writing.ended {
            return Err(Error::Io(write_shut()));
        }
        message::check_send(message, self.peer_max_message, self.empty_ends)?;
        self.write_message(&mut writing, message)
    }

    /// Writes one message. Without a write timeout it is written from the
    /// caller's buffer; with one, from a copy, which stays in flight if the
    /// timeout passes so that the message is never torn.
    fn write_message(&self, writing: &mut Writing, message: &[u8]) -> Result<(), Error> {
        let pipe = self.endpoint.for_writing()?;
        let timeout = *lock(&self.endpoint.write_timeout);
        if timeout.is_none() {
            return match self.endpoint.write(&pipe, message) {
                Outcome::Done(_) => Ok(()),
                Outcome::Failed(err) => Err(Error::Io(message::write_error(err))),
                _ => Err(Error::Io(write_shut())),
            };
        }
        if writing.op.is_none() {
            writing.op = Some(Op::new(OnDrop::Finish)?);
        }
        let op = writing.op.as_mut().expect("just set");
        let buf = op.buffer_mut();
        buf.clear();
        buf.extend_from_slice(message);
        op.start_write(pipe).map_err(message::write_error)?;
        self.flush_locked(writing)
    }

    /// Waits for a write a timeout left in flight.
    fn flush_locked(&self, writing: &mut Writing) -> Result<(), Error> {
        let Some(op) = writing.op.as_mut().filter(|op| op.in_flight()) else {
            return Ok(());
        };
        let timeout = *lock(&self.endpoint.write_timeout);
        match op.wait(Some(self.endpoint.shut_write.event()), timeout)? {
            Some(Outcome::Done(_)) => Ok(()),
            Some(Outcome::Failed(err)) => Err(Error::Io(message::write_error(err))),
            Some(_) => Err(Error::Io(write_shut())),
            // Still in flight: it goes on, and is waited for next time.
            None if self.endpoint.shut_write.is_set() => Err(Error::Io(write_shut())),
            None => Err(Error::Io(timed_out())),
        }
    }

    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.flush_locked(&mut lock(&self.writing))
    }

    pub(crate) fn close_write(&self) -> Result<(), Error> {
        if !self.empty_ends {
            return Err(Error::Io(no_close_write()));
        }
        let mut writing = lock(&self.writing);
        self.flush_locked(&mut writing)?;
        if !writing.ended {
            self.write_message(&mut writing, &[])?;
            writing.ended = true;
        }
        Ok(())
    }

    pub(crate) fn recv(&self, out: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reading = lock(&self.reading);
        let rx = &mut reading.rx;
        if let Next::End = rx.check()? {
            return Ok(None);
        }
        let Some(pipe) = self.endpoint.for_reading() else {
            return Ok(None);
        };
        if rx.partial().is_none() {
            // Straight into `out` (a byte of our own when it is empty).
            let mut own = [0u8; 1];
            let into_own = out.is_empty();
            let target: &mut [u8] = if into_own { &mut own } else { &mut *out };
            match self.endpoint.read(&pipe, target) {
                Outcome::Done(n) => {
                    if let Next::End = rx.whole(n)? {
                        return Ok(None);
                    }
                    if !into_own || n == 0 {
                        return Ok(Some(n));
                    }
                    rx.begin(&own[..n], 0)?;
                }
                Outcome::MoreData(n) => {
                    let left = message::left_in_message(pipe.raw())?;
                    rx.begin(&target[..n], left)?;
                }
                stopped => return read_stopped(rx, stopped),
            }
        }
        if let Some(stopped) = self.fill(rx, &pipe)? {
            return read_stopped(rx, stopped);
        }
        rx.assembly.deliver_into(out)
    }

    pub(crate) fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reading = lock(&self.reading);
        let Reading { rx, scratch } = &mut *reading;
        if let Next::End = rx.check()? {
            return Ok(None);
        }
        let Some(pipe) = self.endpoint.for_reading() else {
            return Ok(None);
        };
        if rx.partial().is_none() {
            scratch.resize(FIRST_READ, 0);
            match self.endpoint.read(&pipe, scratch) {
                Outcome::Done(n) => {
                    if let Next::End = rx.whole(n)? {
                        return Ok(None);
                    }
                    return Ok(Some(scratch[..n].to_vec()));
                }
                Outcome::MoreData(n) => {
                    let left = message::left_in_message(pipe.raw())?;
                    rx.begin(&scratch[..n], left)?;
                }
                stopped => return read_stopped(rx, stopped).map(|_| None),
            }
        }
        if let Some(stopped) = self.fill(rx, &pipe)? {
            return read_stopped(rx, stopped).map(|_| None);
        }
        Ok(rx.assembly.deliver_vec())
    }

    /// Reads the rest of the message being assembled. `Some`: a read
    /// stopped first (the message stays, for the next receive).
    fn fill(&self, rx: &mut Receiver, pipe: &PipeHandle) -> Result<Option<Outcome>, Error> {
        loop {
            let outcome = match rx.assembly.partial.as_mut() {
                Some(partial) if !partial.is_complete() => {
                    let got = partial.got;
                    self.endpoint.read(pipe, &mut partial.data[got..])
                }
                _ => return Ok(None),
            };
            match outcome {
                Outcome::Done(n) => rx.advance(n, None)?,
                Outcome::MoreData(n) => {
                    let left = message::left_in_message(pipe.raw())?;
                    rx.advance(n, Some(left))?;
                }
                Outcome::Failed(err) if message::is_closed(&err) => return Err(rx.cut_short()),
                stopped => return Ok(Some(stopped)),
            }
        }
    }
}
