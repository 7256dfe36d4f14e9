//! Connecting to a pipe: a client waits, up to its timeout, for a pipe that
//! does not exist yet (polling, with a pause that doubles up to 50 ms) or is
//! busy (`WaitNamedPipeW`, which wakes when an instance frees, no polling);
//! then, before a byte goes either way, it checks who owns the pipe, its
//! mode and its direction.
//!
//! [`ConnectPlan`] holds every rule; the blocking and tokio faces only differ
//! in how they sleep and wait between attempts.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::sync::Arc;
use std::time::Duration;

use windows_sys::Wdk::Storage::FileSystem::{
    FILE_PIPE_FULL_DUPLEX, FILE_PIPE_INBOUND, FILE_PIPE_LOCAL_INFORMATION, FILE_PIPE_MESSAGE_TYPE,
    FilePipeLocalInformation, NtQueryInformationFile,
};
use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, HANDLE, RtlNtStatusToDosError};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_OVERLAPPED, FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES, OPEN_EXISTING,
    SECURITY_ANONYMOUS, SECURITY_DELEGATION, SECURITY_IDENTIFICATION, SECURITY_IMPERSONATION,
    SECURITY_SQOS_PRESENT, SYNCHRONIZE,
};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;
use windows_sys::Win32::System::Pipes::{
    PIPE_READMODE_MESSAGE, SetNamedPipeHandleState, WaitNamedPipeW,
};

use crate::access::Account;
use crate::error::Error;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{ConnectOptions, Direction, End, PipeMode};
use crate::trust::Trusted;
use crate::wait::{ConnectWait, Waiting};
use crate::windows::ImpersonationLevel;

use super::accounts::{self, ADMINISTRATORS_SID, SYSTEM_SID, Sid};
use super::identity;
use super::instance::{Connection, PipeHandle};

use super::win::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT, is, last_error,
    millis, os_error, owned, wide,
};

/// What the face should do next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Connected and checked.
    Connected(Connection),
    /// The pipe does not exist: sleep this long, then step again.
    Sleep(Duration),
    /// The pipe is busy: wait for a free instance ([`wait_for_instance`])
    /// at most this long, then step again.
    WaitBusy(Duration),
}

/// How a client asks for each direction: the rights it needs to use it,
/// plus what it needs to query the pipe (`FILE_READ_ATTRIBUTES`) and to set
/// message read mode (`FILE_WRITE_ATTRIBUTES`). `GENERIC_READ` and
/// `GENERIC_WRITE` include `READ_CONTROL`, needed to read the pipe's owner.
fn access_for(direction: Direction) -> u32 {
    match direction {
        Direction::Duplex => GENERIC_READ | GENERIC_WRITE,
        // The client writes, the server reads.
        Direction::Inbound => GENERIC_WRITE | FILE_READ_ATTRIBUTES,
        // The server writes, the client reads.
        Direction::Outbound => GENERIC_READ | FILE_WRITE_ATTRIBUTES,
    }
}

/// The flags a client's open uses: overlapped I/O, and how far the server
/// may act as the client (by default identification: the server may learn
/// who the client is, but not act as it; Windows' own default would let it).
fn open_flags(level: ImpersonationLevel) -> u32 {
    FILE_FLAG_OVERLAPPED
        | SECURITY_SQOS_PRESENT
        | match level {
            ImpersonationLevel::Anonymous => SECURITY_ANONYMOUS,
            ImpersonationLevel::Identification => SECURITY_IDENTIFICATION,
            ImpersonationLevel::Impersonation => SECURITY_IMPERSONATION,
            ImpersonationLevel::Delegation => SECURITY_DELEGATION,
        }
}

#[derive(Debug)]
pub(crate) struct ConnectPlan {
    wait: ConnectWait,
    wide_path: Vec<u16>,
    mode: PipeMode,
    requested_direction: Option<Direction>,
    trusted: Trusted<Sid>,
    max_message: usize,
    empty_message_ends_stream: bool,
    open_flags: u32,
}

impl ConnectPlan {
    pub(crate) fn new(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        let trusted = Trusted::resolve(
            &options.server,
            || Ok(Sid(accounts::current_user_sid()?)),
            |account| match account {
                Account::Name(name) => accounts::sid_of(name)?
                    .map(Sid)
                    .ok_or_else(|| Error::UnknownUser(name.clone())),
                Account::Id(id) => Err(Error::UnknownUser(format!("#{id}"))),
            },
            [Sid(SYSTEM_SID.into()), Sid(ADMINISTRATORS_SID.into())],
        )?;
        let wait = ConnectWait::start(name, options.timeout)?;
        Ok(Self {
            wide_path: wide(wait.path()),
            wait,
            mode,
            requested_direction: options.direction,
            trusted,
            max_message: options.max_message_size,
            empty_message_ends_stream: options.empty_message_ends_stream,
            open_flags: open_flags(options.impersonation),
        })
    }

    /// The pipe's path, NUL-terminated UTF-16, for [`wait_for_instance`].
    pub(crate) fn wide_path(&self) -> &[u16] {
        &self.wide_path
    }

    /// Makes one attempt.
    pub(crate) fn step(&mut self) -> Result<Step, Error> {
        match self.open()? {
            Ok((handle, direction)) => self.finish(handle, direction).map(Step::Connected),
            Err(waiting) => {
                self.wait.waiting_for(waiting);
                if self.wait.remaining() == Some(Duration::ZERO) {
                    return Err(self.wait.give_up());
                }
                Ok(match waiting {
                    // Waits for an instance end early when one frees, so a
                    // long wait costs nothing; unbounded waits go in slices.
                    Waiting::Busy => {
                        Step::WaitBusy(self.wait.remaining().unwrap_or(Duration::from_secs(1)))
                    }
                    _ => Step::Sleep(self.wait.next_pause()?),
                })
            }
        }
    }

    /// Tries each way of opening the pipe this client may use. The inner
    /// `Err` is why it must wait.
    #[allow(clippy::type_complexity)]
    fn open(&mut self) -> Result<Result<(OwnedHandle, Direction), Waiting>, Error> {
        let tries: &[Direction] = match self.requested_direction {
            // Try both ways first; an inbound or outbound pipe refuses the
            // half it does not offer (`ERROR_ACCESS_DENIED`).
            None => &[Direction::Duplex, Direction::Inbound, Direction::Outbound],
            Some(Direction::Duplex) => &[Direction::Duplex],
            Some(Direction::Inbound) => &[Direction::Inbound],
            Some(Direction::Outbound) => &[Direction::Outbound],
        };
        for &direction in tries {
            match self.create_file(access_for(direction)) {
                Ok(handle) => return Ok(Ok((handle, direction))),
                Err(err) if is(&err, ERROR_FILE_NOT_FOUND) => return Ok(Err(Waiting::Missing)),
                Err(err) if is(&err, ERROR_PIPE_BUSY) => return Ok(Err(Waiting::Busy)),
                Err(err) if is(&err, ERROR_ACCESS_DENIED) => continue,
                Err(err) => return Err(Error::Io(err)),
            }
        }
        Err(self.refused())
    }

    fn create_file(&self, access: u32) -> io::Result<OwnedHandle> {
        // SAFETY: the path is NUL-terminated and outlives the call; the
        // handle is checked and owned at once.
        owned(unsafe {
            CreateFileW(
                self.wide_path.as_ptr(),
                access,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                self.open_flags,
                std::ptr::null_mut(),
            )
        })
    }

    /// Every way in was refused: the DACL keeps this user out, or the pipe
    /// does not go the way this client asked. Opening it with no data
    /// access tells which (the server sees a client come and go at once).
    fn refused(&self) -> Error {
        let denied = Error::AccessDenied {
            name: self.wait.name().to_string(),
            reason: "the pipe's security descriptor does not admit this user".into(),
        };
        let Some(requested) = self.requested_direction else {
            return denied;
        };
        let Ok(handle) = self.create_file(FILE_READ_ATTRIBUTES | SYNCHRONIZE) else {
            return denied;
        };
        match pipe_info(super::win::raw(&handle)) {
            Ok(info) => {
                let actual = configuration(&info);
                if actual.serves(requested) {
                    denied
                } else {
                    Error::DirectionMismatch {
                        name: self.wait.name().to_string(),
                        requested,
                        actual,
                    }
                }
            }
            Err(_) => denied,
        }
    }

    /// Checks the pipe now open: who owns it, then its mode and direction.
    fn finish(&self, handle: OwnedHandle, opened_as: Direction) -> Result<Connection, Error> {
        // The pipe is open: a process created after this is not its server.
        let connected_at = super::process::Stamp::now();
        let pipe = PipeHandle::new(handle, None);
        let pid = identity::server_pid(pipe.raw());
        let owner = identity::pipe_owner(pipe.raw(), pid).map(Sid);
        self.trusted.check(self.wait.name(), owner.as_ref(), pid)?;
        let info = pipe_info(pipe.raw())?;
        let actual_mode = if info.NamedPipeType == FILE_PIPE_MESSAGE_TYPE {
            PipeMode::Message
        } else {
            PipeMode::Byte
        };
        // A byte client reads any pipe, a message pipe in byte read mode, as
        // Win32, .NET and go-winio clients do; a message client needs a
        // message pipe.
        if self.mode == PipeMode::Message && actual_mode == PipeMode::Byte {
            return Err(Error::WrongMode {
                name: self.wait.name().to_string(),
                expected: self.mode,
                actual: actual_mode,
            });
        }
        // Unasked, a client takes what it could open: both ways (the pipe's
        // own direction), or the one way the pipe or its DACL let it have.
        let offered = match (self.requested_direction, opened_as) {
            (None, Direction::Inbound | Direction::Outbound) => opened_as,
            _ => configuration(&info),
        };
        let direction = Direction::negotiate(self.wait.name(), self.requested_direction, offered)?;
        if self.mode == PipeMode::Message {
            let read_mode = PIPE_READMODE_MESSAGE;
            // SAFETY: `pipe` is open; `read_mode` outlives the call; the
            // other settings are left alone (null).
            let ok = unsafe {
                SetNamedPipeHandleState(pipe.raw(), &read_mode, std::ptr::null(), std::ptr::null())
            };
            if ok == 0 {
                return Err(Error::Io(last_error()));
            }
        }
        Ok(Connection {
            pipe: Arc::new(pipe),
            mode: self.mode,
            negotiated: Negotiated {
                end: End::Client,
                pipe_mode: actual_mode,
                direction,
                peer: crate::peer::PeerIdentity::windows(pid, owner.map(|Sid(sid)| sid))
                    .with_process(super::process::open(pid, connected_at)),
                limits: MessageLimits::symmetric(self.max_message),
            },
            empty_message_ends_stream: self.empty_message_ends_stream,
        })
    }
}

/// The pipe's direction, as its configuration says.
fn configuration(info: &FILE_PIPE_LOCAL_INFORMATION) -> Direction {
    match info.NamedPipeConfiguration {
        FILE_PIPE_FULL_DUPLEX => Direction::Duplex,
        FILE_PIPE_INBOUND => Direction::Inbound,
        _ => Direction::Outbound,
    }
}

/// What Windows says about the pipe a handle is open on: its type,
/// configuration, instances and quotas (`FilePipeLocalInformation`).
pub(crate) fn pipe_info(handle: HANDLE) -> io::Result<FILE_PIPE_LOCAL_INFORMATION> {
    let mut info = FILE_PIPE_LOCAL_INFORMATION::default();
    let mut status_block = IO_STATUS_BLOCK::default();
    // SAFETY: `handle` is open; `info` and `status_block` are valid for
    // writes of their sizes.
    let status = unsafe {
        NtQueryInformationFile(
            handle,
            &mut status_block,
            (&mut info as *mut FILE_PIPE_LOCAL_INFORMATION).cast(),
            std::mem::size_of::<FILE_PIPE_LOCAL_INFORMATION>() as u32,
            FilePipeLocalInformation,
        )
    };
    if status < 0 {
        // SAFETY: a pure conversion of a status code.
        return Err(os_error(unsafe { RtlNtStatusToDosError(status) }));
    }
    Ok(info)
}

/// What a Windows pipe is, as the end holding `handle` sees it: both faces'
/// `info()`.
pub(crate) fn info_of(
    handle: HANDLE,
    negotiated: &crate::negotiated::Negotiated,
) -> io::Result<crate::PipeInfo> {
    let info = pipe_info(handle).map_err(|err| {
        if err.kind() == io::ErrorKind::PermissionDenied
            && !negotiated.direction.reads(negotiated.end)
        {
            // A write-only server handle has no FILE_READ_ATTRIBUTES, and
            // CreateNamedPipeW cannot grant it (.NET's InBufferSize refuses
            // a write-only stream for the same reason).
            io::Error::new(
                io::ErrorKind::Unsupported,
                "Windows does not describe a pipe to its write-only server end \
                 (its handle may not read the pipe's attributes)",
            )
        } else {
            err
        }
    })?;
    // An end's quotas: the server's inbound is what flows in to it.
    let (inbound, outbound) = (info.InboundQuota as usize, info.OutboundQuota as usize);
    let (in_buffer_size, out_buffer_size) = match negotiated.end {
        End::Server => (inbound, outbound),
        End::Client => (outbound, inbound),
    };
    Ok(crate::PipeInfo {
        mode: negotiated.pipe_mode,
        end: negotiated.end,
        direction: negotiated.direction,
        in_buffer_size,
        out_buffer_size,
        instances: Some(info.CurrentInstances as usize),
        max_instances: (info.MaximumInstances != u32::MAX)
            .then_some(info.MaximumInstances as usize),
    })
}

/// Waits up to `timeout` for an instance of a busy pipe to be free.
/// `Ok(true)`: one is, go and try; `Ok(false)`: none freed in time.
/// An error: the pipe went away (the next attempt will say so).
pub(crate) fn wait_for_instance(wide_path: &[u16], timeout: Duration) -> io::Result<bool> {
    // At least 1 ms: 0 would mean "the pipe's default timeout".
    let ms = millis(Some(timeout)).max(1);
    // SAFETY: `wide_path` is NUL-terminated (it comes from `ConnectPlan`).
    if unsafe { WaitNamedPipeW(wide_path.as_ptr(), ms) } != 0 {
        return Ok(true);
    }
    let err = last_error();
    if is(&err, ERROR_SEM_TIMEOUT) {
        Ok(false)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_direction_asks_only_for_what_it_uses() {
        assert_eq!(access_for(Direction::Duplex), GENERIC_READ | GENERIC_WRITE);
        assert_eq!(access_for(Direction::Inbound) & GENERIC_READ, 0);
        assert_eq!(access_for(Direction::Outbound) & GENERIC_WRITE, 0);
    }
}
