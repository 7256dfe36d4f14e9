//! `named_pipe_auth_rep`: the pipe server's answer.
//!
//! ```text
//! 0   u32 big-endian   length of the rest (32)
//! 4   "NPAM"
//! 8   u32              level (the request's)
//! 12  u32              union arm (the level again)
//! 16  u16              file_type: 1 byte mode, 2 message mode
//! 18  u16              device_state
//! 20  4 bytes          padding (allocation_size is aligned to 8)
//! 24  u64              allocation_size
//! 32  u32              status (NTSTATUS; 0 admits the client)
//! ```

use super::{MAGIC, NpError};

/// A reply's length in bytes.
pub const REPLY_LEN: usize = 36;

/// `NT_STATUS_OK`: the client is admitted.
pub const STATUS_SUCCESS: u32 = 0;
/// `NT_STATUS_ACCESS_DENIED`: the client is refused (smbd then fails the
/// client's open).
pub const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;
/// `NT_STATUS_PIPE_NOT_AVAILABLE`: every instance is in use.
pub const STATUS_PIPE_NOT_AVAILABLE: u32 = 0xC000_00AC;

/// The pipe's type, as the reply tells smbd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `FILE_TYPE_BYTE_MODE_PIPE`: a raw byte stream after the reply.
    Byte,
    /// `FILE_TYPE_MESSAGE_MODE_PIPE`: each message after a 2-byte
    /// little-endian length, so at most 65,535 bytes.
    Message,
}

impl FileType {
    fn code(self) -> u16 {
        match self {
            FileType::Byte => 1,
            FileType::Message => 2,
        }
    }
}

/// The `device_state` Samba's own pipe servers answer with (an endpoint,
/// unlimited instances, a byte-read pipe): smbd passes it on to clients
/// that query the pipe.
const DEVICE_STATE: u16 = 0x05ff;

/// The reply to a request of `level`: the pipe's type and whether the
/// client is admitted (`status`, an NTSTATUS).
pub fn encode_reply(level: u32, file_type: FileType, status: u32) -> [u8; REPLY_LEN] {
    let mut out = [0u8; REPLY_LEN];
    out[0..4].copy_from_slice(&((REPLY_LEN - 4) as u32).to_be_bytes());
    out[4..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&level.to_le_bytes());
    out[12..16].copy_from_slice(&level.to_le_bytes());
    out[16..18].copy_from_slice(&file_type.code().to_le_bytes());
    out[18..20].copy_from_slice(&DEVICE_STATE.to_le_bytes());
    out[32..36].copy_from_slice(&status.to_le_bytes());
    out
}

/// A decoded `named_pipe_auth_rep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthReply {
    /// The level it answers.
    pub level: u32,
    /// The pipe's type.
    pub file_type: FileType,
    /// The device state.
    pub device_state: u16,
    /// The allocation size.
    pub allocation_size: u64,
    /// The NTSTATUS (0: admitted).
    pub status: u32,
}

/// Decodes a reply, as smbd reads it: for tools and tests that stand in
/// for smbd.
pub fn decode_reply(bytes: &[u8]) -> Result<AuthReply, NpError> {
    if bytes.len() != REPLY_LEN {
        return Err(if bytes.len() < REPLY_LEN {
            NpError::Truncated {
                at: bytes.len(),
                needed: REPLY_LEN - bytes.len(),
            }
        } else {
            NpError::TrailingBytes(bytes.len() - REPLY_LEN)
        });
    }
    let u32_le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u16_le = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"));
    let length = u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes"));
    if length as usize != REPLY_LEN - 4 {
        return Err(NpError::BadLength {
            len: u64::from(length) + 4,
            max: REPLY_LEN,
        });
    }
    let magic: [u8; 4] = bytes[4..8].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(NpError::BadMagic(magic));
    }
    let (level, arm) = (u32_le(8), u32_le(12));
    if level != arm {
        return Err(NpError::Malformed {
            at: 12,
            what: format!("union arm {arm} for level {level}"),
        });
    }
    let file_type = match u16_le(16) {
        1 => FileType::Byte,
        2 => FileType::Message,
        other => {
            return Err(NpError::Malformed {
                at: 16,
                what: format!("file type {other}"),
            });
        }
    };
    Ok(AuthReply {
        level,
        file_type,
        device_state: u16_le(18),
        allocation_size: u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")),
        status: u32_le(32),
    })
}
