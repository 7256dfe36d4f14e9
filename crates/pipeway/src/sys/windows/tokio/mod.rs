//! The tokio face on Windows. Listening is the shared acceptor thread
//! (`listen`); connecting is the shared plan (`connect`), waiting with tokio
//! timers. Byte streams are tokio's own named pipes
//! (`tokio::net::windows::named_pipe`), on the handles pipeway opened.
//! Message streams do what tokio's pipes do not (whole messages,
//! `ERROR_MORE_DATA`, `BufferTooSmall`) with overlapped operations whose
//! completion wakes the task (`async_wait`).
//!
//! | module | its one job |
//! |---|---|
//! | `byte_stream` | byte streams: tokio's pipes on pipeway's handles |
//! | `message_stream` | message streams: overlapped operations that wake their task |
//! | this module | connecting, draining (the listener is `listen::Listener`, both faces' own) |

mod byte_stream;
mod message_stream;

pub(crate) use byte_stream::AsyncByteStream;
pub(crate) use message_stream::AsyncMessageStream;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, PipeMode};

use crate::sys::windows::connect::{ConnectPlan, Step, wait_for_instance};
use crate::sys::windows::drain::{self, OpenPipe};
use crate::sys::windows::instance::Connection;
use crate::sys::windows::listen::Listener;
/// The longest one wait for a busy pipe's instance lasts on a blocking
/// thread: how long a dropped connect may leave one behind.
const BUSY_WAIT_SLICE: Duration = Duration::from_millis(250);

/// The tokio face on Windows, as the backend contract (`crate::sys`) names it.
pub(crate) enum Face {}

impl crate::sys::TokioFace for Face {
    type Connection = Connection;
    type Listener = Listener;
    type ByteStream = AsyncByteStream;
    type MessageStream = AsyncMessageStream;

    async fn connect(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Connection, Error> {
        let mut plan = ConnectPlan::new(name, options, mode)?;
        loop {
            match plan.step()? {
                Step::Connected(connection) => return Ok(connection),
                Step::Sleep(pause) => ::tokio::time::sleep(pause).await,
                Step::WaitBusy(limit) => {
                    let path = plan.wide_path().to_vec();
                    let limit = limit.min(BUSY_WAIT_SLICE);
                    let waited =
                        ::tokio::task::spawn_blocking(move || wait_for_instance(&path, limit))
                            .await;
                    if !matches!(waited, Ok(Ok(_))) {
                        ::tokio::time::sleep(limit.min(Duration::from_millis(10))).await;
                    }
                }
            }
        }
    }
}

/// `FlushFileBuffers` blocks: it runs on tokio's blocking threads, and
/// stops itself at the timeout (see `drain`).
pub(super) async fn drain_on_blocking_thread<P: OpenPipe>(
    pipe: Arc<P>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    ::tokio::task::spawn_blocking(move || drain::wait_for_drain(pipe, timeout))
        .await
        .map_err(io::Error::other)?
}
