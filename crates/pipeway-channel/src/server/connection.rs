//! The server's tasks: the accept loop, and each client's reader and writer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use pipeway::PeerIdentity;
use pipeway::tokio::{OwnedReadHalf, OwnedWriteHalf, PipeListener, PipeStream};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::events::{Event, Responder, Sink};
use super::queue::{Batch, ClientQueue, PushError, Writer};
use super::{ClientId, ClientInfo, FullQueuePolicy, Limits, Shared};
use crate::error::{DisconnectReason, Error, Result};
use crate::framer::Decode;
use crate::handshake;
use crate::wire::{ErrorCode, Frame, FrameDecoder, FrameError, Kind, error_frame};

/// How long the accept loop pauses after an accept error (out of file
/// descriptors, say) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How long a refused client's `handshake` error frame may take to write.
const HANDSHAKE_ERROR_LINGER: Duration = Duration::from_millis(100);

/// Counts one task that shutdown waits for, while it lives.
pub(crate) struct LiveGuard(Arc<watch::Sender<usize>>);

impl LiveGuard {
    pub fn new(live: &Arc<watch::Sender<usize>>) -> Self {
        live.send_modify(|n| *n += 1);
        Self(live.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// One client, as senders see it: its queue and how to end it.
pub(crate) struct Slot {
    pub id: ClientId,
    peer: PeerIdentity,
    queue: Arc<ClientQueue>,
    capacity: usize,
    on_full: FullQueuePolicy,
    /// Deliver what is queued, then close.
    close: CancellationToken,
    /// Close now.
    kill: CancellationToken,
    /// Why it ended; the first reason given wins.
    reason: OnceLock<DisconnectReason>,
    /// Requests handed to the application and not yet answered.
    unanswered: AtomicUsize,
}

impl Slot {
    /// Queues a frame without waiting, applying the full-queue policy.
    pub fn push(&self, frame: Bytes) -> Result<()> {
        self.push_shared(&frame)
    }

    /// Queues a frame that is also queued for others (a broadcast's):
    /// small frames are copied, large ones shared.
    pub fn push_shared(&self, frame: &Bytes) -> Result<()> {
        self.queue_frame(frame, false)
    }

    /// Queues a frame, or with `direct` writes it at once if it can (see
    /// [`ClientQueue::push_or_write`]); applies the full-queue policy.
    fn queue_frame(&self, frame: &Bytes, direct: bool) -> Result<()> {
        let pushed = if direct {
            self.queue.push_or_write(frame)
        } else {
            self.queue.push(frame)
        };
        match pushed {
            Ok(()) => Ok(()),
            Err(PushError::Full) => {
                if self.on_full == FullQueuePolicy::Disconnect {
                    tracing::warn!(client = %self.id, capacity = self.capacity,
                        "outgoing queue full: disconnecting the client");
                    self.kill(DisconnectReason::QueueFull {
                        capacity: self.capacity,
                    });
                }
                Err(Error::QueueFull {
                    capacity: self.capacity,
                })
            }
            Err(PushError::Closed) => Err(Error::UnknownClient(self.id)),
        }
    }

    /// Queues the answer to a request: like [`push`](Self::push), but a
    /// client that has gone is no error (no one is left to answer).
    ///
    /// The answer to the client's only unanswered request is written at
    /// once when the writer is idle: no other answer is due to go with it.
    pub fn push_answer(&self, frame: Bytes) -> Result<()> {
        let alone = self.unanswered.load(Ordering::Relaxed) <= 1;
        match self.queue_frame(&frame, alone) {
            Err(Error::UnknownClient(_)) => {
                tracing::debug!(client = %self.id, "dropped the answer to a request: the client has gone");
                Ok(())
            }
            other => other,
        }
    }

    /// Ends the connection after delivering what is queued.
    pub fn close(&self, reason: DisconnectReason) {
        let _ = self.reason.set(reason);
        self.close.cancel();
    }

    /// Ends the connection now.
    pub fn kill(&self, reason: DisconnectReason) {
        let _ = self.reason.set(reason);
        self.kill.cancel();
    }

    /// Counts a request handed to the application, until its answer.
    pub fn request_pending(&self) {
        self.unanswered.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request answered (or dropped unanswered).
    pub fn request_done(&self) {
        self.unanswered.fetch_sub(1, Ordering::Relaxed);
    }

    fn set_reason(&self, reason: DisconnectReason) {
        let _ = self.reason.set(reason);
    }

    fn reason(&self) -> DisconnectReason {
        self.reason
            .get()
            .cloned()
            .unwrap_or(DisconnectReason::Closed)
    }

    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            id: self.id,
            peer: self.peer.clone(),
            queued: self.queue.len(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // No one can queue for the client any more: its writer may end.
        self.queue.senders_gone();
    }
}

/// Accepts clients until shutdown, then frees the pipe's name.
pub(crate) async fn accept_loop<In, Out>(
    listener: PipeListener,
    shared: Arc<Shared<Out>>,
    decoder: Arc<dyn Decode<In>>,
    sink: Sink<In, Out>,
    guard: LiveGuard,
) where
    In: Send + 'static,
    Out: Send + Sync + 'static,
{
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(stream) => start_client(stream, &shared, &decoder, &sink),
            Err(pipeway::Error::ListenerClosed) => break,
            Err(error) => {
                tracing::warn!(pipe = %shared.name, %error, "accept failed; retrying");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_RETRY) => {}
                }
            }
        }
    }
    // Removes the socket file: the name is free once shutdown returns.
    drop(listener);
    drop(guard);
}

fn start_client<In, Out>(
    stream: PipeStream,
    shared: &Arc<Shared<Out>>,
    decoder: &Arc<dyn Decode<In>>,
    sink: &Sink<In, Out>,
) where
    In: Send + 'static,
    Out: Send + Sync + 'static,
{
    let id = ClientId(
        shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    );
    tokio::spawn(handshake_then_serve(
        id,
        stream,
        shared.clone(),
        decoder.clone(),
        sink.clone(),
    ));
}

/// Exchanges hellos with a new client, off the accept loop; a client that
/// passes becomes a client, one that fails is refused and closed.
async fn handshake_then_serve<In, Out>(
    id: ClientId,
    mut stream: PipeStream,
    shared: Arc<Shared<Out>>,
    decoder: Arc<dyn Decode<In>>,
    sink: Sink<In, Out>,
) where
    In: Send + 'static,
    Out: Send + Sync + 'static,
{
    let exchanged = tokio::select! {
        biased;
        _ = shared.shutdown.cancelled() => return,
        exchanged = handshake::exchange(&mut stream, &shared.hello, shared.limits.handshake_timeout) => exchanged,
    };
    if let Err(error) = exchanged {
        if error.is_mismatch() {
            // The client can tell from our hello, but a peer in another
            // language may not check: say it in a frame too.
            let frame = error_frame(0, ErrorCode::HANDSHAKE, &error.to_string());
            let _ = tokio::time::timeout(HANDSHAKE_ERROR_LINGER, stream.write_all(&frame)).await;
        }
        // Reported as an event (a handler's server logs it as a warning).
        tracing::debug!(pipe = %shared.name, client = %id, %error, "refused a client at the handshake");
        let peer = stream.peer().clone();
        drop(stream);
        sink.refused(Event::Refused {
            client: id,
            peer,
            error: error.into(),
        })
        .await;
        return;
    }
    serve_client(id, stream, &shared, &decoder, &sink).await;
}

/// Runs a client that passed the handshake: its writer task, and its reader
/// in this task.
async fn serve_client<In, Out>(
    id: ClientId,
    stream: PipeStream,
    shared: &Arc<Shared<Out>>,
    decoder: &Arc<dyn Decode<In>>,
    sink: &Sink<In, Out>,
) where
    In: Send + 'static,
    Out: Send + Sync + 'static,
{
    let Limits {
        queue_capacity,
        on_full,
        linger,
        ..
    } = shared.limits;
    let queue = Arc::new(ClientQueue::new(queue_capacity));
    let slot = Arc::new(Slot {
        id,
        peer: stream.peer().clone(),
        queue: queue.clone(),
        capacity: queue_capacity,
        on_full,
        close: CancellationToken::new(),
        kill: CancellationToken::new(),
        reason: OnceLock::new(),
        unanswered: AtomicUsize::new(0),
    });
    shared.clients().insert(id, slot.clone());
    // A shutdown that began after the accept did not see this client.
    if shared.shutdown.is_cancelled() {
        slot.close(DisconnectReason::Shutdown);
    }
    let (read, write) = stream.into_split();
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(write_task(
        write,
        queue,
        slot.clone(),
        linger,
        writer_done.clone(),
        LiveGuard::new(&shared.live),
    ));
    read_task(
        read,
        slot,
        shared.clone(),
        decoder.clone(),
        sink.clone(),
        writer_done,
        writer,
    )
    .await;
}

/// Writes the client's queue until the connection closes.
async fn write_task(
    write: OwnedWriteHalf,
    queue: Arc<ClientQueue>,
    slot: Arc<Slot>,
    linger: Duration,
    done: CancellationToken,
    live: LiveGuard,
) {
    let mut batch = Batch::default();
    let mut writer: Option<Writer> = Some(Box::new(write));
    let result = tokio::select! {
        biased;
        _ = slot.kill.cancelled() => Ok(()),
        result = pump(&mut writer, &queue, &mut batch, &slot.close, linger) => result,
    };
    if let Err(err) = result {
        slot.set_reason(DisconnectReason::Io(Arc::new(err)));
    }
    // Later sends fail with `UnknownClient`; the peer reads end-of-file.
    queue.discard();
    drop(slot);
    // Back from the queue even if the pump stopped while it waited.
    debug_assert!(writer.is_some());
    drop(writer);
    done.cancel();
    drop(live);
}

/// Writes batches until asked to close, then what is left within `linger`.
async fn pump(
    writer: &mut Option<Writer>,
    queue: &ClientQueue,
    batch: &mut Batch,
    close: &CancellationToken,
    linger: Duration,
) -> std::io::Result<()> {
    let closing = close.cancelled();
    tokio::pin!(closing);
    // A close is seen by a load at the top of each batch; the `closing`
    // future is polled only while the pump waits (it registers a waker
    // under a lock on every poll, so polling it ahead of work that is ready
    // cost every batch two of those).
    loop {
        if close.is_cancelled() {
            break;
        }
        tokio::select! {
            biased;
            more = queue.take(batch, writer) => if !more { return Ok(()) },
            _ = &mut closing => break,
        }
        tokio::select! {
            biased;
            written = batch.write(back(writer)) => written?,
            _ = &mut closing => break,
        }
    }
    queue.close();
    let drain = async {
        // The batch a close interrupted first, then what is queued.
        batch.write(back(writer)).await?;
        while queue.take(batch, writer).await {
            batch.write(back(writer)).await?;
        }
        Ok(())
    };
    match tokio::time::timeout(linger, drain).await {
        Ok(result) => result,
        Err(_elapsed) => {
            tracing::warn!(
                unsent = batch.discard() + queue.discard(),
                "the client did not read what was queued for it within the linger time"
            );
            Ok(())
        }
    }
}

/// The connection, which is with the writer whenever `take` is not running.
fn back(writer: &mut Option<Writer>) -> &mut Writer {
    writer
        .as_mut()
        .expect("the queue gives the connection back when take ends")
}

/// Reads the client's frames and delivers its events, in order, until the
/// connection ends; then delivers `Disconnected`.
async fn read_task<In, Out>(
    read: OwnedReadHalf,
    slot: Arc<Slot>,
    shared: Arc<Shared<Out>>,
    decoder: Arc<dyn Decode<In>>,
    sink: Sink<In, Out>,
    writer_done: CancellationToken,
    writer: JoinHandle<()>,
) where
    In: Send + 'static,
    Out: Send + Sync + 'static,
{
    let client = slot.id;
    let encoder = &*shared.encoder;
    sink.deliver(
        Event::Connected {
            client,
            peer: slot.peer.clone(),
        },
        &slot,
        encoder,
    )
    .await;

    let mut frames = FramedRead::new(read, FrameDecoder::new(shared.limits.max_message_size));
    // Made once, not per frame: each registers a waiter with its token.
    let killed = slot.kill.cancelled();
    let written = writer_done.cancelled();
    tokio::pin!(killed, written);
    let mut watch_writer = true;
    let ended = loop {
        // The kill and the writer's end are seen by a load before each
        // frame, so they still come first; their futures are polled only
        // when no frame is ready (each poll registers a waker under a lock:
        // polled ahead of every frame, they cost each request four of those).
        let next = if slot.kill.is_cancelled() {
            break None;
        } else if watch_writer && writer_done.is_cancelled() {
            None
        } else {
            tokio::select! {
                biased;
                next = frames.next() => Some(next),
                _ = &mut killed => break None,
                _ = &mut written, if watch_writer => None,
            }
        };
        let Some(next) = next else {
            if slot.close.is_cancelled() {
                // A close we asked for is complete.
                break None;
            }
            // Writing failed: the peer is likely gone, but read what it
            // sent before it went.
            watch_writer = false;
            continue;
        };
        match next {
            Some(Ok(frame)) => dispatch(frame, &slot, &shared, &*decoder, &sink).await,
            None => break Some(DisconnectReason::Closed),
            Some(Err(err @ (FrameError::EndedMidFrame { .. } | FrameError::Io(_)))) => {
                break Some(DisconnectReason::from_read_error(err));
            }
            Some(Err(err)) => {
                // The stream can no longer be cut into frames: say why, then
                // drop the client.
                let code = match err {
                    FrameError::TooLarge { .. } => ErrorCode::TOO_LARGE,
                    _ => ErrorCode::MALFORMED,
                };
                let _ = slot.push(error_frame(0, code, &err.to_string()));
                let reason = DisconnectReason::Protocol(err.to_string());
                let error = Error::from(err);
                tracing::warn!(%client, %error, "dropping a client that broke the wire format");
                sink.deliver(Event::Error { client, error }, &slot, encoder)
                    .await;
                break Some(reason);
            }
        }
    };

    // Not a client any more: broadcasts skip it. Deliver what is queued
    // (the writer lingers at most the linger time), then report.
    shared.clients().remove(&client);
    if let Some(reason) = ended {
        slot.close(reason);
    }
    drop(frames);
    let _ = writer.await;
    sink.deliver(
        Event::Disconnected {
            client,
            reason: slot.reason(),
        },
        &slot,
        encoder,
    )
    .await;
}

/// Turns one frame into an event.
async fn dispatch<In, Out>(
    frame: Frame,
    slot: &Arc<Slot>,
    shared: &Shared<Out>,
    decoder: &dyn Decode<In>,
    sink: &Sink<In, Out>,
) where
    Out: Send + Sync + 'static,
{
    let client = slot.id;
    let encoder = &*shared.encoder;
    let event = match frame.kind {
        Kind::Message => match decoder.decode(&frame.body) {
            Ok(message) => Event::Message { client, message },
            Err(err) => {
                let _ = slot.push(error_frame(0, ErrorCode::UNDECODABLE, &err.to_string()));
                Event::Error {
                    client,
                    error: err.into(),
                }
            }
        },
        Kind::Request if frame.id == 0 => {
            let why = "request id 0 is reserved; requests need a nonzero id";
            let _ = slot.push(error_frame(0, ErrorCode::UNEXPECTED, why));
            Event::Error {
                client,
                error: Error::Protocol(why.into()),
            }
        }
        Kind::Request => match decoder.decode(&frame.body) {
            Ok(message) => Event::Request {
                client,
                message,
                responder: Responder::new(slot.clone(), shared.encoder.clone(), frame.id),
            },
            Err(err) => {
                let _ = slot.push(error_frame(
                    frame.id,
                    ErrorCode::UNDECODABLE,
                    &err.to_string(),
                ));
                Event::Error {
                    client,
                    error: err.into(),
                }
            }
        },
        Kind::Reply => {
            let why = format!(
                "a reply (id {}) answers no request: this server sends none",
                frame.id
            );
            let _ = slot.push(error_frame(0, ErrorCode::UNEXPECTED, &why));
            Event::Error {
                client,
                error: Error::Protocol(why),
            }
        }
        Kind::Error => {
            let (code, message) = frame.error_parts();
            Event::Error {
                client,
                error: Error::Remote { code, message },
            }
        }
    };
    sink.deliver(event, slot, encoder).await;
}
