//! Samba's named-pipe hand-off: `named_pipe_auth_req` and `named_pipe_auth_rep`.
//!
//! When an SMB client opens `\\host\pipe\NAME`, `smbd` connects (as root) to
//! the Unix socket `<ncalrpc dir>/np/<name, lower-cased>` and, before any
//! pipe data, sends a `named_pipe_auth_req`: who the client is (the SMB
//! account, domain, SIDs, the Unix user Samba mapped it to) and where it
//! came from. The pipe's server answers with a `named_pipe_auth_rep` that
//! echoes the request's level and says whether the pipe is a byte or a
//! message pipe; from then on the socket carries the pipe's data (in message
//! mode, each message after a 2-byte little-endian length).
//!
//! This module is pure functions over bytes: [`request_length`] reads the
//! 4-byte prefix (so a reader knows how much to wait for, and refuses an
//! oversized request before allocating), [`decode_request`] decodes the whole
//! request, [`encode_reply`] makes the answer. It decodes the levels Samba
//! 4.15 to current send (4 to 8; the layouts are those of Samba's
//! `librpc/idl/named_pipe_auth.idl`, `auth.idl` and `security.idl` at each
//! release). Malformed input is an [`NpError`], never a panic, and nothing
//! larger than the input is ever allocated.
//!
//! ```
//! use pipeway_smb::np::{self, FileType};
//!
//! // A request as smbd sends it (here made by this crate's encoder).
//! let request = np::AuthRequest::example(7, "alice", 1000);
//! let bytes = request.encode()?;
//! assert_eq!(np::request_length(bytes[..4].try_into().unwrap())?, bytes.len());
//!
//! let decoded = np::decode_request(&bytes)?;
//! assert_eq!(decoded.account_name(), Some("alice"));
//! assert_eq!(decoded.unix_ids().map(|(uid, _, _)| uid), Some(1000));
//!
//! let reply = np::encode_reply(decoded.level, FileType::Byte, np::STATUS_SUCCESS);
//! assert_eq!(reply.len(), np::REPLY_LEN);
//! # Ok::<(), np::NpError>(())
//! ```

mod ndr;
mod reply;
mod session;
mod sid;

pub use reply::{
    AuthReply, FileType, REPLY_LEN, STATUS_ACCESS_DENIED, STATUS_PIPE_NOT_AVAILABLE,
    STATUS_SUCCESS, decode_reply, encode_reply,
};
pub use session::{Secret, SecurityToken, Session, UnixToken, UnixUserInfo, UserInfo};
pub use sid::{Sid, SidParseError};

use ndr::{Reader, Writer};

/// `NPAM`, after the length, in every request and reply.
pub const MAGIC: [u8; 4] = *b"NPAM";

/// The largest request accepted, length prefix included: 1 MiB. Samba's are
/// under 1 KiB for an ordinary user; a token with thousands of groups still
/// fits.
pub const MAX_REQUEST_LEN: usize = 1 << 20;

/// The levels [`decode_request`] understands.
pub const LEVELS: std::ops::RangeInclusive<u32> = 4..=8;

/// Why a request (or reply) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NpError {
    /// The length prefix announces more than [`MAX_REQUEST_LEN`] (or less
    /// than the fixed header).
    #[error("named_pipe_auth_req of {len} bytes announced; accepted are 16 to {max}")]
    BadLength {
        /// The announced length, prefix included.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The bytes end before the structure does.
    #[error("named_pipe_auth message truncated: {needed} more bytes needed at offset {at}")]
    Truncated {
        /// Where the read was.
        at: usize,
        /// How many bytes it needed.
        needed: usize,
    },
    /// Not `NPAM` after the length.
    #[error("not a named_pipe_auth message (magic {0:02x?})")]
    BadMagic([u8; 4]),
    /// A level this decoder does not know (Samba 4.15 to current send 4 to 8).
    #[error(
        "named_pipe_auth level {0} is not supported (levels 4 to 8 are: Samba 4.15 to current)"
    )]
    UnknownLevel(u32),
    /// A field that cannot be what it says.
    #[error("malformed named_pipe_auth_req at offset {at}: {what}")]
    Malformed {
        /// Where.
        at: usize,
        /// What was wrong.
        what: String,
    },
    /// Something valid that this decoder does not handle.
    #[error("named_pipe_auth_req carries {0}, which pipeway does not decode")]
    Unsupported(&'static str),
    /// Bytes left over after the structure.
    #[error("{0} bytes left over after the named_pipe_auth_req")]
    TrailingBytes(usize),
}

/// A decoded `named_pipe_auth_req`: who is calling and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// The level, which the reply must echo.
    pub level: u32,
    /// The transport the client came by (`dcerpc_transport_t`: 1 is SMB,
    /// `ncacn_np`); levels 5 and later.
    pub transport: Option<u8>,
    /// The client's host name, as Samba knows it.
    pub remote_client_name: Option<String>,
    /// The client's address (an IP address in text).
    pub remote_client_addr: Option<String>,
    /// The client's port.
    pub remote_client_port: u16,
    /// This server's name.
    pub local_server_name: Option<String>,
    /// The address the client reached (an IP address in text).
    pub local_server_addr: Option<String>,
    /// The port the client reached (445).
    pub local_server_port: u16,
    /// Whether smbd asked for a server of its own (levels 5 and 6).
    pub need_idle_server: Option<bool>,
    /// The caller's session.
    pub session: Session,
    /// Which of the level's layouts the request had.
    pub layout: Layout,
}

/// The shape of a request at its level, which changed within some levels
/// as Samba's structures did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Has `transport` (levels 5 on).
    pub transport: bool,
    /// Has `need_idle_server` (levels 5 and 6).
    pub need_idle_server: bool,
    /// `auth_session_info` ends in `ticket_type` (Samba with the
    /// CVE-2022-2031 fixes: 4.15.9, 4.16.4, 4.17 on).
    pub ticket_type: bool,
    /// The security token carries claims and device SIDs (level 8, Samba 4.20 on).
    pub claims_token: bool,
}

impl Layout {
    /// The layouts a level has had, the most recent first.
    pub fn for_level(level: u32) -> Result<&'static [Layout], NpError> {
        const fn layout(
            transport: bool,
            need_idle_server: bool,
            ticket_type: bool,
            claims_token: bool,
        ) -> Layout {
            Layout {
                transport,
                need_idle_server,
                ticket_type,
                claims_token,
            }
        }
        const L4: [Layout; 2] = [
            layout(false, false, true, false),
            layout(false, false, false, false),
        ];
        const L5: [Layout; 2] = [
            layout(true, true, true, false),
            layout(true, true, false, false),
        ];
        const L6: [Layout; 1] = [layout(true, true, true, false)];
        const L7: [Layout; 1] = [layout(true, false, true, false)];
        const L8: [Layout; 1] = [layout(true, false, true, true)];
        Ok(match level {
            4 => &L4,
            5 => &L5,
            6 => &L6,
            7 => &L7,
            8 => &L8,
            other => return Err(NpError::UnknownLevel(other)),
        })
    }
}

/// The full length of a request (prefix included) from its first 4 bytes,
/// refused if it is over [`MAX_REQUEST_LEN`] or too short to be one.
pub fn request_length(prefix: [u8; 4]) -> Result<usize, NpError> {
    let len = u64::from(u32::from_be_bytes(prefix)) + 4;
    if len > MAX_REQUEST_LEN as u64 || len < 16 {
        return Err(NpError::BadLength {
            len,
            max: MAX_REQUEST_LEN,
        });
    }
    Ok(len as usize)
}

/// Decodes a whole `named_pipe_auth_req`, its 4-byte length prefix included.
///
/// The level's layouts are tried in turn (a level kept its number through
/// some of Samba's changes); a request must match one exactly, to the last
/// byte.
pub fn decode_request(bytes: &[u8]) -> Result<AuthRequest, NpError> {
    let prefix: [u8; 4] = bytes
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or(NpError::Truncated { at: 0, needed: 4 })?;
    let len = request_length(prefix)?;
    if len != bytes.len() {
        return Err(if len > bytes.len() {
            NpError::Truncated {
                at: bytes.len(),
                needed: len - bytes.len(),
            }
        } else {
            NpError::TrailingBytes(bytes.len() - len)
        });
    }
    let mut r = Reader::new(bytes);
    r.take(4)?;
    let magic: [u8; 4] = r.take(4)?.try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(NpError::BadMagic(magic));
    }
    let level = r.u32()?;
    let layouts = Layout::for_level(level)?;
    let switch = r.u32()?;
    if switch != level {
        return Err(r.malformed(format!("union arm {switch} for level {level}")));
    }
    let start = r.position();
    let mut first_error = None;
    for layout in layouts {
        r.set_position(start);
        match read_info(&mut r, level, *layout) {
            Ok(request) if r.remaining() == 0 => return Ok(request),
            Ok(_) => {
                first_error.get_or_insert(NpError::TrailingBytes(r.remaining()));
            }
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error.expect("every level has a layout"))
}

fn read_info(r: &mut Reader<'_>, level: u32, layout: Layout) -> Result<AuthRequest, NpError> {
    r.align(4)?;
    let transport = if layout.transport {
        Some(r.u8()?)
    } else {
        None
    };
    let has_client_name = r.pointer()?;
    let has_client_addr = r.pointer()?;
    let remote_client_port = r.u16()?;
    let has_server_name = r.pointer()?;
    let has_server_addr = r.pointer()?;
    let local_server_port = r.u16()?;
    let has_session = r.pointer()?;
    let need_idle_server = if layout.need_idle_server {
        Some(r.bool8()?)
    } else {
        None
    };
    let mut string = |present: bool, what: &str| present.then(|| r.string(what)).transpose();
    let remote_client_name = string(has_client_name, "remote_client_name")?;
    let remote_client_addr = string(has_client_addr, "remote_client_addr")?;
    let local_server_name = string(has_server_name, "local_server_name")?;
    let local_server_addr = string(has_server_addr, "local_server_addr")?;
    if !has_session {
        return Err(r.malformed("no session_info: smbd always sends the caller's"));
    }
    let session = session::read_transport(r, &layout)?;
    Ok(AuthRequest {
        level,
        transport,
        remote_client_name,
        remote_client_addr,
        remote_client_port,
        local_server_name,
        local_server_addr,
        local_server_port,
        need_idle_server,
        session,
        layout,
    })
}

impl AuthRequest {
    /// Encodes the request as `smbd` would send it, length prefix included,
    /// in its [`layout`](Self::layout): for tools and tests that stand in
    /// for smbd. Fails if the layout is not one of the level's.
    pub fn encode(&self) -> Result<Vec<u8>, NpError> {
        if !Layout::for_level(self.level)?.contains(&self.layout) {
            return Err(NpError::Unsupported("a layout its level never had"));
        }
        let layout = self.layout;
        let mut w = Writer::new();
        w.raw(&[0; 4]);
        w.raw(&MAGIC);
        w.u32(self.level);
        w.u32(self.level);
        if layout.transport {
            w.u8(self.transport.unwrap_or(1));
        }
        let strings = [
            &self.remote_client_name,
            &self.remote_client_addr,
            &self.local_server_name,
            &self.local_server_addr,
        ];
        w.pointer(strings[0].is_some());
        w.pointer(strings[1].is_some());
        w.u16(self.remote_client_port);
        w.pointer(strings[2].is_some());
        w.pointer(strings[3].is_some());
        w.u16(self.local_server_port);
        w.pointer(true);
        if layout.need_idle_server {
            w.u8(u8::from(self.need_idle_server.unwrap_or(false)));
        }
        for s in strings.into_iter().flatten() {
            w.string(s);
        }
        session::write_transport(&mut w, &self.session, &layout);
        let len = w.bytes_mut().len() - 4;
        if len + 4 > MAX_REQUEST_LEN {
            return Err(NpError::BadLength {
                len: len as u64 + 4,
                max: MAX_REQUEST_LEN,
            });
        }
        w.bytes_mut()[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(w.into_bytes())
    }

    /// A request for a local Samba user `account` (Unix uid and gid `id`)
    /// on host `PWHOST`, from 192.0.2.1, at `level` in its latest layout:
    /// for examples and tests.
    pub fn example(level: u32, account: &str, id: u32) -> Self {
        let layout = Layout::for_level(level).map_or(
            Layout {
                transport: true,
                need_idle_server: false,
                ticket_type: true,
                claims_token: true,
            },
            |layouts| layouts[0],
        );
        let domain_sid = "S-1-5-21-1-2-3";
        let sid = |rest: &str| format!("{domain_sid}-{rest}").parse().expect("a SID");
        AuthRequest {
            level,
            transport: layout.transport.then_some(1),
            remote_client_name: Some("client".into()),
            remote_client_addr: Some("192.0.2.1".into()),
            remote_client_port: 49152,
            local_server_name: Some("pwhost".into()),
            local_server_addr: Some("192.0.2.2".into()),
            local_server_port: 445,
            need_idle_server: layout.need_idle_server.then_some(false),
            session: Session {
                token: Some(SecurityToken {
                    sids: vec![
                        sid(&id.to_string()),
                        sid("513"),
                        "S-1-1-0".parse().expect("a SID"),
                        "S-1-5-11".parse().expect("a SID"),
                    ],
                    evaluate_claims: layout.claims_token.then_some(0),
                    ..SecurityToken::default()
                }),
                unix_token: Some(UnixToken {
                    uid: id.into(),
                    gid: id.into(),
                    groups: vec![id.into()],
                }),
                user: Some(UserInfo {
                    account_name: Some(account.into()),
                    domain_name: Some("PWHOST".into()),
                    full_name: Some(String::new()),
                    ..UserInfo::default()
                }),
                unix_user: Some(UnixUserInfo {
                    unix_name: Some(account.into()),
                    sanitized_username: Some(account.into()),
                }),
                session_key: Secret(vec![0x5a; 16]),
                unique_session_token: [7; 16],
                ticket_type: layout.ticket_type.then_some(0),
                exported_gssapi_credentials: Secret::default(),
            },
            layout,
        }
    }

    /// The SMB account name.
    pub fn account_name(&self) -> Option<&str> {
        self.session.user.as_ref()?.account_name.as_deref()
    }

    /// The account's domain (for a local Samba account, the host's NetBIOS name).
    pub fn domain_name(&self) -> Option<&str> {
        self.session.user.as_ref()?.domain_name.as_deref()
    }

    /// The Unix uid, gid and groups Samba mapped the caller to.
    pub fn unix_ids(&self) -> Option<(u64, u64, &[u64])> {
        let unix = self.session.unix_token.as_ref()?;
        Some((unix.uid, unix.gid, &unix.groups))
    }

    /// The Unix user name Samba mapped the caller to.
    pub fn unix_name(&self) -> Option<&str> {
        self.session.unix_user.as_ref()?.unix_name.as_deref()
    }

    /// The token's SIDs: the user's, the primary group's, then the others.
    pub fn sids(&self) -> &[Sid] {
        self.session
            .token
            .as_ref()
            .map_or(&[][..], |token| &token.sids)
    }

    /// Whether Samba let the caller in as a guest or anonymously: its token
    /// lacks Authenticated Users (`S-1-5-11`), which Samba gives every
    /// authenticated session and no other. (The user info's flag means
    /// opposite things in different releases at the same level.)
    pub fn is_guest(&self) -> bool {
        !self
            .sids()
            .iter()
            .any(|sid| sid.authority() == 5 && sid.sub_authorities() == [11])
    }
}

#[cfg(test)]
mod tests;
