//! The 64-byte SMB2 header (MS-SMB2 2.2.1), sync and async forms.

use super::{DecodeError, Put, Reader};

/// The header's length.
pub const HEADER_LEN: usize = 64;
/// `0xFE 'S' 'M' 'B'`.
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
/// Where the 16-byte signature sits in the header.
pub const SIGNATURE_RANGE: std::ops::Range<usize> = 48..64;

/// The commands the pipe client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum Command {
    Negotiate = 0,
    SessionSetup = 1,
    Logoff = 2,
    TreeConnect = 3,
    TreeDisconnect = 4,
    Create = 5,
    Close = 6,
    Read = 8,
    Write = 9,
    Ioctl = 11,
    Cancel = 12,
    Echo = 13,
    OplockBreak = 18,
}

impl Command {
    /// The command with wire code `code`, if the client knows it.
    pub fn from_code(code: u16) -> Option<Self> {
        use Command::*;
        Some(match code {
            0 => Negotiate,
            1 => SessionSetup,
            2 => Logoff,
            3 => TreeConnect,
            4 => TreeDisconnect,
            5 => Create,
            6 => Close,
            8 => Read,
            9 => Write,
            11 => Ioctl,
            12 => Cancel,
            13 => Echo,
            18 => OplockBreak,
            _ => return None,
        })
    }
}

/// Header flags.
pub mod flags {
    /// A response.
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    /// The async form (AsyncId instead of TreeId).
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    /// Part of a compound chain, related to the previous message.
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    /// The message is signed.
    pub const SIGNED: u32 = 0x0000_0008;
}

/// A decoded or to-be-encoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Credits this message costs (1 per 64 KiB of payload).
    pub credit_charge: u16,
    /// NTSTATUS in responses; ChannelSequence in requests (0 here).
    pub status: u32,
    /// The command code.
    pub command: u16,
    /// Credits asked for (request) or granted (response).
    pub credits: u16,
    /// [`flags`].
    pub flags: u32,
    /// Offset of the next message in a compound chain (0: last).
    pub next_command: u32,
    /// Pairs a response with its request.
    pub message_id: u64,
    /// The async form's id, given in a STATUS_PENDING interim response.
    pub async_id: u64,
    /// The sync form's tree.
    pub tree_id: u32,
    /// The session.
    pub session_id: u64,
    /// The signature (zero when unsigned).
    pub signature: [u8; 16],
}

impl Header {
    /// Whether the async form is in use.
    pub fn is_async(&self) -> bool {
        self.flags & flags::ASYNC_COMMAND != 0
    }

    /// Appends the header's 64 bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PROTOCOL_ID);
        out.u16(HEADER_LEN as u16);
        out.u16(self.credit_charge);
        out.u32(self.status);
        out.u16(self.command);
        out.u16(self.credits);
        out.u32(self.flags);
        out.u32(self.next_command);
        out.u64(self.message_id);
        if self.is_async() {
            out.u64(self.async_id);
        } else {
            out.u32(0); // Reserved (ProcessId)
            out.u32(self.tree_id);
        }
        out.u64(self.session_id);
        out.extend_from_slice(&self.signature);
    }

    /// Decodes the header at the start of `message`.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(message, "SMB2 header");
        let protocol: [u8; 4] = r.array()?;
        if protocol != PROTOCOL_ID {
            return Err(r.error(format_args!("protocol id {protocol:02x?} is not SMB2")));
        }
        let size = r.u16()?;
        if size as usize != HEADER_LEN {
            return Err(r.error(format_args!("structure size {size}, not 64")));
        }
        let mut h = Header {
            credit_charge: r.u16()?,
            status: r.u32()?,
            command: r.u16()?,
            credits: r.u16()?,
            flags: r.u32()?,
            next_command: r.u32()?,
            message_id: r.u64()?,
            ..Header::default()
        };
        if h.is_async() {
            h.async_id = r.u64()?;
        } else {
            r.skip(4)?;
            h.tree_id = r.u32()?;
        }
        h.session_id = r.u64()?;
        h.signature = r.array()?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_and_async_headers_round_trip() {
        let sync = Header {
            credit_charge: 2,
            status: 0xC000_0016,
            command: Command::SessionSetup as u16,
            credits: 31,
            flags: flags::SERVER_TO_REDIR | flags::SIGNED,
            message_id: 7,
            tree_id: 5,
            session_id: 0x1122_3344_5566_7788,
            signature: [9; 16],
            ..Header::default()
        };
        let mut bytes = Vec::new();
        sync.encode(&mut bytes);
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(Header::decode(&bytes).unwrap(), sync);

        let pending = Header {
            flags: flags::ASYNC_COMMAND | flags::SERVER_TO_REDIR,
            async_id: 0xAB,
            ..sync
        };
        let mut bytes = Vec::new();
        pending.encode(&mut bytes);
        let back = Header::decode(&bytes).unwrap();
        assert_eq!(back.async_id, 0xAB);
        assert_eq!(back.tree_id, 0);
    }

    #[test]
    fn foreign_protocols_are_refused() {
        let mut bytes = vec![0xFF, b'S', b'M', b'B'];
        bytes.resize(64, 0);
        assert!(Header::decode(&bytes).is_err());
        assert!(Header::decode(&[0xFE, b'S']).is_err());
    }
}
