//! Message streams on overlapped handles: whole messages, `ERROR_MORE_DATA`
//! reassembly, and sends that a timeout never tears.

use std::io;
use std::sync::Mutex;

use crate::deadline::timed_out;
use crate::error::Error;
use crate::options::Operation;
use crate::sync::lock;

use super::endpoint::Endpoint;
use crate::sys::windows::closing::{no_close_write, write_shut};
use crate::sys::windows::instance::{Connection, PipeHandle};
use crate::sys::windows::message::{self, FIRST_READ, Next, Receiver};
use crate::sys::windows::overlapped::{OnDrop, Op, Outcome};

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

impl crate::sys::BlockingMessageStream for MessageStream {
    type Connection = Connection;
    type Endpoint = Endpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let limits = connection.negotiated.limits;
        let empty_ends = connection.empty_message_ends_stream;
        Ok(Self {
            endpoint: Endpoint::new(connection)?,
            reading: Mutex::new(Reading {
                rx: Receiver::new(limits.max, empty_ends),
                scratch: Vec::new(),
            }),
            writing: Mutex::new(Writing::default()),
            empty_ends,
        })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.endpoint.negotiated.may(Operation::Write)?;
        let mut writing = lock(&self.writing);
        self.flush_locked(&mut writing)?;
        if writing.ended {
            return Err(Error::Io(write_shut()));
        }
        let peer_max = self.endpoint.negotiated.limits.peer_max;
        message::check_send(message, peer_max, self.empty_ends)?;
        self.write_message(&mut writing, message)
    }

    fn flush(&self) -> Result<(), Error> {
        self.flush_locked(&mut lock(&self.writing))
    }

    fn close_write(&self) -> Result<(), Error> {
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

    fn recv(&self, out: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.negotiated.may(Operation::Read)?;
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

    fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.negotiated.may(Operation::Read)?;
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
}
