//! An open pipe on a remote host: CREATE, READ, WRITE, FSCTL_PIPE_TRANSCEIVE
//! and CLOSE, each written once as a poll function that the blocking and
//! the async faces both run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

mod transact;

pub use transact::Transact;

use super::SAMBA_MAX_MESSAGE;
use super::conn::{RequestHead, Ticket};
use super::error::Error;
use super::session::Session;
use super::wait::{Wait, block_on};
use super::wire::header::Command;
use super::wire::messages::{
    FSCTL_PIPE_WAIT, FileId, IMPERSONATION_IDENTIFICATION, NO_FILE, PIPE_ACCESS, close_request,
    create_request, decode_create_response, decode_read_response, decode_write_response,
    ioctl_request_head, pipe_wait_input, read_request, write_request_head,
};
use super::wire::status;

/// How the client reads the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// A byte stream: data is data, whatever the pipe's type.
    Bytes,
    /// Whole messages: a READ answered STATUS_BUFFER_OVERFLOW continues
    /// the same message.
    Messages,
}

/// The most one READ asks for in message mode, and the least in byte mode.
const READ_CHUNK: usize = 64 * 1024;
/// How long an open waits for the host to answer one CREATE.
const ANSWER_TIME: Duration = Duration::from_secs(5);

/// The most one READ or WRITE carries.
const MAX_IO: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct Reads {
    outstanding: Option<Ticket>,
    bytes: Vec<u8>,
    pos: usize,
    partial: Vec<u8>,
    messages: VecDeque<Vec<u8>>,
    eof: bool,
}

#[derive(Debug, Default)]
struct Writes {
    in_flight: Option<(Ticket, usize)>,
}

/// An open pipe.
#[derive(Debug)]
pub struct Pipe {
    session: Arc<Session>,
    file_id: FileId,
    name: String,
    mode: ReadMode,
    reads: Mutex<Reads>,
    writes: Mutex<Writes>,
    closed: AtomicBool,
    read_size: std::sync::atomic::AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pipe {
    /// Opens pipe `name` on `session`'s host, waiting until `timeout` for
    /// it to exist and to have a free instance (WaitNamedPipe's rule).
    pub fn open(
        session: Arc<Session>,
        name: &str,
        mode: ReadMode,
        timeout: Duration,
    ) -> Result<Pipe, Error> {
        let start = Instant::now();
        let deadline = start + timeout;
        let host = session.host().to_owned();
        let mut pause = Duration::from_millis(1);
        loop {
            let resp = session.request(
                RequestHead::new(Command::Create, session.tree_id),
                &[&create_request(
                    name,
                    IMPERSONATION_IDENTIFICATION,
                    PIPE_ACCESS,
                )],
                // The wait is for the pipe: a slow answer from a busy host is not
                // a missing pipe, so each CREATE gets ANSWER_TIME at least.
                Some(deadline.max(Instant::now() + ANSWER_TIME)),
            )?;
            let code = resp.status();
            let busy = match code {
                status::SUCCESS => {
                    let file_id = decode_create_response(&resp.message)
                        .map_err(|e| Error::from_decode(&host, e))?;
                    return Ok(Pipe {
                        session,
                        file_id,
                        name: name.to_owned(),
                        mode,
                        reads: Mutex::default(),
                        writes: Mutex::default(),
                        closed: AtomicBool::new(false),
                        read_size: READ_CHUNK.into(),
                    });
                }
                status::OBJECT_NAME_NOT_FOUND
                | status::OBJECT_PATH_NOT_FOUND
                | status::CONNECTION_REFUSED => false,
                status::PIPE_NOT_AVAILABLE | status::PIPE_BUSY | status::INSTANCE_NOT_AVAILABLE => {
                    true
                }
                status::ACCESS_DENIED => {
                    return Err(Error::AccessDenied {
                        host,
                        what: format!(r"pipe \pipe\{name}"),
                        status: status::name(code),
                    });
                }
                other => return Err(Error::from_status(&host, format!("CREATE {name}"), other)),
            };
            let now = Instant::now();
            if now >= deadline {
                let waited = now - start;
                let pipe = name.to_owned();
                return Err(if busy {
                    Error::Busy { host, pipe, waited }
                } else {
                    Error::NotFound { host, pipe, waited }
                });
            }
            if busy && !session.no_pipe_wait.load(Ordering::Relaxed) {
                Self::pipe_wait(&session, name, deadline - now)?;
                continue;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// FSCTL_PIPE_WAIT, where the host has it. Samba answers
    /// STATUS_FS_DRIVER_REQUIRED; the session remembers that, and the open
    /// goes back to retrying CREATE.
    fn pipe_wait(session: &Session, name: &str, left: Duration) -> Result<(), Error> {
        let input = pipe_wait_input(name, left.as_nanos().min(i64::MAX as u128) as i64 / 100);
        let head = ioctl_request_head(FSCTL_PIPE_WAIT, &NO_FILE, input.len() as u32, 0);
        let resp = session.request(
            RequestHead::new(Command::Ioctl, session.tree_id),
            &[&head, &input],
            Some(Instant::now() + left + Duration::from_secs(1)),
        )?;
        match resp.status() {
            status::SUCCESS | status::IO_TIMEOUT | status::OBJECT_NAME_NOT_FOUND => Ok(()),
            _ => {
                session.no_pipe_wait.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Sets how much each READ, and a transact's first reply, asks for
    /// (default 64 KiB; in byte mode a larger buffer asks for more).
    ///
    /// A Windows host answers a READ shorter than the message
    /// STATUS_BUFFER_OVERFLOW and the next READ continues the message, which
    /// the client puts back together. Samba does that for a transact's
    /// reply but never for a READ: there a READ shorter than the message
    /// splits it. Samba's messages are at most 65,535 bytes, so the default
    /// always holds a whole one.
    pub fn set_read_size(&self, bytes: usize) {
        self.read_size.store(bytes.max(1), Ordering::Relaxed);
    }

    /// The session the pipe lives on.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The pipe's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn host(&self) -> &str {
        self.session.host()
    }

    fn closed_error(&self) -> Error {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!(r"pipe \\{}\pipe\{} is closed", self.host(), self.name),
        ))
    }

    // ---- reading ---------------------------------------------------------

    /// Makes sure `reads` holds data (byte mode), a whole message (message
    /// mode), or the end, issuing and waiting for READs as needed. A READ
    /// the server holds for lack of data stays in flight across timeouts
    /// and cancelled futures, so nothing that arrives is lost.
    fn poll_fill(
        &self,
        r: &mut Reads,
        want: usize,
        wait: &mut Wait<'_, '_>,
    ) -> Poll<Result<(), Error>> {
        loop {
            let ready = match self.mode {
                ReadMode::Bytes => r.pos < r.bytes.len(),
                ReadMode::Messages => !r.messages.is_empty(),
            };
            if ready || r.eof {
                return Poll::Ready(Ok(()));
            }
            if self.closed.load(Ordering::Acquire) {
                return Poll::Ready(Err(self.closed_error()));
            }
            if r.outstanding.is_none() {
                let size = self.read_size.load(Ordering::Relaxed);
                let len = match self.mode {
                    ReadMode::Bytes => want.max(size),
                    ReadMode::Messages => size,
                };
                let len = self.io_limit(len, self.session.info.max_read);
                let head = RequestHead::new(Command::Read, self.session.tree_id).payload(len);
                ready!(wait.reserve(&self.session.shared, self.charge(head)))?;
                let (ticket, _) = self.session.shared.submit(
                    head,
                    &[&read_request(&self.file_id, len as u32)],
                    false,
                )?;
                r.outstanding = Some(ticket);
            }
            let ticket = r.outstanding.as_mut().expect("just set");
            match ready!(wait.response(ticket)) {
                Err(Error::TimedOut) => return Poll::Ready(Err(Error::TimedOut)),
                outcome => {
                    r.outstanding = None;
                    self.absorb(r, outcome)?;
                }
            }
        }
    }

    /// Takes one READ's outcome into `reads`.
    fn absorb(
        &self,
        r: &mut Reads,
        outcome: Result<super::conn::slot::Response, Error>,
    ) -> Result<(), Error> {
        let resp = outcome?;
        tracing::trace!(status = %status::name(resp.status()), len = resp.message.len(), "READ");
        match resp.status() {
            code @ (status::SUCCESS | status::BUFFER_OVERFLOW) => {
                let data = decode_read_response(&resp.message)
                    .map_err(|e| Error::from_decode(self.host(), e))?;
                match self.mode {
                    ReadMode::Bytes => {
                        if r.pos == r.bytes.len() {
                            r.bytes.clear();
                            r.pos = 0;
                        }
                        r.bytes.extend_from_slice(data);
                    }
                    ReadMode::Messages => {
                        r.partial.extend_from_slice(data);
                        if code == status::SUCCESS {
                            r.messages.push_back(std::mem::take(&mut r.partial));
                        }
                    }
                }
                Ok(())
            }
            status::CANCELLED => Ok(()),
            code if status::is_pipe_end(code) => {
                r.eof = true;
                Ok(())
            }
            code => Err(Error::from_status(
                self.host(),
                format!("READ {}", self.name),
                code,
            )),
        }
    }

    fn io_limit(&self, len: usize, host_max: u32) -> usize {
        let limit = if self.session.large_mtu {
            (host_max as usize).min(MAX_IO)
        } else {
            READ_CHUNK.min(host_max as usize)
        };
        len.clamp(1, limit.max(1))
    }

    fn charge(&self, head: RequestHead) -> u16 {
        if self.session.large_mtu {
            head.credit_charge
        } else {
            1
        }
    }

    /// Reads bytes into `buf`; `Ok(0)` at the end of the pipe.
    pub fn poll_read(&self, buf: &mut [u8], wait: &mut Wait<'_, '_>) -> Poll<Result<usize, Error>> {
        let mut r = lock(&self.reads);
        ready!(self.poll_fill(&mut r, buf.len(), wait))?;
        let avail = &r.bytes[r.pos..];
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        r.pos += n;
        Poll::Ready(Ok(n))
    }

    /// Blocking [`poll_read`](Self::poll_read) until `deadline`.
    pub fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, Error> {
        block_on(deadline, |w| self.poll_read(buf, w))
    }

    /// The next whole message; `None` at the end of the pipe.
    pub fn poll_recv(&self, wait: &mut Wait<'_, '_>) -> Poll<Result<Option<Vec<u8>>, Error>> {
        let mut r = lock(&self.reads);
        ready!(self.poll_fill(&mut r, READ_CHUNK, wait))?;
        Poll::Ready(Ok(r.messages.pop_front()))
    }

    /// The length of the next message, waiting for it; `None` at the end.
    pub fn poll_peek_len(&self, wait: &mut Wait<'_, '_>) -> Poll<Result<Option<usize>, Error>> {
        let mut r = lock(&self.reads);
        ready!(self.poll_fill(&mut r, READ_CHUNK, wait))?;
        Poll::Ready(Ok(r.messages.front().map(Vec::len)))
    }

    /// Blocking [`poll_recv`](Self::poll_recv) until `deadline`.
    pub fn recv(&self, deadline: Option<Instant>) -> Result<Option<Vec<u8>>, Error> {
        block_on(deadline, |w| self.poll_recv(w))
    }

    /// Sends CANCEL for a READ the host is holding, keeping it in flight:
    /// its data, if it raced the CANCEL, is still delivered by the next
    /// read. (Windows ends the READ; Samba does not cancel READs on pipes,
    /// so there it stays held until data comes.)
    pub fn cancel_pending_read(&self) {
        if let Some(t) = lock(&self.reads).outstanding.as_mut() {
            t.cancel();
        }
    }

    // ---- writing ---------------------------------------------------------

    /// The largest message [`send`](Self::send) takes: Samba frames
    /// messages with a 2-byte length.
    pub fn max_message(&self) -> usize {
        SAMBA_MAX_MESSAGE
    }

    fn poll_write_op(
        &self,
        ticket: &mut Option<Ticket>,
        data: &[u8],
        wait: &mut Wait<'_, '_>,
    ) -> Poll<Result<usize, Error>> {
        if self.closed.load(Ordering::Acquire) {
            return Poll::Ready(Err(self.closed_error()));
        }
        let head = RequestHead::new(Command::Write, self.session.tree_id).payload(data.len());
        let fixed = write_request_head(&self.file_id, data.len() as u32);
        let resp = ready!(
            self.session
                .poll_request(wait, ticket, head, &[&fixed, data])
        )?;
        Poll::Ready(self.write_result(&resp))
    }

    fn write_result(&self, resp: &super::conn::slot::Response) -> Result<usize, Error> {
        match resp.status() {
            status::SUCCESS => decode_write_response(&resp.message)
                .map(|n| n as usize)
                .map_err(|e| Error::from_decode(self.host(), e)),
            code if status::is_pipe_end(code) => Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                format!(
                    r"the server of \\{}\pipe\{} closed it",
                    self.host(),
                    self.name
                ),
            ))),
            code => Err(Error::from_status(
                self.host(),
                format!("WRITE {}", self.name),
                code,
            )),
        }
    }

    /// Writes part of `data` (at most one WRITE); returns how much.
    /// Past `deadline` the WRITE is cancelled; if the host had already
    /// written it, that is reported, not a timeout.
    pub fn write(&self, data: &[u8], deadline: Option<Instant>) -> Result<usize, Error> {
        let chunk = &data[..self
            .io_limit(data.len(), self.session.info.max_write)
            .min(data.len())];
        let mut ticket = None;
        match block_on(deadline, |w| self.poll_write_op(&mut ticket, chunk, w)) {
            Err(Error::TimedOut) => match ticket.take() {
                Some(mut t) => {
                    t.cancel();
                    match t.wait(Some(Instant::now() + Duration::from_secs(2))) {
                        Some(Ok(resp)) if resp.status() == status::SUCCESS => {
                            self.write_result(&resp)
                        }
                        _ => Err(Error::TimedOut),
                    }
                }
                None => Err(Error::TimedOut),
            },
            other => other,
        }
    }

    /// Sends one message (one WRITE). A message longer than
    /// [`max_message`](Self::max_message) fails before anything is sent.
    pub fn poll_send(
        &self,
        ticket: &mut Option<Ticket>,
        message: &[u8],
        wait: &mut Wait<'_, '_>,
    ) -> Poll<Result<(), Error>> {
        if message.len() > SAMBA_MAX_MESSAGE {
            return Poll::Ready(Err(Error::MessageTooLong {
                len: message.len(),
                max: SAMBA_MAX_MESSAGE,
            }));
        }
        let n = ready!(self.poll_write_op(ticket, message, wait))?;
        Poll::Ready(if n == message.len() {
            Ok(())
        } else {
            Err(Error::protocol(
                self.host(),
                format_args!("wrote {n} of a {}-byte message", message.len()),
            ))
        })
    }

    /// Blocking [`poll_send`](Self::poll_send).
    pub fn send(&self, message: &[u8], deadline: Option<Instant>) -> Result<(), Error> {
        let mut ticket = None;
        block_on(deadline, |w| self.poll_send(&mut ticket, message, w))
    }

    /// Write-behind for `AsyncWrite`: waits for the previous WRITE, then
    /// starts one with (part of) `data` and reports it written. A failure
    /// shows on the next write, flush or shutdown.
    pub fn poll_write_behind(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<Result<usize, Error>> {
        let mut w = lock(&self.writes);
        ready!(self.poll_flush_locked(&mut w, cx))?;
        if self.closed.load(Ordering::Acquire) {
            return Poll::Ready(Err(self.closed_error()));
        }
        let n = self
            .io_limit(data.len(), self.session.info.max_write)
            .min(data.len());
        let head = RequestHead::new(Command::Write, self.session.tree_id).payload(n);
        ready!(Wait::Async(cx).reserve(&self.session.shared, self.charge(head)))?;
        let fixed = write_request_head(&self.file_id, n as u32);
        let (ticket, _) = self
            .session
            .shared
            .submit(head, &[&fixed, &data[..n]], false)?;
        w.in_flight = Some((ticket, n));
        Poll::Ready(Ok(n))
    }

    /// Waits for the WRITE started by [`poll_write_behind`](Self::poll_write_behind).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flush_locked(&mut lock(&self.writes), cx)
    }

    fn poll_flush_locked(&self, w: &mut Writes, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Some((ticket, n)) = w.in_flight.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let n = *n;
        let outcome = ready!(ticket.poll(cx));
        w.in_flight = None;
        let written = self.write_result(&outcome?)?;
        Poll::Ready(if written == n {
            Ok(())
        } else {
            Err(Error::protocol(
                self.host(),
                format_args!("wrote {written} of {n} bytes"),
            ))
        })
    }

    // ---- closing ---------------------------------------------------------

    /// Closes the pipe (CLOSE), waiting for the host's answer. Later
    /// operations fail; dropping the pipe closes it without waiting.
    pub fn close(&self) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.settle_before_close();
        let resp = self.session.request(
            RequestHead::new(Command::Close, self.session.tree_id),
            &[&close_request(&self.file_id)],
            Some(Instant::now() + Duration::from_secs(5)),
        )?;
        match resp.status() {
            status::SUCCESS | status::FILE_CLOSED | status::INVALID_HANDLE => Ok(()),
            code => Err(Error::from_status(
                self.host(),
                format!("CLOSE {}", self.name),
                code,
            )),
        }
    }

    /// Drops a held READ (its ticket sends CANCEL) and lets a write-behind
    /// WRITE finish on its own: CLOSE goes out after it.
    fn settle_before_close(&self) {
        lock(&self.reads).outstanding = None;
        if let Some((t, _)) = lock(&self.writes).in_flight.take() {
            t.detach();
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) || self.session.shared.is_lost() {
            return;
        }
        self.settle_before_close();
        let head = RequestHead::new(Command::Close, self.session.tree_id);
        if self
            .session
            .shared
            .reserve(1, Some(Instant::now() + Duration::from_millis(100)))
            .is_ok()
        {
            if let Ok((t, _)) =
                self.session
                    .shared
                    .submit(head, &[&close_request(&self.file_id)], false)
            {
                t.detach();
            }
        }
    }
}
