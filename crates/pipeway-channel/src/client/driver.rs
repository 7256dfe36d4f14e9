//! The client's driver task: one connection at a time, and reconnection.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use pipeway::tokio::{OwnedWriteHalf, PipeStream};
use pipeway::{ConnectOptions, PipeName};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};

use super::backoff::Jitter;
use super::inbox::InboxSender;
use super::{Backoff, ClientEvent, ConnectionState, Shared};
use crate::error::{DisconnectReason, Error};
use crate::framer::Decode;
use crate::handshake::{self, Hello};
use crate::outbox::Outbox;
use crate::wire::{
    ErrorCode, Frame, FrameDecoder, HEADER_LEN, Kind, PREFIX_LEN, Peeked, error_frame,
};

/// How a connection ended.
enum Ended {
    /// The client closed (what was queued went out, or the linger passed).
    Closed,
    /// The connection was lost.
    Lost(DisconnectReason),
}

pub(super) struct Driver<Down> {
    pub name: PipeName,
    pub connect: ConnectOptions,
    pub reconnect: Option<Backoff>,
    /// What this client says in each handshake.
    pub hello: Hello,
    pub handshake_timeout: Duration,
    pub linger: Duration,
    pub max: usize,
    pub shared: Arc<Shared>,
    pub decoder: Arc<dyn Decode<Down>>,
    pub events: InboxSender<ClientEvent<Down>>,
    /// For answering the server without keeping the client open.
    pub queue: mpsc::WeakSender<Bytes>,
    pub outbox: Outbox,
}

impl<Down: Send + 'static> Driver<Down> {
    pub async fn run(mut self, first: PipeStream) {
        let mut stream = first;
        loop {
            let reason = match self.connection(stream).await {
                Ended::Closed => break,
                Ended::Lost(reason) => reason,
            };
            let shared = &self.shared;
            let lost = self
                .outbox
                .rewind(|frame| shared.waiting.mark_unsent(frame));
            if lost > 0 {
                tracing::debug!(lost, %reason, "frames in flight when the connection was lost");
            }
            shared.waiting.fail_sent();
            let reconnecting = self.reconnect.is_some() && !shared.close.is_cancelled();
            if reconnecting {
                shared
                    .state
                    .send_replace(ConnectionState::Reconnecting { attempt: 1 });
            } else {
                // Closed before the event, so a send made after seeing it fails.
                self.finish();
            }
            self.emit(ClientEvent::Disconnected {
                reason,
                reconnecting,
            })
            .await;
            if !reconnecting {
                return;
            }
            match self.reconnect().await {
                Some(next) => stream = next,
                None => break,
            }
        }
        self.finish();
    }

    /// Closes for good: counts and drops what was not sent, fails waiting
    /// requests, and says so.
    fn finish(&mut self) {
        let unsent = self.outbox.discard();
        self.shared.unsent.store(unsent, Ordering::Release);
        self.shared.waiting.fail_all();
        self.shared.state.send_replace(ConnectionState::Closed);
    }

    /// Delivers an event, unless the client closes while the stream is full.
    async fn emit(&self, event: ClientEvent<Down>) {
        tokio::select! {
            _ = self.events.send(event) => {}
            _ = self.shared.close.cancelled() => {}
        }
    }

    /// Runs one connection until it is lost or the client closes.
    async fn connection(&mut self, stream: PipeStream) -> Ended {
        let (read, mut write) = stream.into_split();
        let mut frames = FramedRead::new(read, FrameDecoder::new(self.max));
        let shared = &*self.shared;
        let decoder = &*self.decoder;
        let events = &self.events;
        let queue = &self.queue;
        let outbox = &mut self.outbox;
        let linger = self.linger;

        let max = self.max;
        let reader = async {
            // Events for `Incoming`, queued together: one lock and at most
            // one wake-up for all the frames one read brought.
            let mut batch = VecDeque::new();
            loop {
                match frames.next().await {
                    Some(Ok(frame)) => {
                        batch.extend(route(frame, shared, decoder, queue));
                        // The frames that read brought along are cut from the
                        // buffer here, without going back to the reactor (the
                        // decoder keeps no state between frames).
                        // A one-way message is decoded where it lies, and the
                        // buffer advanced once for all of them.
                        let mut cutter = FrameDecoder::new(max);
                        let buf = frames.read_buffer_mut();
                        let mut at = 0;
                        while let Ok(Peeked::Whole { kind, id, len }) = cutter.peek(&buf[at..]) {
                            if kind == Kind::Message {
                                let body =
                                    &buf[at + PREFIX_LEN + HEADER_LEN..at + PREFIX_LEN + len];
                                batch.push_back(message_event(body, shared, decoder, queue));
                                at += PREFIX_LEN + len;
                            } else {
                                buf.advance(at);
                                at = 0;
                                let frame = cutter.decode(buf).ok().flatten();
                                debug_assert!(frame.as_ref().is_some_and(|f| f.id == id));
                                batch.extend(frame.and_then(|f| route(f, shared, decoder, queue)));
                            }
                            if batch.len() >= MAX_BATCH {
                                buf.advance(at);
                                at = 0;
                                events.send_all(&mut batch).await;
                            }
                        }
                        buf.advance(at);
                        // A bad frame is left in the buffer: the next read
                        // reports it, after the frames before it.
                        events.send_all(&mut batch).await;
                    }
                    Some(Err(err)) => {
                        let reason = DisconnectReason::from_read_error(err);
                        if let DisconnectReason::Protocol(why) = &reason {
                            let error = Error::Protocol(why.clone());
                            let _ = events.send(ClientEvent::Error(error)).await;
                        }
                        return reason;
                    }
                    None => return DisconnectReason::Closed,
                }
            }
        };
        let writer = write_until_closed(&mut write, outbox, shared, linger);
        tokio::pin!(reader, writer);
        tokio::select! {
            reason = &mut reader => Ended::Lost(reason),
            written = &mut writer => match written {
                Ok(()) => Ended::Closed,
                // The server is likely gone; read what it sent before it went.
                Err(err) => match tokio::time::timeout(linger, &mut reader).await {
                    Ok(reason) => Ended::Lost(reason),
                    Err(_elapsed) => Ended::Lost(DisconnectReason::Io(Arc::new(err))),
                },
            },
        }
    }

    /// Tries to connect again, with backoff, until it works, the attempts
    /// run out, or the client closes.
    async fn reconnect(&mut self) -> Option<PipeStream> {
        let backoff = self.reconnect.clone()?;
        let mut jitter = Jitter::new();
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            if backoff.max_attempts.is_some_and(|max| attempt > max) {
                tracing::warn!(pipe = %self.name, "giving up reconnecting");
                return None;
            }
            self.shared
                .state
                .send_replace(ConnectionState::Reconnecting { attempt });
            let delay = backoff.delay(attempt, jitter.next());
            let attempt_connect = async {
                tokio::time::sleep(delay).await;
                let mut stream = PipeStream::connect_with(&self.name, &self.connect).await?;
                handshake::exchange(&mut stream, &self.hello, self.handshake_timeout).await?;
                Ok::<_, Error>(stream)
            };
            let connected = tokio::select! {
                _ = self.shared.close.cancelled() => return None,
                connected = attempt_connect => connected,
            };
            match connected {
                Ok(stream) => {
                    self.shared.state.send_replace(ConnectionState::Connected);
                    self.emit(ClientEvent::Reconnected { attempts: attempt })
                        .await;
                    return Some(stream);
                }
                Err(error) => {
                    tracing::debug!(pipe = %self.name, attempt, %error, "reconnect failed");
                    self.emit(ClientEvent::ReconnectFailed { attempt, error })
                        .await;
                }
            }
        }
    }
}

/// Writes the queue until the client closes; then what is left, within
/// `linger`, and ends the write side. `Err`: the connection broke.
async fn write_until_closed(
    write: &mut OwnedWriteHalf,
    outbox: &mut Outbox,
    shared: &Shared,
    linger: Duration,
) -> io::Result<()> {
    let closing = shared.close.cancelled();
    tokio::pin!(closing);
    loop {
        tokio::select! {
            biased;
            _ = &mut closing => break,
            more = outbox.fill() => if !more { break },
        }
        shared.waiting.mark_sent(outbox.batch());
        tokio::select! {
            biased;
            _ = &mut closing => break,
            written = outbox.write(write) => written?,
        }
    }
    outbox.close();
    let drain = async {
        while outbox.fill().await {
            shared.waiting.mark_sent(outbox.batch());
            outbox.write(write).await?;
        }
        io::Result::Ok(())
    };
    if let Ok(drained) = tokio::time::timeout(linger, drain).await {
        drained?;
    }
    let _ = write.shutdown().await;
    Ok(())
}

/// At most this many events are gathered before they are handed to
/// `Incoming`.
const MAX_BATCH: usize = 256;

/// Routes one frame from the server: a reply to its request, anything else
/// to the event that is returned for `Incoming`.
fn route<Down>(
    frame: Frame,
    shared: &Shared,
    decoder: &dyn Decode<Down>,
    queue: &mpsc::WeakSender<Bytes>,
) -> Option<ClientEvent<Down>> {
    let answer = |id: u64, code: ErrorCode, text: &str| answer(shared, queue, id, code, text);
    let event = match frame.kind {
        Kind::Reply => {
            shared.waiting.resolve(frame.id, Ok(frame.body));
            return None;
        }
        Kind::Error if frame.id != 0 => {
            let (code, message) = frame.error_parts();
            shared
                .waiting
                .resolve(frame.id, Err(Error::Remote { code, message }));
            return None;
        }
        Kind::Error => {
            let (code, message) = frame.error_parts();
            ClientEvent::Error(Error::Remote { code, message })
        }
        Kind::Message => message_event(&frame.body, shared, decoder, queue),
        Kind::Request => {
            let why = format!(
                "the server sent a request (id {}); clients answer none",
                frame.id
            );
            answer(frame.id, ErrorCode::UNEXPECTED, &why);
            ClientEvent::Error(Error::Protocol(why))
        }
    };
    Some(event)
}

/// What a one-way message's body means to the client: the message, or an
/// error (also told to the server).
fn message_event<Down>(
    body: &[u8],
    shared: &Shared,
    decoder: &dyn Decode<Down>,
    queue: &mpsc::WeakSender<Bytes>,
) -> ClientEvent<Down> {
    match decoder.decode(body) {
        Ok(message) => ClientEvent::Message(message),
        Err(err) => {
            answer(shared, queue, 0, ErrorCode::UNDECODABLE, &err.to_string());
            ClientEvent::Error(err.into())
        }
    }
}

/// Tells the server something went wrong, if the client is still open.
fn answer(shared: &Shared, queue: &mpsc::WeakSender<Bytes>, id: u64, code: ErrorCode, text: &str) {
    if let Some(queue) = queue.upgrade() {
        let frame = error_frame(id, code, text);
        let len = frame.len();
        shared.queued_bytes.add(len);
        if queue.try_send(frame).is_err() {
            shared.queued_bytes.release(len);
        }
    }
}
