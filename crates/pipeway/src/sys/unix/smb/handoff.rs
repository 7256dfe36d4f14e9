//! Admitting a client smbd handed over: its request decoded, the caller
//! judged by the listener's rules, the reply sent, and the socket made into
//! a connection on Samba's wire.

use std::io::IoSlice;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pipeway_smb::np::{self, AuthRequest, FileType};

use crate::gate::InstanceGate;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{Direction, End, ListenOptions, PipeMode};
use crate::peer::PeerIdentity;
use crate::smb::{SmbCaller, SmbOptions};

use super::super::admit::Connection;
use super::super::linger::SmbEnd;
use super::super::samba_wire::SAMBA_MAX_MESSAGE;
use super::super::socket::{Socket, Wire};
use super::access::SmbAccess;

/// A listener's rules for the clients smbd hands over.
#[derive(Debug)]
pub(crate) struct Rules {
    pub name: PipeName,
    pub mode: PipeMode,
    pub direction: Direction,
    pub access: SmbAccess,
    pub max_message: usize,
    pub in_buffer_size: Option<usize>,
    pub out_buffer_size: Option<usize>,
    pub gate: Option<Arc<InstanceGate>>,
    pub handshake_timeout: Duration,
    pub linger: Duration,
}

impl Rules {
    pub(crate) fn new(
        name: PipeName,
        mode: PipeMode,
        options: &ListenOptions,
        smb: &SmbOptions,
        gate: Option<Arc<InstanceGate>>,
    ) -> Result<Self, crate::Error> {
        Ok(Self {
            name,
            mode,
            direction: options.direction,
            access: SmbAccess::resolve(&options.access)?,
            max_message: options.max_message_size.min(SAMBA_MAX_MESSAGE),
            in_buffer_size: options.in_buffer_size,
            out_buffer_size: options.out_buffer_size,
            gate,
            handshake_timeout: smb.handshake_timeout,
            linger: smb.linger,
        })
    }

    /// Admits the client whose whole request is `request`, or refuses it
    /// (and logs why). A refused client gets no reply: smbd then fails the
    /// client's open (it does not act on a reply's status).
    pub(crate) fn admit(&self, socket: Socket, request: &[u8]) -> Option<Connection> {
        let pipe = &self.name;
        let request = match np::decode_request(request) {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(%pipe, %err, "refused an SMB hand-off");
                return None;
            }
        };
        let caller = match caller_of(&request) {
            Ok(caller) => caller,
            Err(why) => {
                tracing::warn!(%pipe, "refused an SMB hand-off: {why}");
                return None;
            }
        };
        if let Err(reason) = self.access.decide(&caller) {
            tracing::warn!(%pipe, "refused an SMB client: {reason}");
            return None;
        }
        let permit = match &self.gate {
            None => None,
            Some(gate) => match gate.try_acquire() {
                Ok(Some(permit)) => Some(permit),
                Ok(None) => {
                    tracing::warn!(%pipe, "refused an SMB client ({caller}): every instance is in use");
                    return None;
                }
                Err(_closed) => return None,
            },
        };
        if let Err(err) = socket.set_buffer_sizes(self.in_buffer_size, self.out_buffer_size) {
            tracing::warn!(%pipe, %err, "cannot set the socket buffer sizes");
        }
        let file_type = match self.mode {
            PipeMode::Byte => FileType::Byte,
            PipeMode::Message => FileType::Message,
        };
        // Everything that can fail before the reply: once smbd has it, the
        // client's open has succeeded.
        let smb = match SmbEnd::new(&socket, self.linger) {
            Ok(end) => end,
            Err(err) => {
                tracing::warn!(%pipe, %err, "refused an SMB client: cannot keep its stream for delivery at close");
                return None;
            }
        };
        let reply = np::encode_reply(request.level, file_type, np::STATUS_SUCCESS);
        // A fresh socket has room for 36 bytes; failing means smbd left.
        match socket.send_vectored(&[IoSlice::new(&reply)], true) {
            Ok(n) if n == reply.len() => {}
            other => {
                tracing::debug!(%pipe, ?other, "smbd left before the reply");
                return None;
            }
        }
        // Samba pipes are duplex. An outbound pipe stops the client's writes;
        // an inbound one must not shut its write side, which smbd would take
        // for a broken pipe.
        if self.direction == Direction::Outbound {
            let _ = socket.shutdown(Shutdown::Read);
        }
        tracing::debug!(%pipe, %caller, level = request.level, "admitted an SMB client");
        Some(Connection {
            socket,
            wire: Wire::Samba,
            negotiated: Negotiated {
                end: End::Server,
                pipe_mode: self.mode,
                direction: self.direction,
                peer: peer_identity(caller),
                limits: MessageLimits {
                    max: self.max_message,
                    peer_max: SAMBA_MAX_MESSAGE,
                },
            },
            permit,
            smb: Some(Box::new(smb)),
        })
    }
}

/// The caller as pipeway shows it; refused when the request lacks the
/// account or the Unix identity Samba always sends.
pub(crate) fn caller_of(request: &AuthRequest) -> Result<SmbCaller, String> {
    let account = request
        .account_name()
        .ok_or("the request names no account")?
        .to_owned();
    let (uid, gid, groups) = request
        .unix_ids()
        .ok_or("the request carries no Unix identity")?;
    let id = |v: u64| u32::try_from(v).map_err(|_| format!("{v} is not a Unix id"));
    let address = |addr: &Option<String>, port: u16| {
        addr.as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, port))
    };
    Ok(SmbCaller {
        domain: request.domain_name().unwrap_or_default().to_owned(),
        sids: request.sids().to_vec(),
        unix_name: request.unix_name().map(str::to_owned),
        uid: id(uid)?,
        gid: id(gid)?,
        groups: groups.iter().map(|&g| id(g)).collect::<Result<_, _>>()?,
        guest: request.is_guest(),
        client_address: address(&request.remote_client_addr, request.remote_client_port),
        client_name: request.remote_client_name.clone(),
        server_address: address(&request.local_server_addr, request.local_server_port),
        level: request.level,
        account,
    })
}

fn peer_identity(caller: SmbCaller) -> PeerIdentity {
    let user_name = OnceLock::new();
    if let Some(name) = caller.unix_name() {
        let _ = user_name.set(Some(name.to_owned()));
    }
    PeerIdentity {
        pid: None,
        uid: caller.uid(),
        gid: caller.gid(),
        user_name,
        smb: Some(Arc::new(caller)),
        // The pipe's server is this host: the client is the remote one.
        remote: None,
        process: crate::process::no_process("the client is on another host (SMB, through Samba)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_what_smbd_said() {
        let mut request = AuthRequest::example(8, "alice", 1500);
        request.remote_client_addr = Some("10.77.0.1".into());
        request.remote_client_port = 50000;
        let caller = caller_of(&request).unwrap();
        assert_eq!(caller.account(), "alice");
        assert_eq!(caller.domain(), "PWHOST");
        assert_eq!((caller.uid(), caller.gid()), (1500, 1500));
        assert_eq!(caller.unix_name(), Some("alice"));
        assert_eq!(
            caller.client_address(),
            Some("10.77.0.1:50000".parse().unwrap())
        );
        assert_eq!(
            caller.user_sid().unwrap().to_string(),
            "S-1-5-21-1-2-3-1500"
        );
        assert!(!caller.is_guest());
        let peer = peer_identity(caller);
        assert_eq!(peer.pid(), None);
        assert_eq!(peer.user_name(), Some("alice"));
        assert!(
            peer.to_string()
                .contains(r"SMB PWHOST\alice from 10.77.0.1:50000"),
            "{peer}"
        );
    }

    #[test]
    fn a_request_without_a_unix_identity_or_account_is_refused() {
        let mut request = AuthRequest::example(7, "bob", 1501);
        request.session.unix_token = None;
        assert!(caller_of(&request).is_err());
        let mut request = AuthRequest::example(7, "bob", 1501);
        request.session.user = None;
        assert!(caller_of(&request).is_err());
        let mut request = AuthRequest::example(7, "bob", 1501);
        request.session.unix_token.as_mut().unwrap().uid = u64::from(u32::MAX) + 1;
        assert!(caller_of(&request).is_err());
    }
}
