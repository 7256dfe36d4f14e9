//! What both blocking stream types share: the pipe handle, shutdowns that
//! interrupt waiting operations, timeouts, and the drain.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use windows_sys::Win32::System::Pipes::GetNamedPipeInfo;

use crate::negotiated::Negotiated;
use crate::options::PipeMode;
use crate::sync::lock;

use crate::sys::windows::closing::{disconnected, no_close_write, no_half_close, write_shut};
use crate::sys::windows::drain;
use crate::sys::windows::instance::{Connection, PipeHandle};
use crate::sys::windows::overlapped::{self, Outcome};
use crate::sys::windows::win::{Event, last_error};

/// The (in, out) buffer sizes of the pipe `pipe` is an end of.
pub(crate) fn buffer_sizes(pipe: &PipeHandle) -> io::Result<(usize, usize)> {
    let (mut out, mut inn) = (0u32, 0u32);
    // SAFETY: `pipe` is open; the out pointers are valid, the rest null.
    let ok = unsafe {
        GetNamedPipeInfo(
            pipe.raw(),
            std::ptr::null_mut(),
            &mut out,
            &mut inn,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok((inn as usize, out as usize))
}

/// A shutdown of one direction: a flag to look at without a system call,
/// and an event that interrupts the operations waiting in that direction.
#[derive(Debug)]
pub(super) struct Shut {
    flag: AtomicBool,
    event: Event,
}

impl Shut {
    fn new() -> io::Result<Self> {
        Ok(Self {
            flag: AtomicBool::new(false),
            event: Event::manual()?,
        })
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.event.set();
    }

    pub(super) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(super) fn event(&self) -> &Event {
        &self.event
    }
}

/// The parts of a connected pipe that do not depend on its mode.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `None` once disconnected: the handle closes when the last operation
    /// using it returns.
    pub(super) pipe: Mutex<Option<Arc<PipeHandle>>>,
    /// Set by shutdowns; they interrupt the operations waiting on them.
    pub(super) shut_read: Shut,
    pub(super) shut_write: Shut,
    pub(super) read_timeout: Mutex<Option<Duration>>,
    pub(super) write_timeout: Mutex<Option<Duration>>,
    pub(super) mode: PipeMode,
    pub(super) negotiated: Negotiated,
}

impl Endpoint {
    pub(super) fn new(connection: Connection) -> io::Result<Self> {
        Ok(Self {
            pipe: Mutex::new(Some(connection.pipe)),
            shut_read: Shut::new()?,
            shut_write: Shut::new()?,
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
            mode: connection.mode,
            negotiated: connection.negotiated,
        })
    }

    /// The pipe, for one read; `None` once reads are shut down.
    pub(super) fn for_reading(&self) -> Option<Arc<PipeHandle>> {
        if self.shut_read.is_set() {
            return None;
        }
        lock(&self.pipe).clone()
    }

    /// The pipe, for one write.
    pub(super) fn for_writing(&self) -> io::Result<Arc<PipeHandle>> {
        if self.shut_write.is_set() {
            return Err(write_shut());
        }
        lock(&self.pipe).clone().ok_or_else(disconnected)
    }

    pub(super) fn read(&self, pipe: &PipeHandle, buf: &mut [u8]) -> Outcome {
        let timeout = *lock(&self.read_timeout);
        overlapped::read(pipe.raw(), buf, Some(self.shut_read.event()), timeout)
    }

    pub(super) fn write(&self, pipe: &PipeHandle, buf: &[u8]) -> Outcome {
        let timeout = *lock(&self.write_timeout);
        overlapped::write(pipe.raw(), buf, Some(self.shut_write.event()), timeout)
    }
}

impl crate::sys::BlockingEndpoint for Endpoint {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *lock(&self.read_timeout) = timeout;
        Ok(())
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *lock(&self.write_timeout) = timeout;
        Ok(())
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*lock(&self.read_timeout))
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*lock(&self.write_timeout))
    }

    fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        buffer_sizes(&pipe)
    }

    fn wait_for_drain(&self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.negotiated.direction.writes(self.negotiated.end) {
            return Ok(());
        }
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        drain::wait_for_drain(pipe, timeout)
    }
}

impl crate::sys::Endpoint for Endpoint {
    fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// `Read` ends reads here; `Both` also ends writes and closes the handle
    /// (gracefully: the peer reads what was written, then end-of-file).
    /// `Write` alone has no Windows equivalent.
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Read => self.shut_read.set(),
            Shutdown::Write => {
                return Err(match self.mode {
                    PipeMode::Byte => no_half_close(),
                    PipeMode::Message => no_close_write(),
                });
            }
            Shutdown::Both => {
                self.shut_read.set();
                self.shut_write.set();
                lock(&self.pipe).take();
            }
        }
        Ok(())
    }

    fn impersonate_client(&self) -> io::Result<crate::sys::Impersonation> {
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        crate::sys::windows::identity::impersonate(pipe.raw())
    }

    fn info(&self) -> io::Result<crate::PipeInfo> {
        let pipe = lock(&self.pipe).clone().ok_or_else(disconnected)?;
        crate::sys::windows::connect::info_of(pipe.raw(), &self.negotiated)
    }

    fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
        lock(&self.pipe)
            .as_ref()
            .map_or(std::ptr::null_mut(), |pipe| pipe.raw() as _)
    }
}
