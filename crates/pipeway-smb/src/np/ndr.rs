//! The part of NDR (DCE/RPC's Network Data Representation, 32-bit transfer
//! syntax, little-endian) that Samba's hand-off uses: aligned integers,
//! unique pointers, conformant varying strings, length-prefixed blobs,
//! SIDs and GUIDs.
//!
//! Offsets and alignment count from the start of the whole message, as
//! Samba's `ndr_pull_struct_blob` does. Every read checks that the bytes are
//! there first, and every count read from the wire is checked against the
//! bytes left before anything is allocated for it, so malformed input fails
//! with [`NpError`] and never panics or allocates more than the input's size.

use super::NpError;
use super::sid::Sid;

/// Reads NDR from a byte slice.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn set_position(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn malformed(&self, what: impl Into<String>) -> NpError {
        NpError::Malformed {
            at: self.pos,
            what: what.into(),
        }
    }

    /// Skips padding up to a multiple of `n` (a power of two).
    pub(crate) fn align(&mut self, n: usize) -> Result<(), NpError> {
        let padded = self.pos.next_multiple_of(n);
        self.take(padded - self.pos).map(drop)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], NpError> {
        if n > self.remaining() {
            return Err(NpError::Truncated {
                at: self.pos,
                needed: n,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], NpError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, NpError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, NpError> {
        self.align(2)?;
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, NpError> {
        self.align(4)?;
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// `hyper`, `uid_t`, `gid_t`: 8 bytes, aligned to 8.
    pub(crate) fn hyper(&mut self) -> Result<u64, NpError> {
        self.align(8)?;
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `NTTIME` and `udlong`: 8 bytes, aligned to 4.
    pub(crate) fn nttime(&mut self) -> Result<u64, NpError> {
        self.align(4)?;
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn bool8(&mut self) -> Result<bool, NpError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.malformed(format!("a boolean of value {other}"))),
        }
    }

    /// A unique (or full) pointer's referent id: whether the pointee follows
    /// in the deferred part.
    pub(crate) fn pointer(&mut self) -> Result<bool, NpError> {
        Ok(self.u32()? != 0)
    }

    /// A pointer that Samba always sends as NULL (`[value(NULL), ignore]`);
    /// anything else has a pointee whose layout the hand-off does not carry.
    pub(crate) fn null_pointer(&mut self, field: &str) -> Result<(), NpError> {
        if self.pointer()? {
            return Err(self.malformed(format!("{field} is not NULL")));
        }
        Ok(())
    }

    /// A count read from the wire for `size`-byte elements: refused unless
    /// that many elements could still follow, so no allocation exceeds the
    /// input.
    pub(crate) fn count(&mut self, size: usize, what: &str) -> Result<usize, NpError> {
        let count = self.u32()? as usize;
        if count.saturating_mul(size) > self.remaining() {
            return Err(self.malformed(format!(
                "{what}: {count} elements announced, {} bytes left",
                self.remaining()
            )));
        }
        Ok(count)
    }

    /// A conformant varying string of bytes (`[string, charset(UTF8)]` or
    /// `charset(DOS)`): size, offset 0, length, then `length` bytes that end
    /// in a NUL.
    pub(crate) fn string(&mut self, what: &str) -> Result<String, NpError> {
        let size = self.count(1, what)?;
        let offset = self.u32()?;
        let length = self.u32()? as usize;
        if offset != 0 || length > size || length == 0 {
            return Err(self.malformed(format!(
                "{what}: string of size {size}, offset {offset}, length {length}"
            )));
        }
        let bytes = self.take(length)?;
        let (text, nul) = bytes.split_at(length - 1);
        if nul != [0] || text.contains(&0) {
            return Err(self.malformed(format!("{what}: not a NUL-terminated string")));
        }
        String::from_utf8(text.to_vec()).map_err(|_| self.malformed(format!("{what}: not UTF-8")))
    }

    /// A `DATA_BLOB`: a 32-bit length, then the bytes.
    pub(crate) fn blob(&mut self, what: &str) -> Result<Vec<u8>, NpError> {
        let len = self.count(1, what)?;
        Ok(self.take(len)?.to_vec())
    }

    /// A `dom_sid`: revision, count, 6-byte authority, that many 32-bit
    /// sub-authorities (at most 15).
    pub(crate) fn sid(&mut self) -> Result<Sid, NpError> {
        self.align(4)?;
        let revision = self.u8()?;
        let count = self.u8()? as usize;
        if count > Sid::MAX_SUB_AUTHORITIES {
            return Err(self.malformed(format!("a SID with {count} sub-authorities")));
        }
        let authority = self.array::<6>()?;
        let mut sub_authorities = Vec::with_capacity(count);
        for _ in 0..count {
            sub_authorities.push(self.u32()?);
        }
        Ok(Sid::from_parts(revision, authority, sub_authorities))
    }

    /// An array of SIDs with its conformance: the size, then the SIDs.
    /// `expected` is the count field the structure carries beside it.
    pub(crate) fn sid_array(&mut self, expected: u32, what: &str) -> Result<Vec<Sid>, NpError> {
        let size = self.count(8, what)?;
        if size != expected as usize {
            return Err(
                self.malformed(format!("{what}: array of {size} for a count of {expected}"))
            );
        }
        (0..size).map(|_| self.sid()).collect()
    }

    /// A GUID: 16 bytes, aligned to 4 (its fields are little-endian on the
    /// wire; kept here as the wire has them).
    pub(crate) fn guid(&mut self) -> Result<[u8; 16], NpError> {
        self.align(4)?;
        self.array()
    }
}

/// Writes NDR the way Samba does: zero padding, referent ids from
/// 0x00020000 in steps of 4.
pub(crate) struct Writer {
    out: Vec<u8>,
    next_referent: u32,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self {
            out: Vec::new(),
            next_referent: 0x0002_0000,
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    pub(crate) fn align(&mut self, n: usize) {
        let padded = self.out.len().next_multiple_of(n);
        self.out.resize(padded, 0);
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.align(2);
        self.raw(&v.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.align(4);
        self.raw(&v.to_le_bytes());
    }

    pub(crate) fn hyper(&mut self, v: u64) {
        self.align(8);
        self.raw(&v.to_le_bytes());
    }

    pub(crate) fn nttime(&mut self, v: u64) {
        self.align(4);
        self.raw(&v.to_le_bytes());
    }

    pub(crate) fn pointer(&mut self, present: bool) {
        if present {
            let id = self.next_referent;
            self.next_referent += 4;
            self.u32(id);
        } else {
            self.u32(0);
        }
    }

    pub(crate) fn string(&mut self, s: &str) {
        let len = s.len() as u32 + 1;
        self.u32(len);
        self.u32(0);
        self.u32(len);
        self.raw(s.as_bytes());
        self.u8(0);
    }

    pub(crate) fn blob(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.raw(b);
    }

    pub(crate) fn sid(&mut self, sid: &Sid) {
        self.align(4);
        self.u8(sid.revision());
        self.u8(sid.sub_authorities().len() as u8);
        self.raw(&sid.authority_bytes());
        for sub in sid.sub_authorities() {
            self.u32(*sub);
        }
    }

    pub(crate) fn sid_array(&mut self, sids: &[Sid]) {
        self.u32(sids.len() as u32);
        for sid in sids {
            self.sid(sid);
        }
    }

    pub(crate) fn guid(&mut self, guid: &[u8; 16]) {
        self.align(4);
        self.raw(guid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_align_from_the_start_of_the_message() {
        let bytes = [1u8, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 2);
        assert_eq!(r.hyper().unwrap(), 9);
        assert_eq!(r.remaining(), 4);
    }

    #[test]
    fn a_count_larger_than_the_input_is_refused_before_allocating() {
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let err = Reader::new(&bytes).string("name").unwrap_err();
        assert!(matches!(err, NpError::Malformed { .. }), "{err:?}");
        let err = Reader::new(&bytes).sid_array(u32::MAX, "sids").unwrap_err();
        assert!(matches!(err, NpError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn strings_round_trip_and_must_end_in_nul() {
        let mut w = Writer::new();
        w.string("pipeway");
        w.string("");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.string("a").unwrap(), "pipeway");
        assert_eq!(r.string("b").unwrap(), "");
        assert_eq!(r.remaining(), 0);

        let mut bad = Writer::new();
        bad.u32(2);
        bad.u32(0);
        bad.u32(2);
        bad.raw(b"ab");
        assert!(Reader::new(&bad.into_bytes()).string("c").is_err());
    }

    #[test]
    fn truncated_input_says_where_and_how_much() {
        let err = Reader::new(&[1, 2]).u32().unwrap_err();
        assert!(
            matches!(err, NpError::Truncated { at: 0, needed: 4 }),
            "{err:?}"
        );
    }
}
