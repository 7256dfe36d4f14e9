//! Message mode, sending: a message split into records, and the rest of one
//! a timeout or a dropped future interrupted, sent before the next.

use std::io::{self, IoSlice};

use crate::error::Error;
use crate::messages::check_send;
use crate::wire::{continuation_payload, first_record_payload, message_header};

use super::RecordIo;

#[derive(Debug)]
pub(crate) struct MessageWriter {
    peer_max: usize,
    /// The payload of a record after the first (see [`continuation_payload`]).
    budget: usize,
    /// The largest record this end sends: what the first record's payload
    /// and header must fit in.
    record: usize,
    /// A small message's one record, header and payload, put together: one
    /// `send` of one buffer costs less than a gathering `sendmsg`.
    record_buf: Vec<u8>,
    /// The unsent rest of a message that a timeout (or a dropped tokio future)
    /// interrupted: sent before anything else, so the peer never sees half a
    /// message followed by another.
    pending: Option<(Vec<u8>, usize)>,
}

/// How much of a message has left: `None` before its first record (nothing
/// sent; the message can still be dropped whole), then the payload bytes sent.
pub(crate) type Progress = Option<usize>;

impl MessageWriter {
    pub(crate) fn new(peer_max: usize, budget: usize) -> Self {
        Self {
            peer_max,
            budget: continuation_payload(budget),
            record: budget,
            record_buf: Vec::new(),
            pending: None,
        }
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Sends what an interrupted message left unsent.
    pub(crate) fn flush(&mut self, mut io: impl RecordIo) -> io::Result<()> {
        while let Some((rest, sent)) = self.pending.as_mut() {
            let end = rest.len().min(*sent + self.budget);
            *sent += io.send_record(&[IoSlice::new(&rest[*sent..end])])?;
            if *sent >= rest.len() {
                self.pending = None;
            }
        }
        Ok(())
    }

    /// Refuses a message larger than the peer accepts, before anything is sent.
    pub(crate) fn check(&self, message: &[u8]) -> Result<(), Error> {
        check_send(message.len(), self.peer_max)
    }

    /// Sends `message` from `progress` on, advancing it record by record,
    /// until the message is out or a record cannot go. Call with nothing
    /// pending, after [`check`](Self::check).
    pub(crate) fn send(
        &mut self,
        message: &[u8],
        progress: &mut Progress,
        mut io: impl RecordIo,
    ) -> io::Result<()> {
        debug_assert!(self.pending.is_none(), "flush before sending a message");
        loop {
            match *progress {
                None => {
                    let first = first_record_payload(message.len(), self.record);
                    self.record_buf.clear();
                    self.record_buf
                        .extend_from_slice(&message_header(message.len() as u64));
                    self.record_buf.extend_from_slice(&message[..first]);
                    io.send_record(&[IoSlice::new(&self.record_buf)])?;
                    *progress = Some(first);
                }
                Some(sent) if sent >= message.len() => return Ok(()),
                Some(sent) => {
                    let end = message.len().min(sent + self.budget);
                    let n = io.send_record(&[IoSlice::new(&message[sent..end])])?;
                    *progress = Some(sent + n);
                }
            }
        }
    }

    /// Keeps the unsent rest of a message that stopped part way, to go out
    /// with the next [`flush`](Self::flush). A message not begun is dropped
    /// whole, as if never sent.
    pub(crate) fn keep_rest(&mut self, message: &[u8], progress: Progress) {
        if let Some(sent) = progress {
            if sent < message.len() {
                self.pending = Some((message[sent..].to_vec(), 0));
            }
        }
    }
}
