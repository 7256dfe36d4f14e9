//! Message streams with tokio: what tokio's pipes do not do (whole
//! messages, `ERROR_MORE_DATA`, `BufferTooSmall`), with overlapped operations
//! whose completion wakes the task (`async_wait`). Cancel safe.

use std::future::{Future, poll_fn};
use std::io;
use std::net::Shutdown;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use ::tokio::sync::Notify;

use crate::error::Error;
use crate::negotiated::Negotiated;
use crate::options::Operation;
use crate::sync::lock;

use super::drain_on_blocking_thread;
use crate::sys::windows::closing::{disconnected, no_close_write, write_shut};
use crate::sys::windows::instance::{Connection, PipeHandle};
use crate::sys::windows::message::{self, FIRST_READ, Next, Receiver};
use crate::sys::windows::overlapped::{Canceller, OnDrop, Op, Outcome};

/// The ends of a message stream.
#[derive(Debug)]
pub(crate) struct MessageEndpoint {
    pipe: Mutex<Option<Arc<PipeHandle>>>,
    read_shut: AtomicBool,
    write_shut: AtomicBool,
    /// Wake receives, and sends, waiting when a shutdown comes.
    read_shut_notify: Notify,
    write_shut_notify: Notify,
    /// Cancels the receive operation, which may be in flight with no task
    /// waiting for it.
    read_cancel: Canceller,
    negotiated: Negotiated,
}

impl MessageEndpoint {
    fn pipe(&self) -> Option<Arc<PipeHandle>> {
        lock(&self.pipe).clone()
    }
}

impl crate::sys::AsyncEndpoint for MessageEndpoint {
    /// Waits until the peer has read every message sent, a send still in
    /// flight included (the pipe counts it as written).
    async fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.negotiated.direction.writes(self.negotiated.end) {
            return Ok(());
        }
        let pipe = self.pipe().ok_or_else(disconnected)?;
        drain_on_blocking_thread(pipe, timeout).await
    }
}

impl crate::sys::Endpoint for MessageEndpoint {
    fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Write {
            return Err(no_close_write());
        }
        self.read_shut.store(true, Ordering::Release);
        if let Some(pipe) = self.pipe() {
            self.read_cancel.cancel(&pipe);
        }
        self.read_shut_notify.notify_waiters();
        if how == Shutdown::Both {
            self.write_shut.store(true, Ordering::Release);
            lock(&self.pipe).take();
            self.write_shut_notify.notify_waiters();
        }
        Ok(())
    }

    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        let pipe = self.pipe().ok_or_else(disconnected)?;
        crate::sys::windows::identity::impersonate(pipe.raw())
    }

    fn info(&self) -> io::Result<crate::PipeInfo> {
        let pipe = self.pipe().ok_or_else(disconnected)?;
        crate::sys::windows::connect::info_of(pipe.raw(), &self.negotiated)
    }

    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        self.pipe()
            .map_or(std::ptr::null_mut(), |pipe| pipe.raw() as _)
    }
}

#[derive(Debug)]
struct AsyncReading {
    rx: Receiver,
    /// The receive operation; it may stay in flight when a receive is
    /// dropped, and the next receive takes its result.
    op: Op,
}

#[derive(Debug)]
struct AsyncWriting {
    /// The send operation; a dropped send leaves it in flight, and the next
    /// send waits for it first, so messages never interleave or tear.
    op: Op,
    ended: bool,
}

#[derive(Debug)]
pub(crate) struct AsyncMessageStream {
    endpoint: MessageEndpoint,
    reading: ::tokio::sync::Mutex<AsyncReading>,
    writing: ::tokio::sync::Mutex<AsyncWriting>,
    empty_ends: bool,
}

/// Why a wait for an operation stopped early.
struct ShutDown;

/// Waits for `op` to complete, or for a shutdown that `stopped` reports.
async fn complete(
    op: &Op,
    shut: &Notify,
    stopped: impl Fn() -> bool,
) -> Result<Result<(), ShutDown>, Error> {
    let notified = shut.notified();
    let mut notified = pin!(notified);
    notified.as_mut().enable();
    if stopped() {
        return Ok(Err(ShutDown));
    }
    poll_fn(|cx| {
        if notified.as_mut().poll(cx).is_ready() && stopped() {
            return Poll::Ready(Ok(Err(ShutDown)));
        }
        op.poll_complete(cx)
            .map(|done| done.map(Ok).map_err(Error::Io))
    })
    .await
}

impl AsyncMessageStream {
    fn write_shut(&self) -> bool {
        self.endpoint.write_shut.load(Ordering::Acquire)
    }

    fn start_write(&self, writing: &mut AsyncWriting, message: &[u8]) -> Result<(), Error> {
        let pipe = self.endpoint.pipe().ok_or_else(disconnected)?;
        let buf = writing.op.buffer_mut();
        buf.clear();
        buf.extend_from_slice(message);
        writing
            .op
            .start_write(pipe)
            .map_err(|err| Error::Io(message::write_error(err)))
    }

    /// Waits for the send in flight, if any.
    async fn flush_locked(&self, writing: &mut AsyncWriting) -> Result<(), Error> {
        if !writing.op.in_flight() {
            return Ok(());
        }
        if complete(&writing.op, &self.endpoint.write_shut_notify, || {
            self.write_shut()
        })
        .await?
        .is_err()
        {
            // Disconnected: the write finishes on its own (see `OnDrop::Finish`).
            return Err(Error::Io(write_shut()));
        }
        match writing.op.try_finish() {
            Some(Outcome::Done(_)) | None => Ok(()),
            Some(Outcome::Failed(err)) => Err(Error::Io(message::write_error(err))),
            Some(_) => Err(Error::Io(write_shut())),
        }
    }

    fn read_shut(&self) -> bool {
        self.endpoint.read_shut.load(Ordering::Acquire)
    }

    /// Assembles the next message in `rx.partial`. `false`: the stream
    /// ended. Cancel safe: the operation in flight and the bytes already
    /// read stay in `reading` for the next call.
    async fn next_message(&self, reading: &mut AsyncReading) -> Result<bool, Error> {
        let AsyncReading { rx, op } = reading;
        loop {
            if rx.partial().is_some_and(|p| p.is_complete()) {
                return Ok(true);
            }
            if let Next::End = rx.check()? {
                return Ok(false);
            }
            if self.read_shut() {
                return Ok(false);
            }
            if !op.in_flight() {
                let Some(pipe) = self.endpoint.pipe() else {
                    return Ok(false);
                };
                let len = match rx.partial() {
                    None => FIRST_READ,
                    Some(p) => (p.data.len() - p.got).clamp(1, FIRST_READ),
                };
                if let Err(err) = op.start_read(pipe, 0, len) {
                    match rx.failed(err)? {
                        Next::End => return Ok(false),
                        Next::Continue => continue,
                    }
                }
            }
            if complete(op, &self.endpoint.read_shut_notify, || self.read_shut())
                .await?
                .is_err()
            {
                op.cancel();
                return Ok(false);
            }
            let Some(outcome) = op.try_finish() else {
                continue;
            };
            let assembling = rx.partial().is_some();
            match outcome {
                Outcome::Done(n) if assembling => {
                    let bytes = op.buffer_mut()[..n].to_vec();
                    rx.append(&bytes, None)?;
                }
                Outcome::Done(n) => {
                    if let Next::End = rx.whole(n)? {
                        return Ok(false);
                    }
                    let message = op.buffer_mut()[..n].to_vec();
                    rx.set_whole(message);
                }
                Outcome::MoreData(n) => {
                    let pipe = self.endpoint.pipe().ok_or_else(disconnected)?;
                    let left = message::left_in_message(pipe.raw())?;
                    let bytes = op.buffer_mut()[..n].to_vec();
                    if assembling {
                        rx.append(&bytes, Some(left))?;
                    } else {
                        rx.begin(&bytes, left)?;
                    }
                }
                Outcome::Interrupted(_) | Outcome::TimedOut(_) => {
                    if self.read_shut() {
                        return Ok(false);
                    }
                }
                Outcome::Failed(err) => match rx.failed(err)? {
                    Next::End => return Ok(false),
                    Next::Continue => {}
                },
            }
        }
    }
}

impl crate::sys::AsyncMessageStream for AsyncMessageStream {
    type Connection = Connection;
    type Endpoint = MessageEndpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let reader = Op::new(OnDrop::Cancel)?;
        let read_cancel = reader.canceller();
        let max = connection.negotiated.limits.max;
        Ok(Self {
            endpoint: MessageEndpoint {
                pipe: Mutex::new(Some(connection.pipe)),
                read_shut: AtomicBool::new(false),
                write_shut: AtomicBool::new(false),
                read_shut_notify: Notify::new(),
                write_shut_notify: Notify::new(),
                read_cancel,
                negotiated: connection.negotiated,
            },
            reading: ::tokio::sync::Mutex::new(AsyncReading {
                rx: Receiver::new(max, connection.empty_message_ends_stream),
                op: reader,
            }),
            writing: ::tokio::sync::Mutex::new(AsyncWriting {
                op: Op::new(OnDrop::Finish)?,
                ended: false,
            }),
            empty_ends: connection.empty_message_ends_stream,
        })
    }

    fn endpoint(&self) -> &MessageEndpoint {
        &self.endpoint
    }

    async fn send(&self, message: &[u8]) -> Result<(), Error> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Write)?;
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await?;
        if writing.ended || self.write_shut() {
            return Err(Error::Io(write_shut()));
        }
        let peer_max = self.endpoint.negotiated.limits.peer_max;
        message::check_send(message, peer_max, self.empty_ends)?;
        self.start_write(&mut writing, message)?;
        self.flush_locked(&mut writing).await
    }

    async fn flush(&self) -> Result<(), Error> {
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await
    }

    async fn close_write(&self) -> Result<(), Error> {
        if !self.empty_ends {
            return Err(Error::Io(no_close_write()));
        }
        let mut writing = self.writing.lock().await;
        self.flush_locked(&mut writing).await?;
        if !writing.ended {
            self.start_write(&mut writing, &[])?;
            self.flush_locked(&mut writing).await?;
            writing.ended = true;
        }
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Read)?;
        let mut reading = self.reading.lock().await;
        if !self.next_message(&mut reading).await? {
            return Ok(None);
        }
        reading.rx.assembly.deliver_into(buf)
    }

    async fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        let endpoint = &self.endpoint;
        endpoint.negotiated.may(Operation::Read)?;
        let mut reading = self.reading.lock().await;
        if !self.next_message(&mut reading).await? {
            return Ok(None);
        }
        Ok(reading.rx.assembly.deliver_vec())
    }
}
