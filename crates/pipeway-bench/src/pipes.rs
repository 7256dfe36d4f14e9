//! The pipe benchmarks: byte-mode and message-mode round trips and
//! throughput, pipeway against raw Unix sockets, in one run.
//!
//! Every case runs its server on its own thread and its client on the
//! calling thread, both pinned to CPU 0 (see the crate docs for why).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Batches, Table, median_per_op, pin_to_cpu};

/// How long to measure.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Batches per case; each case reports the median batch.
    pub batches: usize,
    /// Round trips per batch at 4 KiB and below (fewer for larger messages).
    pub round_trips: usize,
    /// Bytes moved per throughput batch.
    pub transfer: usize,
    /// The size of each write in a throughput batch.
    pub chunk: usize,
}

impl Settings {
    /// The README's settings (about a minute on the project's machines).
    pub fn full() -> Self {
        Self {
            batches: 31,
            round_trips: 2000,
            transfer: 64 << 20,
            chunk: 64 << 10,
        }
    }

    /// A quick look (a few seconds); noisier.
    pub fn quick() -> Self {
        Self {
            batches: 7,
            round_trips: 300,
            transfer: 16 << 20,
            chunk: 64 << 10,
        }
    }

    /// Round trips per batch for messages of `size` bytes: fewer for large
    /// ones, so every case takes about as long.
    fn round_trips_for(&self, size: usize) -> usize {
        (self.round_trips * 4096 / size.max(4096)).max(20)
    }
}

/// Runs every pipe benchmark and returns its tables.
pub fn run(settings: &Settings) -> Vec<Table> {
    pin_to_cpu(0);
    vec![
        byte_round_trip(settings, 64),
        byte_round_trip(settings, 4096),
        byte_throughput(settings),
        message_round_trip(settings, 64),
        message_round_trip(settings, 4096),
        message_round_trip(settings, 1 << 20),
    ]
}

// ---------------------------------------------------------------------------
// Endpoints.

fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwbench-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn temp_socket(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.sock", unique(tag)))
}

/// Runs `serve` on a thread pinned to CPU 0.
fn server<F: FnOnce() + Send + 'static>(serve: F) -> JoinHandle<()> {
    std::thread::spawn(move || {
        pin_to_cpu(0);
        serve();
    })
}

/// Answers every `size` bytes with the same bytes, until end-of-file.
fn echo<S: Read + Write>(mut stream: S, size: usize) {
    let mut buf = vec![0u8; size];
    while stream.read_exact(&mut buf).is_ok() {
        if stream.write_all(&buf).is_err() {
            break;
        }
    }
}

/// Reads `total` bytes, answers one byte, and again, until end-of-file.
fn sink<S: Read + Write>(mut stream: S, total: usize) {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let mut got = 0;
        while got < total {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
        if stream.write_all(&[1]).is_err() {
            return;
        }
    }
}

async fn echo_async<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, size: usize) {
    let mut buf = vec![0u8; size];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            break;
        }
    }
}

async fn sink_async<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, total: usize) {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let mut got = 0;
        while got < total {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
        if stream.write_all(&[1]).await.is_err() {
            return;
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// What a server does with each connection.
#[derive(Clone, Copy)]
enum Serve {
    Echo(usize),
    Sink(usize),
}

fn serve_blocking<S: Read + Write>(stream: S, how: Serve) {
    match how {
        Serve::Echo(size) => echo(stream, size),
        Serve::Sink(total) => sink(stream, total),
    }
}

async fn serve_async<S: AsyncRead + AsyncWrite + Unpin>(stream: S, how: Serve) {
    match how {
        Serve::Echo(size) => echo_async(stream, size).await,
        Serve::Sink(total) => sink_async(stream, total).await,
    }
}

/// A raw std `UnixStream` pair: the baseline.
fn raw_std(how: Serve) -> (UnixStream, JoinHandle<()>) {
    let path = temp_socket("raw");
    let listener = UnixListener::bind(&path).expect("bind");
    let handle = server(move || {
        let (stream, _) = listener.accept().expect("accept");
        serve_blocking(stream, how);
    });
    let client = UnixStream::connect(&path).expect("connect");
    let _ = std::fs::remove_file(&path);
    (client, handle)
}

fn pipeway_blocking(how: Serve) -> (pipeway::PipeStream, JoinHandle<()>) {
    let name = unique("pw");
    let listener = pipeway::PipeListener::bind(name.as_str()).expect("bind");
    let handle = server(move || {
        let stream = listener.accept().expect("accept");
        serve_blocking(stream, how);
    });
    (
        pipeway::PipeStream::connect(name.as_str()).expect("connect"),
        handle,
    )
}

#[cfg(feature = "interprocess")]
fn interprocess_blocking(how: Serve) -> (interprocess::local_socket::Stream, JoinHandle<()>) {
    use interprocess::local_socket::{GenericFilePath, ListenerOptions, prelude::*};
    let path = temp_socket("ipc");
    let name = path.clone().to_fs_name::<GenericFilePath>().expect("name");
    let listener = ListenerOptions::new()
        .name(name)
        .create_sync()
        .expect("bind");
    let handle = server(move || {
        let stream = listener.accept().expect("accept");
        serve_blocking(stream, how);
    });
    let name = path.to_fs_name::<GenericFilePath>().expect("name");
    (
        interprocess::local_socket::Stream::connect(name).expect("connect"),
        handle,
    )
}

/// A tokio server on its own pinned thread and current-thread runtime.
fn async_server<F, Fut>(serve: F) -> JoinHandle<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    server(move || runtime().block_on(serve()))
}

// ---------------------------------------------------------------------------
// Byte mode.

fn blocking_round_trip<S: Read + Write + ?Sized>(
    client: &mut S,
    size: usize,
    settings: &Settings,
) -> Duration {
    let message = vec![0x5au8; size];
    let mut reply = vec![0u8; size];
    median_per_op(settings.batches, settings.round_trips_for(size), || {
        client.write_all(&message).expect("write");
        client.read_exact(&mut reply).expect("read");
    })
}

fn blocking_transfer<S: Read + Write + ?Sized>(client: &mut S, settings: &Settings) -> Duration {
    let chunk = vec![0x5au8; settings.chunk];
    let mut ack = [0u8];
    median_per_op(settings.batches, 1, || {
        for _ in 0..settings.transfer / settings.chunk {
            client.write_all(&chunk).expect("write");
        }
        client.read_exact(&mut ack).expect("ack");
    })
}

async fn async_round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    size: usize,
    settings: &Settings,
) -> Duration {
    let message = vec![0x5au8; size];
    let mut reply = vec![0u8; size];
    let mut timer = Batches::new(settings.batches, settings.round_trips_for(size));
    while let Some(ops) = timer.next_batch() {
        for _ in 0..ops {
            client.write_all(&message).await.expect("write");
            client.read_exact(&mut reply).await.expect("read");
        }
    }
    timer.median()
}

async fn async_transfer<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    settings: &Settings,
) -> Duration {
    let chunk = vec![0x5au8; settings.chunk];
    let mut ack = [0u8];
    let mut timer = Batches::new(settings.batches, 1);
    while timer.next_batch().is_some() {
        for _ in 0..settings.transfer / settings.chunk {
            client.write_all(&chunk).await.expect("write");
        }
        client.read_exact(&mut ack).await.expect("ack");
    }
    timer.median()
}

/// What a byte-mode case measures.
#[derive(Clone, Copy)]
enum Measure {
    RoundTrip(usize),
    Transfer,
}

impl Measure {
    fn serve(self, settings: &Settings) -> Serve {
        match self {
            Measure::RoundTrip(size) => Serve::Echo(size),
            Measure::Transfer => Serve::Sink(settings.transfer),
        }
    }

    fn blocking<S: Read + Write + ?Sized>(self, client: &mut S, settings: &Settings) -> Duration {
        match self {
            Measure::RoundTrip(size) => blocking_round_trip(client, size, settings),
            Measure::Transfer => blocking_transfer(client, settings),
        }
    }

    async fn asynchronous<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        client: &mut S,
        settings: &Settings,
    ) -> Duration {
        match self {
            Measure::RoundTrip(size) => async_round_trip(client, size, settings).await,
            Measure::Transfer => async_transfer(client, settings).await,
        }
    }
}

/// Measures every byte-mode case; the raw std socket first, as the baseline.
fn byte_cases(table: &mut Table, measure: Measure, settings: &Settings) {
    let how = measure.serve(settings);
    let (mut client, handle) = raw_std(how);
    table.add(
        "raw std UnixStream",
        measure.blocking(&mut client, settings),
    );
    drop(client);
    handle.join().expect("server");

    let (mut client, handle) = pipeway_blocking(how);
    table.add(
        "pipeway (blocking)",
        measure.blocking(&mut client, settings),
    );
    drop(client);
    handle.join().expect("server");

    #[cfg(feature = "interprocess")]
    {
        let (mut client, handle) = interprocess_blocking(how);
        table.add(
            "interprocess local socket",
            measure.blocking(&mut client, settings),
        );
        drop(client);
        handle.join().expect("server");
    }

    let rt = runtime();
    let path = temp_socket("tokio");
    let listener_path = path.clone();
    let (ready, bound) = std::sync::mpsc::channel();
    let handle = async_server(move || async move {
        let listener = tokio::net::UnixListener::bind(&listener_path).expect("bind");
        ready.send(()).expect("ready");
        let (stream, _) = listener.accept().await.expect("accept");
        serve_async(stream, how).await;
    });
    bound.recv().expect("bound");
    let figure = rt.block_on(async {
        let mut client = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect");
        measure.asynchronous(&mut client, settings).await
    });
    table.add("raw tokio UnixStream", figure);
    handle.join().expect("server");
    let _ = std::fs::remove_file(&path);

    let name = unique("pwtokio");
    let (ready, bound) = std::sync::mpsc::channel();
    let server_name = name.clone();
    let handle = async_server(move || async move {
        let listener = pipeway::tokio::PipeListener::bind(server_name.as_str()).expect("bind");
        ready.send(()).expect("ready");
        let stream = listener.accept().await.expect("accept");
        serve_async(stream, how).await;
    });
    bound.recv().expect("bound");
    let figure = rt.block_on(async {
        let mut client = pipeway::tokio::PipeStream::connect(name.as_str())
            .await
            .expect("connect");
        measure.asynchronous(&mut client, settings).await
    });
    table.add("pipeway (tokio)", figure);
    handle.join().expect("server");
}

/// The byte-mode round-trip table for messages of `size` bytes.
pub fn byte_round_trip(settings: &Settings, size: usize) -> Table {
    let mut table = Table::latency(format!("Byte mode: {} round trip", size_label(size)));
    byte_cases(&mut table, Measure::RoundTrip(size), settings);
    table
}

fn byte_throughput(settings: &Settings) -> Table {
    let mut table = Table::throughput(
        format!(
            "Byte mode: throughput, {} writes",
            size_label(settings.chunk)
        ),
        settings.transfer as u64,
    );
    byte_cases(&mut table, Measure::Transfer, settings);
    table
}

// ---------------------------------------------------------------------------
// Message mode.

fn message_round_trip(settings: &Settings, size: usize) -> Table {
    let mut table = Table::latency(format!("Message mode: {} round trip", size_label(size)));
    let (mut client, handle) = raw_std(Serve::Echo(size));
    table.add(
        "raw std UnixStream (bytes)",
        blocking_round_trip(&mut client, size, settings),
    );
    drop(client);
    handle.join().expect("server");

    if size <= 64 << 10 {
        table.add(
            "raw SOCK_SEQPACKET",
            raw_seqpacket_round_trip(settings, size),
        );
    }

    let name = unique("pwmsg");
    let listener = pipeway::MessageListener::bind(name.as_str()).expect("bind");
    let handle = server(move || {
        let stream = listener.accept().expect("accept");
        let mut buf = vec![0u8; size];
        while let Ok(Some(n)) = stream.recv(&mut buf) {
            if stream.send(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let client = pipeway::MessageStream::connect(name.as_str()).expect("connect");
    let message = vec![0x5au8; size];
    let mut reply = vec![0u8; size];
    table.add(
        "pipeway MessageStream (blocking)",
        median_per_op(settings.batches, settings.round_trips_for(size), || {
            client.send(&message).expect("send");
            client.recv(&mut reply).expect("recv").expect("a reply");
        }),
    );
    drop(client);
    handle.join().expect("server");

    let name = unique("pwmsgtokio");
    let (ready, bound) = std::sync::mpsc::channel();
    let server_name = name.clone();
    let handle = async_server(move || async move {
        let listener = pipeway::tokio::MessageListener::bind(server_name.as_str()).expect("bind");
        ready.send(()).expect("ready");
        let stream = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; size];
        while let Ok(Some(n)) = stream.recv(&mut buf).await {
            if stream.send(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    bound.recv().expect("bound");
    let figure = runtime().block_on(async {
        let client = pipeway::tokio::MessageStream::connect(name.as_str())
            .await
            .expect("connect");
        let message = vec![0x5au8; size];
        let mut reply = vec![0u8; size];
        let mut timer = Batches::new(settings.batches, settings.round_trips_for(size));
        while let Some(ops) = timer.next_batch() {
            for _ in 0..ops {
                client.send(&message).await.expect("send");
                client
                    .recv(&mut reply)
                    .await
                    .expect("recv")
                    .expect("a reply");
            }
        }
        timer.median()
    });
    table.add("pipeway MessageStream (tokio)", figure);
    handle.join().expect("server");
    table
}

/// One record each way on a seqpacket socket pair: what message mode costs
/// the kernel, with no framing at all (it cannot carry 1 MiB records).
fn raw_seqpacket_round_trip(settings: &Settings, size: usize) -> Duration {
    use rustix::net::{
        AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, send, socketpair,
    };
    let (client, server_end) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    let handle = server(move || {
        let mut buf = vec![0u8; size];
        while let Ok((_, n)) = recv(&server_end, &mut buf[..], RecvFlags::empty()) {
            if n == 0 || send(&server_end, &buf[..n], SendFlags::NOSIGNAL).is_err() {
                break;
            }
        }
    });
    let message = vec![0x5au8; size];
    let mut reply = vec![0u8; size];
    let figure = median_per_op(settings.batches, settings.round_trips_for(size), || {
        send(&client, &message, SendFlags::NOSIGNAL).expect("send");
        recv(&client, &mut reply[..], RecvFlags::empty()).expect("recv");
    });
    drop(client);
    handle.join().expect("server");
    figure
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
