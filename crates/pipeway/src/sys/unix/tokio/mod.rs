//! The tokio face on Unix: the same sockets, non-blocking, inside `AsyncFd`.
//! Every rule (admission, connecting, framing) is the shared code the
//! blocking face uses; only the waiting differs.
//!
//! | module | its one job |
//! |---|---|
//! | `listener` | accepting: straight from the kernel, or ahead of `accept` on the framed wire or with SMB clients served |
//! | `endpoint` | what both stream types share: readiness, direction, drain |
//! | `byte_stream` | byte streams (`AsyncRead`/`AsyncWrite`) |
//! | `message_stream` | message streams, cancel safe |
//! | this module | registering sockets, and connecting |

mod byte_stream;
mod endpoint;
mod listener;
mod message_stream;

pub(crate) use byte_stream::AsyncByteStream;
pub(crate) use listener::AsyncListener;
pub(crate) use message_stream::AsyncMessageStream;

use std::io;

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, PipeMode};

use super::admit::Connection;
use super::connect::{ConnectPlan, HelloResult, Step};
use super::socket::{Socket, Wire};

/// Registers `socket` with the current tokio reactor.
pub(super) fn register(socket: Socket, interest: Interest) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its descriptor as an `OwnedFd`, never swaps it for
    // another and closes it only on drop, so `as_raw_fd` names the same open
    // file for the whole life of the `AsyncFd`, as registration requires.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(|err| err.into_parts().1)
}

// ---------------------------------------------------------------------------
// Connecting.

/// The tokio face on Unix, as the backend contract (`crate::sys`) names it.
pub(crate) enum Face {}

impl crate::sys::TokioFace for Face {
    type Connection = Connection;
    type Listener = AsyncListener;
    type ByteStream = AsyncByteStream;
    type MessageStream = AsyncMessageStream;

    async fn connect(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Connection, Error> {
        let mut plan = ConnectPlan::new(name, options, mode)?;
        loop {
            let (socket, wire, peer) = loop {
                match plan.step()? {
                    Step::Connected(socket, wire, peer) => break (socket, wire, peer),
                    Step::Sleep(pause) => ::tokio::time::sleep(pause).await,
                }
            };
            if wire == Wire::Plain {
                return plan.finish(socket, wire, peer, None);
            }
            let fd = register(socket, Interest::READABLE)?;
            match wait_for_hello(&mut plan, &fd).await? {
                Some(HelloResult::Hello(hello)) => {
                    return plan.finish(fd.into_inner(), wire, peer, Some(hello));
                }
                Some(HelloResult::Retry) => continue,
                None => return Err(plan.busy()),
            }
        }
    }
}

async fn wait_for_hello(
    plan: &mut ConnectPlan,
    fd: &AsyncFd<Socket>,
) -> Result<Option<HelloResult>, Error> {
    loop {
        let readable = fd.readable();
        let mut ready = match plan.remaining() {
            Some(remaining) => match ::tokio::time::timeout(remaining, readable).await {
                Ok(ready) => ready?,
                Err(_elapsed) => return Ok(None),
            },
            None => readable.await?,
        };
        match plan.try_read_hello(fd.get_ref())? {
            Some(result) => return Ok(Some(result)),
            None => ready.clear_ready(),
        }
    }
}
