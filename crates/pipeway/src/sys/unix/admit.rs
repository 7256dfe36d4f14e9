//! Admitting a client the listener accepted: the access check (before any
//! byte is read from it), buffer sizes, the hello on the framed wire, and
//! the half-shutdown that enforces the pipe's direction.

use std::io::IoSlice;
use std::net::Shutdown;
use std::os::fd::AsFd;

use crate::gate::Permit;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{Direction, End, ListenOptions, PipeMode};
use crate::peer::PeerIdentity;
use crate::wire::{Hello, Refusal};

use super::access::{self, ResolvedAccess};
use super::creds;
use super::socket::{Socket, Wire};

/// A listener's rules for new clients. Shared by both faces.
#[derive(Debug)]
pub(crate) struct Admission {
    pub name: PipeName,
    pub wire: Wire,
    pub mode: PipeMode,
    pub direction: Direction,
    pub access: ResolvedAccess,
    pub in_buffer_size: Option<usize>,
    pub out_buffer_size: Option<usize>,
    pub max_message_size: usize,
}

/// A connected socket before it takes the shape of a stream type: what
/// accept and connect both produce.
#[derive(Debug)]
pub(crate) struct Connection {
    pub socket: Socket,
    pub wire: Wire,
    pub negotiated: Negotiated,
    pub permit: Option<Permit>,
    /// For a client smbd handed over: what keeps its socket open for
    /// delivery after the stream closes (see `linger`). Boxed: only SMB
    /// streams pay for it.
    pub smb: Option<Box<super::linger::SmbEnd>>,
}

impl Connection {
    /// The most payload one record of this connection carries: its socket's
    /// budget on the framed wire; unused (0) on the plain and Samba wires.
    pub(crate) fn record_budget(&self) -> std::io::Result<usize> {
        match self.wire {
            Wire::Plain | Wire::Samba => Ok(0),
            Wire::Framed => self.socket.record_budget(),
        }
    }
}

impl Admission {
    pub(crate) fn new(
        name: PipeName,
        mode: PipeMode,
        options: &ListenOptions,
    ) -> Result<Self, crate::Error> {
        // Byte pipes with default options stay on the plain wire that every
        // program speaks; what needs the pipe to talk takes the framed one.
        let wire = if mode == PipeMode::Message || options.max_instances.is_some() {
            Wire::Framed
        } else {
            Wire::Plain
        };
        if options.max_instances == Some(0) {
            return Err(crate::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "max_instances must be at least 1",
            )));
        }
        Ok(Self {
            name,
            wire,
            mode,
            direction: options.direction,
            access: access::resolve(&local_rules(options))?,
            in_buffer_size: options.in_buffer_size,
            out_buffer_size: options.out_buffer_size,
            max_message_size: options.max_message_size,
        })
    }

    /// Admits a client taken off the kernel's queue, which holds `permit`
    /// (an instance, under a limit). `None`: refused (closed and logged) or
    /// gone before it could be admitted; the permit is freed.
    pub(crate) fn admit(&self, socket: Socket, permit: Option<Permit>) -> Option<Connection> {
        let peer = match socket.peer_cred() {
            Ok(peer) => peer,
            Err(err) => {
                tracing::debug!(pipe = %self.name, %err, "client gone before admission");
                return None;
            }
        };
        if let Err(reason) = access::decide(&self.access, &peer, || {
            creds::peer_groups(socket.as_fd(), &peer)
        }) {
            if self.wire == Wire::Framed {
                // Tell a pipeway client why; it may already be gone, which is fine.
                let hello = Hello::Refused(Refusal::AccessDenied).encode();
                let _ = socket.send_vectored(&[IoSlice::new(&hello)], true);
            }
            tracing::warn!(pipe = %self.name, pid = ?peer.pid, uid = peer.uid, "refused a client: {reason}");
            return None;
        }
        if let Err(err) = socket.set_buffer_sizes(self.in_buffer_size, self.out_buffer_size) {
            tracing::warn!(pipe = %self.name, %err, "cannot set the socket buffer sizes");
        }
        if self.wire == Wire::Framed {
            let hello = Hello::Welcome {
                mode: self.mode,
                direction: self.direction,
                max_message: self.max_message_size as u64,
            }
            .encode();
            // A fresh socket's buffer has room for 24 bytes; failing here means
            // the client gave up waiting (its connect timed out) and left.
            if let Err(err) = socket.send_vectored(&[IoSlice::new(&hello)], true) {
                tracing::debug!(pipe = %self.name, %err, "client left before its hello");
                return None;
            }
        }
        if let Err(err) = shut_unused_halves(&socket, self.direction, End::Server) {
            tracing::debug!(pipe = %self.name, %err, "client gone during admission");
            return None;
        }
        let process = super::process::of_socket(socket.as_fd(), peer.pid);
        Some(Connection {
            socket,
            wire: self.wire,
            negotiated: Negotiated {
                end: End::Server,
                pipe_mode: self.mode,
                direction: self.direction,
                peer: PeerIdentity::from_credentials(peer).with_process(process),
                // A server takes its own limit for what its clients accept.
                limits: MessageLimits::symmetric(self.max_message_size),
            },
            permit,
            smb: None,
        })
    }
}

/// The rules local clients are judged by: with SMB served, rules that name
/// SMB accounts (`DOMAIN\user`, SIDs) are for SMB callers only.
fn local_rules(options: &ListenOptions) -> std::borrow::Cow<'_, crate::access::AccessRules> {
    #[cfg(feature = "remote")]
    if options.smb.is_some() {
        return std::borrow::Cow::Owned(super::smb::access::unix_rules(&options.access));
    }
    std::borrow::Cow::Borrowed(&options.access)
}

/// Shuts the halves this end will never use, so the peer sees end-of-file or
/// a broken pipe at once instead of waiting.
pub(crate) fn shut_unused_halves(
    socket: &Socket,
    direction: Direction,
    end: End,
) -> std::io::Result<()> {
    if !direction.writes(end) {
        socket.shutdown(Shutdown::Write)?;
    }
    if !direction.reads(end) {
        socket.shutdown(Shutdown::Read)?;
    }
    Ok(())
}
