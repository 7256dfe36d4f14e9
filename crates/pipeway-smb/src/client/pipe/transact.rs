//! Transact: a request and its reply in one round trip
//! (FSCTL_PIPE_TRANSCEIVE), or a send and a receive when a READ is held.

use std::sync::atomic::Ordering;
use std::task::{Poll, ready};
use std::time::Instant;

use super::{Pipe, READ_CHUNK, lock};
use crate::client::SAMBA_MAX_MESSAGE;
use crate::client::conn::{RequestHead, Ticket};
use crate::client::error::Error;
use crate::client::wait::{Wait, block_on};
use crate::client::wire::header::Command;
use crate::client::wire::messages::{
    FSCTL_PIPE_TRANSCEIVE, decode_ioctl_response, decode_read_response, ioctl_request_head,
    read_request,
};
use crate::client::wire::status;

impl Pipe {
    /// Writes `request` and reads the reply message in one round trip
    /// (FSCTL_PIPE_TRANSCEIVE); a reply longer than one response is
    /// completed with READs.
    ///
    /// If a READ is already held at the host (a receive that timed out or
    /// was given up on) or messages wait unread, the transact is a send and
    /// a receive instead: the host would hand the reply to the held READ
    /// (Samba does not cancel READs on pipes), and a Windows host refuses
    /// a transceive while data waits. What comes first is the reply, as
    /// with a send and a receive on a local pipe.
    pub fn poll_transact(
        &self,
        op: &mut Transact,
        request: &[u8],
        wait: &mut Wait<'_, '_>,
    ) -> Poll<Result<Vec<u8>, Error>> {
        if request.len() > SAMBA_MAX_MESSAGE {
            return Poll::Ready(Err(Error::MessageTooLong {
                len: request.len(),
                max: SAMBA_MAX_MESSAGE,
            }));
        }
        loop {
            match op.stage {
                Stage::Start => {
                    let r = lock(&self.reads);
                    let busy = r.outstanding.is_some() || !r.messages.is_empty();
                    op.stage = if busy { Stage::Send } else { Stage::Ioctl };
                }
                Stage::Send => {
                    ready!(self.poll_send(&mut op.ticket, request, wait))?;
                    op.stage = Stage::Receive;
                }
                Stage::Receive => {
                    let reply = ready!(self.poll_recv(wait))?;
                    return Poll::Ready(reply.ok_or_else(|| {
                        Error::from_status(
                            self.host(),
                            format!("TRANSCEIVE {}", self.name),
                            status::PIPE_DISCONNECTED,
                        )
                    }));
                }
                Stage::Ioctl => {
                    let max_out = (self.session.info.max_transact as usize)
                        .min(self.read_size.load(Ordering::Relaxed));
                    let head = RequestHead::new(Command::Ioctl, self.session.tree_id)
                        .payload(request.len().max(max_out));
                    let fixed = ioctl_request_head(
                        FSCTL_PIPE_TRANSCEIVE,
                        &self.file_id,
                        request.len() as u32,
                        max_out as u32,
                    );
                    let resp = ready!(self.session.poll_request(
                        wait,
                        &mut op.ticket,
                        head,
                        &[&fixed, request]
                    ))?;
                    match resp.status() {
                        code @ (status::SUCCESS | status::BUFFER_OVERFLOW) => {
                            let out = decode_ioctl_response(&resp.message)
                                .map_err(|e| Error::from_decode(self.host(), e))?;
                            op.reply.extend_from_slice(out);
                            if code == status::SUCCESS {
                                return Poll::Ready(Ok(std::mem::take(&mut op.reply)));
                            }
                            op.stage = Stage::Rest;
                        }
                        code => {
                            return Poll::Ready(Err(Error::from_status(
                                self.host(),
                                format!("TRANSCEIVE {}", self.name),
                                code,
                            )));
                        }
                    }
                }
                Stage::Rest => {
                    let len = READ_CHUNK;
                    let head = RequestHead::new(Command::Read, self.session.tree_id).payload(len);
                    let resp = ready!(self.session.poll_request(
                        wait,
                        &mut op.ticket,
                        head,
                        &[&read_request(&self.file_id, len as u32)]
                    ))?;
                    match resp.status() {
                        code @ (status::SUCCESS | status::BUFFER_OVERFLOW) => {
                            let data = decode_read_response(&resp.message)
                                .map_err(|e| Error::from_decode(self.host(), e))?;
                            op.reply.extend_from_slice(data);
                            if code == status::SUCCESS {
                                return Poll::Ready(Ok(std::mem::take(&mut op.reply)));
                            }
                        }
                        code => {
                            return Poll::Ready(Err(Error::from_status(
                                self.host(),
                                format!("READ {}", self.name),
                                code,
                            )));
                        }
                    }
                }
            }
        }
    }

    /// Blocking [`poll_transact`](Self::poll_transact).
    pub fn transact(&self, request: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, Error> {
        let mut op = Transact::default();
        block_on(deadline, |w| self.poll_transact(&mut op, request, w))
    }
}

/// The state of one transact between polls.
#[derive(Debug, Default)]
pub struct Transact {
    stage: Stage,
    ticket: Option<Ticket>,
    reply: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Start,
    Send,
    Receive,
    Ioctl,
    Rest,
}
