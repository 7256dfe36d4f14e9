//! The blocking face on Unix: listeners and streams on blocking sockets.
//!
//! | module | its one job |
//! |---|---|
//! | `listener` | accepting: straight from the kernel, or ahead of `accept` on the framed wire or with SMB clients served |
//! | `endpoint` | what both stream types share: timeouts, direction, drain |
//! | `byte_stream` | byte streams |
//! | `message_stream` | message streams |
//! | this module | connecting, and a socket timeout as the caller sees it |

mod byte_stream;
mod endpoint;
mod listener;
mod message_stream;

pub(crate) use byte_stream::ByteStream;
pub(crate) use listener::Listener;
pub(crate) use message_stream::MessageStream;

use std::io;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, PipeMode};

use crate::sys::unix::admit::Connection;
use crate::sys::unix::connect::{ConnectPlan, HelloResult, Step};
use crate::sys::unix::socket::{Socket, Wire};

/// The blocking face on Unix, as the backend contract (`crate::sys`) names it.
pub(crate) enum Face {}

impl crate::sys::BlockingFace for Face {
    type Connection = Connection;
    type Listener = Listener;
    type ByteStream = ByteStream;
    type MessageStream = MessageStream;

    fn connect(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Connection, Error> {
        let mut plan = ConnectPlan::new(name, options, mode)?;
        loop {
            let (socket, wire, peer) = loop {
                match plan.step()? {
                    Step::Connected(socket, wire, peer) => break (socket, wire, peer),
                    Step::Sleep(pause) => std::thread::sleep(pause),
                }
            };
            let hello = match wire {
                Wire::Plain | Wire::Samba => None,
                Wire::Framed => match wait_for_hello(&mut plan, &socket)? {
                    Some(HelloResult::Hello(hello)) => Some(hello),
                    Some(HelloResult::Retry) => continue,
                    None => return Err(plan.busy()),
                },
            };
            socket.set_nonblocking(false)?;
            return plan.finish(socket, wire, peer, hello);
        }
    }
}

/// Waits, without spinning, for the server to admit this client. `None`: the
/// deadline passed first (every instance stayed busy).
fn wait_for_hello(plan: &mut ConnectPlan, socket: &Socket) -> Result<Option<HelloResult>, Error> {
    loop {
        if let Some(result) = plan.try_read_hello(socket)? {
            return Ok(Some(result));
        }
        let timeout = match plan.remaining() {
            Some(Duration::ZERO) => return Ok(None),
            Some(remaining) => {
                Some(rustix::event::Timespec::try_from(remaining).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "connect timeout out of range")
                })?)
            }
            None => None,
        };
        let mut fds = [PollFd::new(socket, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(err) => return Err(Error::Io(err.into())),
        }
    }
}

// ---------------------------------------------------------------------------
// What both stream types share.

/// A blocking socket's timeout shows as `WouldBlock`; callers asked for a
/// deadline, so they get `TimedOut`.
pub(super) fn timed_out(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::WouldBlock {
        crate::deadline::timed_out()
    } else {
        err
    }
}

pub(super) fn timed_out_error(err: Error) -> Error {
    match err {
        Error::Io(err) => Error::Io(timed_out(err)),
        other => other,
    }
}
