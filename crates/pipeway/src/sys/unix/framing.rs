//! Reading and writing the framed wire ([`crate::wire`]): messages split
//! into records and put back together, and byte streams carried in records.
//!
//! The state machines here are written once over [`RecordIo`] and serve both
//! faces. Every one of them can stop at any system call (a blocking timeout,
//! or `WouldBlock` under tokio) and pick up where it stopped on the next
//! call: bytes already taken from the socket are kept in the state, never
//! dropped, which is also what makes the tokio methods cancel safe.

use std::io::{self, IoSlice, IoSliceMut};

use crate::error::Error;
use crate::messages::{Reassembly, check_send};
use crate::wire::{
    MAX_RECORD_PAYLOAD, MESSAGE_HEADER_LEN, continuation_payload, first_record_payload,
    message_header, message_len,
};

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

fn record_too_long() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the peer sent a record longer than the framed wire allows ({MAX_RECORD_PAYLOAD} bytes)"
        ),
    )
}

// ---------------------------------------------------------------------------
// Byte mode on the framed wire.

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

// ---------------------------------------------------------------------------
// Message mode: receiving.

#[derive(Debug)]
pub(crate) struct MessageReader {
    /// The limit, the message kept whole for a larger buffer (or detached
    /// from one), and whether the stream broke.
    assembly: Reassembly,
    /// Where each message's first record lands, header and payload
    /// together: room for the largest record, so none is truncated. One
    /// buffer (`recv`, not a scattering `recvmsg`) is the kernel's short way,
    /// and the payload keeps the alignment it had in the record.
    spill: Vec<u8>,
    /// A message being received straight into the caller's buffer: its
    /// length and how much of it has arrived. Valid only while the caller
    /// keeps calling with the same buffer (the tokio face, within one call);
    /// [`detach`](Self::detach) moves it into owned memory otherwise.
    in_place: Option<(usize, usize)>,
}

impl MessageReader {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            assembly: Reassembly::new(max),
            spill: Vec::new(),
            in_place: None,
        }
    }

    /// Receives the next message into `out`: `Ok(Some(len))`, or `Ok(None)`
    /// once the peer has closed its write side. A message longer than `out`
    /// fails with [`Error::BufferTooSmall`] and stays for the next call.
    ///
    /// If a resumable error stops it part way through a message, the bytes
    /// stay in `out`: call again with the same buffer, or call
    /// [`detach`](Self::detach) with it before giving it back to the user.
    pub(crate) fn recv(
        &mut self,
        out: &mut [u8],
        mut io: impl RecordIo,
    ) -> Result<Option<usize>, Error> {
        self.assembly.check()?;
        if self.assembly.is_ended() {
            return Ok(None);
        }
        if let Some((len, got)) = self.in_place {
            if out.len() < len {
                // Not the buffer it started in: a caller bug, reported
                // rather than written past.
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a message receive resumed with a different buffer",
                )));
            }
            return self.receive_in_place(out, len, got, &mut io);
        }
        if self.assembly.partial.is_some() {
            self.fill(&mut io)?;
            return self.assembly.deliver_into(out);
        }

        let Some((len, payload)) = self.first_record(&mut io)? else {
            return Ok(None);
        };
        let first = &self.spill[MESSAGE_HEADER_LEN..MESSAGE_HEADER_LEN + payload];
        if len <= out.len() {
            // The common case: the message goes into `out`, its first
            // record's payload copied from the record buffer, the rest
            // received in place.
            out[..payload].copy_from_slice(first);
            return self.receive_in_place(out, len, payload, &mut io);
        }
        // Too big for `out`: keep it, whole, for a call with a larger buffer.
        // `len` is within the limit, so this allocation is bounded.
        let partial = self.assembly.start(len);
        partial.push(first);
        Err(Error::BufferTooSmall {
            needed: len,
            capacity: out.len(),
        })
    }

    /// Receives continuation records straight into `out` until the message
    /// of `len` bytes, `got` of which have arrived, is whole.
    fn receive_in_place(
        &mut self,
        out: &mut [u8],
        len: usize,
        mut got: usize,
        io: &mut impl RecordIo,
    ) -> Result<Option<usize>, Error> {
        while got < len {
            match Self::continuation(io, &mut out[got..len], len) {
                Ok(Some(n)) => got += n,
                Ok(None) => {
                    self.in_place = None;
                    return Err(self.assembly.cut_short_at(len, got));
                }
                Err(err) if is_resumable(&err) => {
                    self.in_place = Some((len, got));
                    return Err(err);
                }
                Err(err) => {
                    self.in_place = None;
                    return Err(self.assembly.fail(err));
                }
            }
        }
        self.in_place = None;
        Ok(Some(len))
    }

    /// Moves a message interrupted part way into `out` (see
    /// [`recv`](Self::recv)) into owned memory, so the next call may use any
    /// buffer. Does nothing when no message is in progress there. This copy
    /// is the price of a timeout or a cancelled future, never of a receive
    /// that completes.
    pub(crate) fn detach(&mut self, out: &[u8]) {
        if let Some((len, got)) = self.in_place.take() {
            self.assembly.start(len).push(&out[..got]);
        }
    }

    /// Receives the next message into a vector of exactly its length.
    pub(crate) fn recv_vec(&mut self, mut io: impl RecordIo) -> Result<Option<Vec<u8>>, Error> {
        self.assembly.check()?;
        if self.assembly.is_ended() {
            return Ok(None);
        }
        if self.assembly.partial.is_none() {
            let Some((len, payload)) = self.first_record(&mut io)? else {
                return Ok(None);
            };
            let first = &self.spill[MESSAGE_HEADER_LEN..MESSAGE_HEADER_LEN + payload];
            self.assembly.start(len).push(first);
        }
        self.fill(&mut io)?;
        Ok(self.assembly.deliver_vec())
    }

    /// Receives a first record into the record buffer and checks it: `None`
    /// at end-of-file, else the message's length and how much of its payload
    /// the record carried (after the header, in the record buffer).
    fn first_record(&mut self, io: &mut impl RecordIo) -> Result<Option<(usize, usize)>, Error> {
        if self.spill.is_empty() {
            self.spill = vec![0; MESSAGE_HEADER_LEN + MAX_RECORD_PAYLOAD];
        }
        let received = io.recv_record(&mut [IoSliceMut::new(&mut self.spill)])?;
        if received.bytes == 0 {
            return Ok(None);
        }
        if received.bytes < MESSAGE_HEADER_LEN {
            let why = format!(
                "a record of {} bytes where a message header ({MESSAGE_HEADER_LEN} bytes) was due",
                received.bytes
            );
            return Err(self.assembly.fail(Error::Protocol(why)));
        }
        if received.truncated {
            return Err(self.assembly.fail(record_too_long().into()));
        }
        let header: [u8; MESSAGE_HEADER_LEN] = self.spill[..MESSAGE_HEADER_LEN]
            .try_into()
            .expect("a header's length");
        let len = self.assembly.admit(message_len(&header))?;
        let payload = received.bytes - MESSAGE_HEADER_LEN;
        if payload > len {
            let why = format!("a message announced as {len} bytes came with {payload}");
            return Err(self.assembly.fail(Error::Protocol(why)));
        }
        Ok(Some((len, payload)))
    }

    /// Receives continuation records into the partial message until it is whole.
    fn fill(&mut self, io: &mut impl RecordIo) -> Result<(), Error> {
        let Some(partial) = self.assembly.partial.as_mut() else {
            return Ok(());
        };
        let len = partial.data.len();
        while !partial.is_complete() {
            match Self::continuation(io, &mut partial.data[partial.got..], len) {
                Ok(Some(n)) => partial.got += n,
                Ok(None) => return Err(self.assembly.cut_short()),
                Err(err) if is_resumable(&err) => return Err(err),
                Err(err) => return Err(self.assembly.fail(err)),
            }
        }
        Ok(())
    }

    /// One continuation record into `dest` (the rest of the message).
    /// `None`: the peer closed before the message was whole. That ends the
    /// stream (the next receive reads end-of-file) without breaking it.
    fn continuation(
        io: &mut impl RecordIo,
        dest: &mut [u8],
        len: usize,
    ) -> Result<Option<usize>, Error> {
        let received = io.recv_record(&mut [IoSliceMut::new(dest)])?;
        if received.bytes == 0 {
            return Ok(None);
        }
        if received.truncated {
            let why = format!("a continuation record overran its {len}-byte message");
            return Err(Error::Protocol(why));
        }
        Ok(Some(received.bytes))
    }
}

/// Errors after which a later call can carry on: the socket had nothing yet
/// (tokio), or a read/write timeout fired (blocking).
pub(crate) fn is_resumable(err: &Error) -> bool {
    matches!(err, Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted))
}

// ---------------------------------------------------------------------------
// Message mode: sending.

#[derive(Debug)]
pub(crate) struct MessageWriter {
    peer_max: u64,
    /// The payload of a record after the first (see [`continuation_payload`]).
    budget: usize,
    /// The largest record this end sends: what the first record's payload
    /// and header must fit in.
    record: usize,
    /// A small message's one record, header and payload, put together: one
    /// `send` of one buffer costs less than a gathering `sendmsg`.
    record_buf: Vec<u8>,
    /// The unsent rest of a message that a timeout (or a dropped tokio future)
    /// interrupted: sent before anything else, so the peer never sees half a
    /// message followed by another.
    pending: Option<(Vec<u8>, usize)>,
}

/// How much of a message has left: `None` before its first record (nothing
/// sent; the message can still be dropped whole), then the payload bytes sent.
pub(crate) type Progress = Option<usize>;

impl MessageWriter {
    pub(crate) fn new(peer_max: u64, budget: usize) -> Self {
        Self {
            peer_max,
            budget: continuation_payload(budget),
            record: budget,
            record_buf: Vec::new(),
            pending: None,
        }
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Sends what an interrupted message left unsent.
    pub(crate) fn flush(&mut self, mut io: impl RecordIo) -> io::Result<()> {
        while let Some((rest, sent)) = self.pending.as_mut() {
            let end = rest.len().min(*sent + self.budget);
            *sent += io.send_record(&[IoSlice::new(&rest[*sent..end])])?;
            if *sent >= rest.len() {
                self.pending = None;
            }
        }
        Ok(())
    }

    /// Refuses a message larger than the peer accepts, before anything is sent.
    pub(crate) fn check(&self, message: &[u8]) -> Result<(), Error> {
        check_send(message.len(), self.peer_max)
    }

    /// Sends `message` from `progress` on, advancing it record by record,
    /// until the message is out or a record cannot go. Call with nothing
    /// pending, after [`check`](Self::check).
    pub(crate) fn send(
        &mut self,
        message: &[u8],
        progress: &mut Progress,
        mut io: impl RecordIo,
    ) -> io::Result<()> {
        debug_assert!(self.pending.is_none(), "flush before sending a message");
        loop {
            match *progress {
                None => {
                    let first = first_record_payload(message.len(), self.record);
                    self.record_buf.clear();
                    self.record_buf
                        .extend_from_slice(&message_header(message.len() as u64));
                    self.record_buf.extend_from_slice(&message[..first]);
                    io.send_record(&[IoSlice::new(&self.record_buf)])?;
                    *progress = Some(first);
                }
                Some(sent) if sent >= message.len() => return Ok(()),
                Some(sent) => {
                    let end = message.len().min(sent + self.budget);
                    let n = io.send_record(&[IoSlice::new(&message[sent..end])])?;
                    *progress = Some(sent + n);
                }
            }
        }
    }

    /// Keeps the unsent rest of a message that stopped part way, to go out
    /// with the next [`flush`](Self::flush). A message not begun is dropped
    /// whole, as if never sent.
    pub(crate) fn keep_rest(&mut self, message: &[u8], progress: Progress) {
        if let Some(sent) = progress {
            if sent < message.len() {
                self.pending = Some((message[sent..].to_vec(), 0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// An in-memory record pipe that can be told to fail with `WouldBlock`.
    #[derive(Default)]
    struct Records {
        queue: VecDeque<Vec<u8>>,
        block_after: Option<usize>,
        max_record: usize,
    }

    impl RecordIo for &mut Records {
        fn send_record(&mut self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
            if let Some(n) = self.block_after.as_mut() {
                if *n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                *n -= 1;
            }
            let record: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            assert!(self.max_record == 0 || record.len() <= self.max_record);
            let payload = record.len();
            self.queue.push_back(record);
            Ok(payload - if parts.len() == 2 { parts[0].len() } else { 0 })
        }
        fn recv_record(&mut self, parts: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
            if let Some(n) = self.block_after.as_mut() {
                if *n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                *n -= 1;
            }
            let Some(record) = self.queue.pop_front() else {
                return Ok(Received {
                    bytes: 0,
                    truncated: false,
                });
            };
            let mut offset = 0;
            for part in parts.iter_mut() {
                let n = part.len().min(record.len() - offset);
                part[..n].copy_from_slice(&record[offset..offset + n]);
                offset += n;
            }
            Ok(Received {
                bytes: offset,
                truncated: offset < record.len(),
            })
        }
    }

    fn send(records: &mut Records, message: &[u8], budget: usize) {
        let mut writer = MessageWriter::new(u64::MAX, budget);
        let mut progress = None;
        writer.send(message, &mut progress, &mut *records).unwrap();
        assert_eq!(progress, Some(message.len()));
    }

    #[test]
    fn messages_keep_their_boundaries_across_records() {
        let mut records = Records::default();
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        send(&mut records, b"", 4096);
        send(&mut records, &big, 4096);
        send(&mut records, b"tail", 4096);
        let mut reader = MessageReader::new(1 << 20);
        assert_eq!(reader.recv_vec(&mut records).unwrap(), Some(vec![]));
        assert_eq!(reader.recv_vec(&mut records).unwrap(), Some(big));
        let mut out = [0u8; 16];
        assert_eq!(reader.recv(&mut out, &mut records).unwrap(), Some(4));
        assert_eq!(&out[..4], b"tail");
        assert_eq!(reader.recv(&mut out, &mut records).unwrap(), None);
    }

    #[test]
    fn small_messages_go_in_one_record_and_large_ones_in_aligned_payload_records() {
        let mut records = Records::default();
        send(&mut records, &[1u8; 100], MAX_RECORD_PAYLOAD);
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        send(&mut records, &big, MAX_RECORD_PAYLOAD);
        let lengths: Vec<usize> = records.queue.iter().map(Vec::len).collect();
        // The small one: header and payload together.
        assert_eq!(lengths[0], MESSAGE_HEADER_LEN + 100);
        // The large one: its header alone, then payload records that each
        // start at an aligned offset of the message.
        assert_eq!(lengths[1], MESSAGE_HEADER_LEN);
        let mut offset = 0;
        for len in &lengths[2..] {
            assert_eq!(offset % crate::wire::PAYLOAD_ALIGN, 0);
            offset += len;
        }
        assert_eq!(offset, big.len());
        let mut reader = MessageReader::new(1 << 20);
        assert_eq!(reader.recv_vec(&mut records).unwrap(), Some(vec![1u8; 100]));
        let mut out = vec![0u8; big.len()];
        assert_eq!(
            reader.recv(&mut out, &mut records).unwrap(),
            Some(big.len())
        );
        assert_eq!(out, big);
    }

    #[test]
    fn a_small_buffer_reports_the_size_and_keeps_the_message() {
        let mut records = Records::default();
        send(&mut records, &[7u8; 100], 4096);
        let mut reader = MessageReader::new(1 << 20);
        let mut small = [0u8; 10];
        match reader.recv(&mut small, &mut records) {
            Err(Error::BufferTooSmall { needed, capacity }) => {
                assert_eq!((needed, capacity), (100, 10));
            }
            other => panic!("expected BufferTooSmall, got {other:?}"),
        }
        let mut big = [0u8; 100];
        assert_eq!(reader.recv(&mut big, &mut records).unwrap(), Some(100));
        assert_eq!(big, [7u8; 100]);
    }

    #[test]
    fn an_announced_length_over_the_limit_fails_before_allocating() {
        let mut records = Records::default();
        let mut hostile = message_header(u64::MAX).to_vec();
        hostile.extend_from_slice(b"x");
        records.queue.push_back(hostile);
        let mut reader = MessageReader::new(1024);
        let err = reader.recv_vec(&mut records).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MessageTooLarge {
                    len: u64::MAX,
                    max: 1024
                }
            ),
            "{err:?}"
        );
        // The boundaries are lost: the stream stays failed.
        assert!(matches!(
            reader.recv_vec(&mut records),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn an_interrupted_receive_resumes_without_loss() {
        let mut records = Records::default();
        let big: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        send(&mut records, &big, 1000);
        send(&mut records, b"next", 1000);
        let mut reader = MessageReader::new(1 << 20);
        let mut out = vec![0u8; big.len()];
        // Resumed with the same buffer: the bytes stay where they landed.
        records.block_after = Some(3);
        let err = reader.recv(&mut out, &mut records).unwrap_err();
        assert!(is_resumable(&err));
        records.block_after = None;
        assert_eq!(
            reader.recv(&mut out, &mut records).unwrap(),
            Some(big.len())
        );
        assert_eq!(out, big);
        assert_eq!(
            reader.recv_vec(&mut records).unwrap(),
            Some(b"next".to_vec())
        );
    }

    #[test]
    fn a_detached_receive_resumes_into_any_buffer() {
        let mut records = Records::default();
        let big: Vec<u8> = (0..50_000u32).map(|i| (i * 3) as u8).collect();
        send(&mut records, &big, 1000);
        let mut reader = MessageReader::new(1 << 20);
        let mut first = vec![0u8; big.len()];
        records.block_after = Some(5);
        assert!(is_resumable(
            &reader.recv(&mut first, &mut records).unwrap_err()
        ));
        reader.detach(&first);
        drop(first);
        records.block_after = None;
        let mut second = vec![0u8; big.len() + 10];
        assert_eq!(
            reader.recv(&mut second, &mut records).unwrap(),
            Some(big.len())
        );
        assert_eq!(&second[..big.len()], &big[..]);
    }

    #[test]
    fn an_interrupted_send_finishes_before_the_next_message() {
        let mut records = Records {
            max_record: 1000,
            ..Records::default()
        };
        let big = vec![9u8; 10_000];
        let mut writer = MessageWriter::new(u64::MAX, 1000);
        records.block_after = Some(4);
        let mut progress = None;
        assert!(writer.send(&big, &mut progress, &mut records).is_err());
        assert!(progress.is_some_and(|sent| sent < big.len()));
        writer.keep_rest(&big, progress);
        assert!(writer.has_pending());
        records.block_after = None;
        writer.flush(&mut records).unwrap();
        let mut progress = None;
        writer.send(b"next", &mut progress, &mut records).unwrap();
        let mut reader = MessageReader::new(1 << 20);
        assert_eq!(reader.recv_vec(&mut records).unwrap(), Some(big));
        assert_eq!(
            reader.recv_vec(&mut records).unwrap(),
            Some(b"next".to_vec())
        );
    }

    #[test]
    fn a_send_stopped_before_its_first_record_keeps_nothing() {
        let mut records = Records {
            block_after: Some(0),
            ..Records::default()
        };
        let mut writer = MessageWriter::new(u64::MAX, 1000);
        let mut progress = None;
        assert!(writer.send(b"never", &mut progress, &mut records).is_err());
        writer.keep_rest(b"never", progress);
        assert!(!writer.has_pending());
        assert!(records.queue.is_empty());
    }

    #[test]
    fn a_message_over_the_peers_limit_is_refused_by_the_check() {
        // The stream calls `check` before `send`, so a refused message never
        // reaches the socket (the integration tests show nothing arrives).
        let writer = MessageWriter::new(10, 1000);
        assert!(matches!(
            writer.check(&[0u8; 11]),
            Err(Error::MessageTooLarge { len: 11, max: 10 })
        ));
        assert!(writer.check(&[0u8; 10]).is_ok());
    }

    #[test]
    fn byte_records_are_read_across_small_buffers() {
        let mut records = Records::default();
        records.queue.push_back(b"hello world".to_vec());
        let mut buffer = RecordBuffer::default();
        let mut out = [0u8; 4];
        let mut got = Vec::new();
        loop {
            let n = buffer.read(&mut out, &mut records).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, b"hello world");
    }
}
