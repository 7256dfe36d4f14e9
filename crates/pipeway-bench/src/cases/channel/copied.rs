//! The floor for a channel's throughput: the raw std transfer, plus the
//! copy a channel that owns its messages makes on each side. The sender
//! copies each message into a new buffer before writing it (a channel's
//! `send(&T)` serializes into a frame it owns); the receiver copies each
//! message out of its read buffer into a new one (deserializing into an
//! owned value). Nothing else differs from the raw std row, so the gap
//! between the two rows is what those two copies cost on this machine.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use super::{CHUNK, TOTAL};
use crate::cases::common::{STREAM_SALT, arg};
use crate::verify::mismatch;
use crate::{Context, Peer, StreamCheck, Subject, peer};

pub(super) const ROLE: &str = "channel-copied-sink";

/// The row's name.
pub(super) const NAME: &str = "floor: raw std UnixStream, each message copied on both sides";

/// The receiver's answer after each transfer: whether every byte carried
/// its stamp.
const ACK_OK: u8 = 1;

/// Sends [`TOTAL`] bytes per operation in [`CHUNK`]-byte messages, each
/// copied into a new buffer first; the peer copies each out again.
pub(super) struct CopiedTransfer {
    stream: Option<UnixStream>,
    message: Vec<u8>,
    stamps: StreamCheck,
    peer: Peer,
}

impl CopiedTransfer {
    pub(super) fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
        let path = cx.socket_path("copied");
        let peer = Peer::spawn(ROLE, &[path.display().to_string()], cx.cpu())?;
        Ok(Box::new(Self {
            stream: Some(UnixStream::connect(&path)?),
            message: vec![0x5a; CHUNK],
            stamps: StreamCheck::new(CHUNK, STREAM_SALT),
            peer,
        }))
    }
}

impl Subject for CopiedTransfer {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let stream = self.stream.as_mut().expect("connected until finish");
        let started = Instant::now();
        for _ in 0..ops {
            for _ in 0..TOTAL / CHUNK {
                self.stamps.fill(&mut self.message);
                let owned = self.message.clone();
                stream.write_all(&owned)?;
            }
            let mut ack = [0u8];
            stream.read_exact(&mut ack)?;
            if ack[0] != ACK_OK {
                return Err(mismatch(
                    "the receiver found wrong stamps in the stream".into(),
                ));
            }
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

/// The peer: reads as the raw std sink does (256 KiB at a time), and
/// gathers each message into a buffer of its own, checked there.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let path: String = arg(args, 0)?;
    let listener = UnixListener::bind(&path)?;
    peer::ready()?;
    let (mut stream, _) = listener.accept()?;
    let mut buf = vec![0u8; 256 << 10];
    let mut stamps = StreamCheck::new(CHUNK, STREAM_SALT);
    let mut message = Vec::with_capacity(CHUNK);
    loop {
        let mut ok = true;
        let mut got = 0;
        while got < TOTAL {
            let want = buf.len().min(TOTAL - got);
            let n = stream.read(&mut buf[..want])?;
            if n == 0 {
                return Ok(());
            }
            for piece in split_at_messages(&buf[..n], CHUNK - message.len(), CHUNK) {
                message.extend_from_slice(piece);
                if message.len() == CHUNK {
                    ok &= stamps.check(&message).is_ok();
                    message = Vec::with_capacity(CHUNK);
                }
            }
            got += n;
        }
        stream.write_all(&[if ok { ACK_OK } else { 0 }])?;
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
