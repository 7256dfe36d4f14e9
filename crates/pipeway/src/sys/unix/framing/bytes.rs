//! Byte mode on the framed wire: records of raw bytes, never empty.

use std::io::{self, IoSlice, IoSliceMut};

use crate::wire::MAX_RECORD_PAYLOAD;

use super::{RecordIo, record_too_long};

/// The unread rest of the last record, for byte-mode reads smaller than a record.
#[derive(Debug, Default)]
pub(crate) struct RecordBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecordBuffer {
    pub(crate) fn read(&mut self, out: &mut [u8], mut io: impl RecordIo) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.start == self.end && out.len() >= MAX_RECORD_PAYLOAD {
            // No record can overflow `out`: read straight into it.
            let received = io.recv_record(&mut [IoSliceMut::new(out)])?;
            if received.truncated {
                return Err(record_too_long());
            }
            return Ok(received.bytes);
        }
        self.fill(io)?;
        Ok(self.take(out))
    }

    /// The unread rest of the current record, receiving the next record when
    /// it is used up; empty at end-of-file. Take bytes with [`consume`](Self::consume).
    pub(crate) fn fill(&mut self, mut io: impl RecordIo) -> io::Result<&[u8]> {
        if self.start == self.end {
            if self.buf.is_empty() {
                self.buf = vec![0; MAX_RECORD_PAYLOAD];
            }
            let received = io.recv_record(&mut [IoSliceMut::new(&mut self.buf)])?;
            if received.truncated {
                return Err(record_too_long());
            }
            self.start = 0;
            self.end = received.bytes;
        }
        Ok(&self.buf[self.start..self.end])
    }

    /// Marks `n` bytes of what [`fill`](Self::fill) returned as read.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }

    /// Writes one record of at most `budget` bytes. Never sends an empty
    /// record: on this wire, that would read as end-of-file.
    pub(crate) fn write(data: &[u8], budget: usize, mut io: impl RecordIo) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(budget);
        io.send_record(&[IoSlice::new(&data[..n])])
    }
}
