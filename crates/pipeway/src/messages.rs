//! The rules of message mode that every backend and face keeps: the limit on
//! each side, a message put back together from parts, delivered whole or
//! kept whole for a larger buffer, and a stream that stops at the first
//! broken boundary rather than hand out a torn message.
//!
//! The Unix framed wire reassembles a message from records, Windows from
//! `ERROR_MORE_DATA` reads; both keep their partial message in a
//! [`Reassembly`].

use std::io;

use crate::error::Error;

/// Refuses a message larger than the peer accepts, before any of it is sent.
pub(crate) fn check_send(len: usize, peer_max: usize) -> Result<(), Error> {
    if len > peer_max {
        return Err(Error::MessageTooLarge { len, max: peer_max });
    }
    Ok(())
}

/// The error for a peer that closed part way through a message.
pub(crate) fn cut_short(len: usize, got: usize) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the peer closed in the middle of a {len}-byte message ({got} bytes arrived)"),
    ))
}

/// A message taken from the pipe in part or in full: exactly its length,
/// the first `got` bytes of it filled.
#[derive(Debug)]
pub(crate) struct Partial {
    pub data: Vec<u8>,
    pub got: usize,
}

impl Partial {
    /// Appends bytes that arrived, growing the message if they run past the
    /// length it was given.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let end = self.got + bytes.len();
        if end > self.data.len() {
            self.data.resize(end, 0);
        }
        self.data[self.got..end].copy_from_slice(bytes);
        self.got = end;
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.got >= self.data.len()
    }
}

/// The receive side's state: the limit, the message being put together, and
/// whether the stream broke.
#[derive(Debug)]
pub(crate) struct Reassembly {
    max: usize,
    /// The message being put together, or kept whole for a larger buffer.
    pub partial: Option<Partial>,
    /// Why the stream broke: every later receive fails with it.
    broken: Option<String>,
    /// The peer closed part way through a message: every later receive is
    /// end-of-file, whatever else arrives.
    ended: bool,
}

impl Reassembly {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            partial: None,
            broken: None,
            ended: false,
        }
    }

    /// Fails once the stream has broken: its boundaries can no longer be trusted.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.broken {
            Some(why) => Err(Error::Protocol(why.clone())),
            None => Ok(()),
        }
    }

    /// Breaks the stream with `error`, dropping any partial message, and
    /// returns the error for this receive.
    pub(crate) fn fail(&mut self, error: Error) -> Error {
        self.broken = Some(format!(
            "an earlier receive lost the message boundaries: {error}"
        ));
        self.partial = None;
        error
    }

    /// Checks the length a message announced (or has grown to) against the
    /// limit before anything is allocated for it; past the limit the stream
    /// breaks with [`Error::MessageTooLarge`].
    pub(crate) fn admit(&mut self, len: u64) -> Result<usize, Error> {
        if len > self.max as u64 {
            return Err(self.fail(Error::MessageTooLarge {
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max: self.max,
            }));
        }
        Ok(len as usize)
    }

    /// Starts putting together a message of `len` bytes (admitted already).
    pub(crate) fn start(&mut self, len: usize) -> &mut Partial {
        self.partial.insert(Partial {
            data: vec![0; len],
            got: 0,
        })
    }

    /// The peer closed in the middle of the partial message: the stream ends
    /// with an unexpected end-of-file.
    pub(crate) fn cut_short(&mut self) -> Error {
        let (len, got) = self
            .partial
            .take()
            .map_or((0, 0), |partial| (partial.data.len(), partial.got));
        self.cut_short_at(len, got)
    }

    /// As [`cut_short`](Self::cut_short), for a message of `len` bytes
    /// received in place (`got` of them), not kept here.
    pub(crate) fn cut_short_at(&mut self, len: usize, got: usize) -> Error {
        self.partial = None;
        self.ended = true;
        cut_short(len, got)
    }

    /// Whether the stream ended (part way through a message, or at an end
    /// the backend recognised): later receives return end-of-file without
    /// reading.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// Ends the stream between messages: later receives are end-of-file.
    #[cfg_attr(unix, allow(dead_code))]
    pub(crate) fn end(&mut self) {
        self.ended = true;
    }

    /// Hands the complete message to `out` and returns its length, or fails
    /// with [`Error::BufferTooSmall`] and keeps it, whole, for the next call.
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

    /// Hands the complete message over as a vector of exactly its length.
    pub(crate) fn deliver_vec(&mut self) -> Option<Vec<u8>> {
        self.partial.take().map(|partial| partial.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_kept_whole_for_a_larger_buffer() {
        let mut rx = Reassembly::new(100);
        let len = rx.admit(10).unwrap();
        let partial = rx.start(len);
        partial.push(b"abcd");
        assert!(!partial.is_complete());
        partial.push(b"efghij");
        assert!(partial.is_complete());
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
        assert_eq!(&large[..10], b"abcdefghij");
        assert!(rx.partial.is_none());
    }

    #[test]
    fn a_message_over_the_limit_breaks_the_stream_before_allocating() {
        let mut rx = Reassembly::new(8);
        assert!(matches!(
            rx.admit(u64::MAX),
            Err(Error::MessageTooLarge {
                len: usize::MAX,
                max: 8
            })
        ));
        assert!(rx.partial.is_none());
        assert!(matches!(rx.check(), Err(Error::Protocol(_))));
    }

    #[test]
    fn a_peer_closing_mid_message_is_an_unexpected_end() {
        let mut rx = Reassembly::new(100);
        rx.start(42).push(b"ab");
        match rx.cut_short() {
            Error::Io(err) => {
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
                assert!(err.to_string().contains("42-byte message"), "{err}");
                assert!(err.to_string().contains("2 bytes arrived"), "{err}");
            }
            other => panic!("expected an unexpected end, got {other:?}"),
        }
        // The stream has ended: later receives are end-of-file.
        assert!(rx.is_ended());
        assert!(rx.check().is_ok());
    }

    #[test]
    fn sends_over_the_peers_limit_are_refused() {
        assert!(check_send(10, 10).is_ok());
        assert!(matches!(
            check_send(11, 10),
            Err(Error::MessageTooLarge { len: 11, max: 10 })
        ));
    }
}
