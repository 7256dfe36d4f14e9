//! Byte streams on a blocking socket.

use std::io;
use std::sync::Mutex;

use crate::options::Operation;
use crate::sync::lock;

use crate::sys::unix::admit::Connection;
use crate::sys::unix::framing::RecordBuffer;
use crate::sys::unix::socket::Wire;

use super::endpoint::Endpoint;
use super::timed_out;

#[derive(Debug)]
pub(crate) struct ByteStream {
    endpoint: Endpoint,
    wire: Wire,
    /// The framed wire's partly read record; unused on the plain wire.
    records: Mutex<RecordBuffer>,
    budget: usize,
}

impl crate::sys::BlockingByteStream for ByteStream {
    type Connection = Connection;
    type Endpoint = Endpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let budget = connection.record_budget()?;
        let (endpoint, wire) = Endpoint::new(connection);
        Ok(Self {
            endpoint,
            wire,
            records: Mutex::new(RecordBuffer::default()),
            budget,
        })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Read)?;
        let socket = &self.endpoint.socket;
        let result = match self.wire {
            Wire::Plain | Wire::Samba => socket.recv(buf),
            Wire::Framed => lock(&self.records).read(buf, socket),
        };
        result.map_err(timed_out)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.may(Operation::Write)?;
        let socket = &self.endpoint.socket;
        let result = match self.wire {
            Wire::Plain | Wire::Samba => socket.send(buf),
            Wire::Framed => RecordBuffer::write(buf, self.budget, socket),
        };
        result.map_err(|err| self.endpoint.explain(err).into())
    }
}
