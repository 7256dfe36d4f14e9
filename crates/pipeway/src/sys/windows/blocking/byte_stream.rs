//! Byte streams on overlapped handles.

use std::io;

use crate::deadline::timed_out;
use crate::options::Operation;

use super::endpoint::Endpoint;
use crate::sys::windows::closing::write_shut;
use crate::sys::windows::instance::Connection;
use crate::sys::windows::message::{self};
use crate::sys::windows::overlapped::Outcome;

#[derive(Debug)]
pub(crate) struct ByteStream {
    endpoint: Endpoint,
}

impl crate::sys::BlockingByteStream for ByteStream {
    type Connection = Connection;
    type Endpoint = Endpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        Ok(Self {
            endpoint: Endpoint::new(connection)?,
        })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.endpoint.negotiated.may(Operation::Read)?;
        if buf.is_empty() {
            // A zero-length ReadFile on a pipe waits for data: answer at once.
            return Ok(0);
        }
        let Some(pipe) = self.endpoint.for_reading() else {
            return Ok(0);
        };
        match self.endpoint.read(&pipe, buf) {
            Outcome::Done(n) | Outcome::MoreData(n) | Outcome::Interrupted(n) => Ok(n),
            Outcome::TimedOut(0) => Err(timed_out()),
            Outcome::TimedOut(n) => Ok(n),
            Outcome::Failed(err) if message::is_closed(&err) => Ok(0),
            Outcome::Failed(err) => Err(err),
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.endpoint.negotiated.may(Operation::Write)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let pipe = self.endpoint.for_writing()?;
        match self.endpoint.write(&pipe, buf) {
            Outcome::Done(n) | Outcome::MoreData(n) => Ok(n),
            Outcome::TimedOut(0) => Err(timed_out()),
            Outcome::TimedOut(n) | Outcome::Interrupted(n) if n > 0 => Ok(n),
            Outcome::TimedOut(_) | Outcome::Interrupted(_) => Err(write_shut()),
            Outcome::Failed(err) => Err(message::write_error(err)),
        }
    }
}
