//! Message mode, receiving: a message put back together from its records,
//! straight into the caller's buffer when it fits.

use std::io::{self, IoSliceMut};

use crate::error::Error;
use crate::messages::Reassembly;
use crate::wire::{MAX_RECORD_PAYLOAD, MESSAGE_HEADER_LEN, message_len};

use super::{RecordIo, is_resumable, record_too_long};

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
