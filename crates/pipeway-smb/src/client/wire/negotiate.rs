//! NEGOTIATE (MS-SMB2 2.2.3, 2.2.4) with SMB 3.1.1's negotiate contexts.

use super::header::HEADER_LEN;
use super::{DecodeError, Put, Reader, payload, slice};

/// The SMB2/3 dialects, as their wire codes.
pub mod dialect {
    #![allow(missing_docs)]
    pub const SMB2_0_2: u16 = 0x0202;
    pub const SMB2_1: u16 = 0x0210;
    pub const SMB3_0: u16 = 0x0300;
    pub const SMB3_0_2: u16 = 0x0302;
    pub const SMB3_1_1: u16 = 0x0311;
    /// Every dialect the client speaks, oldest first.
    pub const ALL: [u16; 5] = [SMB2_0_2, SMB2_1, SMB3_0, SMB3_0_2, SMB3_1_1];

    /// `3.1.1`, for messages.
    pub fn name(d: u16) -> String {
        match d {
            SMB2_0_2 => "2.0.2".into(),
            SMB2_1 => "2.1".into(),
            SMB3_0 => "3.0".into(),
            SMB3_0_2 => "3.0.2".into(),
            SMB3_1_1 => "3.1.1".into(),
            other => format!("{other:#06x}"),
        }
    }
}

/// `SecurityMode` bits.
pub const SIGNING_ENABLED: u16 = 0x0001;
/// `SecurityMode`: the peer requires signing.
pub const SIGNING_REQUIRED: u16 = 0x0002;

/// Global capabilities.
pub mod caps {
    #![allow(missing_docs)]
    pub const DFS: u32 = 0x01;
    pub const LARGE_MTU: u32 = 0x04;
    pub const ENCRYPTION: u32 = 0x40;
}

/// Encryption ciphers (SMB2_ENCRYPTION_CAPABILITIES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Cipher {
    /// AES-128-CCM (3.0, 3.0.2, 3.1.1).
    Aes128Ccm = 1,
    /// AES-128-GCM.
    Aes128Gcm = 2,
    /// AES-256-CCM.
    Aes256Ccm = 3,
    /// AES-256-GCM.
    Aes256Gcm = 4,
}

impl Cipher {
    /// The cipher with wire id `id`.
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            1 => Cipher::Aes128Ccm,
            2 => Cipher::Aes128Gcm,
            3 => Cipher::Aes256Ccm,
            4 => Cipher::Aes256Gcm,
            _ => return None,
        })
    }
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes128Gcm => 16,
            Cipher::Aes256Ccm | Cipher::Aes256Gcm => 32,
        }
    }
    /// `AES-128-GCM`.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes128Ccm => "AES-128-CCM",
            Cipher::Aes128Gcm => "AES-128-GCM",
            Cipher::Aes256Ccm => "AES-256-CCM",
            Cipher::Aes256Gcm => "AES-256-GCM",
        }
    }
}

/// Signing algorithms (SMB2_SIGNING_CAPABILITIES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 (2.0.2, 2.1).
    HmacSha256 = 0,
    /// AES-CMAC (3.x).
    AesCmac = 1,
    /// AES-GMAC (3.1.1 with the signing context).
    AesGmac = 2,
}

impl SigningAlgorithm {
    /// The algorithm with wire id `id`.
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            0 => SigningAlgorithm::HmacSha256,
            1 => SigningAlgorithm::AesCmac,
            2 => SigningAlgorithm::AesGmac,
            _ => return None,
        })
    }
    /// `AES-GMAC`.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::HmacSha256 => "HMAC-SHA256",
            SigningAlgorithm::AesCmac => "AES-CMAC",
            SigningAlgorithm::AesGmac => "AES-GMAC",
        }
    }
}

const PREAUTH_INTEGRITY: u16 = 1;
const ENCRYPTION: u16 = 2;
const SIGNING: u16 = 8;
const SHA512: u16 = 1;

/// What the client offers.
#[derive(Debug, Clone)]
pub struct NegotiateRequest {
    /// Dialects offered.
    pub dialects: Vec<u16>,
    /// `SecurityMode` ([`SIGNING_ENABLED`], [`SIGNING_REQUIRED`]).
    pub security_mode: u16,
    /// Capabilities.
    pub capabilities: u32,
    /// The client's GUID.
    pub client_guid: [u8; 16],
    /// 3.1.1's preauth integrity salt.
    pub salt: [u8; 32],
    /// Ciphers, most preferred first.
    pub ciphers: Vec<Cipher>,
    /// Signing algorithms, most preferred first.
    pub signing: Vec<SigningAlgorithm>,
}

impl NegotiateRequest {
    /// The request body (after the header; the header's offset is 64).
    pub fn encode_body(&self) -> Vec<u8> {
        let with_contexts = self.dialects.contains(&dialect::SMB3_1_1);
        let mut b = Vec::with_capacity(256);
        b.u16(36);
        b.u16(self.dialects.len() as u16);
        b.u16(self.security_mode);
        b.u16(0);
        b.u32(self.capabilities);
        b.extend_from_slice(&self.client_guid);
        let context_offset_at = b.len();
        b.u32(0); // NegotiateContextOffset, set below
        b.u16(0); // NegotiateContextCount
        b.u16(0);
        for d in &self.dialects {
            b.u16(*d);
        }
        if !with_contexts {
            return b;
        }
        // Contexts start 8-aligned from the header's start (64 is a multiple of 8).
        b.pad_to(8);
        let offset = (HEADER_LEN + b.len()) as u32;
        b[context_offset_at..context_offset_at + 4].copy_from_slice(&offset.to_le_bytes());
        let mut contexts: Vec<(u16, Vec<u8>)> = Vec::new();
        let mut preauth = Vec::new();
        preauth.u16(1);
        preauth.u16(self.salt.len() as u16);
        preauth.u16(SHA512);
        preauth.extend_from_slice(&self.salt);
        contexts.push((PREAUTH_INTEGRITY, preauth));
        if !self.ciphers.is_empty() {
            let mut enc = Vec::new();
            enc.u16(self.ciphers.len() as u16);
            for c in &self.ciphers {
                enc.u16(*c as u16);
            }
            contexts.push((ENCRYPTION, enc));
        }
        if !self.signing.is_empty() {
            let mut sig = Vec::new();
            sig.u16(self.signing.len() as u16);
            for s in &self.signing {
                sig.u16(*s as u16);
            }
            contexts.push((SIGNING, sig));
        }
        let count = contexts.len() as u16;
        b[context_offset_at + 4..context_offset_at + 6].copy_from_slice(&count.to_le_bytes());
        for (i, (kind, data)) in contexts.iter().enumerate() {
            if i > 0 {
                b.pad_to(8);
            }
            b.u16(*kind);
            b.u16(data.len() as u16);
            b.u32(0);
            b.extend_from_slice(data);
        }
        b
    }
}

/// What the server chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateResponse {
    /// `SecurityMode`.
    pub security_mode: u16,
    /// The dialect chosen.
    pub dialect: u16,
    /// The server's GUID.
    pub server_guid: [u8; 16],
    /// Capabilities.
    pub capabilities: u32,
    /// Largest IOCTL output/input.
    pub max_transact_size: u32,
    /// Largest READ.
    pub max_read_size: u32,
    /// Largest WRITE.
    pub max_write_size: u32,
    /// The SPNEGO token the server offers (its mechanisms).
    pub security_buffer: Vec<u8>,
    /// 3.1.1: the cipher chosen (`None`: no encryption context, or cipher 0).
    pub cipher: Option<Cipher>,
    /// 3.1.1: the signing algorithm chosen, if the server sent the context.
    pub signing: Option<SigningAlgorithm>,
    /// 3.1.1: whether the server chose SHA-512 preauth integrity.
    pub preauth_sha512: bool,
}

const WHAT: &str = "NEGOTIATE response";

impl NegotiateResponse {
    /// Decodes a whole response message (header included).
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let body = message
            .get(HEADER_LEN..)
            .ok_or_else(|| DecodeError::new(WHAT, "shorter than its header"))?;
        let mut r = Reader::new(body, WHAT);
        let size = r.u16()?;
        if size != 65 {
            return Err(r.error(format_args!("structure size {size}, not 65")));
        }
        let security_mode = r.u16()?;
        let dialect = r.u16()?;
        let context_count = r.u16()?;
        let server_guid = r.array()?;
        let capabilities = r.u32()?;
        let max_transact_size = r.u32()?;
        let max_read_size = r.u32()?;
        let max_write_size = r.u32()?;
        r.skip(16)?; // SystemTime, ServerStartTime
        let sec_offset = r.u16()? as usize;
        let sec_len = r.u16()? as usize;
        let context_offset = r.u32()? as usize;
        let security_buffer = if sec_len == 0 {
            Vec::new()
        } else {
            payload(
                message,
                sec_offset,
                sec_len,
                HEADER_LEN + 64,
                WHAT,
                "security buffer",
            )?
            .to_vec()
        };
        let mut out = NegotiateResponse {
            security_mode,
            dialect,
            server_guid,
            capabilities,
            max_transact_size,
            max_read_size,
            max_write_size,
            security_buffer,
            cipher: None,
            signing: None,
            preauth_sha512: false,
        };
        if dialect == dialect::SMB3_1_1 {
            out.decode_contexts(message, context_offset, context_count)?;
            if !out.preauth_sha512 {
                return Err(DecodeError::new(
                    WHAT,
                    "3.1.1 chosen without SHA-512 preauth integrity",
                ));
            }
        }
        Ok(out)
    }

    fn decode_contexts(
        &mut self,
        message: &[u8],
        mut offset: usize,
        count: u16,
    ) -> Result<(), DecodeError> {
        for _ in 0..count {
            let head = payload(
                message,
                offset,
                8,
                HEADER_LEN + 64,
                WHAT,
                "negotiate context",
            )?;
            let kind = u16::from_le_bytes([head[0], head[1]]);
            let len = u16::from_le_bytes([head[2], head[3]]) as usize;
            let data = slice(message, offset + 8, len, WHAT, "negotiate context data")?;
            let mut r = Reader::new(data, WHAT);
            match kind {
                PREAUTH_INTEGRITY => {
                    let n = r.u16()?;
                    let _salt_len = r.u16()?;
                    if n != 1 {
                        return Err(r.error(format_args!("{n} preauth hash algorithms, not 1")));
                    }
                    self.preauth_sha512 = r.u16()? == SHA512;
                }
                ENCRYPTION => {
                    let n = r.u16()?;
                    if n != 1 {
                        return Err(r.error(format_args!("{n} ciphers chosen, not 1")));
                    }
                    let id = r.u16()?;
                    self.cipher = if id == 0 {
                        None
                    } else {
                        Some(Cipher::from_id(id).ok_or_else(|| {
                            r.error(format_args!("cipher {id} was never offered"))
                        })?)
                    };
                }
                SIGNING => {
                    let n = r.u16()?;
                    if n != 1 {
                        return Err(r.error(format_args!("{n} signing algorithms, not 1")));
                    }
                    let id = r.u16()?;
                    self.signing = Some(SigningAlgorithm::from_id(id).ok_or_else(|| {
                        r.error(format_args!("signing algorithm {id} was never offered"))
                    })?);
                }
                _ => {}
            }
            offset = (offset + 8 + len).next_multiple_of(8);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> NegotiateRequest {
        NegotiateRequest {
            dialects: dialect::ALL.to_vec(),
            security_mode: SIGNING_ENABLED | SIGNING_REQUIRED,
            capabilities: caps::LARGE_MTU | caps::ENCRYPTION,
            client_guid: [7; 16],
            salt: [1; 32],
            ciphers: vec![Cipher::Aes128Gcm, Cipher::Aes128Ccm],
            signing: vec![SigningAlgorithm::AesGmac, SigningAlgorithm::AesCmac],
        }
    }

    #[test]
    fn contexts_are_eight_aligned_from_the_header() {
        let body = request().encode_body();
        let offset = u32::from_le_bytes(body[28..32].try_into().unwrap()) as usize;
        assert_eq!(offset % 8, 0);
        assert_eq!(u16::from_le_bytes([body[32], body[33]]), 3);
        let first = &body[offset - HEADER_LEN..];
        assert_eq!(u16::from_le_bytes([first[0], first[1]]), PREAUTH_INTEGRITY);
    }

    /// Builds a response the way a server lays it out.
    fn response(contexts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m[..4].copy_from_slice(&super::super::header::PROTOCOL_ID);
        let mut b = Vec::new();
        b.u16(65);
        b.u16(SIGNING_ENABLED);
        b.u16(dialect::SMB3_1_1);
        b.u16(contexts.len() as u16);
        b.extend_from_slice(&[3; 16]);
        b.u32(0x2f);
        b.u32(8 << 20);
        b.u32(8 << 20);
        b.u32(8 << 20);
        b.u64(0);
        b.u64(0);
        b.u16(128);
        b.u16(4);
        b.u32(0); // context offset, below
        m.extend_from_slice(&b);
        m.extend_from_slice(&[0xA0, 1, 2, 3]);
        m.pad_to(8);
        let offset = m.len() as u32;
        m[HEADER_LEN + 60..HEADER_LEN + 64].copy_from_slice(&offset.to_le_bytes());
        for (kind, data) in contexts {
            m.pad_to(8);
            m.u16(*kind);
            m.u16(data.len() as u16);
            m.u32(0);
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn a_311_response_names_cipher_and_signing() {
        let m = response(&[
            (PREAUTH_INTEGRITY, vec![1, 0, 32, 0, 1, 0]),
            (ENCRYPTION, vec![1, 0, 2, 0]),
            (SIGNING, vec![1, 0, 2, 0]),
        ]);
        let r = NegotiateResponse::decode(&m).unwrap();
        assert_eq!(r.dialect, dialect::SMB3_1_1);
        assert_eq!(r.cipher, Some(Cipher::Aes128Gcm));
        assert_eq!(r.signing, Some(SigningAlgorithm::AesGmac));
        assert_eq!(r.security_buffer, [0xA0, 1, 2, 3]);
        assert_eq!(r.max_read_size, 8 << 20);
    }

    #[test]
    fn a_311_response_without_preauth_is_refused() {
        let m = response(&[(ENCRYPTION, vec![1, 0, 2, 0])]);
        assert!(NegotiateResponse::decode(&m).is_err());
    }

    #[test]
    fn a_context_past_the_end_is_refused() {
        let mut m = response(&[(PREAUTH_INTEGRITY, vec![1, 0, 32, 0, 1, 0])]);
        m.truncate(m.len() - 3);
        assert!(NegotiateResponse::decode(&m).is_err());
    }
}
