//! A message stream's two halves over whichever wire it runs on: pipeway's
//! framed wire (records) or Samba's hand-off (2-byte lengths). The faces
//! hold these and call the same methods either way.

use std::io;

use crate::error::Error;

use super::framing::{MessageReader, MessageWriter};
use super::samba_wire::{SambaReader, SambaWriter};
use super::socket::{Socket, Wire};

#[derive(Debug)]
pub(crate) enum MessageIn {
    Records(MessageReader),
    Samba(SambaReader),
}

impl MessageIn {
    pub(crate) fn new(wire: Wire, max: usize) -> Self {
        match wire {
            Wire::Samba => MessageIn::Samba(SambaReader::new(max)),
            Wire::Plain | Wire::Framed => MessageIn::Records(MessageReader::new(max)),
        }
    }

    pub(crate) fn recv(&mut self, out: &mut [u8], socket: &Socket) -> Result<Option<usize>, Error> {
        match self {
            MessageIn::Records(reader) => reader.recv(out, socket),
            MessageIn::Samba(reader) => reader.recv(out, socket),
        }
    }

    pub(crate) fn recv_vec(&mut self, socket: &Socket) -> Result<Option<Vec<u8>>, Error> {
        match self {
            MessageIn::Records(reader) => reader.recv_vec(socket),
            MessageIn::Samba(reader) => reader.recv_vec(socket),
        }
    }

    /// See [`MessageReader::detach`]; the Samba reader keeps nothing in the
    /// caller's buffer.
    pub(crate) fn detach(&mut self, out: &[u8]) {
        if let MessageIn::Records(reader) = self {
            reader.detach(out);
        }
    }
}

#[derive(Debug)]
pub(crate) enum MessageOut {
    Records(MessageWriter),
    Samba {
        writer: SambaWriter,
        peer_max: usize,
    },
}

/// How much of a message has left (see each wire's `Progress`).
pub(crate) type Progress = Option<usize>;

impl MessageOut {
    pub(crate) fn new(wire: Wire, peer_max: usize, budget: usize) -> Self {
        match wire {
            Wire::Samba => MessageOut::Samba {
                writer: SambaWriter::default(),
                peer_max,
            },
            Wire::Plain | Wire::Framed => MessageOut::Records(MessageWriter::new(peer_max, budget)),
        }
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn has_pending(&self) -> bool {
        match self {
            MessageOut::Records(writer) => writer.has_pending(),
            MessageOut::Samba { writer, .. } => writer.has_pending(),
        }
    }

    pub(crate) fn flush(&mut self, socket: &Socket) -> io::Result<()> {
        match self {
            MessageOut::Records(writer) => writer.flush(socket),
            MessageOut::Samba { writer, .. } => writer.flush(socket),
        }
    }

    pub(crate) fn check(&self, message: &[u8]) -> Result<(), Error> {
        match self {
            MessageOut::Records(writer) => writer.check(message),
            MessageOut::Samba { peer_max, .. } => SambaWriter::check(message, *peer_max),
        }
    }

    pub(crate) fn send(
        &mut self,
        message: &[u8],
        progress: &mut Progress,
        socket: &Socket,
    ) -> io::Result<()> {
        match self {
            MessageOut::Records(writer) => writer.send(message, progress, socket),
            MessageOut::Samba { writer, .. } => writer.send(message, progress, socket),
        }
    }

    pub(crate) fn keep_rest(&mut self, message: &[u8], progress: Progress) {
        match self {
            MessageOut::Records(writer) => writer.keep_rest(message, progress),
            MessageOut::Samba { writer, .. } => writer.keep_rest(message, progress),
        }
    }
}
