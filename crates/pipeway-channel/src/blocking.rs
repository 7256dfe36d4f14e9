//! A blocking channel client, for programs without tokio.
//!
//! It speaks the same wire as [`Client`](crate::Client) to the same
//! [`Server`](crate::Server) (the same handshake first), on a blocking byte
//! pipe, with no background task: each call writes its frame and, for a
//! request, reads frames until the reply. One-way messages and errors the
//! server sends meanwhile are kept, in order, for [`recv`](Client::recv). It
//! does not reconnect.
//!
//! ```
//! use pipeway_channel::codec::Postcard;
//! use pipeway_channel::{Event, Server};
//! # let name = format!("blocking-doc-{}", std::process::id());
//!
//! // A server (here on a tokio runtime of its own, in a thread).
//! # let server_name = name.clone();
//! # let (ready, started) = std::sync::mpsc::channel();
//! # std::thread::spawn(move || {
//! #     tokio::runtime::Runtime::new().unwrap().block_on(async move {
//! let (server, mut events) = Server::<String>::builder().codec(Postcard).bind(server_name.as_str())?;
//! #         ready.send(()).unwrap();
//! while let Some(event) = events.recv().await {
//!     if let Event::Request { message, responder, .. } = event {
//!         responder.reply(&message.to_uppercase())?;
//!     }
//! }
//! #         drop(server);
//! #         Ok::<(), pipeway_channel::Error>(())
//! #     })
//! # });
//! # started.recv().unwrap();
//!
//! // The client: no runtime.
//! let mut client = pipeway_channel::blocking::Client::<String>::builder()
//!     .codec(Postcard)
//!     .connect(name.as_str())?;
//! assert_eq!(client.request(&"quiet".to_owned())?, "QUIET");
//! # Ok::<(), pipeway_channel::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use pipeway::{ConnectOptions, IntoPipeName, PipeStream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DEFAULT_REQUEST_TIMEOUT;
use crate::codec::{Codec, CodecError, Json};
use crate::error::{Error, Result};
use crate::framer::{Decode, Encode, Framer};
use crate::handshake::{self, DEFAULT_HANDSHAKE_TIMEOUT, Hello, Role};
use crate::wire::{self, ErrorCode, Frame, FrameDecoder, HEADER_LEN, Kind, PREFIX_LEN, Peeked};

/// How much is read from the pipe at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The largest write buffer a client keeps between frames: enough for the
/// 64 KiB messages of a bulk transfer to reuse one buffer (a new one a
/// message cost the transfer benchmark 8%: 0.61x against 0.66x of raw std).
const OUT_KEPT: usize = 1024 * 1024;

/// Builds a blocking [`Client`]: `Client::<Up, Down>::builder()`.
pub struct ClientBuilder<Up, Down = Up, C = Json> {
    connect: ConnectOptions,
    codec: C,
    max_message_size: usize,
    request_timeout: Duration,
    schema: String,
    handshake_timeout: Duration,
    _types: PhantomData<fn(Up) -> Down>,
}

impl<Up, Down, C: fmt::Debug> fmt::Debug for ClientBuilder<Up, Down, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("connect", &self.connect)
            .field("codec", &self.codec)
            .field("max_message_size", &self.max_message_size)
            .field("request_timeout", &self.request_timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

impl<Up, Down, C> ClientBuilder<Up, Down, C>
where
    Up: Serialize,
    Down: DeserializeOwned,
    C: Codec,
{
    /// The codec (both ends must use the same one; default JSON).
    pub fn codec<C2: Codec>(self, codec: C2) -> ClientBuilder<Up, Down, C2> {
        ClientBuilder {
            connect: self.connect,
            codec,
            max_message_size: self.max_message_size,
            request_timeout: self.request_timeout,
            schema: self.schema,
            handshake_timeout: self.handshake_timeout,
            _types: PhantomData,
        }
    }

    /// How to connect: timeout, server identity (see [`ConnectOptions`]).
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// The largest frame either way (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long [`Client::request`] waits for its reply (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Names the message types, sent in the handshake (see
    /// [`crate::ClientBuilder::schema`]). Default: none (not checked).
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// How long to wait for the server's hello once connected (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects to `name`, waiting up to the connect timeout for the
    /// server, and exchanges hellos with it (the codec and schema must
    /// match: see [`handshake`]).
    pub fn connect(self, name: impl IntoPipeName) -> Result<Client<Up, Down>> {
        let hello = Hello::new(Role::Client, self.codec.name(), &self.schema)?;
        let mut stream = PipeStream::connect_with(name, &self.connect)?;
        handshake::exchange_blocking(&mut stream, &hello, self.handshake_timeout)?;
        let framer = Framer {
            codec: self.codec,
            max: self.max_message_size,
        };
        Ok(Client {
            stream,
            encoder: Box::new(framer.clone()),
            decoder: Box::new(framer),
            frames: FrameDecoder::new(self.max_message_size),
            read: BytesMut::new(),
            scratch: vec![0; READ_CHUNK],
            out: Vec::new(),
            next_id: 1,
            received: VecDeque::new(),
            request_timeout: self.request_timeout,
            read_timeout: None,
            ended: false,
        })
    }
}

/// A blocking channel client: `Up` is what it sends, `Down` what the server
/// sends (the same two types, in the same order, as the server's). See the
/// [module docs](self).
pub struct Client<Up, Down = Up> {
    stream: PipeStream,
    encoder: Box<dyn Encode<Up>>,
    decoder: Box<dyn Decode<Down>>,
    frames: FrameDecoder,
    /// Bytes read and not yet cut into frames.
    read: BytesMut,
    scratch: Vec<u8>,
    /// The frame being written, kept for the next one (up to `OUT_KEPT`).
    out: Vec<u8>,
    next_id: u64,
    /// One-way messages and errors that arrived while a request waited.
    received: VecDeque<Result<Down>>,
    request_timeout: Duration,
    /// The pipe's read timeout as last set.
    read_timeout: Option<Duration>,
    /// The server closed the connection.
    ended: bool,
}

impl<Up, Down> fmt::Debug for Client<Up, Down> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("stream", &self.stream)
            .field("received", &self.received.len())
            .finish_non_exhaustive()
    }
}

impl<Up, Down> Client<Up, Down>
where
    Up: Serialize,
    Down: DeserializeOwned,
{
    /// A builder, with the JSON codec and the defaults.
    pub fn builder() -> ClientBuilder<Up, Down, Json> {
        ClientBuilder {
            connect: ConnectOptions::new(),
            codec: Json,
            max_message_size: wire::DEFAULT_MAX_MESSAGE_SIZE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            schema: String::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            _types: PhantomData,
        }
    }

    /// Connects to `name` with the JSON codec and the defaults.
    pub fn connect(name: impl IntoPipeName) -> Result<Self> {
        Self::builder().connect(name)
    }

    /// Sends a one-way message; returns once it is written to the pipe.
    pub fn send(&mut self, message: &Up) -> Result<()> {
        self.write_frame(Kind::Message, 0, message)
    }

    /// Sends a request and waits, up to the request timeout, for its reply.
    /// Messages the server sends meanwhile are kept for [`recv`](Self::recv).
    ///
    /// Fails with [`Error::Timeout`] when no reply comes in time (a reply
    /// that comes later is dropped), [`Error::Remote`] when the server
    /// answers with an error, and [`Error::ConnectionLost`] when the server
    /// closes first.
    pub fn request(&mut self, message: &Up) -> Result<Down> {
        let id = self.next_id;
        self.next_id += 1;
        self.write_frame(Kind::Request, id, message)?;
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let Some(head) = self.next_frame(Some(deadline))? else {
                return Err(Error::ConnectionLost);
            };
            if head.kind == Kind::Reply && head.id == id {
                // Decoded where it lies in the read buffer.
                let reply = self.decoder.decode(self.body(&head));
                self.read.advance(PREFIX_LEN + head.len);
                return Ok(reply?);
            }
            let frame = self.take_frame(&head);
            match frame.kind {
                Kind::Error if frame.id == id => {
                    let (code, message) = frame.error_parts();
                    return Err(Error::Remote { code, message });
                }
                // The late answer to a request that timed out: dropped.
                Kind::Reply | Kind::Error if frame.id != 0 => {}
                _ => {
                    if let Some(event) = self.take(frame)? {
                        self.received.push_back(event);
                    }
                }
            }
        }
    }

    /// The next one-way message from the server (or the error that stood
    /// for one), waiting for it; `None` once the server has closed the
    /// connection and everything it sent has been received.
    pub fn recv(&mut self) -> Result<Option<Down>> {
        loop {
            if let Some(event) = self.received.pop_front() {
                return event.map(Some);
            }
            let Some(head) = self.next_frame(None)? else {
                return Ok(None);
            };
            if head.kind == Kind::Message {
                let message = self.decoder.decode(self.body(&head));
                self.read.advance(PREFIX_LEN + head.len);
                return self.received_message(message)?.map(Some);
            }
            let frame = self.take_frame(&head);
            match frame.kind {
                // The late answer to a request that timed out: dropped.
                Kind::Reply => {}
                Kind::Error if frame.id != 0 => {}
                _ => {
                    if let Some(event) = self.take(frame)? {
                        return event.map(Some);
                    }
                }
            }
        }
    }

    /// Ends the connection: the server sees the client leave.
    pub fn close(self) -> Result<()> {
        match self.stream.shutdown(std::net::Shutdown::Write) {
            // Windows pipes have no half-close: the stream, dropped on
            // return, ends the connection there.
            Err(err) if err.kind() == std::io::ErrorKind::Unsupported => Ok(()),
            other => Ok(other?),
        }
    }

    /// What a one-way frame (a message, a request, an error about none)
    /// means to this client; `None` for nothing to report.
    fn take(&mut self, frame: Frame) -> Result<Option<Result<Down>>> {
        Ok(Some(match frame.kind {
            Kind::Message => {
                let decoded = self.decoder.decode(&frame.body);
                self.received_message(decoded)?
            }
            Kind::Error => {
                let (code, message) = frame.error_parts();
                Err(Error::Remote { code, message })
            }
            Kind::Request => {
                let why = format!(
                    "the server sent a request (id {}); clients answer none",
                    frame.id
                );
                self.answer(frame.id, ErrorCode::UNEXPECTED, &why)?;
                Err(Error::Protocol(why))
            }
            Kind::Reply => return Ok(None),
        }))
    }

    /// A one-way message as decoded. One that does not decode is reported
    /// to the server and becomes the event's error; the outer error is a
    /// failure to report it.
    fn received_message(&mut self, decoded: Result<Down, CodecError>) -> Result<Result<Down>> {
        match decoded {
            Ok(message) => Ok(Ok(message)),
            Err(err) => {
                self.answer(0, ErrorCode::UNDECODABLE, &err.to_string())?;
                Ok(Err(err.into()))
            }
        }
    }

    /// Encodes a frame into the kept buffer and writes it.
    fn write_frame(&mut self, kind: Kind, id: u64, message: &Up) -> Result<()> {
        let written = self
            .encoder
            .frame_in(&mut self.out, kind, id, message)
            .and_then(|()| Ok(self.stream.write_all(&self.out)?));
        if self.out.capacity() > OUT_KEPT {
            // One large message does not pin its buffer for good.
            self.out = Vec::new();
        }
        written
    }

    /// Tells the server something it sent was wrong.
    fn answer(&mut self, id: u64, code: ErrorCode, text: &str) -> Result<()> {
        self.stream.write_all(&wire::error_frame(id, code, text))?;
        Ok(())
    }

    /// Reads as needed, until `deadline`, until a whole frame starts the
    /// read buffer, and says what it is; `None` once the server has closed
    /// between frames. The frame stays in the buffer: decoded where it lies
    /// ([`body`](Self::body)) or taken ([`take_frame`](Self::take_frame)).
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Head>> {
        loop {
            if let Peeked::Whole { kind, id, len } = self.frames.peek(&self.read)? {
                return Ok(Some(Head { kind, id, len }));
            }
            if self.ended {
                // Nothing whole is left: the end, or a frame cut short.
                if self.read.is_empty() {
                    return Ok(None);
                }
                return Err(FrameDecoder::ended_mid_frame(&self.read).into());
            }
            self.wait_at_most(deadline)?;
            match self.stream.read(&mut self.scratch) {
                Ok(0) => self.ended = true,
                Ok(n) => self.read.extend_from_slice(&self.scratch[..n]),
                // Timed out, or set to time out early: the deadline decides.
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// The body of the frame `head` describes, where it lies.
    fn body(&self, head: &Head) -> &[u8] {
        &self.read[PREFIX_LEN + HEADER_LEN..PREFIX_LEN + head.len]
    }

    /// Takes the frame `head` describes out of the read buffer.
    fn take_frame(&mut self, head: &Head) -> Frame {
        self.read.advance(PREFIX_LEN + HEADER_LEN);
        let body = self.read.split_to(head.len - HEADER_LEN).freeze();
        Frame {
            kind: head.kind,
            id: head.id,
            body,
        }
    }

    /// Makes the next read wait until `deadline` at most (forever without
    /// one); fails with [`Error::Timeout`] once it has passed. The pipe's
    /// timeout is set only when it must change (a system call each time):
    /// for a request, when it would overshoot the time left by more than a
    /// tenth or fall short of half of it; a read that times out early just
    /// comes back here.
    fn wait_at_most(&mut self, deadline: Option<Instant>) -> Result<()> {
        let wanted = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout(self.request_timeout));
                }
                match self.read_timeout {
                    Some(set) if set <= left + left / 10 && set >= left / 2 => return Ok(()),
                    _ => Some(left),
                }
            }
        };
        if wanted != self.read_timeout {
            self.stream.set_read_timeout(wanted)?;
            self.read_timeout = wanted;
        }
        Ok(())
    }
}

/// The frame at the start of a client's read buffer: its kind, its id, and
/// its length (the prefix's value).
struct Head {
    kind: Kind,
    id: u64,
    len: usize,
}
