//! The shared-memory channel used as its API allows at its fastest: the
//! client writes each message straight into the ring (`send_with`) and
//! checks the reply where it lies; the server answers each request in
//! place (`Message::reply_with`), one copy from its receive ring into its
//! send ring. One copy of the message each way, against a socket's two
//! (into the kernel and out again) each way.

use std::io;
use std::time::{Duration, Instant};

use pipeway::shm::ShmChannel;

use crate::cases::common::corrupt_echo_asked;
use crate::verify::Pattern;
use crate::{Context, Peer, Subject};

use super::{Placement, connect, listen};

/// Starts the row: a peer answering in place, and the client.
pub(super) fn start(cx: &Context, size: usize, at: Placement) -> io::Result<Box<dyn Subject>> {
    let (channel, server) = connect(cx, "shm-reply-echo", size, at)?;
    Ok(Box::new(InPlaceEcho {
        channel: Some(channel),
        pattern: Pattern::new(size),
        server,
    }))
}

struct InPlaceEcho {
    channel: Option<ShmChannel>,
    pattern: Pattern,
    server: Peer,
}

impl Subject for InPlaceEcho {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let channel = self.channel.as_mut().expect("connected until finish");
        let started = Instant::now();
        for op in 0..ops {
            let (message, _) = self.pattern.stamp_next();
            let len = message.len();
            channel
                .send_with(len, |slot| slot.copy_from_slice(message))
                .map_err(io::Error::from)?;
            let answer = channel
                .recv_borrowed()
                .map_err(io::Error::from)?
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            self.pattern.check_len(answer.len())?;
            // The stamps are checked where the answer lies; the last answer
            // of the batch is copied out whole for the full comparison.
            let reply = self.pattern.reply_mut();
            if op + 1 == ops {
                reply.copy_from_slice(&answer);
            } else {
                copy_stamps(&answer, reply);
            }
            drop(answer);
            self.pattern.check()?;
        }
        let elapsed = started.elapsed();
        self.pattern.check_full()?;
        Ok(elapsed)
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.server.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        drop(self.channel.take());
        self.server.finish()
    }
}

/// What no echo through memory can beat: the client's copy of the message
/// into place and the server's copy of it into the reply, in this process
/// with nothing else between them.
pub(super) fn copies_floor(size: usize) -> Box<dyn Subject> {
    Box::new(CopiesFloor {
        pattern: Pattern::new(size),
        slot: vec![0; size],
    })
}

struct CopiesFloor {
    pattern: Pattern,
    slot: Vec<u8>,
}

impl Subject for CopiesFloor {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let started = Instant::now();
        for _ in 0..ops {
            let (message, reply) = self.pattern.stamp_next();
            self.slot.copy_from_slice(std::hint::black_box(message));
            reply.copy_from_slice(std::hint::black_box(&self.slot));
            self.pattern.check()?;
        }
        let elapsed = started.elapsed();
        self.pattern.check_full()?;
        Ok(elapsed)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Copies the bytes the stamps occupy (the first and last 8).
fn copy_stamps(answer: &[u8], reply: &mut [u8]) {
    let len = answer.len();
    let head = len.min(8);
    reply[..head].copy_from_slice(&answer[..head]);
    if len >= 16 {
        reply[len - 8..].copy_from_slice(&answer[len - 8..]);
    }
}

/// Peer: `name size spin_us`; answers each message with its bytes, copied
/// from where the request lies straight into the reply's place.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let mut channel = listen(args)?.accept().map_err(io::Error::from)?;
    let corrupt = corrupt_echo_asked();
    while let Some(message) = channel.recv_borrowed().map_err(io::Error::from)? {
        let len = message.len();
        message
            .reply_with(len, |request, reply| {
                reply.copy_from_slice(request);
                if corrupt && !reply.is_empty() {
                    reply[len / 2] ^= 0x20;
                }
            })
            .map_err(io::Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_copied_from_both_ends_and_nothing_between() {
        let answer: Vec<u8> = (0..32).collect();
        let mut reply = vec![0xff; 32];
        super::copy_stamps(&answer, &mut reply);
        assert_eq!(&reply[..8], &answer[..8]);
        assert_eq!(&reply[24..], &answer[24..]);
        assert!(reply[8..24].iter().all(|&b| b == 0xff));
        let mut short = vec![0; 5];
        super::copy_stamps(&answer[..5], &mut short);
        assert_eq!(short, &answer[..5]);
    }
}
