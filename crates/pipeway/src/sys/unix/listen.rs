//! Binding a pipe's socket: the name is not stolen from a live server, a
//! stale file is reclaimed, a non-socket is never touched, and the file is
//! never more open than the pipe's rules.

use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{Gid, Mode};
use rustix::io::Errno;
use rustix::net::SocketAddrUnix;

use crate::error::Error;
use crate::name::PipeName;

use std::sync::Arc;

use crate::gate::InstanceGate;
use crate::options::{ListenOptions, PipeMode};

use super::access::{self, FilePermissions};
use super::admit::Admission;
use super::probe::{self, FileId, Liveness};
use super::socket::{Socket, Wire};

/// The socket file a listener created. Dropping it removes the file, but only
/// if the path still names the very file this listener made.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    id: FileId,
}

impl SocketFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes charge of the socket file just bound at `path`.
    pub(crate) fn adopt(path: &Path) -> io::Result<SocketFile> {
        let (id, _) = probe::file_id(path)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path:?} vanished right after bind"),
            )
        })?;
        Ok(SocketFile {
            path: path.to_owned(),
            id,
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(Some((id, _))) = probe::file_id(&self.path) {
            if id == self.id {
                let _ = rustix::fs::unlink(&self.path);
            }
        }
    }
}

/// A listener's bound socket, its file, and the rules for its clients: what
/// both faces' listeners start from.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub socket: Socket,
    pub file: SocketFile,
    pub admission: Admission,
    /// The instance limit, if any.
    pub gate: Option<Arc<InstanceGate>>,
}

/// Binds a listener for `name`: its rules resolved, its socket file as open
/// as the rules allow and no more, listening.
pub(crate) fn listener(
    name: PipeName,
    options: &ListenOptions,
    mode: PipeMode,
    nonblocking: bool,
) -> Result<BoundListener, Error> {
    let admission = Admission::new(name, mode, options)?;
    let (socket, file) = bind(
        &admission.name,
        admission.wire,
        options.first_instance,
        access::file_permissions(&admission.access),
        nonblocking,
    )?;
    Ok(BoundListener {
        socket,
        file,
        admission,
        gate: options.max_instances.map(InstanceGate::new),
    })
}

/// How often a bind retries after losing a race for the name to another binder.
const BIND_ATTEMPTS: usize = 3;

/// Creates, binds and starts listening on the socket for `name`.
pub(crate) fn bind(
    name: &PipeName,
    wire: Wire,
    first_instance: bool,
    perms: FilePermissions,
    nonblocking: bool,
) -> Result<(Socket, SocketFile), Error> {
    let path = name.local_path()?;
    let addr = SocketAddrUnix::new(path).map_err(io::Error::from)?;
    super::directory::warn_if_anyone_may_replace(path);
    let mut attempt = 0;
    loop {
        attempt += 1;
        clear_the_way(name, path, first_instance)?;
        let socket = Socket::new(wire, nonblocking)?;
        // Linux creates the file with the socket inode's mode (less the umask),
        // so the file is born no more open than `perms`. The chmod below
        // restores bits the umask took, and does the job elsewhere; either way
        // it happens before listen(), and until then every connect is refused.
        rustix::fs::fchmod(&socket, Mode::from_raw_mode(perms.mode as _))
            .map_err(io::Error::from)?;
        match rustix::net::bind(&socket, &addr) {
            Ok(()) => {}
            // Someone bound the name between our check and our bind: look again.
            Err(Errno::ADDRINUSE) if attempt < BIND_ATTEMPTS => continue,
            Err(err) => return Err(bind_error(path, err)),
        }
        let (id, _) = probe::file_id(path)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path:?} vanished right after bind"),
            )
        })?;
        let file = SocketFile {
            path: path.to_owned(),
            id,
        };
        // Only a member of the group (or root) may give the file to it;
        // otherwise the mode widens and the check at accept enforces the group.
        let mode = match perms.group {
            Some(gid) if rustix::fs::chown(path, None, Some(Gid::from_raw(gid))).is_err() => {
                tracing::debug!(path = %path.display(), gid, "cannot chgrp the socket file; the check at accept enforces the group");
                0o666
            }
            _ => perms.mode,
        };
        rustix::fs::chmod(path, Mode::from_raw_mode(mode as _)).map_err(io::Error::from)?;
        rustix::net::listen(&socket, BACKLOG).map_err(io::Error::from)?;
        return Ok((socket, file));
    }
}

/// The kernel caps this at `net.core.somaxconn` (4096 on current kernels).
/// Clients beyond an instance limit wait here, in order.
const BACKLOG: i32 = i32::MAX;

fn bind_error(path: &Path, err: Errno) -> Error {
    let err = io::Error::from(err);
    Error::Io(io::Error::new(
        err.kind(),
        format!("cannot create the pipe socket {}: {err}", path.display()),
    ))
}

/// Makes sure `path` is free: refuses a live pipe and anything that is not a
/// socket, and removes a stale socket file.
fn clear_the_way(name: &PipeName, path: &Path, first_instance: bool) -> Result<(), Error> {
    clear_the_way_with(&name.to_string(), path, first_instance, probe::probe)
}

/// [`clear_the_way`] for any kind of socket: `probe` tells whether the file
/// at `path` is live (the mailslot's datagram sockets probe differently).
pub(crate) fn clear_the_way_with(
    name: &str,
    path: &Path,
    first_instance: bool,
    probe: fn(&Path) -> io::Result<Liveness>,
) -> Result<(), Error> {
    match probe(path)? {
        Liveness::Missing => Ok(()),
        Liveness::NotSocket => Err(Error::NotASocket {
            path: path.to_owned(),
        }),
        _ if first_instance => Err(Error::AlreadyExists {
            name: name.to_owned(),
            path: path.to_owned(),
        }),
        Liveness::Live { owner, creds } => Err(Error::InUse {
            name: name.to_owned(),
            holder: match creds {
                Some(c) => match c.pid {
                    Some(pid) => format!("pid {pid}, uid {}", c.uid),
                    None => format!("uid {}", c.uid),
                },
                None => format!("a server (socket file owned by uid {owner})"),
            },
        }),
        Liveness::Unknown { owner } => Err(Error::InUse {
            name: name.to_owned(),
            holder: format!(
                "uid {owner} (its socket file admits no one else, so it cannot be checked or reclaimed)"
            ),
        }),
        Liveness::Stale { owner, id } => {
            // Remove the file only if it is still the one found stale: another
            // binder may have reclaimed it already and be listening on a new one.
            if probe::file_id(path)?.map(|(now, _)| now) != Some(id) {
                return clear_the_way_with(name, path, first_instance, probe);
            }
            match rustix::fs::unlink(path) {
                Ok(()) | Err(Errno::NOENT) => {
                    tracing::info!(path = %path.display(), "reclaimed a stale socket file");
                    Ok(())
                }
                Err(err) => Err(Error::StaleNotRemovable {
                    path: path.to_owned(),
                    owner,
                    source: err.into(),
                }),
            }
        }
    }
}
