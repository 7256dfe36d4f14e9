//! Message mode on native message pipes (`PIPE_TYPE_MESSAGE`,
//! `PIPE_READMODE_MESSAGE`): every write is one message and Windows keeps
//! the boundaries. What pipeway adds, for both faces:
//!
//! - A message longer than the reader's buffer makes `ReadFile` fail with
//!   `ERROR_MORE_DATA` after filling the buffer; `PeekNamedPipe` then says
//!   how much of that message is left. pipeway reads the rest too, keeps the
//!   whole message, and reports [`Error::BufferTooSmall`] with its length:
//!   the message waits, whole, for a larger buffer (as on Unix).
//! - A message over the receiver's limit is refused before the rest of it
//!   is read: [`Error::MessageTooLarge`], after which every receive fails.
//! - End of stream: the peer closed (`ERROR_BROKEN_PIPE`), or, with go-winio's
//!   convention switched on, an empty message.

use std::io;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Pipes::PeekNamedPipe;

use crate::error::Error;

use super::win::{ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, is, last_error};

/// How much a receive reads before it knows a message's length: messages up
/// to this size take one read.
pub(crate) const FIRST_READ: usize = 64 * 1024;

/// What the rest of the current message holds, after a read that ended
/// with `ERROR_MORE_DATA`.
pub(crate) fn left_in_message(pipe: HANDLE) -> io::Result<usize> {
    let mut left = 0u32;
    // SAFETY: `pipe` is open; no buffer is passed, only `left` is written.
    let ok = unsafe {
        PeekNamedPipe(
            pipe,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut left,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(left as usize)
}

/// Whether a failed read or write means the peer has closed its end.
pub(crate) fn is_closed(err: &io::Error) -> bool {
    is(err, ERROR_BROKEN_PIPE) || is(err, ERROR_PIPE_NOT_CONNECTED) || is(err, ERROR_NO_DATA)
}

/// A failed write as the caller should see it: a closed peer is a broken pipe.
pub(crate) fn write_error(err: io::Error) -> io::Error {
    if is_closed(&err) {
        io::Error::new(io::ErrorKind::BrokenPipe, err)
    } else {
        err
    }
}

/// The receive side's state, whatever face drives it.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub max: usize,
    /// go-winio's convention: an empty message ends the stream.
    pub empty_ends: bool,
    /// A message taken from the pipe in part or in full: exactly its
    /// length, `got` bytes of it filled.
    pub partial: Option<Partial>,
    /// The stream ended (the peer closed, or sent its end message).
    pub ended: bool,
    /// Set when a message broke the limit: every later receive fails.
    broken: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Partial {
    pub data: Vec<u8>,
    pub got: usize,
}

impl Partial {
    pub(crate) fn is_complete(&self) -> bool {
        self.got >= self.data.len()
    }
}

/// What a receive found before delivering.
#[derive(Debug)]
pub(crate) enum Next {
    /// The end of the stream.
    End,
    /// Go on: a message is (being) assembled in `partial`, or none is yet.
    Continue,
}

impl Receiver {
    pub(crate) fn new(max: usize, empty_ends: bool) -> Self {
        Self {
            max,
            empty_ends,
            partial: None,
            ended: false,
            broken: None,
        }
    }

    /// Fails if the stream broke; `Next::End` if it ended.
    pub(crate) fn check(&self) -> Result<Next, Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Protocol(why.clone()));
        }
        Ok(if self.ended {
            Next::End
        } else {
            Next::Continue
        })
    }

    /// Refuses a message over the limit, and breaks the stream.
    pub(crate) fn check_len(&mut self, len: usize) -> Result<(), Error> {
        if len <= self.max {
            return Ok(());
        }
        let error = Error::MessageTooLarge {
            len: len as u64,
            max: self.max as u64,
        };
        self.broken = Some(format!("an earlier message broke the limit: {error}"));
        self.partial = None;
        Err(error)
    }

    /// A whole message of `len` bytes arrived in one read. `Next::End` if
    /// it is the end message.
    pub(crate) fn whole(&mut self, len: usize) -> Result<Next, Error> {
        if len == 0 && self.empty_ends {
            self.ended = true;
            return Ok(Next::End);
        }
        self.check_len(len)?;
        Ok(Next::Continue)
    }

    /// The first `first.len()` bytes of a longer message arrived, and
    /// `left` bytes of it wait in the pipe: starts assembling it.
    pub(crate) fn begin(&mut self, first: &[u8], left: usize) -> Result<(), Error> {
        let len = first.len() + left;
        self.check_len(len)?;
        let mut data = vec![0u8; len];
        data[..first.len()].copy_from_slice(first);
        self.partial = Some(Partial {
            data,
            got: first.len(),
        });
        Ok(())
    }

    /// `n` more bytes of the partial message arrived. `more`: Windows said
    /// there is still more (`ERROR_MORE_DATA`), `left` of it.
    pub(crate) fn advance(&mut self, n: usize, more: Option<usize>) -> Result<(), Error> {
        let max = self.max;
        let partial = self.partial.as_mut().expect("a message is being assembled");
        partial.got += n;
        match more {
            Some(left) => {
                // More than was announced: grow, within the limit.
                let len = partial.got + left;
                if len > partial.data.len() {
                    if len > max {
                        return self.check_len(len);
                    }
                    partial.data.resize(len, 0);
                }
            }
            // The message ended: it is exactly what arrived.
            None => partial.data.truncate(partial.got),
        }
        Ok(())
    }

    /// `bytes` more of the partial message arrived (copied in), with
    /// `more` as for [`advance`](Self::advance).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn append(&mut self, bytes: &[u8], more: Option<usize>) -> Result<(), Error> {
        let partial = self.partial.as_mut().expect("a message is being assembled");
        let end = partial.got + bytes.len();
        if end > partial.data.len() {
            if end > self.max {
                return self.check_len(end);
            }
            partial.data.resize(end, 0);
        }
        partial.data[partial.got..end].copy_from_slice(bytes);
        self.advance(bytes.len(), more)
    }

    /// A whole message, read in one go, becomes the partial message to deliver.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn set_whole(&mut self, data: Vec<u8>) {
        let got = data.len();
        self.partial = Some(Partial { data, got });
    }

    /// The peer closed in the middle of a message.
    pub(crate) fn cut_short(&mut self) -> Error {
        let len = self.partial.as_ref().map_or(0, |p| p.data.len());
        let got = self.partial.as_ref().map_or(0, |p| p.got);
        self.partial = None;
        self.ended = true;
        Error::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the peer closed after {got} bytes of a {len}-byte message"),
        ))
    }

    /// Hands the complete partial message to `out`: its length, or
    /// `BufferTooSmall` (and the message stays).
    pub(crate) fn deliver_into(&mut self, out: &mut [u8]) -> Result<Option<usize>, Error> {
        let partial = self.partial.as_ref().expect("a complete message");
        let len = partial.data.len();
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: out.len(),
            });
        }
        out[..len].copy_from_slice(&partial.data);
        self.partial = None;
        Ok(Some(len))
    }

    /// Hands the complete partial message over as a vector.
    pub(crate) fn deliver_vec(&mut self) -> Option<Vec<u8>> {
        self.partial.take().map(|partial| partial.data)
    }

    /// A read failed: the end of the stream if the peer closed (between
    /// messages; in the middle of one it is an unexpected end), else the error.
    pub(crate) fn failed(&mut self, err: io::Error) -> Result<Next, Error> {
        if !is_closed(&err) {
            return Err(Error::Io(err));
        }
        if self.partial.is_some() {
            return Err(self.cut_short());
        }
        self.ended = true;
        Ok(Next::End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::windows::win::os_error;

    #[test]
    fn a_long_message_is_assembled_and_kept_for_a_larger_buffer() {
        let mut rx = Receiver::new(1000, false);
        rx.begin(b"abcd", 6).unwrap();
        rx.advance(6, None).unwrap();
        assert!(rx.partial.as_ref().unwrap().is_complete());
        let mut small = [0u8; 4];
        assert!(matches!(
            rx.deliver_into(&mut small),
            Err(Error::BufferTooSmall {
                needed: 10,
                capacity: 4
            })
        ));
        let mut large = [0u8; 16];
        assert_eq!(rx.deliver_into(&mut large).unwrap(), Some(10));
        assert!(rx.partial.is_none());
    }

    #[test]
    fn a_message_over_the_limit_breaks_the_stream() {
        let mut rx = Receiver::new(8, false);
        assert!(matches!(
            rx.begin(b"abcd", 5),
            Err(Error::MessageTooLarge { len: 9, max: 8 })
        ));
        assert!(matches!(rx.check(), Err(Error::Protocol(_))));
    }

    #[test]
    fn empty_messages_end_the_stream_only_by_convention() {
        let mut plain = Receiver::new(8, false);
        assert!(matches!(plain.whole(0), Ok(Next::Continue)));
        let mut winio = Receiver::new(8, true);
        assert!(matches!(winio.whole(0), Ok(Next::End)));
        assert!(matches!(winio.check(), Ok(Next::End)));
    }

    #[test]
    fn a_peer_closing_mid_message_is_an_unexpected_end() {
        let mut rx = Receiver::new(100, false);
        assert!(matches!(
            rx.failed(os_error(ERROR_BROKEN_PIPE)),
            Ok(Next::End)
        ));
        let mut rx = Receiver::new(100, false);
        rx.begin(b"ab", 40).unwrap();
        match rx.failed(os_error(ERROR_BROKEN_PIPE)) {
            Err(Error::Io(err)) => {
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
                assert!(err.to_string().contains("42-byte message"), "{err}");
            }
            other => panic!("expected an unexpected end, got {other:?}"),
        }
    }
}
