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
use crate::messages::{self, Partial, Reassembly};

use super::overlapped::MAX_TRANSFER;

use super::win::{ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, is, last_error};

/// How much a receive reads before it knows a message's length: messages up
/// to this size take one read.
pub(crate) const FIRST_READ: usize = 64 * 1024;

/// Checks a message before any of it is sent: within what the peer accepts
/// and one write can carry, and not empty where an empty message would end
/// the stream (go-winio's convention).
pub(crate) fn check_send(message: &[u8], peer_max: usize, empty_ends: bool) -> Result<(), Error> {
    messages::check_send(message.len(), peer_max.min(MAX_TRANSFER))?;
    if message.is_empty() && empty_ends {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "with go-winio's convention an empty message ends the stream: call close_write",
        )));
    }
    Ok(())
}

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

/// The receive side's state, whatever face drives it: the portable
/// [`Reassembly`] (the limit, the message being put together, a broken
/// stream), and how a native message stream ends.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub assembly: Reassembly,
    /// go-winio's convention: an empty message ends the stream.
    empty_ends: bool,
}

/// What a receive found before delivering.
#[derive(Debug)]
pub(crate) enum Next {
    /// The end of the stream.
    End,
    /// Go on: a message is (being) assembled, or none is yet.
    Continue,
}

impl Receiver {
    pub(crate) fn new(max: usize, empty_ends: bool) -> Self {
        Self {
            assembly: Reassembly::new(max),
            empty_ends,
        }
    }

    /// The message being assembled, if any.
    pub(crate) fn partial(&self) -> Option<&Partial> {
        self.assembly.partial.as_ref()
    }

    /// Fails if the stream broke; `Next::End` if it ended.
    pub(crate) fn check(&self) -> Result<Next, Error> {
        self.assembly.check()?;
        Ok(if self.assembly.is_ended() {
            Next::End
        } else {
            Next::Continue
        })
    }

    /// A whole message of `len` bytes arrived in one read. `Next::End` if
    /// it is the end message.
    pub(crate) fn whole(&mut self, len: usize) -> Result<Next, Error> {
        if len == 0 && self.empty_ends {
            self.assembly.end();
            return Ok(Next::End);
        }
        self.assembly.admit(len as u64)?;
        Ok(Next::Continue)
    }

    /// The first `first.len()` bytes of a longer message arrived, and
    /// `left` bytes of it wait in the pipe: starts assembling it.
    pub(crate) fn begin(&mut self, first: &[u8], left: usize) -> Result<(), Error> {
        let len = self.assembly.admit((first.len() + left) as u64)?;
        self.assembly.start(len).push(first);
        Ok(())
    }

    /// `n` more bytes of the partial message arrived in place. `more`:
    /// Windows said there is still more (`ERROR_MORE_DATA`), `left` of it.
    pub(crate) fn advance(&mut self, n: usize, more: Option<usize>) -> Result<(), Error> {
        self.assembly
            .partial
            .as_mut()
            .expect("a message is being assembled")
            .got += n;
        self.settle(more)
    }

    /// `bytes` more of the partial message arrived (copied in), with
    /// `more` as for [`advance`](Self::advance).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn append(&mut self, bytes: &[u8], more: Option<usize>) -> Result<(), Error> {
        let got = self.partial().expect("a message is being assembled").got;
        self.assembly.admit((got + bytes.len()) as u64)?;
        self.assembly
            .partial
            .as_mut()
            .expect("admitted")
            .push(bytes);
        self.settle(more)
    }

    /// Sizes the partial message after a read: `more` bytes still wait
    /// (it grows, within the limit, if that is more than announced), or the
    /// message ended and is exactly what arrived.
    fn settle(&mut self, more: Option<usize>) -> Result<(), Error> {
        let partial = self.partial().expect("a message is being assembled");
        let (got, len) = (partial.got, partial.data.len());
        match more {
            Some(left) if got + left > len => {
                let len = self.assembly.admit((got + left) as u64)?;
                let partial = self.assembly.partial.as_mut().expect("admitted");
                partial.data.resize(len, 0);
            }
            Some(_) => {}
            None => {
                let partial = self.assembly.partial.as_mut().expect("assembled");
                partial.data.truncate(got);
            }
        }
        Ok(())
    }

    /// A whole message, read in one go, becomes the message to deliver.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn set_whole(&mut self, data: Vec<u8>) {
        let got = data.len();
        self.assembly.partial = Some(Partial { data, got });
    }

    /// The peer closed in the middle of a message: this receive fails with
    /// an unexpected end, and the stream has ended.
    pub(crate) fn cut_short(&mut self) -> Error {
        self.assembly.cut_short()
    }

    /// A read failed: the end of the stream if the peer closed (between
    /// messages; in the middle of one it is an unexpected end), else the error.
    pub(crate) fn failed(&mut self, err: io::Error) -> Result<Next, Error> {
        if !is_closed(&err) {
            return Err(Error::Io(err));
        }
        if self.assembly.partial.is_some() {
            return Err(self.cut_short());
        }
        self.assembly.end();
        Ok(Next::End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::windows::win::os_error;

    #[test]
    fn a_long_message_is_assembled_from_more_data_reads() {
        let mut rx = Receiver::new(1000, false);
        rx.begin(b"abcd", 6).unwrap();
        let partial = rx.assembly.partial.as_mut().unwrap();
        partial.data[4..10].copy_from_slice(b"efghij");
        rx.advance(6, None).unwrap();
        assert!(rx.partial().unwrap().is_complete());
        let mut large = [0u8; 16];
        assert_eq!(rx.assembly.deliver_into(&mut large).unwrap(), Some(10));
        assert_eq!(&large[..10], b"abcdefghij");
    }

    #[test]
    fn a_message_that_grows_past_the_limit_breaks_the_stream() {
        let mut rx = Receiver::new(8, false);
        rx.begin(b"abcd", 2).unwrap();
        assert!(matches!(
            rx.append(b"ef", Some(3)),
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
    fn a_peer_closing_mid_message_is_an_unexpected_end_then_the_end() {
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
        assert!(matches!(rx.check(), Ok(Next::End)));
    }
}
