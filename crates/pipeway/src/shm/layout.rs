//! The channel's shared memory as bytes: the set-up message, the layout of
//! the control page and the rings, and the decoders of what the peer wrote.
//!
//! Everything here is a pure function of bytes and numbers, so that the
//! fuzz targets can call it: each decoder of peer-written data checks every
//! index and length before anything is read at it.

use std::fmt;

/// `PWSHMCH1`: the first 8 bytes of the set-up message and of the memory.
pub(crate) const MAGIC: [u8; 8] = *b"PWSHMCH1";
/// The protocol version this build speaks.
pub(crate) const VERSION: u32 = 1;

/// The control page: the header, then each ring's control block.
pub(crate) const CONTROL_SIZE: usize = 4096;
/// Offset of the `closed` words, one per side (server, client).
pub(crate) const CLOSED_OFFSET: usize = 64;
/// Offset of ring 0's (server to client) control block; ring 1 follows.
pub(crate) const RING_CONTROL_OFFSET: usize = 256;
/// Each control block: the producer's cache lines, then the consumer's.
pub(crate) const RING_CONTROL_SIZE: usize = 256;
/// Within a control block: the consumer's fields, two cache lines (128 B,
/// the adjacent-line prefetch unit) away from the producer's.
pub(crate) const CONSUMER_OFFSET: usize = 128;

/// The record header: payload length (u32 LE) and flags (u32 LE).
pub(crate) const RECORD_HEADER: usize = RECORD_HEADER_LEN;
/// The size of a record header, in bytes.
pub const RECORD_HEADER_LEN: usize = 8;
/// Records start on 8-byte boundaries.
pub(crate) const RECORD_ALIGN: u64 = 8;

/// The record fills the rest of the ring; the next record starts at 0.
pub(crate) const FLAG_PAD: u32 = 1;
/// More chunks of this message follow.
pub(crate) const FLAG_MORE: u32 = 2;
/// The sender gave up on the message in progress (its send was cancelled):
/// drop the chunks received so far.
pub(crate) const FLAG_ABORT: u32 = 4;
const KNOWN_FLAGS: u32 = FLAG_PAD | FLAG_MORE | FLAG_ABORT;

/// The smallest and largest ring, in bytes (each a power of two).
pub(crate) const MIN_RING: u32 = 4096;
pub(crate) const MAX_RING: u32 = 1 << 30;

/// A peer's bytes that break the protocol: what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub(crate) String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl Into<String>) -> ProtocolError {
    ProtocolError(what.into())
}

/// The whole memory's size for rings of `ring_size` bytes.
pub(crate) fn memory_size(ring_size: u32) -> u64 {
    CONTROL_SIZE as u64 + 2 * ring_size as u64
}

/// `n` rounded up to a record boundary.
pub(crate) fn align(n: u64) -> u64 {
    n.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// The set-up message the server sends with the memory's descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Bytes in each ring (a power of two).
    pub ring_size: u32,
    /// The largest message either side may send.
    pub max_message: u64,
}

impl Setup {
    /// The message's size on the pipe.
    pub const LEN: usize = 24;

    /// `MAGIC`, version u32, ring size u32, max message u64 (all LE).
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.ring_size.to_le_bytes());
        out[16..24].copy_from_slice(&self.max_message.to_le_bytes());
        out
    }

    /// Decodes and checks a set-up message from the server.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        if bytes.len() != Self::LEN {
            return Err(bad(format!(
                "set-up message of {} bytes, expected {}",
                bytes.len(),
                Self::LEN
            )));
        }
        if bytes[..8] != MAGIC {
            return Err(bad("the pipe's server is not a shared-memory channel"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(bad(format!(
                "protocol version {version}, this build speaks {VERSION}"
            )));
        }
        let ring_size = u32::from_le_bytes(bytes[12..16].try_into().unwrap_or_default());
        check_ring_size(ring_size)?;
        let max_message = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        if max_message == 0 {
            return Err(bad("a maximum message size of 0"));
        }
        Ok(Self {
            ring_size,
            max_message,
        })
    }
}

/// The handles a Windows server duplicated into its client's process for a
/// channel, sent after the [`Setup`] message: the memory (a section), the
/// event that wakes the server and the one that wakes the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleOffer {
    /// The section holding the control page and both rings.
    pub memory: u64,
    /// The auto-reset event the server sleeps on.
    pub wakes_server: u64,
    /// The auto-reset event the client sleeps on.
    pub wakes_client: u64,
}

impl HandleOffer {
    /// The message's size on the pipe: three handle values, u64 LE.
    pub const LEN: usize = 24;

    /// Three u64 LE handle values.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.memory.to_le_bytes());
        out[8..16].copy_from_slice(&self.wakes_server.to_le_bytes());
        out[16..].copy_from_slice(&self.wakes_client.to_le_bytes());
        out
    }

    /// Decodes and checks the handle values a server sent: each must look
    /// like a real handle (non-zero, a multiple of 4, below 2^32: not a
    /// pseudo-handle such as the current process), and all must differ.
    /// (What each names is checked by the backend before it is used.)
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        if bytes.len() != Self::LEN {
            return Err(bad(format!(
                "handle message of {} bytes, expected {}",
                bytes.len(),
                Self::LEN
            )));
        }
        let value =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let offer = Self {
            memory: value(0),
            wakes_server: value(8),
            wakes_client: value(16),
        };
        let values = [offer.memory, offer.wakes_server, offer.wakes_client];
        for handle in values {
            if handle == 0 || handle % 4 != 0 || handle > u64::from(u32::MAX) {
                return Err(bad(format!("{handle:#x} is not a handle value")));
            }
        }
        if values[0] == values[1] || values[0] == values[2] || values[1] == values[2] {
            return Err(bad("the server sent one handle for two objects"));
        }
        Ok(offer)
    }
}

/// A ring size is a power of two within [`MIN_RING`, `MAX_RING`].
pub(crate) fn check_ring_size(ring_size: u32) -> Result<(), ProtocolError> {
    if !ring_size.is_power_of_two() || !(MIN_RING..=MAX_RING).contains(&ring_size) {
        return Err(bad(format!(
            "ring size {ring_size} is not a power of two from {MIN_RING} to {MAX_RING}"
        )));
    }
    Ok(())
}

/// Checks the header at the start of the memory against the set-up message.
pub fn check_memory_header(header: &[u8], setup: &Setup) -> Result<(), ProtocolError> {
    if header.len() < 16 || header[..8] != MAGIC {
        return Err(bad(
            "the shared memory does not start with the channel's magic",
        ));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
    let ring_size = u32::from_le_bytes(header[12..16].try_into().unwrap_or_default());
    if version != VERSION || ring_size != setup.ring_size {
        return Err(bad(format!(
            "the memory says version {version} and rings of {ring_size} bytes; \
             the set-up message said version {VERSION} and {}",
            setup.ring_size
        )));
    }
    Ok(())
}

/// How many published bytes a ring holds, from the producer's `head` and the
/// consumer's `tail`; one of them was written by the peer.
pub fn used_bytes(head: u64, tail: u64, ring_size: u64) -> Result<u64, ProtocolError> {
    let used = head.wrapping_sub(tail);
    if used > ring_size || used % RECORD_ALIGN != 0 || tail % RECORD_ALIGN != 0 {
        return Err(bad(format!(
            "ring indices out of range: head {head}, tail {tail}, ring {ring_size}"
        )));
    }
    Ok(used)
}

/// A record, as its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Skip `skip` bytes, to the end of the ring.
    Pad {
        /// Bytes to skip.
        skip: u64,
    },
    /// A message or a chunk of one: `len` payload bytes after the header.
    Data {
        /// Payload bytes.
        len: u32,
        /// More chunks of the message follow.
        more: bool,
        /// The record's size in the ring, header and alignment included.
        size: u64,
    },
    /// The message in progress was abandoned by its sender.
    Abort {
        /// The record's size in the ring.
        size: u64,
    },
}

/// Decodes the record header at ring offset `pos`, given `used` published
/// bytes from there: the record must lie within them and within the ring.
pub fn decode_record(
    header: [u8; RECORD_HEADER],
    pos: u64,
    ring_size: u64,
    used: u64,
) -> Result<Record, ProtocolError> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let flags = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(bad(format!("unknown record flags {flags:#x}")));
    }
    if pos >= ring_size || pos % RECORD_ALIGN != 0 {
        return Err(bad(format!("record at {pos} in a ring of {ring_size}")));
    }
    let room = ring_size - pos;
    let size = match flags {
        FLAG_PAD => {
            if room > used {
                return Err(bad(format!(
                    "padding of {room} bytes with only {used} published"
                )));
            }
            return Ok(Record::Pad { skip: room });
        }
        0 | FLAG_MORE | FLAG_ABORT => align(RECORD_HEADER as u64 + len as u64),
        _ => return Err(bad(format!("contradictory record flags {flags:#x}"))),
    };
    if size > room || size > used {
        return Err(bad(format!(
            "record of {len} bytes at {pos} overruns the ring ({room} bytes to its end, {used} published)"
        )));
    }
    if flags == FLAG_ABORT {
        return Ok(Record::Abort { size });
    }
    Ok(Record::Data {
        len,
        more: flags == FLAG_MORE,
        size,
    })
}

/// Encodes a record header.
pub(crate) fn encode_record(len: u32, flags: u32) -> [u8; RECORD_HEADER] {
    let mut out = [0u8; RECORD_HEADER];
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..].copy_from_slice(&flags.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_round_trips_and_rejects_nonsense() {
        let setup = Setup {
            ring_size: 1 << 20,
            max_message: 1 << 24,
        };
        assert_eq!(Setup::decode(&setup.encode()), Ok(setup));
        let mut wrong = setup.encode();
        wrong[0] = b'X';
        assert!(Setup::decode(&wrong).is_err());
        let odd = Setup {
            ring_size: 5000,
            ..setup
        };
        assert!(Setup::decode(&odd.encode()).is_err());
        assert!(Setup::decode(&setup.encode()[..20]).is_err());
    }

    #[test]
    fn handle_values_a_server_sent_are_checked() {
        let offer = HandleOffer {
            memory: 0x104,
            wakes_server: 0x108,
            wakes_client: 0x10c,
        };
        assert_eq!(HandleOffer::decode(&offer.encode()), Ok(offer));
        for wrong in [
            HandleOffer { memory: 0, ..offer },
            HandleOffer {
                memory: 0x105,
                ..offer
            },
            HandleOffer {
                memory: u64::MAX - 3,
                ..offer
            },
            HandleOffer {
                wakes_client: 0x108,
                ..offer
            },
        ] {
            assert!(HandleOffer::decode(&wrong.encode()).is_err(), "{wrong:?}");
        }
        assert!(HandleOffer::decode(&offer.encode()[..16]).is_err());
    }

    #[test]
    fn indices_a_peer_wrote_are_checked() {
        assert_eq!(used_bytes(64, 0, 4096), Ok(64));
        assert_eq!(used_bytes(8, u64::MAX - 7, 4096), Ok(16), "indices wrap");
        assert!(used_bytes(0, 8, 4096).is_err(), "tail past head");
        assert!(used_bytes(8192, 0, 4096).is_err(), "more than the ring");
        assert!(used_bytes(5, 0, 4096).is_err(), "unaligned");
    }

    #[test]
    fn records_must_lie_in_what_was_published() {
        let data = encode_record(10, 0);
        assert_eq!(
            decode_record(data, 0, 4096, 24),
            Ok(Record::Data {
                len: 10,
                more: false,
                size: 24
            })
        );
        assert!(
            decode_record(data, 0, 4096, 16).is_err(),
            "not all published"
        );
        assert!(decode_record(data, 4088, 4096, 64).is_err(), "past the end");
        assert!(decode_record(encode_record(u32::MAX, 0), 0, 4096, 4096).is_err());
        assert!(
            decode_record(encode_record(0, 8), 0, 4096, 8).is_err(),
            "unknown flag"
        );
        assert!(decode_record(encode_record(0, 3), 0, 4096, 8).is_err());
        assert_eq!(
            decode_record(encode_record(0, FLAG_PAD), 4000, 4096, 96),
            Ok(Record::Pad { skip: 96 })
        );
        assert!(decode_record(encode_record(0, FLAG_PAD), 4000, 4096, 88).is_err());
    }
}
