//! Entry points for the fuzz targets in the workspace's `fuzz/` crate
//! (feature `fuzzing`). Not an API: they change with the decoders they drive.
//!
//! Each function takes the fuzzer's bytes, drives one decoder of bytes that
//! come from a peer, and panics when the decoder breaks a rule it promises
//! (not merely when it refuses the input: refusing bad input is its job).

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};

use crate::error::Error;
use crate::name::PipeName;
use crate::sys::unix::framing::{MessageReader, RecordBuffer, RecordIo, scatter};
use crate::sys::unix::socket::Received;
use crate::wire::{Hello, MAX_RECORD_PAYLOAD, MESSAGE_HEADER_LEN};

mod samba;
pub use samba::samba_messages;

/// The server's hello: whatever decodes encodes back to the same hello.
pub fn hello(data: &[u8]) {
    if let Ok(hello) = Hello::decode(data) {
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
    }
}

/// Pipe-name parsing: never panics, and a parsed name prints as text that
/// parses back to the same name.
pub fn pipe_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = PipeName::parse(text) {
        let shown = name.to_string();
        assert_eq!(
            PipeName::parse(&shown).as_ref(),
            Ok(&name),
            "{text:?} parsed, printed as {shown:?}"
        );
    }
}

/// Reads fuzzer bytes as control values, then records.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The records that follow: each a u16 length and that many bytes (fewer
    /// at the end of the input).
    fn records(&mut self) -> VecDeque<Vec<u8>> {
        let mut records = VecDeque::new();
        while !self.data.is_empty() {
            let len = (self.u16() as usize).min(self.data.len());
            let (record, rest) = self.data.split_at(len);
            records.push_back(record.to_vec());
            self.data = rest;
        }
        records
    }
}

/// A record socket in memory: a queue of records, end-of-file after the last
/// (or at an empty record), and `WouldBlock` when told to.
struct Records {
    queue: VecDeque<Vec<u8>>,
    /// Receives left before the next `WouldBlock`.
    block_in: Option<u8>,
}

impl RecordIo for &mut Records {
    fn send_record(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        unreachable!("the decoders under test only receive")
    }

    fn recv_record(&mut self, parts: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
        if let Some(left) = self.block_in.as_mut() {
            if *left == 0 {
                self.block_in = None;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *left -= 1;
        }
        // No record left: end-of-file, as a socket whose peer closed.
        let record = self.queue.pop_front().unwrap_or_default();
        Ok(scatter(&record, parts))
    }
}

/// How a stream of records must come out of message reassembly.
#[derive(Debug, PartialEq)]
enum End {
    /// End-of-file between messages.
    Closed,
    /// A first record too short for a header, a payload longer than its
    /// message, or a continuation overrunning its message.
    Protocol,
    /// An announced length over the limit.
    TooLarge,
    /// End-of-file inside a message.
    Vanished,
}

/// The framed wire's message rules, written as plainly as possible: the
/// messages in `records`, and how the stream ends.
fn reference_messages(records: &VecDeque<Vec<u8>>, max: usize) -> (Vec<Vec<u8>>, End) {
    let mut records = records.iter();
    let mut messages = Vec::new();
    loop {
        let first = match records.next() {
            None => return (messages, End::Closed),
            Some(record) if record.is_empty() => return (messages, End::Closed),
            Some(record) => record,
        };
        if first.len() < MESSAGE_HEADER_LEN {
            return (messages, End::Protocol);
        }
        let announced = u64::from_le_bytes(first[..MESSAGE_HEADER_LEN].try_into().unwrap());
        if announced > max as u64 {
            return (messages, End::TooLarge);
        }
        let len = announced as usize;
        let mut message = first[MESSAGE_HEADER_LEN..].to_vec();
        if message.len() > len {
            return (messages, End::Protocol);
        }
        while message.len() < len {
            match records.next() {
                None => return (messages, End::Vanished),
                Some(record) if record.is_empty() => return (messages, End::Vanished),
                Some(record) if record.len() > len - message.len() => {
                    return (messages, End::Protocol);
                }
                Some(record) => message.extend_from_slice(record),
            }
        }
        messages.push(message);
    }
}

fn end_of(error: &Error) -> End {
    match error {
        Error::Protocol(_) => End::Protocol,
        Error::MessageTooLarge { .. } => End::TooLarge,
        Error::Io(err) if err.kind() == io::ErrorKind::UnexpectedEof => End::Vanished,
        other => panic!("message reassembly failed with an unexpected error: {other:?}"),
    }
}

/// Message reassembly on the framed wire: whatever records arrive, and
/// whatever buffers and interruptions the caller brings, the messages that
/// come out are exactly those the wire's rules give, and the stream ends the
/// way the rules say.
pub fn message_reassembly(data: &[u8]) {
    let mut input = Input { data };
    let max = input.u16() as usize;
    // How each receive is made, one control byte per receive, cycled.
    let controls: Vec<u8> = (0..8).map(|_| input.byte()).collect();
    let records = input.records();
    let (expected, expected_end) = reference_messages(&records, max);
    let most_calls = 2 * records.len() + 16;

    let mut io = Records {
        queue: records,
        block_in: None,
    };
    let mut reader = MessageReader::new(max);
    let mut got = Vec::new();
    // A buffer a resumable error left a message in: the next call must bring it.
    let mut resume_with: Option<Vec<u8>> = None;
    let mut call = 0usize;
    let end = 'receive: loop {
        assert!(call < most_calls, "message reassembly made no progress");
        let control = controls[call % controls.len()];
        call += 1;
        if control & 0x80 != 0 && io.block_in.is_none() {
            // At least one record first, so every call makes progress.
            io.block_in = Some(1 + (control & 0x03));
        }
        let outcome = if control & 0x40 != 0 && resume_with.is_none() {
            reader.recv_vec(&mut io)
        } else {
            let mut out = resume_with
                .take()
                .unwrap_or_else(|| vec![0; (control & 0x3f) as usize * 7]);
            loop {
                match reader.recv(&mut out, &mut io) {
                    Ok(Some(len)) => break Ok(Some(out[..len].to_vec())),
                    Ok(None) => break Ok(None),
                    Err(Error::BufferTooSmall { needed, capacity }) => {
                        assert_eq!(capacity, out.len());
                        assert!(needed > capacity && needed <= max);
                        out = vec![0; needed];
                    }
                    Err(err) if crate::sys::unix::framing::is_resumable(&err) => {
                        if control & 0x20 != 0 {
                            // A cancelled tokio receive: the message moves to
                            // owned memory and any buffer may come next.
                            reader.detach(&out);
                        } else {
                            resume_with = Some(out);
                        }
                        break Err(err);
                    }
                    Err(err) => break Err(err),
                }
            }
        };
        match outcome {
            Ok(Some(message)) => got.push(message),
            Ok(None) => break 'receive End::Closed,
            Err(err) if crate::sys::unix::framing::is_resumable(&err) => continue,
            Err(err) => {
                let end = end_of(&err);
                let after = reader.recv_vec(&mut io);
                if end == End::Vanished {
                    // A peer gone mid-message ends the stream (as on
                    // Windows): the next receive is end-of-file.
                    assert!(matches!(after, Ok(None)), "after {err:?}: {after:?}");
                } else {
                    // Boundaries once lost stay lost.
                    assert!(
                        matches!(after, Err(Error::Protocol(_))),
                        "after {err:?}: {after:?}"
                    );
                }
                break 'receive end;
            }
        }
    };
    assert_eq!(got, expected, "messages differ from the wire's rules");
    assert_eq!(end, expected_end);
}

/// Byte mode on the framed wire: reads of any size give back the records'
/// bytes in order, up to end-of-file (the first empty record).
pub fn byte_records(data: &[u8]) {
    let mut input = Input { data };
    let controls: Vec<u8> = (0..8).map(|_| input.byte()).collect();
    let records = input.records();
    let expected: Vec<u8> = records
        .iter()
        .take_while(|record| !record.is_empty())
        .flatten()
        .copied()
        .collect();
    let mut io = Records {
        queue: records,
        block_in: None,
    };
    let mut buffer = RecordBuffer::default();
    let mut got = Vec::new();
    for call in 0usize.. {
        let control = controls[call % controls.len()];
        if control & 0x80 != 0 && io.block_in.is_none() {
            // At least one record first, so every call makes progress.
            io.block_in = Some(1 + (control & 0x03));
        }
        let len = if control & 0x40 != 0 {
            MAX_RECORD_PAYLOAD // read straight into the caller's buffer
        } else {
            1 + (control & 0x3f) as usize * 3
        };
        let mut out = vec![0; len];
        match buffer.read(&mut out, &mut io) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&out[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("byte records failed: {err}"),
        }
    }
    assert_eq!(got, expected);
}

/// The shared-memory channel's set-up message (from the server): whatever
/// decodes encodes back to the same, and the memory-header check of the
/// same bytes never panics.
pub fn shm_setup(data: &[u8]) {
    use crate::shm::layout::{Setup, check_memory_header};
    if let Ok(setup) = Setup::decode(data) {
        assert_eq!(Setup::decode(&setup.encode()), Ok(setup));
        let _ = check_memory_header(data, &setup);
    }
}

/// The handle values a Windows server sends after the set-up message:
/// whatever the decoder accepts re-encodes to the same bytes, and names
/// three distinct, plausible handle values.
pub fn shm_handles(data: &[u8]) {
    use crate::shm::layout::HandleOffer;
    if let Ok(offer) = HandleOffer::decode(data) {
        assert_eq!(&offer.encode()[..], data);
        let values = [offer.memory, offer.wakes_server, offer.wakes_client];
        assert!(
            values
                .iter()
                .all(|&v| v != 0 && v % 4 == 0 && v <= u32::MAX as u64)
        );
        assert!(values[0] != values[1] && values[1] != values[2] && values[0] != values[2]);
    }
}

/// A ring the peer wrote: the first 8 bytes are its `head`, the next 8 the
/// consumer's `tail`, the rest the ring's bytes (up to 4 KiB, a power of
/// two). Walks the records as the channel's receiver does: every record the
/// decoders accept lies inside the ring and inside what was published, and
/// each step consumes at least one aligned header.
pub fn shm_ring(data: &[u8]) {
    use crate::shm::layout::{RECORD_HEADER_LEN, Record, decode_record, used_bytes};
    let mut input = Input { data };
    let head = u64::from_le_bytes(std::array::from_fn(|_| input.byte()));
    let mut tail = u64::from_le_bytes(std::array::from_fn(|_| input.byte())) & !7;
    let ring: Vec<u8> = input.data.iter().copied().take(4096).collect();
    let size = (ring.len().max(8).next_power_of_two() / 2).max(8) as u64;
    let mut steps = 0;
    loop {
        let Ok(used) = used_bytes(head, tail, size) else {
            return;
        };
        assert!(used <= size && used % 8 == 0);
        if used == 0 {
            return;
        }
        let pos = tail & (size - 1);
        let header: [u8; RECORD_HEADER_LEN] =
            std::array::from_fn(|i| ring.get(pos as usize + i).copied().unwrap_or(0));
        let consumed = match decode_record(header, pos, size, used) {
            Err(_) => return,
            Ok(Record::Pad { skip }) => {
                assert_eq!(pos + skip, size, "padding ends at the ring's end");
                skip
            }
            Ok(Record::Data {
                len, size: record, ..
            }) => {
                assert!(pos + RECORD_HEADER_LEN as u64 + len as u64 <= size);
                record
            }
            Ok(Record::Abort { size: record }) => record,
        };
        assert!(consumed >= 8 && consumed % 8 == 0 && consumed <= used);
        tail = tail.wrapping_add(consumed);
        steps += 1;
        assert!(
            steps <= size / 8,
            "a walk cannot take more steps than headers fit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as the fuzz input spells them.
    pub(super) fn spell(head: &[u8], records: &[&[u8]]) -> Vec<u8> {
        let mut data = head.to_vec();
        for record in records {
            data.extend_from_slice(&(record.len() as u16).to_le_bytes());
            data.extend_from_slice(record);
        }
        data
    }

    fn message(len: u64, payload: &[u8]) -> Vec<u8> {
        let mut record = len.to_le_bytes().to_vec();
        record.extend_from_slice(payload);
        record
    }

    #[test]
    fn the_reference_agrees_with_the_reader_on_every_way_a_stream_ends() {
        let whole = message(3, b"abc");
        let first = message(5, b"ab");
        let over = message(9999, b"");
        let long = message(1, b"ab");
        for records in [
            vec![&whole[..], &first[..], b"cde"],
            vec![&whole[..], &first[..]],
            vec![&first[..], b"cdef"],
            // End-of-file mid-message, then more records: the stream has
            // ended, and nothing after the end is read (found by fuzzing).
            vec![&first[..], b"c", b"", &whole[..]],
            vec![&over[..]],
            vec![&long[..]],
            vec![b"short"],
        ] {
            for controls in [[0u8; 8], [0x81, 0x41, 0x02, 0xe3, 0xa0, 0x40, 0x01, 0x84]] {
                let mut head = 1000u16.to_le_bytes().to_vec();
                head.extend_from_slice(&controls);
                message_reassembly(&spell(&head, &records));
            }
        }
    }

    #[test]
    fn byte_records_come_back_in_order() {
        byte_records(&spell(
            &[0x81, 0, 5, 0x90, 0, 0, 0, 0],
            &[b"hello ", b"world"],
        ));
    }

    #[test]
    fn hellos_and_names_hold_their_round_trips() {
        hello(
            b"PWAY\x01\x00\x01\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        );
        for name in [
            "echo",
            r"\\.\pipe\echo",
            "//./pipe/echo",
            "/tmp/x",
            r"\\host\pipe\x",
        ] {
            pipe_name(name.as_bytes());
        }
    }

    #[test]
    fn the_shm_seeds_walk_and_nonsense_is_refused() {
        let path = format!(
            "{}/../../fuzz/seeds/shm_ring/three-records-and-a-pad",
            env!("CARGO_MANIFEST_DIR")
        );
        shm_ring(&std::fs::read(path).unwrap());
        let path = format!(
            "{}/../../fuzz/seeds/shm_setup/valid-2mib-rings",
            env!("CARGO_MANIFEST_DIR")
        );
        let setup = std::fs::read(path).unwrap();
        assert!(crate::shm::layout::Setup::decode(&setup).is_ok());
        shm_setup(&setup);
        let path = format!(
            "{}/../../fuzz/seeds/shm_handles/three-handles",
            env!("CARGO_MANIFEST_DIR")
        );
        let handles = std::fs::read(path).unwrap();
        assert!(crate::shm::layout::HandleOffer::decode(&handles).is_ok());
        shm_handles(&handles);
        shm_handles(&[0xff; 24]);
        shm_ring(&[0xff; 64]);
        shm_ring(&[]);
    }
}
