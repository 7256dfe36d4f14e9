//! Reading and writing the framed wire ([`crate::wire`]): messages split
//! into records and put back together, and byte streams carried in records.
//!
//! The state machines here are written once over [`RecordIo`] and serve both
//! faces. Every one of them can stop at any system call (a blocking timeout,
//! or `WouldBlock` under tokio) and pick up where it stopped on the next
//! call: bytes already taken from the socket are kept in the state, never
//! dropped, which is also what makes the tokio methods cancel safe.
//!
//! | module | its one job |
//! |---|---|
//! | `bytes` | byte streams carried in records |
//! | `receive` | messages put back together from records |
//! | `send` | messages split into records, resumable |
//! | this module | one record in, one record out ([`RecordIo`]) |

mod bytes;
mod receive;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use bytes::RecordBuffer;
pub(crate) use receive::MessageReader;
pub(crate) use send::MessageWriter;

use std::io::{self, IoSlice, IoSliceMut};

use crate::error::Error;
use crate::wire::MAX_RECORD_PAYLOAD;

use super::socket::{Received, Socket};

/// One record in, one record out.
pub(crate) trait RecordIo {
    fn send_record(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize>;
    fn recv_record(&mut self, parts: &mut [IoSliceMut<'_>]) -> io::Result<Received>;
}

impl RecordIo for &Socket {
    fn send_record(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_vectored(parts, false)
    }
    fn recv_record(&mut self, parts: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
        match self.recv_vectored(parts, false) {
            // A seqpacket peer that closed with data of ours unread makes the
            // next receive fail with ECONNRESET once, ahead of the records it
            // sent before closing; they are still queued. Read them: nothing
            // the peer sent is lost, and end-of-file follows.
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                self.recv_vectored(parts, false)
            }
            other => other,
        }
    }
}

pub(super) fn record_too_long() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the peer sent a record longer than the framed wire allows ({MAX_RECORD_PAYLOAD} bytes)"
        ),
    )
}

/// Errors after which a later call can carry on: the socket had nothing yet
/// (tokio), or a read/write timeout fired (blocking).
pub(crate) fn is_resumable(err: &Error) -> bool {
    matches!(err, Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted))
}

/// One record scattered into `parts` as `recvmsg` does it: what fits, and
/// whether the record was cut. The in-memory record pipes of the tests and
/// the fuzz targets receive through it.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn scatter(record: &[u8], parts: &mut [IoSliceMut<'_>]) -> Received {
    let mut offset = 0;
    for part in parts.iter_mut() {
        let n = part.len().min(record.len() - offset);
        part[..n].copy_from_slice(&record[offset..offset + n]);
        offset += n;
    }
    Received {
        bytes: offset,
        truncated: offset < record.len(),
    }
}
