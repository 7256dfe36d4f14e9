//! Samba's message-mode wire, the third wire a [`MessageStream`] can run on:
//! after the hand-off, smbd and a message-mode pipe server put each message
//! on the stream socket after its length, 2 bytes little-endian. So a
//! message is at most 65,535 bytes, and never empty: Samba takes a length of
//! zero for a broken pipe.
//!
//! The reader and writer keep, like the framed wire's, everything they took
//! from or owe to the socket across a timeout or a dropped tokio future, so
//! a message is never lost or torn.
//!
//! [`MessageStream`]: crate::MessageStream

use std::io::{self, IoSlice};

use crate::error::Error;
use crate::messages::{self, Reassembly};

use super::socket::Socket;

/// The longest message Samba's 2-byte length can announce.
pub(crate) const SAMBA_MAX_MESSAGE: usize = u16::MAX as usize;

const HEADER: usize = 2;

/// Where the reader gets bytes: a socket, or (in tests) anything else.
pub(crate) trait ByteSource {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl ByteSource for &Socket {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

/// Receives messages: reads as much as the socket has into a read-ahead
/// buffer, and puts each message together in the [`Reassembly`] that keeps
/// message mode's rules for every wire (the limit, a message kept whole for
/// a larger buffer, the end of a stream cut short, broken boundaries).
#[derive(Debug)]
pub(crate) struct SambaReader {
    rx: Reassembly,
    /// Bytes read ahead, `start..end` not yet taken.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// How much the reader reads at once.
const READ_AHEAD: usize = 64 * 1024;

impl SambaReader {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            rx: Reassembly::new(max.min(SAMBA_MAX_MESSAGE)),
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Receives until the next message is whole: `Ok(true)`, or `Ok(false)`
    /// at end-of-file between messages (or after a stream cut short).
    fn fill(&mut self, mut io: impl ByteSource) -> Result<bool, Error> {
        self.rx.check()?;
        if self.rx.is_ended() {
            return Ok(false);
        }
        loop {
            let ahead = self.end - self.start;
            match self.rx.partial.as_mut() {
                Some(partial) if partial.is_complete() => return Ok(true),
                Some(partial) if ahead > 0 => {
                    let take = ahead.min(partial.data.len() - partial.got);
                    partial.push(&self.buf[self.start..self.start + take]);
                    self.start += take;
                    continue;
                }
                None if ahead >= HEADER => {
                    let len = u16::from_le_bytes([self.buf[self.start], self.buf[self.start + 1]]);
                    self.start += HEADER;
                    let len = self.rx.admit(u64::from(len))?;
                    self.rx.start(len);
                    continue;
                }
                _ => {}
            }
            if self.buf.is_empty() {
                self.buf = vec![0; READ_AHEAD];
            }
            // Room to read into: the unread bytes (half a header at most)
            // move to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let n = io.read_some(&mut self.buf[self.end..])?;
            if n == 0 {
                return match self.rx.partial {
                    Some(_) => Err(self.rx.cut_short()),
                    // Half a header: a message of unknown length, cut short.
                    None if self.end > 0 => Err(self.rx.cut_short_at(HEADER, self.end)),
                    None => Ok(false),
                };
            }
            self.end += n;
        }
    }

    /// Receives the next message into `out`; one longer than `out` fails
    /// with [`Error::BufferTooSmall`] and stays for the next call.
    pub(crate) fn recv(
        &mut self,
        out: &mut [u8],
        io: impl ByteSource,
    ) -> Result<Option<usize>, Error> {
        if !self.fill(io)? {
            return Ok(None);
        }
        self.rx.deliver_into(out)
    }

    /// Receives the next message into a vector of its length.
    pub(crate) fn recv_vec(&mut self, io: impl ByteSource) -> Result<Option<Vec<u8>>, Error> {
        if !self.fill(io)? {
            return Ok(None);
        }
        Ok(self.rx.deliver_vec())
    }
}

/// Where the writer puts bytes.
pub(crate) trait ByteSink {
    fn write_some(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl ByteSink for &Socket {
    fn write_some(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_vectored(parts, false)
    }
}

/// Sends messages, each after its 2-byte length.
#[derive(Debug, Default)]
pub(crate) struct SambaWriter {
    /// The unsent rest (header included) of a message a timeout or a
    /// dropped future interrupted: sent before anything else.
    pending: Option<(Vec<u8>, usize)>,
}

/// Bytes of a message sent so far, its header included: `None` before any
/// (the message can still be dropped whole).
pub(crate) type Progress = Option<usize>;

impl SambaWriter {
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Refuses what Samba cannot carry, before anything is sent: more than
    /// 65,535 bytes, or (`peer_max`) more than the stream allows, or nothing.
    pub(crate) fn check(message: &[u8], peer_max: usize) -> Result<(), Error> {
        messages::check_send(message.len(), peer_max.min(SAMBA_MAX_MESSAGE))?;
        if message.is_empty() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty message cannot go to an SMB client: Samba takes it for a broken pipe",
            )));
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self, mut io: impl ByteSink) -> io::Result<()> {
        while let Some((rest, sent)) = self.pending.as_mut() {
            *sent += io.write_some(&[IoSlice::new(&rest[*sent..])])?;
            if *sent >= rest.len() {
                self.pending = None;
            }
        }
        Ok(())
    }

    /// Sends `message` from `progress` on. Call with nothing pending, after
    /// [`check`](Self::check).
    pub(crate) fn send(
        &mut self,
        message: &[u8],
        progress: &mut Progress,
        mut io: impl ByteSink,
    ) -> io::Result<()> {
        debug_assert!(self.pending.is_none(), "flush before sending a message");
        let header = (message.len() as u16).to_le_bytes();
        let total = HEADER + message.len();
        loop {
            let sent = progress.unwrap_or(0);
            if sent >= total {
                return Ok(());
            }
            let n = if sent < HEADER {
                io.write_some(&[IoSlice::new(&header[sent..]), IoSlice::new(message)])?
            } else {
                io.write_some(&[IoSlice::new(&message[sent - HEADER..])])?
            };
            *progress = Some(sent + n);
        }
    }

    /// Keeps the unsent rest of a message that stopped part way; a message
    /// not begun is dropped whole.
    pub(crate) fn keep_rest(&mut self, message: &[u8], progress: Progress) {
        let Some(sent) = progress else { return };
        let mut whole = (message.len() as u16).to_le_bytes().to_vec();
        whole.extend_from_slice(message);
        if sent < whole.len() {
            self.pending = Some((whole.split_off(sent), 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, then blocks or ends.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        block_at: Option<usize>,
    }

    impl ByteSource for &mut Trickle {
        fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.block_at == Some(self.at) {
                self.block_at = None;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.extend_from_slice(&(m.len() as u16).to_le_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn messages_keep_their_boundaries_however_the_bytes_arrive() {
        let big = vec![7u8; SAMBA_MAX_MESSAGE];
        let data = framed(&[b"one", &big, b"three", &big]);
        for step in [1, 3, 1000, 70_000, usize::MAX] {
            let mut src = Trickle {
                data: data.clone(),
                at: 0,
                step,
                block_at: None,
            };
            let mut r = SambaReader::new(usize::MAX);
            assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), b"one");
            assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), big);
            let mut out = [0u8; 8];
            assert_eq!(r.recv(&mut out, &mut src).unwrap(), Some(5));
            assert_eq!(&out[..5], b"three");
            assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), big);
            assert_eq!(r.recv_vec(&mut src).unwrap(), None);
        }
    }

    #[test]
    fn a_receive_cut_short_resumes_without_loss() {
        let data = framed(&[b"hello world"]);
        let mut src = Trickle {
            data,
            at: 0,
            step: 4,
            block_at: Some(8),
        };
        let mut r = SambaReader::new(100);
        let err = r.recv_vec(&mut src).unwrap_err();
        assert!(matches!(err, Error::Io(ref e) if e.kind() == io::ErrorKind::WouldBlock));
        assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), b"hello world");
    }

    #[test]
    fn a_small_buffer_reports_the_size_and_keeps_the_message() {
        let data = framed(&[&[9u8; 100]]);
        let mut src = Trickle {
            data,
            at: 0,
            step: usize::MAX,
            block_at: None,
        };
        let mut r = SambaReader::new(1000);
        let mut small = [0u8; 10];
        assert!(matches!(
            r.recv(&mut small, &mut src),
            Err(Error::BufferTooSmall {
                needed: 100,
                capacity: 10
            })
        ));
        assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), vec![9u8; 100]);
    }

    #[test]
    fn a_message_over_the_limit_breaks_the_stream() {
        let data = framed(&[&[1u8; 50]]);
        let mut src = Trickle {
            data,
            at: 0,
            step: usize::MAX,
            block_at: None,
        };
        let mut r = SambaReader::new(49);
        assert!(matches!(
            r.recv_vec(&mut src),
            Err(Error::MessageTooLarge { len: 50, max: 49 })
        ));
        assert!(matches!(r.recv_vec(&mut src), Err(Error::Protocol(_))));
    }

    #[test]
    fn end_of_file_inside_a_message_ends_the_stream() {
        // Inside the header, and inside the body.
        for cut in [1, 5] {
            let mut data = framed(&[b"abcdef"]);
            data.truncate(cut);
            let mut src = Trickle {
                data,
                at: 0,
                step: usize::MAX,
                block_at: None,
            };
            let mut r = SambaReader::new(100);
            let err = r.recv_vec(&mut src).unwrap_err();
            assert!(matches!(err, Error::Io(ref e) if e.kind() == io::ErrorKind::UnexpectedEof));
            assert_eq!(r.recv_vec(&mut src).unwrap(), None, "then end-of-file");
        }
    }

    /// Takes at most `step` bytes per call; `WouldBlock` after `budget` bytes.
    struct Narrow {
        out: Vec<u8>,
        step: usize,
        budget: usize,
    }

    impl ByteSink for &mut Narrow {
        fn write_some(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
            let room = self.step.min(self.budget);
            if room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for part in parts {
                let take = part.len().min(room - n);
                self.out.extend_from_slice(&part[..take]);
                n += take;
                if n == room {
                    break;
                }
            }
            self.budget -= n;
            Ok(n)
        }
    }

    #[test]
    fn an_interrupted_send_finishes_before_the_next_message() {
        let big = vec![3u8; 40_000];
        let mut sink = Narrow {
            out: Vec::new(),
            step: 1,
            budget: 1,
        };
        let mut w = SambaWriter::default();
        let mut progress = None;
        // Cut after one byte: half of the header.
        assert!(w.send(&big, &mut progress, &mut sink).is_err());
        assert_eq!(progress, Some(1));
        w.keep_rest(&big, progress);
        assert!(w.has_pending());
        sink.step = 4096;
        sink.budget = usize::MAX;
        w.flush(&mut sink).unwrap();
        let mut progress = None;
        w.send(b"next", &mut progress, &mut sink).unwrap();
        let mut src = Trickle {
            data: sink.out,
            at: 0,
            step: usize::MAX,
            block_at: None,
        };
        let mut r = SambaReader::new(SAMBA_MAX_MESSAGE);
        assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), big);
        assert_eq!(r.recv_vec(&mut src).unwrap().unwrap(), b"next");
    }

    #[test]
    fn a_send_stopped_before_its_first_byte_keeps_nothing() {
        let mut sink = Narrow {
            out: Vec::new(),
            step: 10,
            budget: 0,
        };
        let mut w = SambaWriter::default();
        let mut progress = None;
        assert!(w.send(b"never", &mut progress, &mut sink).is_err());
        w.keep_rest(b"never", progress);
        assert!(!w.has_pending());
    }

    #[test]
    fn what_samba_cannot_carry_is_refused_before_sending() {
        assert!(matches!(
            SambaWriter::check(&vec![0; SAMBA_MAX_MESSAGE + 1], usize::MAX),
            Err(Error::MessageTooLarge { max: 65_535, .. })
        ));
        assert!(matches!(
            SambaWriter::check(&[0; 11], 10),
            Err(Error::MessageTooLarge { len: 11, max: 10 })
        ));
        assert!(SambaWriter::check(b"", usize::MAX).is_err());
        assert!(SambaWriter::check(&vec![0; SAMBA_MAX_MESSAGE], usize::MAX).is_ok());
    }
}
