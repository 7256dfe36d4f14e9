//! The framed wire's state machines against an in-memory record pipe that
//! can be told to stop (`WouldBlock`) at any record.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};

use crate::error::Error;
use crate::wire::{MAX_RECORD_PAYLOAD, MESSAGE_HEADER_LEN, message_header};

use super::*;
use crate::sys::unix::socket::Received;

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
        // No record left: end-of-file, as a socket whose peer closed.
        let record = self.queue.pop_front().unwrap_or_default();
        Ok(scatter(&record, parts))
    }
}

fn send(records: &mut Records, message: &[u8], budget: usize) {
    let mut writer = MessageWriter::new(usize::MAX, budget);
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
                len: usize::MAX,
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
    let mut writer = MessageWriter::new(usize::MAX, 1000);
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
    let mut writer = MessageWriter::new(usize::MAX, 1000);
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
