//! Channel benchmarks: a typed request/response round trip with each codec
//! against a raw byte-pipe echo of the same bytes, and broadcast of small
//! messages to 100 clients against writing the same frames to 100 byte
//! pipes by hand.
//!
//! Client and server are threads of one process, each with a current-thread
//! tokio runtime, both pinned to CPU 0; each figure is the median of many
//! batches, reported as a ratio to the first row, measured in the same run.
//!
//! ```sh
//! cargo bench -p pipeway-channel
//! ```

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use pipeway::tokio::{PipeListener, PipeStream};
use pipeway_bench::{Batches, Table, pin_to_cpu};
use pipeway_channel::codec::{Codec, Json, MessagePack, Postcard};
use pipeway_channel::wire::{HEADER_LEN, PREFIX_LEN};
use pipeway_channel::{Client, Event, Server};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// Round trips per batch, and batches per case.
const OPS: usize = 2000;
const BATCHES: usize = 31;
/// Broadcast: clients, messages per burst, bursts per batch.
const CLIENTS: usize = 100;
const BURST: usize = 100;
const BURSTS: usize = 4;

/// The small struct requests carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: u32,
    seq: u64,
    value: f64,
    unit: String,
    ok: bool,
}

fn reading() -> Reading {
    Reading {
        sensor: 12,
        seq: 1_000_042,
        value: 21.5,
        unit: "celsius".into(),
        ok: true,
    }
}

/// The length of a frame carrying `reading()` with `codec`.
fn frame_len<C: Codec>(codec: &C) -> usize {
    let mut body = Vec::new();
    codec.encode(&reading(), &mut body).unwrap();
    PREFIX_LEN + HEADER_LEN + body.len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn name(tag: &str) -> String {
    format!("pwc-bench-{tag}-{}", std::process::id())
}

/// Runs `serve` on its own pinned thread with its own runtime; returns once
/// it has signalled that it is ready.
fn server_thread<F, Fut>(serve: F) -> JoinHandle<()>
where
    F: FnOnce(std::sync::mpsc::Sender<()>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (ready, is_ready) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        pin_to_cpu(0);
        runtime().block_on(serve(ready));
    });
    is_ready.recv().unwrap();
    handle
}

/// Times `OPS`-sized batches of an async round trip.
async fn time_async<F: AsyncFnMut()>(mut round_trip: F) -> Duration {
    let mut timer = Batches::new(BATCHES, OPS);
    while let Some(ops) = timer.next_batch() {
        for _ in 0..ops {
            round_trip().await;
        }
    }
    timer.median()
}

/// Raw std sockets, blocking: the floor.
fn raw_std(len: usize) -> Duration {
    let path = std::env::temp_dir().join(format!("pwc-bench-std-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        pin_to_cpu(0);
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; len];
        while stream.read_exact(&mut buf).is_ok() {
            stream.write_all(&buf).unwrap();
        }
    });
    let mut client = UnixStream::connect(&path).unwrap();
    let out = vec![7u8; len];
    let mut back = vec![0u8; len];
    let mut timer = Batches::new(BATCHES, OPS);
    while let Some(ops) = timer.next_batch() {
        for _ in 0..ops {
            client.write_all(&out).unwrap();
            client.read_exact(&mut back).unwrap();
        }
    }
    drop(client);
    server.join().unwrap();
    let _ = std::fs::remove_file(&path);
    timer.median()
}

/// A pipeway tokio byte pipe echoing `len` bytes: what channels are built on.
fn raw_pipe(rt: &tokio::runtime::Runtime, len: usize) -> Duration {
    let pipe = name("raw");
    let server_pipe = pipe.clone();
    let server = server_thread(move |ready| async move {
        let listener = PipeListener::bind(server_pipe.as_str()).unwrap();
        ready.send(()).unwrap();
        let mut stream = listener.accept().await.unwrap();
        let mut buf = vec![0u8; len];
        while stream.read_exact(&mut buf).await.is_ok() {
            stream.write_all(&buf).await.unwrap();
        }
    });
    let per_op = rt.block_on(async {
        let mut client = PipeStream::connect(pipe.as_str()).await.unwrap();
        let out = vec![7u8; len];
        let mut back = vec![0u8; len];
        let per_op = time_async(async || {
            client.write_all(&out).await.unwrap();
            client.read_exact(&mut back).await.unwrap();
        })
        .await;
        drop(client);
        per_op
    });
    server.join().unwrap();
    per_op
}

/// A typed request and its reply (the server echoes the struct).
fn channel_request<C: Codec>(rt: &tokio::runtime::Runtime, codec: C) -> Duration {
    let pipe = name(codec.name());
    let server_pipe = pipe.clone();
    let server_codec = codec.clone();
    let server = server_thread(move |ready| async move {
        let (server, mut events) = Server::<Reading>::builder()
            .codec(server_codec)
            .bind(server_pipe.as_str())
            .unwrap();
        ready.send(()).unwrap();
        while let Some(event) = events.recv().await {
            match event {
                Event::Request {
                    message, responder, ..
                } => responder.reply(&message).unwrap(),
                Event::Disconnected { .. } => break,
                _ => {}
            }
        }
        server.shutdown().await;
    });
    let per_op = rt.block_on(async {
        let (client, _incoming) = Client::<Reading>::builder()
            .codec(codec)
            .no_reconnect()
            .connect(pipe.as_str())
            .await
            .unwrap();
        let request = reading();
        let per_op = time_async(async || {
            let reply = client.request(&request).await.unwrap();
            debug_assert_eq!(reply, request);
        })
        .await;
        client.close().await.unwrap();
        per_op
    });
    server.join().unwrap();
    per_op
}

/// A typed request answered by a handler (`ServerBuilder::serve`), which
/// runs in the client's reader task instead of behind the event stream.
fn channel_request_handler<C: Codec>(rt: &tokio::runtime::Runtime, codec: C) -> Duration {
    let pipe = name(&format!("handler-{}", codec.name()));
    let server_pipe = pipe.clone();
    let server_codec = codec.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_thread(move |ready| async move {
        let server = Server::<Reading>::builder()
            .codec(server_codec)
            .serve(
                server_pipe.as_str(),
                |_client, reading: Reading| async move { Some(reading) },
            )
            .unwrap();
        ready.send(()).unwrap();
        let _ = stop_rx.await;
        server.shutdown().await;
    });
    let per_op = rt.block_on(async {
        let (client, _incoming) = Client::<Reading>::builder()
            .codec(codec)
            .no_reconnect()
            .connect(pipe.as_str())
            .await
            .unwrap();
        let request = reading();
        let per_op = time_async(async || {
            let reply = client.request(&request).await.unwrap();
            debug_assert_eq!(reply, request);
        })
        .await;
        client.close().await.unwrap();
        per_op
    });
    let _ = stop_tx.send(());
    server.join().unwrap();
    per_op
}

/// Counts what the clients received and wakes the timer at each target.
struct Tally {
    received: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
}

impl Tally {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            received: AtomicUsize::new(0),
            target: AtomicUsize::new(usize::MAX),
            reached: Notify::new(),
        })
    }

    fn add(&self, n: usize) {
        let total = self.received.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.target.load(Ordering::Acquire) {
            self.reached.notify_one();
        }
    }

    /// Asks for `more` receipts and waits for them.
    async fn wait_for(&self, more: usize) {
        let target = self.received.load(Ordering::Acquire) + more;
        self.target.store(target, Ordering::Release);
        while self.received.load(Ordering::Acquire) < target {
            self.reached.notified().await;
        }
    }
}

/// Times bursts: `burst` tells the server thread to send one burst; the
/// clients' tally says when every client has all of it. Returns the time
/// per message (each to all clients).
async fn time_bursts(burst: &mpsc::Sender<()>, tally: &Tally) -> Duration {
    let mut timer = Batches::new(BATCHES, BURSTS);
    while let Some(bursts) = timer.next_batch() {
        for _ in 0..bursts {
            burst.send(()).await.unwrap();
            tally.wait_for(CLIENTS * BURST).await;
        }
    }
    timer.median() / BURST as u32
}

/// Broadcast with the channel server.
fn channel_broadcast<C: Codec>(rt: &tokio::runtime::Runtime, codec: C) -> Duration {
    let pipe = name(&format!("bcast-{}", codec.name()));
    let (burst_tx, mut burst_rx) = mpsc::channel::<()>(1);
    let server_pipe = pipe.clone();
    let server_codec = codec.clone();
    let server = server_thread(move |ready| async move {
        let (server, _events) = Server::<Reading>::builder()
            .codec(server_codec)
            .bind(server_pipe.as_str())
            .unwrap();
        ready.send(()).unwrap();
        while server.clients().len() < CLIENTS {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let message = reading();
        while burst_rx.recv().await.is_some() {
            for _ in 0..BURST {
                let report = server.broadcast(&message).unwrap();
                assert_eq!(report.queued, CLIENTS);
            }
        }
        server.shutdown().await;
    });
    let per_message = rt.block_on(async {
        let tally = Tally::new();
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (client, mut incoming) = Client::<Reading, Reading>::builder()
                .codec(codec.clone())
                .no_reconnect()
                .connect(pipe.as_str())
                .await
                .unwrap();
            let tally = tally.clone();
            tokio::spawn(async move {
                while incoming.next_message().await.is_some() {
                    tally.add(1);
                }
            });
            clients.push(client);
        }
        let per_message = time_bursts(&burst_tx, &tally).await;
        drop(burst_tx);
        per_message
    });
    server.join().unwrap();
    per_message
}

/// The same frames written by hand to 100 byte pipes: one `write_all` per
/// client per message (`batched`: one per client per burst).
fn raw_broadcast(rt: &tokio::runtime::Runtime, len: usize, batched: bool) -> Duration {
    let pipe = name(if batched { "bcast-raw-b" } else { "bcast-raw" });
    let (burst_tx, mut burst_rx) = mpsc::channel::<()>(1);
    let server_pipe = pipe.clone();
    let server = server_thread(move |ready| async move {
        let listener = PipeListener::bind(server_pipe.as_str()).unwrap();
        ready.send(()).unwrap();
        let mut streams = Vec::new();
        for _ in 0..CLIENTS {
            streams.push(listener.accept().await.unwrap());
        }
        let frame = vec![7u8; len];
        let burst: Vec<u8> = frame.repeat(BURST);
        while burst_rx.recv().await.is_some() {
            if batched {
                for stream in &mut streams {
                    stream.write_all(&burst).await.unwrap();
                }
            } else {
                for _ in 0..BURST {
                    for stream in &mut streams {
                        stream.write_all(&frame).await.unwrap();
                    }
                }
            }
        }
    });
    let per_message = rt.block_on(async {
        let tally = Tally::new();
        for _ in 0..CLIENTS {
            let mut stream = PipeStream::connect(pipe.as_str()).await.unwrap();
            let tally = tally.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut partial = 0;
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    partial += n;
                    tally.add(partial / len);
                    partial %= len;
                }
            });
        }
        let per_message = time_bursts(&burst_tx, &tally).await;
        drop(burst_tx);
        per_message
    });
    server.join().unwrap();
    per_message
}

fn main() {
    pin_to_cpu(0);
    let rt = runtime();
    let len = frame_len(&Postcard);

    let mut round_trip = Table::latency(format!(
        "Typed request/response round trip, small struct (postcard frame {len} B, JSON {} B)",
        frame_len(&Json)
    ));
    round_trip.add(
        format!("raw pipeway tokio byte pipe, {len} B echo"),
        raw_pipe(&rt, len),
    );
    round_trip.add(format!("raw std UnixStream, {len} B echo"), raw_std(len));
    round_trip.add("channel request, postcard", channel_request(&rt, Postcard));
    round_trip.add(
        "channel request, MessagePack",
        channel_request(&rt, MessagePack),
    );
    round_trip.add("channel request, JSON", channel_request(&rt, Json));
    round_trip.add(
        "channel request, postcard, handler API",
        channel_request_handler(&rt, Postcard),
    );
    round_trip.print();

    let mut broadcast = Table::rate(format!(
        "Broadcast of a small message to {CLIENTS} clients (messages/s; each reaches all {CLIENTS})"
    ));
    broadcast.add(
        format!("raw: {len} B written to {CLIENTS} byte pipes, one write each"),
        raw_broadcast(&rt, len, false),
    );
    broadcast.add(
        format!("raw: bursts of {BURST} written to {CLIENTS} byte pipes, one write per burst"),
        raw_broadcast(&rt, len, true),
    );
    broadcast.add(
        "channel broadcast, postcard",
        channel_broadcast(&rt, Postcard),
    );
    broadcast.add("channel broadcast, JSON", channel_broadcast(&rt, Json));
    broadcast.print();
}
