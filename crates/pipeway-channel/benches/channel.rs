//! Channel benchmarks: a typed request/response round trip with each codec
//! against a raw byte-pipe echo of the same bytes, and broadcast of small
//! messages to 100 clients against writing the same frames to 100 byte
//! pipes by hand.
//!
//! Client and server are threads of one process, each with a current-thread
//! tokio runtime, both pinned to CPU 0; each figure is the median of many
//! batches, reported as a ratio to the first row, measured in the same run.
//! The round-trip cases are all connected at once and measured in rounds,
//! one batch of each per round, so that load from elsewhere on the machine
//! weighs on every case alike.
//!
//! Words after `--` choose cases by name: `cargo bench -p pipeway-channel --
//! raw postcard`.
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
use std::time::Instant;
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

/// One case of the round-trip table, set up and connected: `run` does `n`
/// round trips; `finish` disconnects and waits for its server to end. Each
/// case has a client runtime of its own, so that no case pays for another's
/// tasks or timers.
trait RoundTrip {
    fn run(&mut self, n: usize);
    fn finish(self: Box<Self>);
}

/// Measures every case in rounds, one batch of each per round, so that
/// whatever else the machine does in the meantime weighs on all of them
/// alike; returns each case's median time per round trip.
fn interleaved(mut cases: Vec<(String, Box<dyn RoundTrip>)>, table: &mut Table) {
    let mut samples = vec![Vec::with_capacity(BATCHES); cases.len()];
    // Round 0 warms up and is not counted.
    for round in 0..=BATCHES {
        for ((_, case), samples) in cases.iter_mut().zip(&mut samples) {
            let started = Instant::now();
            case.run(OPS);
            if round > 0 {
                samples.push(started.elapsed() / OPS as u32);
            }
        }
    }
    for ((name, case), mut samples) in cases.into_iter().zip(samples) {
        samples.sort();
        table.add(name, samples[samples.len() / 2]);
        case.finish();
    }
}

/// Raw std sockets, blocking: the floor.
struct RawStd {
    client: UnixStream,
    out: Vec<u8>,
    back: Vec<u8>,
    server: JoinHandle<()>,
    path: std::path::PathBuf,
}

impl RawStd {
    fn start(len: usize) -> Box<dyn RoundTrip> {
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
        Box::new(Self {
            client: UnixStream::connect(&path).unwrap(),
            out: vec![7u8; len],
            back: vec![0u8; len],
            server,
            path,
        })
    }
}

impl RoundTrip for RawStd {
    fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.client.write_all(&self.out).unwrap();
            self.client.read_exact(&mut self.back).unwrap();
        }
    }
    fn finish(self: Box<Self>) {
        drop(self.client);
        self.server.join().unwrap();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A pipeway tokio byte pipe echoing the same bytes: what channels are
/// built on.
struct RawPipe {
    rt: tokio::runtime::Runtime,
    client: PipeStream,
    out: Vec<u8>,
    back: Vec<u8>,
    server: JoinHandle<()>,
}

impl RawPipe {
    fn start(len: usize) -> Box<dyn RoundTrip> {
        let rt = runtime();
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
        Box::new(Self {
            client: rt.block_on(PipeStream::connect(pipe.as_str())).unwrap(),
            rt,
            out: vec![7u8; len],
            back: vec![0u8; len],
            server,
        })
    }
}

impl RoundTrip for RawPipe {
    fn run(&mut self, n: usize) {
        self.rt.block_on(async {
            for _ in 0..n {
                self.client.write_all(&self.out).await.unwrap();
                self.client.read_exact(&mut self.back).await.unwrap();
            }
        });
    }
    fn finish(self: Box<Self>) {
        drop(self.client);
        self.server.join().unwrap();
    }
}

/// A typed request and its reply: the server echoes the struct, from its
/// event stream or (`handler`) from a handler running in the client's
/// reader task.
struct Requests {
    rt: tokio::runtime::Runtime,
    client: Client<Reading>,
    request: Reading,
    stop: tokio::sync::oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Requests {
    fn start<C: Codec>(codec: C, handler: bool) -> Box<dyn RoundTrip> {
        let rt = runtime();
        let pipe = name(&format!("{}-{handler}", codec.name()));
        let server_pipe = pipe.clone();
        let server_codec = codec.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = server_thread(move |ready| async move {
            let builder = Server::<Reading>::builder().codec(server_codec);
            let server = if handler {
                let server = builder
                    .serve(
                        server_pipe.as_str(),
                        |_client, reading: Reading| async move { Some(reading) },
                    )
                    .unwrap();
                ready.send(()).unwrap();
                server
            } else {
                let (server, mut events) = builder.bind(server_pipe.as_str()).unwrap();
                ready.send(()).unwrap();
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        if let Event::Request {
                            message, responder, ..
                        } = event
                        {
                            responder.reply(&message).unwrap();
                        }
                    }
                });
                server
            };
            let _ = stopped.await;
            server.shutdown().await;
        });
        let (client, _incoming) = rt
            .block_on(
                Client::<Reading>::builder()
                    .codec(codec)
                    .no_reconnect()
                    .connect(pipe.as_str()),
            )
            .unwrap();
        Box::new(Self {
            rt,
            client,
            request: reading(),
            stop,
            server,
        })
    }
}

impl RoundTrip for Requests {
    fn run(&mut self, n: usize) {
        let rt = &self.rt;
        // In a task of its own, as an application would make requests:
        // `block_on`'s own future, woken by another task, makes the
        // current-thread scheduler poll the driver once more per request.
        let client = self.client.clone();
        let request = self.request.clone();
        rt.block_on(rt.spawn(async move {
            for _ in 0..n {
                let reply = client.request(&request).await.unwrap();
                debug_assert_eq!(reply, request);
            }
        }))
        .unwrap();
    }
    fn finish(self: Box<Self>) {
        self.rt.block_on(self.client.close()).unwrap();
        let _ = self.stop.send(());
        self.server.join().unwrap();
    }
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

/// Cases whose names contain one of the command line's words (all cases
/// when there are none): `cargo bench -p pipeway-channel -- postcard`.
struct Filter(Vec<String>);

impl Filter {
    fn from_args() -> Self {
        Self(
            std::env::args()
                .skip(1)
                .filter(|arg| !arg.starts_with("--"))
                .collect(),
        )
    }

    fn wants(&self, case: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|word| case.contains(word.as_str()))
    }

    fn run(&self, table: &mut Table, case: String, measure: impl FnOnce() -> Duration) {
        if self.wants(&case) {
            table.add(case, measure());
        }
    }
}

fn main() {
    pin_to_cpu(0);
    let filter = Filter::from_args();
    let rt = runtime();
    let len = frame_len(&Postcard);

    let mut round_trip = Table::latency(format!(
        "Typed request/response round trip, small struct (postcard frame {len} B, JSON {} B)",
        frame_len(&Json)
    ));
    let mut cases: Vec<(String, Box<dyn RoundTrip>)> = Vec::new();
    let mut add = |case: String, start: &dyn Fn() -> Box<dyn RoundTrip>| {
        if filter.wants(&case) {
            cases.push((case, start()));
        }
    };
    add(
        format!("raw pipeway tokio byte pipe, {len} B echo"),
        &|| RawPipe::start(len),
    );
    add(format!("raw std UnixStream, {len} B echo"), &|| {
        RawStd::start(len)
    });
    add("channel request, postcard".into(), &|| {
        Requests::start(Postcard, false)
    });
    add("channel request, MessagePack".into(), &|| {
        Requests::start(MessagePack, false)
    });
    add("channel request, JSON".into(), &|| {
        Requests::start(Json, false)
    });
    add("channel request, postcard, handler API".into(), &|| {
        Requests::start(Postcard, true)
    });
    interleaved(cases, &mut round_trip);
    round_trip.print();

    let mut broadcast = Table::rate(format!(
        "Broadcast of a small message to {CLIENTS} clients (messages/s; each reaches all {CLIENTS})"
    ));
    let t = &mut broadcast;
    filter.run(
        t,
        format!("raw broadcast: {len} B written to {CLIENTS} byte pipes, one write each"),
        || raw_broadcast(&rt, len, false),
    );
    filter.run(
        t,
        format!(
            "raw broadcast: bursts of {BURST} written to {CLIENTS} byte pipes, one write per burst"
        ),
        || raw_broadcast(&rt, len, true),
    );
    filter.run(t, "channel broadcast, postcard".into(), || {
        channel_broadcast(&rt, Postcard)
    });
    filter.run(t, "channel broadcast, JSON".into(), || {
        channel_broadcast(&rt, Json)
    });
    broadcast.print();
}
