//! Message streams with tokio: whole messages, cancel safe.

use std::io;
use std::net::Shutdown;

use crate::error::Error;
use crate::options::Operation;

use super::endpoint::AsyncEndpoint;
use crate::sys::prelude::tokio::*;
use crate::sys::unix::admit::Connection;
use crate::sys::unix::message_wire::{MessageIn, MessageOut, Progress};

/// A message send in progress. While the send runs, the unsent rest stays
/// in the caller's message; only if the future is dropped part way does it
/// get copied into the writer, to go out before the next message.
struct Sending<'a> {
    writer: &'a mut MessageOut,
    message: &'a [u8],
    progress: Progress,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.writer.keep_rest(self.message, self.progress);
    }
}

/// A message receive in progress into the caller's buffer. If the future is
/// dropped part way, what arrived is moved into the reader for the next call.
struct Receiving<'a> {
    reader: &'a mut MessageIn,
    buf: &'a mut [u8],
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.reader.detach(self.buf);
    }
}

#[derive(Debug)]
pub(crate) struct AsyncMessageStream {
    endpoint: AsyncEndpoint,
    reader: ::tokio::sync::Mutex<MessageIn>,
    writer: ::tokio::sync::Mutex<MessageOut>,
}

impl AsyncMessageStream {
    async fn flush_locked(&self, writer: &mut MessageOut) -> Result<(), Error> {
        if !writer.has_pending() {
            return Ok(());
        }
        self.endpoint
            .when_writable(|socket| writer.flush(socket).map_err(Error::Io))
            .await
            .map_err(|err| self.endpoint.explain(err))
    }
}

impl crate::sys::AsyncMessageStream for AsyncMessageStream {
    type Connection = Connection;
    type Endpoint = AsyncEndpoint;

    fn from_connection(connection: Connection) -> io::Result<Self> {
        let budget = connection.record_budget()?;
        let (endpoint, wire) = AsyncEndpoint::new(connection)?;
        let limits = endpoint.negotiated.limits;
        Ok(Self {
            reader: ::tokio::sync::Mutex::new(MessageIn::new(wire, limits.max)),
            writer: ::tokio::sync::Mutex::new(MessageOut::new(wire, limits.peer_max, budget)),
            endpoint,
        })
    }

    fn endpoint(&self) -> &AsyncEndpoint {
        &self.endpoint
    }

    /// Cancel safe in the sense that matters: if the future is dropped after
    /// the first record left, the rest of the message is kept and goes out
    /// before the next message, so the peer never sees a torn message.
    async fn send(&self, message: &[u8]) -> Result<(), Error> {
        self.endpoint.may(Operation::Write)?;
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await?;
        writer.check(message)?;
        let mut sending = Sending {
            writer: &mut writer,
            message,
            progress: None,
        };
        self.endpoint
            .when_writable(|socket| {
                sending
                    .writer
                    .send(sending.message, &mut sending.progress, socket)
                    .map_err(Error::Io)
            })
            .await
            .map_err(|err| self.endpoint.explain(err))
    }

    async fn flush(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await
    }

    /// Cancel safe: records already taken from the socket stay in the reader.
    async fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reader = self.reader.lock().await;
        let receiving = Receiving {
            reader: &mut reader,
            buf,
        };
        self.endpoint
            .when_readable(|socket| receiving.reader.recv(receiving.buf, socket))
            .await
    }

    async fn recv_vec(&self) -> Result<Option<Vec<u8>>, Error> {
        self.endpoint.may(Operation::Read)?;
        let mut reader = self.reader.lock().await;
        self.endpoint
            .when_readable(|socket| reader.recv_vec(socket))
            .await
    }

    async fn close_write(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock().await;
        self.flush_locked(&mut writer).await?;
        self.endpoint.shutdown(Shutdown::Write)?;
        Ok(())
    }
}
