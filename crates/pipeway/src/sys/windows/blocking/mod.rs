//! The blocking face on Windows: listeners and streams on overlapped
//! handles, each operation waited for on the calling thread.
//!
//! | module | its one job |
//! |---|---|
//! | `endpoint` | what both stream types share: the handle, shutdowns, timeouts, drain |
//! | `byte_stream` | byte streams |
//! | `message_stream` | message streams: whole messages, kept whole across timeouts |
//! | this module | connecting (the listener is `listen::Listener`, both faces' own) |

mod byte_stream;
mod endpoint;
mod message_stream;

pub(crate) use byte_stream::ByteStream;
pub(crate) use message_stream::MessageStream;

use std::time::Duration;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, PipeMode};

use crate::sys::windows::connect::{ConnectPlan, Step, wait_for_instance};
use crate::sys::windows::instance::Connection;
use crate::sys::windows::listen::Listener;
/// The blocking face on Windows, as the backend contract (`crate::sys`) names it.
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
            match plan.step()? {
                Step::Connected(connection) => return Ok(connection),
                Step::Sleep(pause) => std::thread::sleep(pause),
                Step::WaitBusy(limit) => {
                    if wait_for_instance(plan.wide_path(), limit).is_err() {
                        // The pipe went away under the wait: look again soon.
                        std::thread::sleep(limit.min(Duration::from_millis(10)));
                    }
                }
            }
        }
    }
}
