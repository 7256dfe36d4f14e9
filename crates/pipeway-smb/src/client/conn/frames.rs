//! Reading Direct-TCP frames off a socket through one buffer: a small
//! response and the next one's start arrive in one system call, and a read
//! timeout (the keep-alive clock) never loses a partly read frame.

use std::io::{self, Read};

use crate::client::wire::DecodeError;
use crate::client::wire::framing::{MAX_FRAME, frame_length};

/// What one call to [`FrameReader::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A whole message (without its 4-byte frame header).
    Frame(Vec<u8>),
    /// The read timeout passed with nothing at all received.
    Idle,
}

/// Why frames stopped.
#[derive(Debug)]
pub enum Stop {
    /// The peer closed the connection.
    Closed,
    /// A read failed.
    Io(io::Error),
    /// The framing itself is broken.
    Malformed(DecodeError),
}

/// The buffer and its read and fill positions.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }
}

impl FrameReader {
    /// The next frame from `source`.
    pub fn next(&mut self, mut source: impl Read) -> Result<Next, Stop> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(Next::Frame(frame));
            }
            if self.end == self.buf.len() {
                // Make room: move the partial frame to the front, and grow
                // for a frame larger than the buffer.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.end == self.buf.len() {
                    let need = self.announced().unwrap_or(0) + 4;
                    self.buf.resize(need.max(self.buf.len() * 2), 0);
                }
            }
            match source.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.start == self.end {
                        return Ok(Next::Idle);
                    }
                    // Mid-frame: the rest is on its way.
                }
                Err(e) => return Err(Stop::Io(e)),
            }
        }
    }

    fn announced(&self) -> Option<usize> {
        let avail = &self.buf[self.start..self.end];
        (avail.len() >= 4).then(|| u32::from_be_bytes([0, avail[1], avail[2], avail[3]]) as usize)
    }

    fn take_frame(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        let avail = &self.buf[self.start..self.end];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = frame_length(avail[..4].try_into().expect("4 bytes")).map_err(Stop::Malformed)?;
        if !(4..=MAX_FRAME).contains(&len) {
            return Err(Stop::Malformed(DecodeError::new(
                "Direct TCP frame",
                format_args!("length {len}"),
            )));
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let frame = avail[4..4 + len].to_vec();
        self.start += 4 + len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::wire::framing::frame_header;

    /// A source that hands out its bytes in small pieces, with a timeout between each.
    struct Trickle {
        bytes: Vec<u8>,
        pos: usize,
        piece: usize,
        tick: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.tick = !self.tick;
            if self.tick {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.piece.min(buf.len()).min(self.bytes.len() - self.pos);
            buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn timeouts_mid_frame_lose_nothing_and_large_frames_grow_the_buffer() {
        let big = vec![7u8; 200_000];
        let mut bytes = frame_header(big.len()).to_vec();
        bytes.extend_from_slice(&big);
        bytes.extend_from_slice(&frame_header(5));
        bytes.extend_from_slice(b"small");
        let mut source = Trickle {
            bytes,
            pos: 0,
            piece: 3000,
            tick: false,
        };
        let mut r = FrameReader::default();
        assert!(matches!(r.next(&mut source), Ok(Next::Idle)));
        match r.next(&mut source) {
            Ok(Next::Frame(f)) => assert_eq!(f, big),
            other => panic!("{other:?}"),
        }
        loop {
            match r.next(&mut source) {
                Ok(Next::Idle) => continue,
                Ok(Next::Frame(f)) => {
                    assert_eq!(f, b"small");
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(matches!(r.next(&mut source), Ok(Next::Idle)));
        assert!(matches!(r.next(&mut source), Err(Stop::Closed)));
    }
}
