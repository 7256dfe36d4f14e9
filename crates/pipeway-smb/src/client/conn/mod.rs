//! One TCP connection to a host, shared by every pipe to it.
//!
//! Requests are written by the calling thread, under a lock that also
//! assigns MessageIds in order and signs or encrypts. One reader thread per
//! connection reads every response, checks or decrypts it, counts the
//! credits it grants, and completes the request's [`Slot`](slot::Slot) by
//! MessageId. A blocking caller waits on the slot's condition variable; a
//! future polls it and is woken by the reader. A [`Ticket`] dropped before
//! its response came sends CANCEL. Writing from the caller's thread costs
//! no thread hand-off on the way out; the reader thread is the one hop on
//! the way back, and it serves both faces with one implementation.

pub mod frames;
pub mod slot;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use self::frames::{FrameReader, Next, Stop};
use self::slot::{Response, Slot};
use super::crypto::cipher::Encryptor;
use super::crypto::signing::Signer;
use super::error::Error;
use super::wire::framing::frame_header;
use super::wire::header::{Command, HEADER_LEN, Header, flags};
use super::wire::messages::empty_request;
use super::wire::status;
use super::wire::transform::is_transformed;

/// Credits the client asks for in each request, to keep a window open for
/// many pipes with reads held at the server.
const CREDITS_WANTED: u16 = 128;

/// MessageId of unsolicited server messages (oplock breaks).
const UNSOLICITED: u64 = u64::MAX;

/// How a session protects its messages, set once the session is set up.
#[derive(Debug, Default)]
pub struct Security {
    /// The session the keys belong to.
    pub session_id: u64,
    /// Signs requests and checks responses (when not encrypting).
    pub signer: Option<Signer>,
    /// Encrypts everything, both ways.
    pub encryptor: Option<Encryptor>,
}

#[derive(Debug)]
struct Pending {
    slots: HashMap<u64, Arc<Slot>>,
    credits: u32,
    credit_wakers: Vec<Waker>,
    lost: Option<String>,
}

#[derive(Debug)]
struct Writer {
    next_message_id: u64,
    /// The 2.0.2 dialect has no multi-credit requests.
    multi_credit: bool,
}

/// The state the callers and the reader thread share.
#[derive(Debug)]
pub struct Shared {
    host: String,
    socket: TcpStream,
    writer: Mutex<Writer>,
    pending: Mutex<Pending>,
    credits_freed: Condvar,
    security: RwLock<Security>,
    closing: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a request needs besides its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead {
    /// The command.
    pub command: Command,
    /// The tree (0: none).
    pub tree_id: u32,
    /// Credits it costs: one per 64 KiB sent or asked for.
    pub credit_charge: u16,
}

impl RequestHead {
    /// A request costing one credit.
    pub fn new(command: Command, tree_id: u32) -> Self {
        Self {
            command,
            tree_id,
            credit_charge: 1,
        }
    }

    /// Charges for `payload` bytes (sent or asked for).
    pub fn payload(mut self, payload: usize) -> Self {
        self.credit_charge = payload.div_ceil(65536).max(1) as u16;
        self
    }
}

impl Shared {
    /// Starts the reader thread on a connected socket.
    pub fn start(host: &str, socket: TcpStream, keepalive: Duration) -> std::io::Result<Arc<Self>> {
        let shared = Arc::new(Shared {
            host: host.to_owned(),
            socket,
            writer: Mutex::new(Writer {
                next_message_id: 0,
                multi_credit: false,
            }),
            pending: Mutex::new(Pending {
                slots: HashMap::new(),
                credits: 1,
                credit_wakers: Vec::new(),
                lost: None,
            }),
            credits_freed: Condvar::new(),
            security: RwLock::new(Security::default()),
            closing: AtomicBool::new(false),
        });
        shared.socket.set_read_timeout(Some(keepalive))?;
        let reader = shared.clone();
        std::thread::Builder::new()
            .name(format!("pipeway-smb {host}"))
            .spawn(move || reader.read_loop())?;
        Ok(shared)
    }

    /// The host, for messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP socket's descriptor.
    #[cfg(unix)]
    pub fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }

    /// Allows multi-credit requests (dialects after 2.0.2 with LARGE_MTU).
    pub fn set_multi_credit(&self, on: bool) {
        lock(&self.writer).multi_credit = on;
    }

    /// Installs the session's keys: from now on requests are signed or
    /// encrypted and responses checked.
    pub fn set_security(&self, security: Security) {
        *self.security.write().unwrap_or_else(|p| p.into_inner()) = security;
    }

    /// Reads `f` of the session's security.
    pub fn with_security<T>(&self, f: impl FnOnce(&Security) -> T) -> T {
        f(&self.security.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn lost_error(&self, reason: &str) -> Error {
        Error::ConnectionLost {
            host: self.host.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Whether the connection has ended.
    pub fn is_lost(&self) -> bool {
        lock(&self.pending).lost.is_some()
    }

    /// Takes `charge` credits, waiting for the server to grant them until `deadline`.
    pub fn reserve(&self, charge: u16, deadline: Option<Instant>) -> Result<(), Error> {
        let mut p = lock(&self.pending);
        loop {
            if let Some(reason) = &p.lost {
                return Err(self.lost_error(reason));
            }
            if p.credits >= charge as u32 {
                p.credits -= charge as u32;
                return Ok(());
            }
            p = match deadline {
                None => self
                    .credits_freed
                    .wait(p)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::TimedOut);
                    }
                    self.credits_freed
                        .wait_timeout(p, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The async form of [`reserve`](Self::reserve).
    pub fn poll_reserve(&self, cx: &mut Context<'_>, charge: u16) -> Poll<Result<(), Error>> {
        let mut p = lock(&self.pending);
        if let Some(reason) = &p.lost {
            return Poll::Ready(Err(self.lost_error(reason)));
        }
        if p.credits >= charge as u32 {
            p.credits -= charge as u32;
            return Poll::Ready(Ok(()));
        }
        p.credit_wakers.push(cx.waker().clone());
        Poll::Pending
    }

    /// Sends a request whose credits were reserved. Returns its ticket and,
    /// if asked, the message as sent before signing (for preauth integrity).
    pub fn submit(
        self: &Arc<Self>,
        head: RequestHead,
        body: &[&[u8]],
        want_raw: bool,
    ) -> Result<(Ticket, Option<Vec<u8>>), Error> {
        let slot = Arc::new(Slot::default());
        let len = HEADER_LEN + body.iter().map(|b| b.len()).sum::<usize>();
        let mut message = Vec::with_capacity(len);
        let mut writer = lock(&self.writer);
        let charge = if writer.multi_credit {
            head.credit_charge
        } else {
            1
        };
        let message_id = writer.next_message_id;
        let security = self.security.read().unwrap_or_else(|p| p.into_inner());
        Header {
            credit_charge: if writer.multi_credit { charge } else { 0 },
            command: head.command as u16,
            credits: CREDITS_WANTED.max(charge),
            message_id,
            tree_id: head.tree_id,
            session_id: security.session_id,
            ..Header::default()
        }
        .encode(&mut message);
        for part in body {
            message.extend_from_slice(part);
        }
        let raw = want_raw.then(|| message.clone());
        {
            let mut p = lock(&self.pending);
            if let Some(reason) = &p.lost {
                return Err(self.lost_error(reason));
            }
            p.slots.insert(message_id, slot.clone());
        }
        let sent = self.write_message(&security, &mut message);
        drop(security);
        match sent {
            Ok(()) => {
                writer.next_message_id += charge.max(1) as u64;
                Ok((
                    Ticket {
                        shared: self.clone(),
                        message_id,
                        slot,
                        finished: false,
                        cancelled: false,
                    },
                    raw,
                ))
            }
            Err(e) => {
                drop(writer);
                self.fail(&format!("sending failed: {e}"));
                Err(self.lost_error(&format!("sending failed: {e}")))
            }
        }
    }

    /// Signs or encrypts `message` as the session requires and writes it.
    fn write_message(&self, security: &Security, message: &mut [u8]) -> std::io::Result<()> {
        let command = u16::from_le_bytes([message[12], message[13]]);
        let setup = command == Command::SessionSetup as u16 || command == Command::Negotiate as u16;
        if let (Some(enc), false) = (&security.encryptor, setup) {
            let sealed = enc.encrypt(message);
            let mut out = Vec::with_capacity(4 + sealed.len());
            out.extend_from_slice(&frame_header(sealed.len()));
            out.extend_from_slice(&sealed);
            return (&self.socket).write_all(&out);
        }
        if let (Some(signer), false) = (&security.signer, setup) {
            signer.sign(message);
        }
        let header = frame_header(message.len());
        let mut socket = &self.socket;
        if message.len() <= 16 * 1024 {
            // One system call (and one TCP segment) for small messages.
            let mut out = Vec::with_capacity(4 + message.len());
            out.extend_from_slice(&header);
            out.extend_from_slice(message);
            socket.write_all(&out)
        } else {
            let mut bufs = [
                std::io::IoSlice::new(&header),
                std::io::IoSlice::new(message),
            ];
            write_all_vectored(&mut socket, &mut bufs)
        }
    }

    /// Sends CANCEL for the request `message_id` (or its async id).
    fn cancel(&self, message_id: u64, async_id: Option<u64>) {
        let mut message = Vec::with_capacity(HEADER_LEN + 4);
        let writer = lock(&self.writer);
        let security = self.security.read().unwrap_or_else(|p| p.into_inner());
        Header {
            command: Command::Cancel as u16,
            flags: if async_id.is_some() {
                flags::ASYNC_COMMAND
            } else {
                0
            },
            message_id,
            async_id: async_id.unwrap_or(0),
            session_id: security.session_id,
            ..Header::default()
        }
        .encode(&mut message);
        message.extend_from_slice(&empty_request());
        let _ = self.write_message(&security, &mut message);
        drop(writer);
    }

    /// Sends an ECHO whose answer nobody waits for (the keep-alive).
    fn send_echo(self: &Arc<Self>) {
        let Ok(()) = self.reserve(1, Some(Instant::now())) else {
            return;
        };
        if let Ok((ticket, _)) = self.submit(
            RequestHead::new(Command::Echo, 0),
            &[&empty_request()],
            false,
        ) {
            ticket.detach();
        }
    }

    /// Ends the connection: every waiting request fails with `reason`.
    pub fn fail(&self, reason: &str) {
        let (slots, wakers) = {
            let mut p = lock(&self.pending);
            if p.lost.is_none() {
                p.lost = Some(reason.to_owned());
            }
            (
                std::mem::take(&mut p.slots),
                std::mem::take(&mut p.credit_wakers),
            )
        };
        self.credits_freed.notify_all();
        for w in wakers {
            w.wake();
        }
        for (_, slot) in slots {
            slot.complete(Err(self.lost_error(reason)));
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// Closes the socket at once.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.fail("closed by this client");
    }

    /// Ends the connection gracefully after what was sent (a LOGOFF): the
    /// reader thread reads on until the host closes its side.
    pub fn finish(&self) {
        self.closing.store(true, Ordering::Release);
        let _ = self.socket.shutdown(Shutdown::Write);
    }

    fn read_loop(self: Arc<Self>) {
        let mut frames = FrameReader::default();
        let mut echo_sent: Option<Instant> = None;
        loop {
            let frame = match frames.next(&self.socket) {
                Ok(Next::Frame(frame)) => frame,
                Ok(Next::Idle) => {
                    if echo_sent.is_some() {
                        self.fail("the host stopped answering (no reply to a keep-alive ECHO)");
                        return;
                    }
                    self.send_echo();
                    echo_sent = Some(Instant::now());
                    continue;
                }
                Err(stop) => {
                    let reason = match stop {
                        Stop::Closed => "the host closed the connection".to_owned(),
                        Stop::Io(e) => format!("reading failed: {e}"),
                        Stop::Malformed(e) => e.to_string(),
                    };
                    let closing = self.closing.load(Ordering::Acquire);
                    if !closing {
                        tracing::debug!(host = %self.host, %reason, "SMB connection lost");
                    }
                    self.fail(&reason);
                    return;
                }
            };
            echo_sent = None;
            if let Err(fatal) = self.dispatch(frame) {
                tracing::warn!(host = %self.host, %fatal, "SMB connection dropped");
                self.fail(&fatal);
                return;
            }
        }
    }

    /// Routes one frame's responses to their slots. An error ends the connection.
    fn dispatch(&self, frame: Vec<u8>) -> Result<(), String> {
        let security = self.security.read().unwrap_or_else(|p| p.into_inner());
        let (plain, encrypted) = if is_transformed(&frame) {
            let enc = security
                .encryptor
                .as_ref()
                .ok_or("an encrypted message arrived before encryption was set up")?;
            (enc.decrypt(frame).map_err(|e| e.to_string())?, true)
        } else {
            (frame, false)
        };
        let mut rest = &plain[..];
        while !rest.is_empty() {
            let header = Header::decode(rest).map_err(|e| e.to_string())?;
            let len = match header.next_command as usize {
                0 => rest.len(),
                n if n >= HEADER_LEN && n <= rest.len() => n,
                n => return Err(format!("compound offset {n} outside the message")),
            };
            let message = rest[..len].to_vec();
            rest = &rest[len..];
            let checked = self.check(&security, &header, &message, encrypted);
            self.route(header, message, checked);
        }
        Ok(())
    }

    /// Whether a response may be trusted: encrypted when the session
    /// encrypts, signed correctly when it signs.
    fn check(
        &self,
        security: &Security,
        header: &Header,
        message: &[u8],
        encrypted: bool,
    ) -> Result<(), Error> {
        let interim = header.status == status::PENDING && header.is_async();
        if interim || header.message_id == UNSOLICITED || security.session_id == 0 {
            return Ok(());
        }
        if header.session_id != security.session_id {
            return Err(Error::protocol(
                &self.host,
                "a response for another session",
            ));
        }
        if security.encryptor.is_some() {
            return if encrypted {
                Ok(())
            } else {
                Err(Error::protocol(
                    &self.host,
                    "an unencrypted response on an encrypted session",
                ))
            };
        }
        if let Some(signer) = &security.signer {
            if header.flags & flags::SIGNED == 0 {
                return Err(Error::protocol(
                    &self.host,
                    "an unsigned response on a signed session",
                ));
            }
            if !signer.verify(message) {
                return Err(Error::protocol(
                    &self.host,
                    "a response with a wrong signature",
                ));
            }
        }
        Ok(())
    }

    fn route(&self, header: Header, message: Vec<u8>, checked: Result<(), Error>) {
        let interim = header.status == status::PENDING && header.is_async();
        let slot = {
            let mut p = lock(&self.pending);
            p.credits += header.credits as u32;
            let wakers = std::mem::take(&mut p.credit_wakers);
            if header.credits > 0 {
                self.credits_freed.notify_all();
            }
            let slot = if interim {
                p.slots.get(&header.message_id).cloned()
            } else {
                p.slots.remove(&header.message_id)
            };
            drop(p);
            for w in wakers {
                w.wake();
            }
            slot
        };
        let Some(slot) = slot else { return };
        if interim {
            slot.set_async_id(header.async_id);
            return;
        }
        slot.complete(checked.map(|()| Response { header, message }));
    }
}

fn write_all_vectored(
    socket: &mut &TcpStream,
    mut bufs: &mut [std::io::IoSlice<'_>],
) -> std::io::Result<()> {
    std::io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match socket.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A request in flight. Dropped before its response came, it sends CANCEL
/// and the response, when it comes, is discarded.
#[derive(Debug)]
pub struct Ticket {
    shared: Arc<Shared>,
    message_id: u64,
    slot: Arc<Slot>,
    finished: bool,
    cancelled: bool,
}

impl Ticket {
    /// Waits for the response until `deadline`; `None` if it passed first
    /// (the request stays in flight).
    pub fn wait(&mut self, deadline: Option<Instant>) -> Option<Result<Response, Error>> {
        let out = self.slot.wait(deadline);
        if out.is_some() {
            self.finished = true;
        }
        out
    }

    /// Polls for the response.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Response, Error>> {
        let out = self.slot.poll(cx);
        if out.is_ready() {
            self.finished = true;
        }
        out
    }

    /// Whether the response is in.
    pub fn is_ready(&self) -> bool {
        self.slot.is_done()
    }

    /// Lets the request finish on its own: nobody waits for its response,
    /// and no CANCEL is sent.
    pub fn detach(mut self) {
        self.finished = true;
    }

    /// Asks the server to cancel the request (once); the response still
    /// comes, with STATUS_CANCELLED or, if the request finished first, its result.
    pub fn cancel(&mut self) {
        if !self.finished && !self.cancelled {
            self.cancelled = true;
            self.shared.cancel(self.message_id, self.slot.async_id());
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished && !self.slot.is_done() {
            self.cancel();
        }
    }
}
