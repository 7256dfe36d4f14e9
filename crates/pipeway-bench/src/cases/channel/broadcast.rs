//! Broadcast: bursts of small messages from a server (in a peer) to 100
//! clients (in the harness, one current-thread runtime), against the same
//! bytes written by hand to raw tokio sockets, a burst per write (the fair
//! baseline: what a program that batches does) or a message per write.
//!
//! Every client checks that each message carries the next sequence number.
//!
//! A floor row writes the same bursts by hand, each frame carrying the
//! postcard encoding of the message the channel sends, and its clients
//! decode each one into the message's type before checking it: what any
//! broadcast of typed messages costs its clients, with no channel at all.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeway_channel::codec::{Codec, Postcard};
use pipeway_channel::{Client, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

use super::{Reading, channel_error, frame_len, reading};
use crate::cases::common::{arg, runtime};
use crate::verify::mismatch;
use crate::{Context, Peer, Subject, Table, peer};
use pipeway_channel::wire::{HEADER_LEN, PREFIX_LEN};

pub(super) const ROLE: &str = "channel-broadcast";

const CLIENTS: usize = 100;
/// Messages per burst: one operation is a burst reaching every client.
const BURST: usize = 100;

const BATCHED: &str = "raw tokio UnixStream, a write per burst per client";

pub(super) fn table() -> Table {
    let len = frame_len(&Postcard);
    Table::rate(
        format!("Broadcast, bursts of {BURST} messages of {len} B to {CLIENTS} clients (bursts/s)"),
        len,
        40,
    )
    .row(BATCHED, |cx| Broadcast::start(cx, Kind::Batched))
    .row_vs(
        "raw tokio UnixStream, a write per message per client",
        &[BATCHED],
        |cx| Broadcast::start(cx, Kind::Each),
    )
    .row_vs(DECODED, &[BATCHED], |cx| {
        Broadcast::start(cx, Kind::Decoded)
    })
    .row_vs("channel broadcast, postcard", &[BATCHED, DECODED], |cx| {
        Broadcast::start(cx, Kind::Channel)
    })
}

const DECODED: &str = "floor: a write per burst per client, each message decoded";

/// The floor's sequence numbers start here, so that every message encodes
/// to the same length as the channel's frame (postcard's varint takes 3
/// bytes from 2^14 to 2^21).
const DECODED_BASE: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Batched,
    Each,
    Decoded,
    Channel,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Batched => "batched",
            Kind::Each => "each",
            Kind::Decoded => "decoded",
            Kind::Channel => "channel",
        }
    }
}

/// What the clients received, and the first thing that was wrong. Counting
/// is an atomic add; the timer is woken only when the count reaches what it
/// waits for, so the tally costs every row the same little.
#[derive(Default)]
struct Tally {
    received: AtomicUsize,
    target: AtomicUsize,
    wrong: Mutex<Option<String>>,
    reached: Notify,
}

impl Tally {
    fn add(&self, n: usize) {
        let total = self.received.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.target.load(Ordering::Acquire) {
            self.reached.notify_one();
        }
    }

    fn fail(&self, why: String) {
        self.wrong.lock().expect("tally").get_or_insert(why);
        self.reached.notify_one();
    }

    /// Waits until `target` messages have arrived in all, or one was wrong.
    async fn wait_for(&self, target: usize) -> io::Result<()> {
        self.target.store(target, Ordering::Release);
        loop {
            if let Some(why) = self.wrong.lock().expect("tally").clone() {
                return Err(mismatch(why));
            }
            if self.received.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            self.reached.notified().await;
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Acquire)
    }
}

struct Broadcast {
    rt: tokio::runtime::Runtime,
    tally: Arc<Tally>,
    /// The channel clients, kept connected (raw clients live in their tasks).
    clients: Vec<Client<Reading>>,
    peer: Peer,
}

impl Broadcast {
    fn start(cx: &Context, kind: Kind) -> io::Result<Box<dyn Subject>> {
        let len = frame_len(&Postcard);
        let endpoint = match kind {
            Kind::Channel => cx.unique("broadcast"),
            _ => cx.socket_path("broadcast").display().to_string(),
        };
        let peer = Peer::spawn(
            ROLE,
            &[kind.key().into(), endpoint.clone(), len.to_string()],
            cx.cpu(),
        )?;
        let rt = runtime()?;
        let tally = Arc::new(Tally::default());
        let mut clients = Vec::new();
        rt.block_on(async {
            for _ in 0..CLIENTS {
                let tally = tally.clone();
                if kind == Kind::Channel {
                    let (client, mut incoming) = Client::<Reading>::builder()
                        .codec(Postcard)
                        .no_reconnect()
                        .connect(endpoint.as_str())
                        .await
                        .map_err(channel_error)?;
                    clients.push(client);
                    tokio::spawn(async move {
                        let mut next = 0;
                        while let Some(message) = incoming.next_message().await {
                            if !message.is(next) {
                                tally.fail(format!("message {next} arrived as {message:?}"));
                            }
                            next += 1;
                            tally.add(1);
                        }
                    });
                } else {
                    let stream = tokio::net::UnixStream::connect(&endpoint).await?;
                    let decode = kind == Kind::Decoded;
                    tokio::spawn(read_raw(stream, len, decode, tally));
                }
            }
            io::Result::Ok(())
        })?;
        Ok(Box::new(Self {
            rt,
            tally,
            clients,
            peer,
        }))
    }
}

/// Counts `len`-byte frames, each stamped with the next sequence number
/// (with `decode`, each carrying the next [`Reading`], decoded to check it).
async fn read_raw(mut stream: tokio::net::UnixStream, len: usize, decode: bool, tally: Arc<Tally>) {
    let mut buf = vec![0u8; 64 << 10];
    let mut held = 0;
    let mut next = 0u64;
    while let Ok(n @ 1..) = stream.read(&mut buf[held..]).await {
        held += n;
        let frames = held / len;
        for frame in buf[..frames * len].chunks(len) {
            let right = if decode {
                Postcard
                    .decode::<Reading>(&frame[len - body_len(len)..])
                    .is_ok_and(|message| message.is(DECODED_BASE + next))
            } else {
                frame[..8] == next.to_le_bytes()
            };
            if !right {
                tally.fail(format!("frame {next} carries another stamp"));
            }
            next += 1;
        }
        buf.copy_within(frames * len..held, 0);
        held -= frames * len;
        tally.add(frames);
    }
}

impl Subject for Broadcast {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let started = Instant::now();
        for _ in 0..ops {
            let target = self.tally.received() + CLIENTS * BURST;
            self.peer.send_line("burst")?;
            self.rt.block_on(self.tally.wait_for(target))?;
        }
        Ok(started.elapsed())
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let Self {
            rt, clients, peer, ..
        } = *self;
        rt.block_on(async move {
            for client in clients {
                let _ = client.close().await;
            }
        });
        peer.finish()
    }
}

/// The role: `KIND ENDPOINT LEN`; one burst per `burst` line on stdin,
/// until stdin closes.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let kind: String = arg(args, 0)?;
    let endpoint: String = arg(args, 1)?;
    let len: usize = arg(args, 2)?;
    let (bursts, mut burst) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in io::stdin().lines() {
            if line.is_err() || bursts.send(()).is_err() {
                break;
            }
        }
    });
    runtime()?.block_on(async move {
        if kind == "channel" {
            let (server, _events) = Server::<Reading>::builder()
                .codec(Postcard)
                .bind(endpoint.as_str())
                .map_err(channel_error)?;
            peer::ready()?;
            let mut seq = 0;
            while burst.recv().await.is_some() {
                while server.clients().len() < CLIENTS {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                for _ in 0..BURST {
                    let report = server.broadcast(&reading(seq)).map_err(channel_error)?;
                    if report.queued != CLIENTS {
                        return Err(io::Error::other(format!("{report:?}")));
                    }
                    seq += 1;
                }
            }
            server.shutdown().await;
            return Ok(());
        }
        let listener = tokio::net::UnixListener::bind(&endpoint)?;
        peer::ready()?;
        let mut streams = Vec::new();
        for _ in 0..CLIENTS {
            streams.push(listener.accept().await?.0);
        }
        let mut frames = vec![0u8; len * BURST];
        let mut seq = 0u64;
        while burst.recv().await.is_some() {
            for frame in frames.chunks_mut(len) {
                if kind == "decoded" {
                    let mut body = Vec::new();
                    Postcard
                        .encode(&reading(DECODED_BASE + seq), &mut body)
                        .map_err(io::Error::other)?;
                    if body.len() != body_len(len) {
                        return Err(io::Error::other("a reading's length changed"));
                    }
                    frame[len - body.len()..].copy_from_slice(&body);
                } else {
                    frame[..8].copy_from_slice(&seq.to_le_bytes());
                }
                seq += 1;
            }
            if kind != "each" {
                for stream in &mut streams {
                    stream.write_all(&frames).await?;
                }
            } else {
                for frame in frames.chunks(len) {
                    for stream in &mut streams {
                        stream.write_all(frame).await?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// The length of a reading's postcard encoding in a `len`-byte frame (the
/// rest is the channel's prefix and header, zeros here).
fn body_len(len: usize) -> usize {
    len - PREFIX_LEN - HEADER_LEN
}
