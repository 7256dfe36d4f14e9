//! The local pipes on Unix: the `CoreFxPipe_*` sockets in the pipe
//! directory, and whether a server listens on each.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use crate::listing::{LocalPipe, PipeState, Wire};
use crate::name::PipeName;

use super::{DOTNET_PREFIX, pipe_directory, probe, users};

/// The local pipes in `${TMPDIR:-/tmp}`: every `CoreFxPipe_*` socket, live
/// or stale. Looking does not connect to any of them.
pub(crate) fn local_pipes() -> io::Result<Vec<LocalPipe>> {
    let dir = pipe_directory();
    let listening = probe::listening_sockets();
    let mut pipes = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(DOTNET_PREFIX))
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.file_type().is_socket() {
            continue;
        }
        pipes.push(describe(
            name.to_owned(),
            entry.path(),
            &meta,
            listening.as_ref(),
        )?);
    }
    Ok(pipes)
}

/// One pipe's socket file: owner, mode, and whether a server listens on it.
pub(crate) fn inspect(name: &PipeName) -> crate::Result<LocalPipe> {
    let path = name.local_path()?.to_owned();
    let meta = std::fs::symlink_metadata(&path).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound {
            crate::Error::NotFound {
                name: name.to_string(),
                path: path.clone(),
                waited: std::time::Duration::ZERO,
            }
        } else {
            crate::Error::Io(err)
        }
    })?;
    if !meta.file_type().is_socket() {
        return Err(crate::Error::NotASocket { path });
    }
    Ok(describe(
        name.to_string(),
        path,
        &meta,
        probe::listening_sockets().as_ref(),
    )?)
}

fn describe(
    name: String,
    path: PathBuf,
    meta: &std::fs::Metadata,
    listening: Option<&std::collections::HashMap<PathBuf, probe::Listening>>,
) -> io::Result<LocalPipe> {
    let found = listening.and_then(|listening| listening.get(&path));
    let wire = found.map(|socket| {
        if socket.seqpacket {
            Wire::Framed
        } else {
            Wire::Plain
        }
    });
    let state = match listening {
        Some(_) => match found {
            Some(socket) => PipeState::Live {
                pid: probe::pid_holding_socket(socket.inode),
            },
            None => PipeState::Stale,
        },
        // No passive listing on this system: ask the socket itself.
        None => match probe::probe(&path)? {
            probe::Liveness::Live { creds, .. } => PipeState::Live {
                pid: creds.and_then(|c| c.pid),
            },
            _ => PipeState::Stale,
        },
    };
    Ok(LocalPipe {
        name,
        path,
        owner: meta.uid(),
        owner_name: users::user_name(meta.uid()),
        mode: meta.mode() & 0o7777,
        state,
        wire,
    })
}
