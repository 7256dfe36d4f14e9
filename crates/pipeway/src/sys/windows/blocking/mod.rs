//! The blocking face on Windows: listeners and streams on overlapped
//! handles, each operation waited for on the calling thread.
//!
//! | module | its one job |
//! |---|---|
//! | `endpoint` | what both stream types share: the handle, shutdowns, timeouts, drain |
//! | `byte_stream` | byte streams |
//! | `message_stream` | message streams: whole messages, kept whole across timeouts |
//! | this module | the listener (the shared acceptor thread) and connecting |

mod byte_stream;
mod endpoint;
mod message_stream;

pub(crate) use byte_stream::ByteStream;
pub(crate) use message_stream::MessageStream;

use std::io;
use std::time::Duration;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::{ConnectOptions, ListenOptions, PipeMode};

use crate::sys::windows::connect::{ConnectPlan, Step, wait_for_instance};
use crate::sys::windows::instance::Connection;
use crate::sys::windows::listen::ListenerCore;
#[derive(Debug)]
pub(crate) struct Listener {
    core: ListenerCore,
}

impl Listener {
    pub(crate) fn sddl(&self) -> &str {
        self.core.sddl()
    }
}

impl crate::sys::BlockingListener for Listener {
    type Connection = Connection;

    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error> {
        Ok(Self {
            core: ListenerCore::bind(name, options, mode)?,
        })
    }

    fn accept(&self) -> Result<Connection, Error> {
        self.core.accept()
    }

    fn shutdown(&self) -> io::Result<()> {
        self.core.shutdown();
        Ok(())
    }

    fn name(&self) -> &PipeName {
        self.core.name()
    }
}

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
