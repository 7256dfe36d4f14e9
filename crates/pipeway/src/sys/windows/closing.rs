//! What an end of a Windows pipe says when asked to close half of itself,
//! or used after it closed. Windows named pipes have no half-close: both
//! faces give these same errors.

use std::io;

/// The message for a byte pipe asked to half-close.
const NO_HALF_CLOSE: &str = "Windows named pipes have no half-close: a byte-mode \
    stream cannot end its writes alone; drop it (or disconnect) and the peer reads what was \
    written, then end-of-file";

/// The message for `close_write` on a message pipe without go-winio's convention.
const NO_CLOSE_WRITE: &str = "Windows named pipes have no half-close; with \
    pipeway::windows::ListenOptionsExt/ConnectOptionsExt::empty_message_ends_stream on both \
    ends, close_write sends go-winio's end-of-stream (an empty message)";

/// A byte stream asked to shut down its writes alone.
pub(crate) fn no_half_close() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NO_HALF_CLOSE)
}

/// A message stream asked to end its messages without go-winio's convention.
pub(crate) fn no_close_write() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NO_CLOSE_WRITE)
}

/// An end used after `disconnect` (a shutdown of both ways).
pub(crate) fn disconnected() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "this end was disconnected")
}

/// A write after this end shut down its writes.
pub(crate) fn write_shut() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "this end shut down its writes")
}
