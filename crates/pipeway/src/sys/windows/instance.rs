//! Pipe instances: how a listener creates each one (`CreateNamedPipeW` with
//! its mode, direction, limits and security descriptor), and the handle and
//! instance slot each end of a connection holds.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::path::PathBuf;
use std::sync::Arc;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX, PIPE_ACCESS_INBOUND,
    PIPE_ACCESS_OUTBOUND,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, PIPE_ACCEPT_REMOTE_CLIENTS, PIPE_READMODE_BYTE, PIPE_READMODE_MESSAGE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES,
    PIPE_WAIT,
};

use crate::error::Error;
use crate::gate::Permit;
use crate::name::PipeName;
use crate::negotiated::Negotiated;
use crate::options::{Direction, ListenOptions, PipeMode};

use super::access::{self, ResolvedAccess};
use super::security::SecurityDescriptor;
use super::win::{ERROR_ACCESS_DENIED, Event, is, owned, raw, wide};

/// The buffer size a listener asks for when the options do not say.
pub(crate) const DEFAULT_BUFFER_SIZE: u32 = 64 * 1024;

/// One instance's place in its listener's count. Dropped after the handle
/// closes: frees the place, then wakes the listener to make a new instance.
#[derive(Debug)]
pub(crate) struct InstanceSlot {
    permit: Option<Permit>,
    wake: Option<Arc<Event>>,
}

impl InstanceSlot {
    pub(crate) fn new(permit: Option<Permit>, wake: Option<Arc<Event>>) -> Self {
        Self { permit, wake }
    }
}

impl Drop for InstanceSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Some(wake) = &self.wake {
            wake.set();
        }
    }
}

/// An open pipe handle, either end of one instance, with the instance slot
/// a server end holds. Dropping it closes the handle, then frees the slot.
#[derive(Debug)]
pub(crate) struct PipeHandle {
    // Field order is drop order: the handle closes before the slot frees.
    handle: OwnedHandle,
    slot: Option<InstanceSlot>,
}

impl PipeHandle {
    pub(crate) fn new(handle: OwnedHandle, slot: Option<InstanceSlot>) -> Self {
        Self { handle, slot }
    }

    pub(crate) fn raw(&self) -> HANDLE {
        raw(&self.handle)
    }

    /// The handle and the slot, to hand the handle to tokio.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (OwnedHandle, Option<InstanceSlot>) {
        (self.handle, self.slot)
    }
}

/// A connected end of a pipe before it takes the shape of a stream type:
/// what accepting and connecting both produce.
#[derive(Debug)]
pub(crate) struct Connection {
    pub pipe: Arc<PipeHandle>,
    pub mode: PipeMode,
    /// Native pipes carry no handshake: the peer is taken to accept what
    /// this end accepts.
    pub negotiated: Negotiated,
    /// go-winio's convention: an empty message ends the stream.
    pub empty_message_ends_stream: bool,
}

/// Everything `CreateNamedPipeW` needs for each instance of one listener.
#[derive(Debug)]
pub(crate) struct InstanceConfig {
    pub name: PipeName,
    /// `\\.\pipe\name`.
    pub path: PathBuf,
    wide_path: Vec<u16>,
    pub mode: PipeMode,
    pub direction: Direction,
    pub access: ResolvedAccess,
    security: SecurityDescriptor,
    open_mode: u32,
    pipe_mode: u32,
    max_instances: u32,
    in_buffer: u32,
    out_buffer: u32,
}

impl InstanceConfig {
    pub(crate) fn new(
        name: PipeName,
        options: &ListenOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        let path = name.local_path()?.to_owned();
        let max_instances = match options.max_instances {
            Some(0) => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "max_instances must be at least 1",
                )));
            }
            // Windows counts to 254; past that the limit is pipeway's alone.
            Some(n) if n < PIPE_UNLIMITED_INSTANCES as usize => n as u32,
            _ => PIPE_UNLIMITED_INSTANCES,
        };
        let access = access::resolve(&options.access)?;
        let sddl = match &options.windows.security_descriptor {
            Some(sddl) => sddl.clone(),
            None => access::sddl(&access),
        };
        let security = SecurityDescriptor::from_sddl(&sddl)?;
        let open_mode = FILE_FLAG_OVERLAPPED
            | match options.direction {
                Direction::Duplex => PIPE_ACCESS_DUPLEX,
                Direction::Inbound => PIPE_ACCESS_INBOUND,
                Direction::Outbound => PIPE_ACCESS_OUTBOUND,
            };
        let remote = if options.windows.accept_remote_clients {
            PIPE_ACCEPT_REMOTE_CLIENTS
        } else {
            PIPE_REJECT_REMOTE_CLIENTS
        };
        let pipe_mode = PIPE_WAIT
            | remote
            | match mode {
                PipeMode::Byte => PIPE_TYPE_BYTE | PIPE_READMODE_BYTE,
                PipeMode::Message => PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE,
            };
        let buffer = |size: Option<usize>| {
            size.map_or(DEFAULT_BUFFER_SIZE, |s| s.min(u32::MAX as usize) as u32)
        };
        Ok(Self {
            wide_path: wide(&path),
            path,
            name,
            mode,
            direction: options.direction,
            access,
            security,
            open_mode,
            pipe_mode,
            max_instances,
            in_buffer: buffer(options.in_buffer_size),
            out_buffer: buffer(options.out_buffer_size),
        })
    }

    /// The SDDL of the descriptor every instance gets.
    pub(crate) fn sddl(&self) -> &str {
        self.security.sddl()
    }

    /// Creates one instance. `first`: fail if the name exists at all.
    pub(crate) fn create(&self, first: bool) -> io::Result<OwnedHandle> {
        let attributes = self.security.attributes();
        let open_mode = if first {
            self.open_mode | FILE_FLAG_FIRST_PIPE_INSTANCE
        } else {
            self.open_mode
        };
        // SAFETY: the name is NUL-terminated and `attributes` points at the
        // descriptor `self` owns, both alive for the call; the handle is
        // checked and owned at once.
        let handle = unsafe {
            CreateNamedPipeW(
                self.wide_path.as_ptr(),
                open_mode,
                self.pipe_mode,
                self.max_instances,
                self.out_buffer,
                self.in_buffer,
                0,
                &attributes,
            )
        };
        owned(handle)
    }

    /// The error for a failed first instance. `ERROR_ACCESS_DENIED` with
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE` means the name is taken.
    pub(crate) fn bind_error(&self, err: io::Error, first_instance: bool) -> Error {
        if !is(&err, ERROR_ACCESS_DENIED) {
            return Error::Io(io::Error::new(
                err.kind(),
                format!("cannot create the pipe {}: {err}", self.path.display()),
            ));
        }
        if first_instance {
            Error::AlreadyExists {
                name: self.name.to_string(),
                path: self.path.clone(),
            }
        } else {
            Error::InUse {
                name: self.name.to_string(),
                holder: "another server (Windows tells a pipe's server pid only to a connected \
                         client: connect and look at the peer)"
                    .into(),
            }
        }
    }
}
