//! Admitting a client the listener accepted: the access check (before any
//! byte is read from it), buffer sizes, the hello on the framed wire, and
//! the half-shutdown that enforces the pipe's direction.

use std::io::IoSlice;
use std::net::Shutdown;
use std::os::fd::AsFd;

use crate::name::PipeName;
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

pub(crate) enum Admitted {
    Client(Box<Connection>),
    /// Refused by the access rules; already closed and logged.
    Refused,
    /// Went away before it could be admitted.
    Gone,
}

/// A connected socket before it takes the shape of a stream type: what
/// accept and connect both produce.
#[derive(Debug)]
pub(crate) struct Connection {
    pub socket: Socket,
    pub wire: Wire,
    pub end: End,
    pub direction: Direction,
    pub peer: PeerIdentity,
    /// The largest message the peer accepts (what its hello said; for a
    /// server, its own limit applies to what it receives).
    pub peer_max_message: u64,
    /// The largest message this end accepts.
    pub max_message: usize,
    pub permit: Option<crate::gate::Permit>,
    /// For a client smbd handed over: what keeps its socket open for
    /// delivery after the stream closes (see `linger`).
    pub smb: Option<super::linger::SmbEnd>,
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

    pub(crate) fn admit(&self, socket: Socket) -> Admitted {
        let peer = match socket.peer_cred() {
            Ok(peer) => peer,
            Err(err) => {
                tracing::debug!(pipe = %self.name, %err, "client gone before admission");
                return Admitted::Gone;
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
            return Admitted::Refused;
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
                return Admitted::Gone;
            }
        }
        if let Err(err) = shut_unused_halves(&socket, self.direction, End::Server) {
            tracing::debug!(pipe = %self.name, %err, "client gone during admission");
            return Admitted::Gone;
        }
        let process = super::process::of_socket(socket.as_fd(), peer.pid);
        Admitted::Client(Box::new(Connection {
            socket,
            wire: self.wire,
            end: End::Server,
            direction: self.direction,
            peer: PeerIdentity::from_credentials(peer).with_process(process),
            peer_max_message: self.max_message_size as u64,
            max_message: self.max_message_size,
            permit: None,
            smb: None,
        }))
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
