//! Channels: typed request/response against raw byte echoes of the same
//! size (blocking and tokio), a stream of one-way messages against a raw
//! byte transfer, and broadcast against batched raw writes.
//!
//! The channel's server runs in a peer on a current-thread runtime, as the
//! raw tokio servers do.

use std::io;
use std::time::{Duration, Instant};

use pipeway_channel::codec::{Codec, Json, Postcard};
use pipeway_channel::wire::{HEADER_LEN, PREFIX_LEN};
use pipeway_channel::{Client, Event, Server};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::cases::common::{STREAM_SALT, arg, runtime};
use crate::cases::pipes::{self, RAW_STD, RAW_TOKIO};
use crate::verify::mismatch;
use crate::{Context, Group, Peer, StreamCheck, Subject, Table, peer, size_label};

mod broadcast;
mod copied;

/// The group.
pub fn group() -> Group {
    Group::new(
        "channel",
        "channels: request/response and throughput against raw byte echoes, broadcast against batched raw writes",
        tables,
    )
    .role(ROLE, serve)
    .role(broadcast::ROLE, broadcast::serve)
    .role(copied::ROLE, copied::serve)
}

const ROLE: &str = "channel-server";

/// The small struct requests carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reading {
    sensor: u32,
    seq: u64,
    value: f64,
    unit: String,
    ok: bool,
}

impl Reading {
    /// Whether this is `reading(seq)`, checked without building one.
    pub(crate) fn is(&self, seq: u64) -> bool {
        self.seq == seq
            && self.sensor == 12
            && self.value == 21.5
            && self.unit == "celsius"
            && self.ok
    }
}

pub(crate) fn reading(seq: u64) -> Reading {
    Reading {
        sensor: 12,
        seq,
        value: 21.5,
        unit: "celsius".into(),
        ok: true,
    }
}

/// The length of a frame carrying a [`Reading`] with `codec` (a `seq`
/// below 2^21 encodes in 3 bytes in postcard; the tables use that size).
pub(crate) fn frame_len<C: Codec>(codec: &C) -> usize {
    let mut body = Vec::new();
    codec
        .encode(&reading(1 << 20), &mut body)
        .expect("a reading encodes");
    PREFIX_LEN + HEADER_LEN + body.len()
}

/// What a transfer sends: chunks, then a request for the tally.
#[derive(Debug, Serialize, Deserialize)]
enum Up {
    Chunk(ByteBuf),
    Tally,
}

/// The server's answer to [`Up::Tally`]: whether every chunk since the
/// last tally carried the right stamps, and how many bytes they held.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Tally {
    bytes: u64,
    ok: bool,
}

/// Transfers: 64 MiB per operation in 64 KiB messages.
const TOTAL: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

const TOKIO_POSTCARD: &str = "channel request (tokio), postcard";

fn tables() -> Vec<Table> {
    let len = frame_len(&Postcard);
    let raw_std = format!("{RAW_STD}, {len} B echo");
    let raw_tokio = format!("{RAW_TOKIO}, {len} B echo");
    let requests = Table::latency(
        format!(
            "Channel request/response, small struct (postcard frame {len} B, JSON {} B)",
            frame_len(&Json)
        ),
        len,
        2000,
    )
    .row(raw_std.clone(), move |cx| {
        pipes::start(cx, pipes::Kind::Std, pipes::Op::Echo(len))
    })
    .row_vs(raw_tokio.clone(), &[&raw_std], move |cx| {
        pipes::start(cx, pipes::Kind::Tokio, pipes::Op::Echo(len))
    })
    .row_vs(TOKIO_POSTCARD, &[&raw_tokio, &raw_std], |cx| {
        Requests::start(cx, "postcard")
    })
    .row_vs("channel request (tokio), JSON", &[&raw_tokio], |cx| {
        Requests::start(cx, "json")
    })
    .row_vs(
        "channel request (blocking client), postcard",
        &[&raw_std],
        BlockingRequests::start,
    );

    let throughput = Table::throughput(
        format!("Channel throughput, {} messages", size_label(CHUNK)),
        CHUNK,
        TOTAL as u64,
        1,
    )
    .row(RAW_STD, |cx| {
        pipes::start(cx, pipes::Kind::Std, pipes::Op::Sink(TOTAL, CHUNK))
    })
    .row_vs(RAW_TOKIO, &[RAW_STD], |cx| {
        pipes::start(cx, pipes::Kind::Tokio, pipes::Op::Sink(TOTAL, CHUNK))
    })
    .row_vs(copied::NAME, &[RAW_STD], copied::start)
    .row_vs(
        copied::NAME_TOKIO_SERVER,
        &[RAW_STD, copied::NAME],
        copied::start_tokio_server,
    )
    .row_vs(
        "channel send (tokio), postcard",
        &[RAW_TOKIO, RAW_STD],
        Transfer::start,
    )
    .row_vs(
        "channel send (blocking client), postcard",
        &[RAW_STD, copied::NAME, copied::NAME_TOKIO_SERVER],
        BlockingTransfer::start,
    );

    vec![requests, throughput, broadcast::table()]
}

/// Starts a channel server of `kind` (`postcard`, `json`, `transfer`) in a
/// peer; returns the peer and the pipe's name.
fn spawn_server(cx: &Context, kind: &str) -> io::Result<(Peer, String)> {
    let name = cx.unique("channel");
    let peer = Peer::spawn(ROLE, &[kind.to_owned(), name.clone()], cx.cpu())?;
    Ok((peer, name))
}

fn channel_error(err: pipeway_channel::Error) -> io::Error {
    io::Error::other(err.to_string())
}

/// Typed requests from a tokio client, each answered with the same struct.
struct Requests {
    rt: tokio::runtime::Runtime,
    client: Option<Client<Reading>>,
    seq: u64,
    peer: Peer,
}

impl Requests {
    fn start(cx: &Context, codec: &str) -> io::Result<Box<dyn Subject>> {
        let (peer, name) = spawn_server(cx, codec)?;
        let rt = runtime()?;
        let client = rt.block_on(async {
            match codec {
                "json" => connect(Json, &name).await,
                _ => connect(Postcard, &name).await,
            }
        })?;
        Ok(Box::new(Self {
            rt,
            client: Some(client),
            seq: 1 << 20,
            peer,
        }))
    }
}

async fn connect<C: Codec>(codec: C, name: &str) -> io::Result<Client<Reading>> {
    let (client, _incoming) = Client::<Reading>::builder()
        .codec(codec)
        .no_reconnect()
        .connect(name)
        .await
        .map_err(channel_error)?;
    Ok(client)
}

impl Subject for Requests {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let client = self.client.clone().expect("connected until finish");
        let first = self.seq;
        self.seq += ops as u64;
        // In a task of its own, as an application makes requests.
        let task = self.rt.spawn(async move {
            let started = Instant::now();
            for seq in first..first + ops as u64 {
                let request = reading(seq);
                let reply = client.request(&request).await.map_err(channel_error)?;
                if reply != request {
                    return Err(mismatch(format!("request {seq} answered with {reply:?}")));
                }
            }
            Ok(started.elapsed())
        });
        self.rt.block_on(task).map_err(io::Error::other)?
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if let Some(client) = self.client.take() {
            self.rt.block_on(client.close()).map_err(channel_error)?;
        }
        self.peer.finish()
    }
}

/// Typed requests from the blocking client (no runtime in this process).
struct BlockingRequests {
    client: Option<pipeway_channel::blocking::Client<Reading>>,
    seq: u64,
    peer: Peer,
}

impl BlockingRequests {
    fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
        let (peer, name) = spawn_server(cx, "postcard")?;
        let client = pipeway_channel::blocking::Client::<Reading>::builder()
            .codec(Postcard)
            .connect(name.as_str())
            .map_err(channel_error)?;
        Ok(Box::new(Self {
            client: Some(client),
            seq: 1 << 20,
            peer,
        }))
    }
}

impl Subject for BlockingRequests {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let client = self.client.as_mut().expect("connected until finish");
        let started = Instant::now();
        for seq in self.seq..self.seq + ops as u64 {
            let request = reading(seq);
            let reply = client.request(&request).map_err(channel_error)?;
            if reply != request {
                return Err(mismatch(format!("request {seq} answered with {reply:?}")));
            }
        }
        self.seq += ops as u64;
        Ok(started.elapsed())
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if let Some(client) = self.client.take() {
            client.close().map_err(channel_error)?;
        }
        self.peer.finish()
    }
}

/// One-way chunks from the blocking client, then a tally request.
struct BlockingTransfer {
    client: Option<pipeway_channel::blocking::Client<Up, Tally>>,
    stamps: StreamCheck,
    message: Up,
    peer: Peer,
}

impl BlockingTransfer {
    fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
        let (peer, name) = spawn_server(cx, "transfer")?;
        let client = pipeway_channel::blocking::Client::<Up, Tally>::builder()
            .codec(Postcard)
            .connect(name.as_str())
            .map_err(channel_error)?;
        Ok(Box::new(Self {
            client: Some(client),
            stamps: StreamCheck::new(CHUNK, STREAM_SALT),
            message: Up::Chunk(ByteBuf::from(vec![0x5a; CHUNK])),
            peer,
        }))
    }
}

impl Subject for BlockingTransfer {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let client = self.client.as_mut().expect("connected until finish");
        let started = Instant::now();
        for _ in 0..ops {
            for _ in 0..TOTAL / CHUNK {
                if let Up::Chunk(chunk) = &mut self.message {
                    self.stamps.fill(chunk);
                }
                client.send(&self.message).map_err(channel_error)?;
            }
            let tally = client.request(&Up::Tally).map_err(channel_error)?;
            let expected = Tally {
                bytes: TOTAL as u64,
                ok: true,
            };
            if tally != expected {
                return Err(mismatch(format!("the server counted {tally:?}")));
            }
        }
        Ok(started.elapsed())
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if let Some(client) = self.client.take() {
            client.close().map_err(channel_error)?;
        }
        self.peer.finish()
    }
}

/// One-way chunks from a tokio client, then a tally request.
struct Transfer {
    rt: tokio::runtime::Runtime,
    client: Option<Client<Up, Tally>>,
    stamps: StreamCheck,
    /// Always an [`Up::Chunk`], stamped in place before each send (`send`
    /// takes a reference: no copy of the chunk is made for it).
    message: Up,
    peer: Peer,
}

impl Transfer {
    fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
        let (peer, name) = spawn_server(cx, "transfer")?;
        let rt = runtime()?;
        let client = rt.block_on(async {
            let (client, _incoming) = Client::<Up, Tally>::builder()
                .codec(Postcard)
                .no_reconnect()
                .connect(name.as_str())
                .await
                .map_err(channel_error)?;
            io::Result::Ok(client)
        })?;
        Ok(Box::new(Self {
            rt,
            client: Some(client),
            stamps: StreamCheck::new(CHUNK, STREAM_SALT),
            message: Up::Chunk(ByteBuf::from(vec![0x5a; CHUNK])),
            peer,
        }))
    }
}

impl Subject for Transfer {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let Self {
            rt,
            client,
            stamps,
            message,
            ..
        } = self;
        let client = client.as_ref().expect("connected until finish");
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..ops {
                for _ in 0..TOTAL / CHUNK {
                    if let Up::Chunk(chunk) = message {
                        stamps.fill(chunk);
                    }
                    client.send(message).await.map_err(channel_error)?;
                }
                let tally = client.request(&Up::Tally).await.map_err(channel_error)?;
                let expected = Tally {
                    bytes: TOTAL as u64,
                    ok: true,
                };
                if tally != expected {
                    return Err(mismatch(format!("the server counted {tally:?}")));
                }
            }
            Ok(started.elapsed())
        })
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if let Some(client) = self.client.take() {
            self.rt.block_on(client.close()).map_err(channel_error)?;
        }
        self.peer.finish()
    }
}

/// The server role: `KIND NAME`; serves one client until it leaves. The
/// event loop runs in a task of its own, as the tokio clients' requests do:
/// `block_on`'s own future, woken by another task, makes the current-thread
/// scheduler poll the driver once more per event.
fn serve(args: &[String]) -> io::Result<()> {
    let kind: String = arg(args, 0)?;
    let name: String = arg(args, 1)?;
    runtime()?.block_on(async {
        let serving = match kind.as_str() {
            "json" => tokio::spawn(async move { serve_requests(Json, &name).await }),
            "postcard" => tokio::spawn(async move { serve_requests(Postcard, &name).await }),
            "transfer" => tokio::spawn(async move { serve_transfers(&name).await }),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no channel server {other}"),
                ));
            }
        };
        serving.await.map_err(io::Error::other)?
    })
}

async fn serve_requests<C: Codec>(codec: C, name: &str) -> io::Result<()> {
    let (server, mut events) = Server::<Reading>::builder()
        .codec(codec)
        .bind(name)
        .map_err(channel_error)?;
    peer::ready()?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Request {
                message, responder, ..
            } => responder.reply(&message).map_err(channel_error)?,
            Event::Disconnected { .. } => break,
            Event::Error { error, .. } => return Err(channel_error(error)),
            _ => {}
        }
    }
    server.shutdown().await;
    Ok(())
}

async fn serve_transfers(name: &str) -> io::Result<()> {
    let (server, mut events) = Server::<Up, Tally>::builder()
        .codec(Postcard)
        .bind(name)
        .map_err(channel_error)?;
    peer::ready()?;
    let mut stamps = StreamCheck::new(CHUNK, STREAM_SALT);
    let mut bytes = 0;
    let mut ok = true;
    while let Some(event) = events.recv().await {
        match event {
            Event::Message {
                message: Up::Chunk(chunk),
                ..
            } => {
                ok &= chunk.len() == CHUNK && stamps.check(&chunk).is_ok();
                bytes += chunk.len() as u64;
            }
            Event::Request {
                message: Up::Tally,
                responder,
                ..
            } => {
                let tally = Tally {
                    bytes: std::mem::take(&mut bytes),
                    ok,
                };
                responder.reply(&tally).map_err(channel_error)?;
                ok = true;
            }
            Event::Disconnected { .. } => break,
            Event::Error { error, .. } => return Err(channel_error(error)),
            _ => {}
        }
    }
    server.shutdown().await;
    Ok(())
}
