//! Mailslots on Linux: a datagram Unix socket at the name's path. Each
//! datagram is one message; the kernel keeps boundaries and order, and
//! tells the sender of each (`SO_PASSCRED`), which the access rules judge.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Gid, Mode};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendFlags,
    SocketAddrUnix, SocketFlags, SocketType,
};

use crate::mailslot::{MailslotError, MailslotInfo, MailslotName, MailslotOptions};

use super::access::{ResolvedAccess, decide, file_permissions, resolve};
use super::creds::Credentials;
use super::listen::{SocketFile, clear_the_way_with};
use super::probe;

/// How many messages `info` moves out of the kernel's queue at most, to
/// count them (a flood of writers cannot make it hold unbounded memory).
const MAX_DRAINED: usize = 4096;
/// How often a create retries after losing a race for the name.
const BIND_ATTEMPTS: usize = 3;

/// A message taken from the socket: its bytes, or the size of one that was
/// over the maximum and dropped.
type Taken = Result<Vec<u8>, usize>;

#[derive(Debug)]
pub(crate) struct Server {
    name: String,
    socket: OwnedFd,
    access: ResolvedAccess,
    max_message: usize,
    read_timeout: Mutex<Option<Duration>>,
    /// Messages `info` took from the kernel to count them; read first.
    taken: Mutex<VecDeque<Taken>>,
    _file: SocketFile,
}

fn dgram_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

fn socket_path(name: &MailslotName) -> Result<std::path::PathBuf, MailslotError> {
    let path = name.socket_path();
    crate::sys::check_socket_path(&path).map_err(|_| MailslotError::InvalidName {
        name: name.to_string(),
        why: "its socket path is longer than sun_path holds (107 bytes); use a shorter name or TMPDIR",
    })?;
    Ok(path)
}

impl Server {
    pub(crate) fn create(
        name: &MailslotName,
        options: &MailslotOptions,
    ) -> Result<Self, MailslotError> {
        let path = socket_path(name)?;
        let access = resolve(&options.access)?;
        let perms = file_permissions(&access);
        let addr = SocketAddrUnix::new(&path).map_err(io::Error::from)?;
        let mut attempt = 0;
        let socket = loop {
            attempt += 1;
            clear_the_way_with(&name.to_string(), &path, false, probe::probe_datagram)?;
            let socket = dgram_socket()?;
            // The file is born with the socket inode's mode: never more open than `perms`.
            rustix::fs::fchmod(&socket, Mode::from_raw_mode(perms.mode as _))
                .map_err(io::Error::from)?;
            match rustix::net::bind(&socket, &addr) {
                Ok(()) => break socket,
                Err(Errno::ADDRINUSE) if attempt < BIND_ATTEMPTS => continue,
                Err(err) => {
                    let err = io::Error::from(err);
                    return Err(io::Error::new(
                        err.kind(),
                        format!(
                            "cannot create the mailslot socket {}: {err}",
                            path.display()
                        ),
                    )
                    .into());
                }
            }
        };
        let file = SocketFile::adopt(&path)?;
        let mode = match perms.group {
            Some(gid) if rustix::fs::chown(&path, None, Some(Gid::from_raw(gid))).is_err() => 0o666,
            _ => perms.mode,
        };
        rustix::fs::chmod(&path, Mode::from_raw_mode(mode as _)).map_err(io::Error::from)?;
        rustix::net::sockopt::set_socket_passcred(&socket, true).map_err(io::Error::from)?;
        Ok(Self {
            name: name.to_string(),
            socket,
            access,
            max_message: options.max_message_size,
            read_timeout: Mutex::new(options.read_timeout),
            taken: Mutex::new(VecDeque::new()),
            _file: file,
        })
    }

    pub(crate) fn read(&self) -> Result<Vec<u8>, MailslotError> {
        if let Some(taken) = lock(&self.taken).pop_front() {
            return self.hand_over(taken);
        }
        let timeout = *lock(&self.read_timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !self.wait_readable(left)? {
                return Err(MailslotError::TimedOut);
            }
            if let Some(taken) = self.take()? {
                return self.hand_over(taken);
            }
        }
    }

    fn hand_over(&self, taken: Taken) -> Result<Vec<u8>, MailslotError> {
        taken.map_err(|size| MailslotError::MessageTooLarge {
            size,
            max: self.max_message,
        })
    }

    pub(crate) fn info(&self) -> Result<MailslotInfo, MailslotError> {
        let mut taken = lock(&self.taken);
        while taken.len() < MAX_DRAINED {
            match self.take_now()? {
                Some(message) => taken.push_back(message),
                None => break,
            }
        }
        Ok(MailslotInfo {
            count: taken.len(),
            next_size: taken.front().map(|m| match m {
                Ok(bytes) => bytes.len(),
                Err(size) => *size,
            }),
            max_message_size: self.max_message,
            read_timeout: *lock(&self.read_timeout),
        })
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), MailslotError> {
        *lock(&self.read_timeout) = timeout;
        Ok(())
    }

    /// Waits until a datagram is queued; false on timeout.
    fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let timeout = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: t.subsec_nanos() as _,
        });
        loop {
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// One admitted message if one is queued now (refused ones are dropped).
    fn take_now(&self) -> Result<Option<Taken>, MailslotError> {
        loop {
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
            let zero = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            if rustix::event::poll(&mut fds, Some(&zero)).map_err(io::Error::from)? == 0 {
                return Ok(None);
            }
            if let Some(taken) = self.take()? {
                return Ok(Some(taken));
            }
        }
    }

    /// Receives one queued datagram: `None` if it was refused (or gone).
    fn take(&self) -> Result<Option<Taken>, MailslotError> {
        let mut buf = vec![0u8; self.max_message];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = match rustix::net::recvmsg(
            &self.socket,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::DONTWAIT | RecvFlags::TRUNC | RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(Errno::AGAIN) | Err(Errno::INTR) => return Ok(None),
            Err(err) => return Err(io::Error::from(err).into()),
        };
        let mut sender = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmCredentials(cred) = message {
                sender = Some(Credentials {
                    pid: Some(cred.pid.as_raw_nonzero().get() as u32),
                    uid: cred.uid.as_raw(),
                    gid: cred.gid.as_raw(),
                });
            }
        }
        let Some(sender) = sender else {
            tracing::warn!(mailslot = %self.name, "dropped a message that came without its sender's credentials");
            return Ok(None);
        };
        if let Err(reason) = decide(&self.access, &sender, || {
            super::users::groups_of_uid(sender.uid, sender.gid)
        }) {
            tracing::warn!(mailslot = %self.name, pid = ?sender.pid, uid = sender.uid, "dropped a message: {reason}");
            return Ok(None);
        }
        // With MSG_TRUNC the kernel reports the datagram's whole length.
        if msg.bytes > self.max_message || msg.flags.contains(ReturnFlags::TRUNC) {
            return Ok(Some(Err(msg.bytes)));
        }
        buf.truncate(msg.bytes);
        Ok(Some(Ok(buf)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
pub(crate) struct Client {
    name: String,
    socket: OwnedFd,
}

impl Client {
    pub(crate) fn open(name: &MailslotName) -> Result<Self, MailslotError> {
        let path = socket_path(name)?;
        let addr = SocketAddrUnix::new(&path).map_err(io::Error::from)?;
        let socket = dgram_socket()?;
        match rustix::net::connect(&socket, &addr) {
            Ok(()) => {}
            Err(Errno::NOENT) | Err(Errno::CONNREFUSED) => {
                return Err(MailslotError::NotFound {
                    name: name.to_string(),
                });
            }
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                return Err(MailslotError::AccessDenied {
                    name: name.to_string(),
                });
            }
            Err(Errno::PROTOTYPE) => {
                return Err(MailslotError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a socket, but not a mailslot", path.display()),
                )));
            }
            Err(err) => return Err(io::Error::from(err).into()),
        }
        Ok(Self {
            name: name.to_string(),
            socket,
        })
    }

    pub(crate) fn send(&self, message: &[u8]) -> Result<(), MailslotError> {
        loop {
            match rustix::net::send(&self.socket, message, SendFlags::NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(Errno::MSGSIZE) | Err(Errno::NOBUFS) => {
                    let max =
                        rustix::net::sockopt::socket_send_buffer_size(&self.socket).unwrap_or(0);
                    return Err(MailslotError::MessageTooLarge {
                        size: message.len(),
                        max: max.min(message.len().saturating_sub(1)),
                    });
                }
                Err(Errno::CONNREFUSED) | Err(Errno::NOENT) => {
                    return Err(MailslotError::NotFound {
                        name: self.name.clone(),
                    });
                }
                Err(err) => return Err(io::Error::from(err).into()),
            }
        }
    }
}
