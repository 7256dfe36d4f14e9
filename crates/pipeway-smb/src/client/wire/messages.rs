//! The bodies of the other commands the pipe client uses (MS-SMB2 2.2.5 –
//! 2.2.32): SESSION_SETUP, TREE_CONNECT, CREATE, CLOSE, READ, WRITE, IOCTL,
//! and the bodiless ECHO, LOGOFF, TREE_DISCONNECT and CANCEL.
//!
//! Encoders return the body to follow a 64-byte header; decoders take the
//! whole message, since the offsets in a body count from the header's start.

use super::header::HEADER_LEN;
use super::{DecodeError, Put, Reader, payload, utf16le};

fn body<'a>(message: &'a [u8], what: &'static str, size: u16) -> Result<Reader<'a>, DecodeError> {
    let body = message
        .get(HEADER_LEN..)
        .ok_or_else(|| DecodeError::new(what, "shorter than its header"))?;
    let mut r = Reader::new(body, what);
    let got = r.u16()?;
    if got != size {
        return Err(r.error(format_args!("structure size {got}, not {size}")));
    }
    Ok(r)
}

/// A 128-bit file id (persistent, volatile).
pub type FileId = [u8; 16];

/// The file id of "no file" (FSCTL_PIPE_WAIT goes to the share itself).
pub const NO_FILE: FileId = [0xFF; 16];

// --- SESSION_SETUP -------------------------------------------------------

/// The request body carrying `token` (an SPNEGO token).
pub fn session_setup_request(security_mode: u8, token: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + token.len());
    b.u16(25);
    b.u8(0); // Flags: not binding
    b.u8(security_mode);
    b.u32(0); // Capabilities
    b.u32(0); // Channel
    b.u16((HEADER_LEN + 24) as u16);
    b.u16(token.len() as u16);
    b.u64(0); // PreviousSessionId
    b.extend_from_slice(token);
    b
}

/// SESSION_SETUP response flags.
pub mod session_flags {
    #![allow(missing_docs)]
    pub const IS_GUEST: u16 = 0x1;
    pub const IS_NULL: u16 = 0x2;
    pub const ENCRYPT_DATA: u16 = 0x4;
}

/// A SESSION_SETUP response: its flags and the server's SPNEGO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupResponse {
    /// [`session_flags`].
    pub flags: u16,
    /// The server's token.
    pub token: Vec<u8>,
}

impl SessionSetupResponse {
    /// Decodes a whole response message.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "SESSION_SETUP response";
        let mut r = body(message, WHAT, 9)?;
        let flags = r.u16()?;
        let offset = r.u16()? as usize;
        let len = r.u16()? as usize;
        let token = if len == 0 {
            Vec::new()
        } else {
            payload(
                message,
                offset,
                len,
                HEADER_LEN + 8,
                WHAT,
                "security buffer",
            )?
            .to_vec()
        };
        Ok(Self { flags, token })
    }
}

// --- TREE_CONNECT --------------------------------------------------------

/// The request body for `\\server\share`.
pub fn tree_connect_request(path: &str) -> Vec<u8> {
    let path = utf16le(path);
    let mut b = Vec::with_capacity(8 + path.len());
    b.u16(9);
    b.u16(0);
    b.u16((HEADER_LEN + 8) as u16);
    b.u16(path.len() as u16);
    b.extend_from_slice(&path);
    b
}

/// Share types.
pub const SHARE_TYPE_PIPE: u8 = 2;
/// Share flag: every request on the tree must be encrypted.
pub const SHARE_FLAG_ENCRYPT_DATA: u32 = 0x8000;

/// A TREE_CONNECT response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeConnectResponse {
    /// `SHARE_TYPE_*`.
    pub share_type: u8,
    /// `SHARE_FLAG_*`.
    pub share_flags: u32,
    /// The access the user has to the share.
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    /// Decodes a whole response message.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = body(message, "TREE_CONNECT response", 16)?;
        let share_type = r.u8()?;
        r.skip(1)?;
        let share_flags = r.u32()?;
        let _capabilities = r.u32()?;
        let maximal_access = r.u32()?;
        Ok(Self {
            share_type,
            share_flags,
            maximal_access,
        })
    }
}

// --- CREATE / CLOSE ------------------------------------------------------

/// Impersonation level `Identification`: the server may learn who the
/// client is, not act as it.
pub const IMPERSONATION_IDENTIFICATION: u32 = 1;
/// `FILE_OPEN`: open what exists, never create.
pub const FILE_OPEN: u32 = 1;
/// Read and write data, attributes and extended attributes, the security
/// descriptor, and SYNCHRONIZE: what a pipe client asks for.
pub const PIPE_ACCESS: u32 = 0x0012_019F;

/// The CREATE request body opening pipe `name` on an IPC$ tree.
pub fn create_request(name: &str, impersonation: u32, desired_access: u32) -> Vec<u8> {
    let name = utf16le(name);
    let mut b = Vec::with_capacity(56 + name.len().max(1));
    b.u16(57);
    b.u8(0); // SecurityFlags
    b.u8(0); // RequestedOplockLevel: none
    b.u32(impersonation);
    b.u64(0); // SmbCreateFlags
    b.u64(0); // Reserved
    b.u32(desired_access);
    b.u32(0); // FileAttributes
    b.u32(0x3); // ShareAccess: read | write
    b.u32(FILE_OPEN);
    b.u32(0x40); // CreateOptions: FILE_NON_DIRECTORY_FILE
    b.u16((HEADER_LEN + 56) as u16);
    b.u16(name.len() as u16);
    b.u32(0); // CreateContextsOffset
    b.u32(0); // CreateContextsLength
    if name.is_empty() {
        b.push(0);
    } else {
        b.extend_from_slice(&name);
    }
    b
}

/// The file id a CREATE response gives.
pub fn decode_create_response(message: &[u8]) -> Result<FileId, DecodeError> {
    let mut r = body(message, "CREATE response", 89)?;
    r.skip(62)?; // oplock, flags, action, four times, sizes, attributes, reserved
    r.array()
}

/// The CLOSE request body.
pub fn close_request(file: &FileId) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.u16(24);
    b.u16(0);
    b.u32(0);
    b.extend_from_slice(file);
    b
}

// --- READ / WRITE --------------------------------------------------------

/// The READ request body: up to `len` bytes (a pipe ignores the offset).
pub fn read_request(file: &FileId, len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(49);
    b.u16(49);
    b.u8(0x50); // Padding: where the data starts in the response
    b.u8(0);
    b.u32(len);
    b.u64(0); // Offset
    b.extend_from_slice(file);
    b.u32(0); // MinimumCount
    b.u32(0); // Channel
    b.u32(0); // RemainingBytes
    b.u16(0);
    b.u16(0);
    b.u8(0); // the one-byte Buffer
    b
}

/// A READ response's data (the status, BUFFER_OVERFLOW or SUCCESS, is in the header).
pub fn decode_read_response(message: &[u8]) -> Result<&[u8], DecodeError> {
    const WHAT: &str = "READ response";
    let mut r = body(message, WHAT, 17)?;
    let offset = r.u8()? as usize;
    r.skip(1)?;
    let len = r.u32()? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    payload(message, offset, len, HEADER_LEN + 16, WHAT, "data")
}

/// The fixed part of a WRITE request, which `data` follows.
pub const WRITE_FIXED_LEN: usize = 48;

/// The WRITE request body, without the data that follows it.
pub fn write_request_head(file: &FileId, len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(WRITE_FIXED_LEN);
    b.u16(49);
    b.u16((HEADER_LEN + WRITE_FIXED_LEN) as u16);
    b.u32(len);
    b.u64(0); // Offset
    b.extend_from_slice(file);
    b.u32(0); // Channel
    b.u32(0); // RemainingBytes
    b.u16(0);
    b.u16(0);
    b.u32(0); // Flags
    b
}

/// How many bytes a WRITE response says were written.
pub fn decode_write_response(message: &[u8]) -> Result<u32, DecodeError> {
    let mut r = body(message, "WRITE response", 17)?;
    r.skip(2)?;
    r.u32()
}

// --- IOCTL ---------------------------------------------------------------

/// FSCTL_PIPE_TRANSCEIVE: write a message, read the reply, in one request.
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// FSCTL_PIPE_WAIT: wait for an instance of a pipe.
pub const FSCTL_PIPE_WAIT: u32 = 0x0011_0018;

/// The fixed part of an IOCTL request, which the input follows.
pub const IOCTL_FIXED_LEN: usize = 56;

/// The IOCTL request body (an FSCTL) without its input, which follows it.
pub fn ioctl_request_head(ctl: u32, file: &FileId, input_len: u32, max_output: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(IOCTL_FIXED_LEN);
    b.u16(57);
    b.u16(0);
    b.u32(ctl);
    b.extend_from_slice(file);
    b.u32(if input_len == 0 {
        0
    } else {
        (HEADER_LEN + IOCTL_FIXED_LEN) as u32
    });
    b.u32(input_len);
    b.u32(0); // MaxInputResponse
    b.u32(0); // OutputOffset
    b.u32(0); // OutputCount
    b.u32(max_output);
    b.u32(1); // SMB2_0_IOCTL_IS_FSCTL
    b.u32(0);
    b
}

/// FSCTL_PIPE_WAIT's input: wait up to `timeout_100ns` for pipe `name`.
pub fn pipe_wait_input(name: &str, timeout_100ns: i64) -> Vec<u8> {
    let name = utf16le(name);
    let mut b = Vec::with_capacity(14 + name.len());
    b.u64(timeout_100ns as u64);
    b.u32(name.len() as u32);
    b.u8(1); // TimeoutSpecified
    b.u8(0);
    b.extend_from_slice(&name);
    b
}

/// An IOCTL response's output.
pub fn decode_ioctl_response(message: &[u8]) -> Result<&[u8], DecodeError> {
    const WHAT: &str = "IOCTL response";
    let mut r = body(message, WHAT, 49)?;
    r.skip(2 + 4 + 16 + 4 + 4)?; // Reserved, CtlCode, FileId, InputOffset, InputCount
    let offset = r.u32()? as usize;
    let len = r.u32()? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    payload(message, offset, len, HEADER_LEN + 48, WHAT, "output")
}

// --- bodiless commands and errors ----------------------------------------

/// The 4-byte body of ECHO, LOGOFF, TREE_DISCONNECT and CANCEL.
pub fn empty_request() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

/// The error data of an error response (MS-SMB2 2.2.2), for diagnostics.
pub fn decode_error_response(message: &[u8]) -> Result<&[u8], DecodeError> {
    const WHAT: &str = "error response";
    let mut r = body(message, WHAT, 9)?;
    r.skip(2)?;
    let len = r.u32()? as usize;
    r.take(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::wire::header::PROTOCOL_ID;

    fn message(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m[..4].copy_from_slice(&PROTOCOL_ID);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn read_data_is_where_the_offset_says() {
        let mut b = Vec::new();
        b.u16(17);
        b.u8(0x50);
        b.u8(0);
        b.u32(3);
        b.u32(0);
        b.u32(0);
        b.extend_from_slice(b"abc");
        assert_eq!(decode_read_response(&message(&b)).unwrap(), b"abc");
        // A length past the end is an error, not a panic.
        b[4] = 200;
        assert!(decode_read_response(&message(&b)).is_err());
        // Data said to lie in the header is refused (found by smb_responses).
        b[4] = 3;
        b[2] = 0x10;
        assert!(decode_read_response(&message(&b)).is_err());
    }

    #[test]
    fn request_sizes_match_the_spec() {
        let f = [1u8; 16];
        assert_eq!(read_request(&f, 10).len(), 49);
        assert_eq!(write_request_head(&f, 10).len(), WRITE_FIXED_LEN);
        assert_eq!(
            ioctl_request_head(FSCTL_PIPE_TRANSCEIVE, &f, 4, 8).len(),
            IOCTL_FIXED_LEN
        );
        assert_eq!(close_request(&f).len(), 24);
        assert_eq!(create_request("echo", 1, PIPE_ACCESS).len(), 56 + 8);
        assert_eq!(session_setup_request(1, b"tok").len(), 27);
    }

    #[test]
    fn create_response_gives_the_file_id() {
        let mut b = Vec::new();
        b.u16(89);
        b.extend_from_slice(&[0; 62]);
        b.extend_from_slice(&[0xAB; 16]);
        b.extend_from_slice(&[0; 8]);
        b.push(0);
        assert_eq!(decode_create_response(&message(&b)).unwrap(), [0xAB; 16]);
        assert!(decode_create_response(&message(&b[..40])).is_err());
    }
}
