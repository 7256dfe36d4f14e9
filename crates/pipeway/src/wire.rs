//! pipeway's framed wire: what travels on a `SOCK_SEQPACKET` pipe.
//!
//! A byte-mode pipe with default options is a plain `SOCK_STREAM` socket with
//! raw bytes and nothing else, so .NET, socat and Python talk to it. Options
//! that need the pipe itself to speak (message mode, an instance limit) put
//! the pipe on the framed wire instead: a `SOCK_SEQPACKET` socket, which a
//! byte-stream program cannot connect to by mistake (`EPROTOTYPE`).
//!
//! On the framed wire:
//! - The server sends one **hello** record when it admits a client (below).
//!   A client that gets no hello before its timeout is waiting in the
//!   kernel's queue for a free instance: the pipe is busy.
//! - **Message mode**: a message of `n` bytes is a first record holding an
//!   8-byte little-endian `n` and the first bytes of the message, then as many
//!   continuation records (payload only) as the rest needs. No record carries
//!   more than [`MAX_RECORD_PAYLOAD`] bytes of payload, so a message of any
//!   size fits any socket buffer. A zero-length message is a record with just
//!   the header, so a zero-length read can only mean the peer closed its
//!   write side. A receiver takes any split; pipeway sends a small message
//!   ([`SMALL_MESSAGE`]) whole in its first record, and a larger one as a
//!   record of just the header followed by payload records (see
//!   [`first_record_payload`] for why).
//! - **Byte mode**: records of raw bytes, never empty, never larger than
//!   [`MAX_RECORD_PAYLOAD`].

use crate::options::{Direction, PipeMode};

/// The first four bytes of a hello.
pub(crate) const MAGIC: [u8; 4] = *b"PWAY";
/// The wire version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// A hello's length in bytes.
pub(crate) const HELLO_LEN: usize = 24;
/// A message's length prefix, in bytes.
pub(crate) const MESSAGE_HEADER_LEN: usize = 8;
/// The most payload one record carries. 128 KiB records were measured as fast
/// as 1 MiB stream writes here, and stay far below the default socket buffer
/// (`wmem_default`, 208 KiB), which bounds a record's size.
pub(crate) const MAX_RECORD_PAYLOAD: usize = 128 * 1024;

/// The server's first record.
///
/// ```text
/// 0..4   "PWAY"
/// 4      version (1)
/// 5      0 = welcome, 1 = refused
/// 6      welcome: mode (0 byte, 1 message)   refused: reason (1 access denied)
/// 7      welcome: direction (0 duplex, 1 inbound, 2 outbound)
/// 8..16  welcome: the largest message the server accepts, u64 little-endian
/// 16..24 reserved, zero
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    Welcome {
        mode: PipeMode,
        direction: Direction,
        max_message: u64,
    },
    Refused(Refusal),
}

/// Why a server refused a client, as told in a hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    AccessDenied,
}

impl Hello {
    pub(crate) fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        match *self {
            Hello::Welcome {
                mode,
                direction,
                max_message,
            } => {
                out[5] = 0;
                out[6] = match mode {
                    PipeMode::Byte => 0,
                    PipeMode::Message => 1,
                };
                out[7] = match direction {
                    Direction::Duplex => 0,
                    Direction::Inbound => 1,
                    Direction::Outbound => 2,
                };
                out[8..16].copy_from_slice(&max_message.to_le_bytes());
            }
            Hello::Refused(Refusal::AccessDenied) => {
                out[5] = 1;
                out[6] = 1;
            }
        }
        out
    }

    pub(crate) fn decode(record: &[u8]) -> Result<Hello, String> {
        if record.len() < 8 || record[..4] != MAGIC {
            return Err(format!(
                "the server's first record ({} bytes) is not a pipeway hello",
                record.len()
            ));
        }
        if record[4] != VERSION {
            return Err(format!(
                "the server speaks pipeway wire version {}; this build speaks {VERSION}",
                record[4]
            ));
        }
        if record.len() != HELLO_LEN {
            return Err(format!("a hello of {} bytes", record.len()));
        }
        match record[5] {
            0 => {
                let mode = match record[6] {
                    0 => PipeMode::Byte,
                    1 => PipeMode::Message,
                    other => return Err(format!("unknown pipe mode {other} in hello")),
                };
                let direction = match record[7] {
                    0 => Direction::Duplex,
                    1 => Direction::Inbound,
                    2 => Direction::Outbound,
                    other => return Err(format!("unknown direction {other} in hello")),
                };
                let max_message = u64::from_le_bytes(record[8..16].try_into().expect("8 bytes"));
                Ok(Hello::Welcome {
                    mode,
                    direction,
                    max_message,
                })
            }
            1 => match record[6] {
                1 => Ok(Hello::Refused(Refusal::AccessDenied)),
                other => Err(format!("unknown refusal reason {other} in hello")),
            },
            other => Err(format!("unknown hello kind {other}")),
        }
    }
}

/// The length prefix of a message.
pub(crate) fn message_header(len: u64) -> [u8; MESSAGE_HEADER_LEN] {
    len.to_le_bytes()
}

/// Reads a length prefix.
pub(crate) fn message_len(header: &[u8; MESSAGE_HEADER_LEN]) -> u64 {
    u64::from_le_bytes(*header)
}

/// Messages up to this size go whole in one record with their header.
pub(crate) const SMALL_MESSAGE: usize = 16 * 1024;

/// Payload records start at payload offsets that are multiples of this.
pub(crate) const PAYLOAD_ALIGN: usize = 64;

/// How many payload bytes the first record of a message of `len` bytes
/// carries, given a record payload budget of `budget` bytes: all of them for
/// a small message that fits, none for any other.
///
/// Why none: the kernel copies a record into the receiver's buffers from
/// its start, so payload that follows an 8-byte header in the same record
/// lands 8 bytes off the alignment it had, and on this project's machines
/// (AMD EPYC, Linux 6.18) such a copy runs 3× slower: a 1 MiB message took
/// 1.9× a raw 1 MiB byte round trip. Payload records of their own start
/// aligned, as raw seqpacket records do (0.9×); the header's record costs one
/// small record per large message. A small message is copied whole into the
/// receiver's record buffer (aligned) and from there into the caller's.
pub(crate) fn first_record_payload(len: usize, budget: usize) -> usize {
    if len <= SMALL_MESSAGE.min(budget.saturating_sub(MESSAGE_HEADER_LEN)) {
        len
    } else {
        0
    }
}

/// The payload a record after the first carries at most, given a record
/// payload budget: a multiple of [`PAYLOAD_ALIGN`] where the budget allows,
/// so that every payload record starts aligned.
pub(crate) fn continuation_payload(budget: usize) -> usize {
    if budget >= 2 * PAYLOAD_ALIGN {
        budget / PAYLOAD_ALIGN * PAYLOAD_ALIGN
    } else {
        budget.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        for hello in [
            Hello::Welcome {
                mode: PipeMode::Message,
                direction: Direction::Outbound,
                max_message: 16 << 20,
            },
            Hello::Welcome {
                mode: PipeMode::Byte,
                direction: Direction::Inbound,
                max_message: 0,
            },
            Hello::Refused(Refusal::AccessDenied),
        ] {
            assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        }
    }

    #[test]
    fn foreign_or_future_hellos_are_refused_with_a_reason() {
        assert!(
            Hello::decode(b"HTTP/1.1 200 OK\r\n")
                .unwrap_err()
                .contains("not a pipeway hello")
        );
        let mut future = Hello::Refused(Refusal::AccessDenied).encode();
        future[4] = 9;
        assert!(Hello::decode(&future).unwrap_err().contains("version 9"));
        let mut bad_mode = Hello::Welcome {
            mode: PipeMode::Byte,
            direction: Direction::Duplex,
            max_message: 1,
        }
        .encode();
        bad_mode[6] = 7;
        assert!(Hello::decode(&bad_mode).unwrap_err().contains("mode 7"));
    }

    #[test]
    fn message_header_is_little_endian_u64() {
        assert_eq!(message_header(0x0102), [2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(message_len(&message_header(u64::MAX)), u64::MAX);
    }

    #[test]
    fn first_record_fits_the_budget() {
        assert_eq!(first_record_payload(10, 1024), 10);
        assert_eq!(first_record_payload(1016, 1024), 1016);
        assert_eq!(first_record_payload(0, 1024), 0);
        assert_eq!(
            first_record_payload(SMALL_MESSAGE, MAX_RECORD_PAYLOAD),
            SMALL_MESSAGE
        );
    }

    #[test]
    fn a_large_message_starts_with_a_header_record_and_aligned_payload_records() {
        // Payload after a header lands misaligned in the receiver's buffer;
        // a large message's payload records carry payload only, each
        // starting at a multiple of PAYLOAD_ALIGN.
        for budget in [MAX_RECORD_PAYLOAD, 212_736, 9_000, 1_000] {
            for len in [1 << 20, 200_000, SMALL_MESSAGE + 1, budget] {
                assert_eq!(first_record_payload(len, budget), 0, "{len} in {budget}");
                let next = continuation_payload(budget);
                assert!(next <= budget);
                assert_eq!(next % PAYLOAD_ALIGN, 0, "payload records in {budget}");
            }
        }
        assert_eq!(first_record_payload(5000, 1024), 0);
    }
}
