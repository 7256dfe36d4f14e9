//! Unix extras: numeric user and group ids, socket paths, and the list of
//! local pipes. What Unix alone can do lives here, as extension traits, so
//! that using it elsewhere is a compile error rather than a surprise.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::access::Account;
use crate::name::{IntoPipeName, PipeName};
use crate::options::{ConnectOptions, ListenOptions, ServerRequirement};
use crate::peer::PeerIdentity;
use crate::process::{PeerProcess, ProcessError};
use crate::sys::unix::{DOTNET_PREFIX, pipe_directory, probe};

/// Numeric ids of the peer.
pub trait PeerIdentityExt {
    /// The peer's user id.
    fn uid(&self) -> u32;
    /// The peer's primary group id.
    fn gid(&self) -> u32;
}

impl PeerIdentityExt for PeerIdentity {
    fn uid(&self) -> u32 {
        self.uid
    }
    fn gid(&self) -> u32 {
        self.gid
    }
}

/// Signals for the peer's process (Linux: `pidfd_send_signal`).
pub trait PeerProcessExt {
    /// Sends `signal` (`libc::SIGTERM`, say: a signal the platform names)
    /// to the peer's process, through its pidfd: it reaches that process or
    /// none, never a newer one that took its pid.
    /// [`ProcessError::Exited`] once it has exited.
    ///
    /// ```
    /// use pipeway::unix::PeerProcessExt;
    /// use pipeway::{PipeListener, PipeStream};
    ///
    /// # let name = format!("signal-doc-{}", std::process::id());
    /// let listener = PipeListener::bind(&name)?;
    /// let _client = PipeStream::connect(&name)?;
    /// let server = listener.accept()?;
    /// // The client is this process: SIGCONT leaves a running process as it is.
    /// server.peer().process()?.send_signal(libc::SIGCONT)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn send_signal(&self, signal: i32) -> Result<(), ProcessError>;
}

impl PeerProcessExt for PeerProcess {
    fn send_signal(&self, signal: i32) -> Result<(), ProcessError> {
        self.sys().send_signal(signal)
    }
}

/// The pidfd itself, for what pipeway does not wrap (`waitid(P_PIDFD)` for
/// a child, `pidfd_getfd`, `setns`, an event loop of your own). It stays
/// owned by the identity: duplicate it to keep it longer.
impl AsFd for PeerProcess {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sys().as_fd()
    }
}

/// Where a name's socket lives.
pub trait PipeNameExt {
    /// The socket path of a local name (`${TMPDIR:-/tmp}/CoreFxPipe_<name>`)
    /// or of a socket-path name; `None` for a remote name.
    fn socket_path(&self) -> Option<&Path>;
}

impl PipeNameExt for PipeName {
    fn socket_path(&self) -> Option<&Path> {
        self.endpoint()
    }
}

/// Access rules by numeric id.
pub trait ListenOptionsExt {
    /// Also admits the user with this uid.
    fn allow_uid(self, uid: u32) -> Self;
    /// Also admits members of the group with this gid.
    fn allow_gid(self, gid: u32) -> Self;
    /// Refuses the user with this uid.
    fn deny_uid(self, uid: u32) -> Self;
    /// Refuses members of the group with this gid.
    fn deny_gid(self, gid: u32) -> Self;
    /// Also serves SMB clients from other hosts, through Samba, with their
    /// SMB identity: see [`crate::smb`].
    #[cfg(feature = "remote")]
    fn serve_smb(self, options: crate::smb::SmbOptions) -> Self;
}

impl ListenOptionsExt for ListenOptions {
    fn allow_uid(mut self, uid: u32) -> Self {
        self.access.allow_users.push(Account::Id(uid));
        self
    }
    fn allow_gid(mut self, gid: u32) -> Self {
        self.access.allow_groups.push(Account::Id(gid));
        self
    }
    fn deny_uid(mut self, uid: u32) -> Self {
        self.access.deny_users.push(Account::Id(uid));
        self
    }
    fn deny_gid(mut self, gid: u32) -> Self {
        self.access.deny_groups.push(Account::Id(gid));
        self
    }
    #[cfg(feature = "remote")]
    fn serve_smb(mut self, options: crate::smb::SmbOptions) -> Self {
        self.smb = Some(options);
        self
    }
}

/// Server requirements by numeric id.
pub trait ConnectOptionsExt {
    /// Trusts only a server running as `uid` (or root).
    fn require_server_uid(self, uid: u32) -> Self;
}

impl ConnectOptionsExt for ConnectOptions {
    fn require_server_uid(mut self, uid: u32) -> Self {
        self.server = ServerRequirement::User(Account::Id(uid));
        self
    }
}

/// The socket path a listener bound.
pub trait ListenerExt {
    /// The path of the listener's socket file.
    fn socket_path(&self) -> &Path;
    /// The path of the socket smbd hands SMB clients to, when the listener
    /// serves them ([`ListenOptionsExt::serve_smb`]).
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path>;
}

impl ListenerExt for crate::PipeListener {
    fn socket_path(&self) -> &Path {
        self.sys().path()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

impl ListenerExt for crate::MessageListener {
    fn socket_path(&self) -> &Path {
        self.sys().path()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

/// Unix extras of a blocking byte stream.
pub trait PipeStreamExt {
    /// Waits until the connection is over both ways (`POLLHUP`): nothing
    /// more will arrive and nothing more can be sent, because the peer closed
    /// its end, or because between them the two ends shut down both halves.
    /// Returns whether it is over; `timeout` of `None` waits for ever, zero
    /// just looks.
    ///
    /// After end-of-file this tells a peer that only stopped writing (the
    /// server of an inbound pipe does at once) from one that is gone: a relay
    /// such as `pipeway connect` keeps sending its input to the first and
    /// ends at once with the second.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// use pipeway::unix::PipeStreamExt;
    /// use pipeway::{Direction, ListenOptions, PipeListener, PipeStream};
    ///
    /// let name = format!("doc-hangup-{}", std::process::id());
    /// let inbound = ListenOptions::new().direction(Direction::Inbound);
    /// let listener = PipeListener::bind_with(&name, &inbound)?;
    /// let mut client = PipeStream::connect(&name)?;
    /// let server = listener.accept()?;
    /// // The server of an inbound pipe does not write: end-of-file at once...
    /// assert_eq!(client.read(&mut [0u8; 16])?, 0);
    /// // ...but it still reads, so the pipe is not over yet.
    /// assert!(!client.wait_for_hangup(Some(Duration::ZERO))?);
    /// drop(server);
    /// assert!(client.wait_for_hangup(None)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn wait_for_hangup(&self, timeout: Option<std::time::Duration>) -> io::Result<bool>;
}

impl PipeStreamExt for crate::PipeStream {
    fn wait_for_hangup(&self, timeout: Option<std::time::Duration>) -> io::Result<bool> {
        self.sys().endpoint().wait_for_hangup(timeout)
    }
}

/// Whether anyone serves a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipeState {
    /// A server listens on it; `pid` where this user may see the process.
    Live {
        /// The server's process id.
        pid: Option<u32>,
    },
    /// A socket file with no server: left behind by one that died. The
    /// next server to bind the name reclaims it.
    Stale,
}

/// A local pipe's socket file, as [`local_pipes`] and [`inspect`] see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalPipe {
    /// The pipe's name (`echo` for `/tmp/CoreFxPipe_echo`), or the path for
    /// a socket-path name.
    pub name: String,
    /// The socket file.
    pub path: PathBuf,
    /// The file owner's uid.
    pub owner: u32,
    /// The file owner's user name, when the user database knows the uid.
    pub owner_name: Option<String>,
    /// The file's permission bits.
    pub mode: u32,
    /// Whether a server listens on it.
    pub state: PipeState,
    /// Which wire a live pipe speaks, from its socket's type; `None` when
    /// that is not known (a stale file, or a system with no socket table).
    pub wire: Option<Wire>,
}

/// Which of pipeway's two wires a live pipe's socket speaks (see the crate
/// docs, "Two wires"), as its socket type shows without connecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wire {
    /// A stream socket: a byte pipe with default options (or a .NET, socat
    /// or other program's socket).
    Plain,
    /// A seqpacket socket: pipeway's framed wire, which a message pipe or a
    /// byte pipe with an instance limit uses.
    Framed,
}

/// The local pipes in `${TMPDIR:-/tmp}`: every `CoreFxPipe_*` socket, live
/// or stale, sorted by name. Looking does not connect to any of them.
pub fn local_pipes() -> io::Result<Vec<LocalPipe>> {
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
    pipes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pipes)
}

/// One pipe's socket file: owner, mode, and whether a server listens on it.
pub fn inspect(name: impl IntoPipeName) -> crate::Result<LocalPipe> {
    let name = name.into_pipe_name()?;
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
        owner_name: crate::sys::unix::users::user_name(meta.uid()),
        mode: meta.mode() & 0o7777,
        state,
        wire,
    })
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::PipeListener {
    fn socket_path(&self) -> &Path {
        self.sys().path()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::MessageListener {
    fn socket_path(&self) -> &Path {
        self.sys().path()
    }
    #[cfg(feature = "remote")]
    fn smb_socket_path(&self) -> Option<&Path> {
        self.sys().smb_path()
    }
}
