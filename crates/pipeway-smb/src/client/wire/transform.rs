//! SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): the 52 bytes before an encrypted message.

use super::{DecodeError, Put, Reader};

/// `0xFD 'S' 'M' 'B'`.
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// The header's length.
pub const TRANSFORM_LEN: usize = 52;
/// The part of the header that is the AEAD's associated data (Nonce onwards).
pub const AAD_RANGE: std::ops::Range<usize> = 20..52;

/// A transform header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformHeader {
    /// The AEAD tag.
    pub signature: [u8; 16],
    /// The nonce (11 bytes used by CCM, 12 by GCM; the rest zero).
    pub nonce: [u8; 16],
    /// The length of the message inside.
    pub original_size: u32,
    /// The session whose keys encrypt it.
    pub session_id: u64,
}

impl TransformHeader {
    /// The header's 52 bytes.
    pub fn encode(&self) -> [u8; TRANSFORM_LEN] {
        let mut b = Vec::with_capacity(TRANSFORM_LEN);
        b.extend_from_slice(&TRANSFORM_PROTOCOL_ID);
        b.extend_from_slice(&self.signature);
        b.extend_from_slice(&self.nonce);
        b.u32(self.original_size);
        b.u16(0);
        b.u16(1); // Flags: encrypted
        b.u64(self.session_id);
        b.try_into().expect("52 bytes")
    }

    /// Decodes the header at the start of `message`; the ciphertext follows it.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(message, "TRANSFORM_HEADER");
        let protocol: [u8; 4] = r.array()?;
        if protocol != TRANSFORM_PROTOCOL_ID {
            return Err(r.error("not a transform header"));
        }
        let signature = r.array()?;
        let nonce = r.array()?;
        let original_size = r.u32()?;
        r.skip(2)?;
        let flags = r.u16()?;
        if flags != 1 {
            return Err(r.error(format_args!("flags {flags:#x}, not 'encrypted'")));
        }
        let session_id = r.u64()?;
        let inside = message.len() - TRANSFORM_LEN;
        if original_size as usize != inside {
            return Err(r.error(format_args!(
                "announces {original_size} bytes inside, carries {inside}"
            )));
        }
        Ok(Self {
            signature,
            nonce,
            original_size,
            session_id,
        })
    }
}

/// Whether `message` starts with a transform header.
pub fn is_transformed(message: &[u8]) -> bool {
    message.starts_with(&TRANSFORM_PROTOCOL_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_the_size() {
        let h = TransformHeader {
            signature: [1; 16],
            nonce: [2; 16],
            original_size: 3,
            session_id: 9,
        };
        let mut m = h.encode().to_vec();
        m.extend_from_slice(b"xyz");
        assert_eq!(TransformHeader::decode(&m).unwrap(), h);
        m.push(0);
        assert!(TransformHeader::decode(&m).is_err());
    }
}
