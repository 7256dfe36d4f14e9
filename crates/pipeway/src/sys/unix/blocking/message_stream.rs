//! Message streams on a blocking socket.

use std::io;
use std::net::Shutdown;
use std::sync::Mutex;

use crate::error::Error;
use crate::options::Operation;
use crate::sync::lock;

use crate::sys::unix::admit::Connection;
use crate::sys::unix::message_wire::{MessageIn, MessageOut};

use super::endpoint::Endpoint;
use super::{timed_out, timed_out_error};

#[derive(Debug)]
pub(crate) struct MessageStream {
    endpoint: Endpoint,
    reader: Mutex<MessageIn>,
    writer: Mutex<MessageOut>,
}

impl crate::sys::BlockingMessageStream for MessageStream {
    type Connection = Connection;
    type Endpoint = Endpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let budget = connection.record_budget()?;
        let (endpoint, wire) = Endpoint::new(connection);
        let limits = endpoint.negotiated.limits;
        Ok(Self {
            reader: Mutex::new(MessageIn::new(wire, limits.max)),
            writer: Mutex::new(MessageOut::new(wire, limits.peer_max, budget)),
            endpoint,
        })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.endpoint.may(Operation::Write)?;
        let socket = &self.endpoint.socket;
        // One sender at a time, for the whole message: records never interleave.
        let mut writer = lock(&self.writer);
        writer
            .flush(socket)
            .map_err(|err| self.endpoint.explain(err))?;
        writer.check(message)?;
        let mut progress = None;
        writer.send(message, &mut progress, socket).map_err(|err| {
            // A timeout part way: the rest goes out before the next message.
            writer.keep_rest(message, progress);
            self.endpoint.explain(err)
        })
    }

    fn flush(&self) -> Result<(), Error> {
        let socket = &self.endpoint.socket;
        lock(&self.writer)
            .flush(socket)
            .map_err(|e| Error::Io(timed_out(e)))
    }

    fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        let mut reader = lock(&self.reader);
        reader.recv(buf, socket).map_err(|err| {
            // The caller may come back with another buffer: keep what arrived.
            reader.detach(buf);
            timed_out_error(err)
        })
    }

    fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        lock(&self.reader).recv_vec(socket).map_err(timed_out_error)
    }

    /// Ends this end's stream of messages, after anything an interrupted send
    /// left (go-winio's `CloseWrite`).
    fn close_write(&self) -> Result<(), Error> {
        let socket = &self.endpoint.socket;
        let mut writer = lock(&self.writer);
        writer.flush(socket).map_err(timed_out)?;
        crate::sys::Endpoint::shutdown(&self.endpoint, Shutdown::Write)?;
        Ok(())
    }
}
