//! What most cases share: echo and transfer clients (the subjects, blocking
//! and tokio), and the servers that answer them in peer processes.

use std::future::Future;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::peer::Peer;
use crate::table::Subject;
use crate::verify::{Pattern, StreamCheck, mismatch};

/// The salt of every transfer's stamps.
pub const STREAM_SALT: u64 = 0x5eed_f00d_b17e;

/// A current-thread tokio runtime: both ends of a tokio case run on one,
/// as a pinned single-CPU process would.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Parses a peer's argument.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> io::Result<T> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("argument {i} missing or malformed in {args:?}"),
        )
    })
}

// ---------------------------------------------------------------------------
// Echo round trips.

/// One round trip on a blocking connection.
pub trait Exchange {
    /// Sends `message`, receives the reply into `reply`, returns its length.
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize>;
}

/// A byte stream as an [`Exchange`]: the whole message written, as many
/// bytes read back.
pub struct Bytes<S>(pub S);

impl<S: Read + Write> Exchange for Bytes<S> {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        self.0.write_all(message)?;
        self.0.read_exact(reply)?;
        Ok(reply.len())
    }
}

/// Round trips of one pattern over a blocking connection to a peer.
pub struct Echo<T> {
    io: Option<T>,
    pattern: Pattern,
    peer: Peer,
}

impl<T: Exchange + 'static> Echo<T> {
    /// A subject doing round trips of `size` bytes on `io`, answered by `peer`.
    pub fn boxed(io: T, size: usize, peer: Peer) -> Box<dyn Subject> {
        Box::new(Self {
            io: Some(io),
            pattern: Pattern::new(size),
            peer,
        })
    }
}

impl<T: Exchange> Subject for Echo<T> {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let io = self.io.as_mut().expect("connected until finish");
        let started = Instant::now();
        for _ in 0..ops {
            let (message, reply) = self.pattern.stamp_next();
            let len = io.exchange(message, reply)?;
            self.pattern.check_len(len)?;
            self.pattern.check()?;
        }
        let elapsed = started.elapsed();
        self.pattern.check_full()?;
        Ok(elapsed)
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        drop(self.io.take());
        self.peer.finish()
    }
}

/// One round trip on a tokio connection.
pub trait AsyncExchange {
    /// Sends `message`, receives the reply into `reply`, returns its length.
    fn exchange(
        &mut self,
        message: &[u8],
        reply: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>>;
}

/// A tokio byte stream as an [`AsyncExchange`].
pub struct AsyncBytes<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncExchange for AsyncBytes<S> {
    async fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        self.0.write_all(message).await?;
        self.0.read_exact(reply).await?;
        Ok(reply.len())
    }
}

/// Round trips of one pattern over a tokio connection, on the subject's
/// own current-thread runtime.
pub struct AsyncEcho<T> {
    rt: tokio::runtime::Runtime,
    io: Option<T>,
    pattern: Pattern,
    peer: Peer,
}

impl<T: AsyncExchange + 'static> AsyncEcho<T> {
    /// Connects with `connect` on a new runtime; round trips of `size` bytes.
    pub fn boxed<F: Future<Output = io::Result<T>>>(
        connect: impl FnOnce() -> F,
        size: usize,
        peer: Peer,
    ) -> io::Result<Box<dyn Subject>> {
        let rt = runtime()?;
        let io = rt.block_on(connect())?;
        Ok(Box::new(Self {
            rt,
            io: Some(io),
            pattern: Pattern::new(size),
            peer,
        }))
    }
}

impl<T: AsyncExchange> Subject for AsyncEcho<T> {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let Self {
            rt, io, pattern, ..
        } = self;
        let io = io.as_mut().expect("connected until finish");
        let elapsed = rt.block_on(async {
            let started = Instant::now();
            for _ in 0..ops {
                let (message, reply) = pattern.stamp_next();
                let len = io.exchange(message, reply).await?;
                pattern.check_len(len)?;
                pattern.check()?;
            }
            io::Result::Ok(started.elapsed())
        })?;
        self.pattern.check_full()?;
        Ok(elapsed)
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        // Dropped inside the runtime, as tokio objects want.
        let io = self.io.take();
        self.rt.block_on(async move { drop(io) });
        self.peer.finish()
    }
}

/// Set `PIPEWAY_BENCH_FAULT=corrupt-echo` and the raw std echo server
/// flips a byte in the middle of every reply: how the harness's own test
/// shows that a wrong echo fails its row.
pub const FAULT_VAR: &str = "PIPEWAY_BENCH_FAULT";

/// Whether this peer was asked to corrupt its echoes ([`FAULT_VAR`]).
pub fn corrupt_echo_asked() -> bool {
    std::env::var(FAULT_VAR).is_ok_and(|fault| fault == "corrupt-echo")
}

/// Answers every `size` bytes with the same bytes, until end-of-file.
pub fn serve_echo<S: Read + Write>(stream: S, size: usize) -> io::Result<()> {
    serve_echo_with(stream, size, false)
}

/// [`serve_echo`], flipping a byte in the middle of every reply if `corrupt`.
pub fn serve_echo_with<S: Read + Write>(
    mut stream: S,
    size: usize,
    corrupt: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => {
                if corrupt {
                    buf[size / 2] ^= 0x20;
                }
                stream.write_all(&buf)?
            }
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// [`serve_echo`] for tokio streams.
pub async fn serve_echo_async<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    size: usize,
) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match stream.read_exact(&mut buf).await {
            Ok(_) => stream.write_all(&buf).await?,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

// ---------------------------------------------------------------------------
// Transfers: `total` bytes in `chunk`-byte writes, then a one-byte answer.

/// What a transfer's receiver answers once it has `total` bytes: 1 if
/// every stamp in them checked out, 0 if not.
const ACK_OK: u8 = 1;

/// Transfers over a blocking stream.
pub struct Transfer<S> {
    stream: Option<S>,
    chunk: Vec<u8>,
    chunks: usize,
    stamps: StreamCheck,
    peer: Peer,
    /// Each chunk is copied into a new buffer before it is written.
    copy_each: bool,
}

impl<S: Read + Write + 'static> Transfer<S> {
    /// A subject sending `total` bytes in `chunk`-byte writes per operation.
    pub fn boxed(stream: S, total: usize, chunk: usize, peer: Peer) -> Box<dyn Subject> {
        Self::make(stream, total, chunk, peer, false)
    }

    /// As [`boxed`](Self::boxed), copying each chunk into a new buffer
    /// before writing it (what a channel that serializes into a frame of
    /// its own does).
    pub fn boxed_copying(stream: S, total: usize, chunk: usize, peer: Peer) -> Box<dyn Subject> {
        Self::make(stream, total, chunk, peer, true)
    }

    fn make(
        stream: S,
        total: usize,
        chunk: usize,
        peer: Peer,
        copy_each: bool,
    ) -> Box<dyn Subject> {
        Box::new(Self {
            stream: Some(stream),
            chunk: vec![0x5a; chunk],
            chunks: total / chunk,
            stamps: StreamCheck::new(chunk, STREAM_SALT),
            peer,
            copy_each,
        })
    }
}

fn check_ack(ack: u8) -> io::Result<()> {
    if ack == ACK_OK {
        Ok(())
    } else {
        Err(mismatch(
            "the receiver found wrong stamps in the stream".into(),
        ))
    }
}

impl<S: Read + Write> Subject for Transfer<S> {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let stream = self.stream.as_mut().expect("connected until finish");
        let started = Instant::now();
        for _ in 0..ops {
            for _ in 0..self.chunks {
                self.stamps.fill(&mut self.chunk);
                if self.copy_each {
                    let owned = self.chunk.clone();
                    stream.write_all(&owned)?;
                } else {
                    stream.write_all(&self.chunk)?;
                }
            }
            let mut ack = [0u8];
            stream.read_exact(&mut ack)?;
            check_ack(ack[0])?;
        }
        Ok(started.elapsed())
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        drop(self.stream.take());
        self.peer.finish()
    }
}

/// Transfers over a tokio stream.
pub struct AsyncTransfer<S> {
    rt: tokio::runtime::Runtime,
    stream: Option<S>,
    chunk: Vec<u8>,
    chunks: usize,
    stamps: StreamCheck,
    peer: Peer,
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> AsyncTransfer<S> {
    /// As [`Transfer::boxed`], connecting with `connect` on a new runtime.
    pub fn boxed<F: Future<Output = io::Result<S>>>(
        connect: impl FnOnce() -> F,
        total: usize,
        chunk: usize,
        peer: Peer,
    ) -> io::Result<Box<dyn Subject>> {
        let rt = runtime()?;
        let stream = rt.block_on(connect())?;
        Ok(Box::new(Self {
            rt,
            stream: Some(stream),
            chunk: vec![0x5a; chunk],
            chunks: total / chunk,
            stamps: StreamCheck::new(chunk, STREAM_SALT),
            peer,
        }))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Subject for AsyncTransfer<S> {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let Self {
            rt,
            stream,
            chunk,
            chunks,
            stamps,
            ..
        } = self;
        let stream = stream.as_mut().expect("connected until finish");
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..ops {
                for _ in 0..*chunks {
                    stamps.fill(chunk);
                    stream.write_all(chunk).await?;
                }
                let mut ack = [0u8];
                stream.read_exact(&mut ack).await?;
                check_ack(ack[0])?;
            }
            Ok(started.elapsed())
        })
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let stream = self.stream.take();
        self.rt.block_on(async move { drop(stream) });
        self.peer.finish()
    }
}

/// Receives transfers of `total` bytes in `chunk`-byte chunks, checking
/// their stamps, and answers each; until end-of-file.
pub fn serve_sink<S: Read + Write>(stream: S, total: usize, chunk: usize) -> io::Result<()> {
    sink(stream, total, chunk, false)
}

/// As [`serve_sink`], gathering each `chunk`-byte message into a new buffer
/// of its own and checking it there (what a channel that deserializes into
/// an owned value does).
pub fn serve_sink_copying<S: Read + Write>(
    stream: S,
    total: usize,
    chunk: usize,
) -> io::Result<()> {
    sink(stream, total, chunk, true)
}

fn sink<S: Read + Write>(
    mut stream: S,
    total: usize,
    chunk: usize,
    copy_each: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    let mut check = SinkCheck::new(chunk, copy_each);
    loop {
        let mut got = 0;
        while got < total {
            let want = buf.len().min(total - got);
            let n = stream.read(&mut buf[..want])?;
            if n == 0 {
                return Ok(());
            }
            check.take(&buf[..n]);
            got += n;
        }
        stream.write_all(&[check.verdict()])?;
    }
}

/// What a sink does with the bytes it reads: checks their stamps where
/// they lie, or (`copy_each`) first gathers each `chunk`-byte message into
/// a new buffer of its own and checks it there.
struct SinkCheck {
    stamps: StreamCheck,
    chunk: usize,
    copy_each: bool,
    message: Vec<u8>,
    ok: bool,
}

impl SinkCheck {
    fn new(chunk: usize, copy_each: bool) -> Self {
        Self {
            stamps: StreamCheck::new(chunk, STREAM_SALT),
            chunk,
            copy_each,
            message: Vec::with_capacity(chunk),
            ok: true,
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        if !self.copy_each {
            self.ok &= self.stamps.check(bytes).is_ok();
            return;
        }
        for piece in split_at_messages(bytes, self.chunk - self.message.len(), self.chunk) {
            self.message.extend_from_slice(piece);
            if self.message.len() == self.chunk {
                self.ok &= self.stamps.check(&self.message).is_ok();
                self.message = Vec::with_capacity(self.chunk);
            }
        }
    }

    /// The acknowledgement byte for what was taken since the last one.
    fn verdict(&mut self) -> u8 {
        let ok = std::mem::replace(&mut self.ok, true);
        if ok { ACK_OK } else { 0 }
    }
}

/// `bytes` cut where messages of `len` bytes end, the first after `first`.
fn split_at_messages(bytes: &[u8], first: usize, len: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let (head, mut rest) = bytes.split_at(first.min(bytes.len()));
    pieces.push(head);
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(len.min(rest.len()));
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// [`serve_sink`] for tokio streams.
pub async fn serve_sink_async<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    total: usize,
    chunk: usize,
) -> io::Result<()> {
    sink_async(stream, total, chunk, false).await
}

/// [`serve_sink_copying`] for tokio streams.
pub async fn serve_sink_copying_async<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    total: usize,
    chunk: usize,
) -> io::Result<()> {
    sink_async(stream, total, chunk, true).await
}

async fn sink_async<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    total: usize,
    chunk: usize,
    copy_each: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    let mut check = SinkCheck::new(chunk, copy_each);
    loop {
        let mut got = 0;
        while got < total {
            let want = buf.len().min(total - got);
            let n = stream.read(&mut buf[..want]).await?;
            if n == 0 {
                return Ok(());
            }
            check.take(&buf[..n]);
            got += n;
        }
        stream.write_all(&[check.verdict()]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::split_at_messages;

    #[test]
    fn reads_are_cut_where_messages_end() {
        let bytes: Vec<u8> = (0..10).collect();
        let pieces = split_at_messages(&bytes, 3, 4);
        assert_eq!(pieces, [&[0, 1, 2][..], &[3, 4, 5, 6], &[7, 8, 9]]);
        assert_eq!(split_at_messages(&bytes, 20, 4), [&bytes[..]]);
    }
}
