//! Sans-I/O codecs for every SMB2/3 message the pipe client sends or
//! receives: pure functions from values to bytes and from bytes to values.
//!
//! Every decoder of server bytes returns [`DecodeError`] on anything
//! malformed (short buffers, offsets outside the message, impossible sizes)
//! and never panics; each one has a fuzz target.

pub mod header;
pub mod messages;
pub mod negotiate;
pub mod status;
pub mod transform;

use std::fmt;

/// Why bytes from the server could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct DecodeError {
    /// What was being decoded (`"NEGOTIATE response"`).
    pub what: &'static str,
    /// What was wrong with it.
    pub why: String,
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, why: impl fmt::Display) -> Self {
        Self {
            what,
            why: why.to_string(),
        }
    }
}

/// A cursor over bytes from the server: every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self {
            bytes,
            pos: 0,
            what,
        }
    }

    pub(crate) fn error(&self, why: impl fmt::Display) -> DecodeError {
        DecodeError::new(self.what, why)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                self.error(format_args!(
                    "needs {n} bytes at offset {}, has {}",
                    self.pos,
                    self.bytes.len()
                ))
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// `bytes[offset..offset + len]`, or a typed error naming the field.
pub(crate) fn slice<'a>(
    bytes: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
    field: &str,
) -> Result<&'a [u8], DecodeError> {
    offset
        .checked_add(len)
        .filter(|&end| end <= bytes.len())
        .map(|end| &bytes[offset..end])
        .ok_or_else(|| {
            DecodeError::new(
                what,
                format_args!(
                    "{field} ({len} bytes at offset {offset}) lies outside the {}-byte message",
                    bytes.len()
                ),
            )
        })
}

/// A variable part of a response: `slice`, and it must begin at or after
/// `fixed_end` (where the fixed part of the body ends), never in the
/// header or the fixed fields.
pub(crate) fn payload<'a>(
    message: &'a [u8],
    offset: usize,
    len: usize,
    fixed_end: usize,
    what: &'static str,
    field: &str,
) -> Result<&'a [u8], DecodeError> {
    if offset < fixed_end {
        return Err(DecodeError::new(
            what,
            format_args!(
                "{field} at offset {offset} overlaps the header or fixed fields (which end at {fixed_end})"
            ),
        ));
    }
    slice(message, offset, len, what, field)
}

/// Little-endian writers for building requests.
pub(crate) trait Put {
    fn u8(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    /// Zero bytes until the length is a multiple of `to`.
    fn pad_to(&mut self, to: usize);
}

impl Put for Vec<u8> {
    fn u8(&mut self, v: u8) {
        self.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn pad_to(&mut self, to: usize) {
        while self.len() % to != 0 {
            self.push(0);
        }
    }
}

/// UTF-16LE bytes of `s` (SMB's strings).
pub(crate) fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Decodes UTF-16LE, replacing what is not valid.
pub(crate) fn from_utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Direct TCP transport (MS-SMB2 2.1): each message is preceded by a zero
/// byte and its 24-bit big-endian length.
pub mod framing {
    use super::DecodeError;

    /// The largest message the client accepts from a server: 16 MiB, the
    /// most the 24-bit length can say.
    pub const MAX_FRAME: usize = 0x00FF_FFFF;

    /// The 4-byte header for a message of `len` bytes.
    pub fn frame_header(len: usize) -> [u8; 4] {
        debug_assert!(len <= MAX_FRAME);
        let b = (len as u32).to_be_bytes();
        [0, b[1], b[2], b[3]]
    }

    /// The length a 4-byte header announces.
    pub fn frame_length(header: [u8; 4]) -> Result<usize, DecodeError> {
        if header[0] != 0 {
            return Err(DecodeError::new(
                "Direct TCP frame",
                format_args!("first byte is {:#04x}, not 0", header[0]),
            ));
        }
        Ok(u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_to_run_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3], "test");
        assert_eq!(r.u16().unwrap(), 0x0201);
        assert!(r.u16().is_err());
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.take(usize::MAX).is_err());
    }

    #[test]
    fn frames_round_trip_and_refuse_a_nonzero_first_byte() {
        let h = framing::frame_header(0x012345);
        assert_eq!(h, [0, 0x01, 0x23, 0x45]);
        assert_eq!(framing::frame_length(h).unwrap(), 0x012345);
        assert!(framing::frame_length([0x85, 0, 0, 0]).is_err());
    }

    #[test]
    fn slices_outside_the_message_are_errors() {
        assert!(slice(&[0; 8], 4, 4, "t", "f").is_ok());
        assert!(slice(&[0; 8], 5, 4, "t", "f").is_err());
        assert!(slice(&[0; 8], usize::MAX, 2, "t", "f").is_err());
    }
}
