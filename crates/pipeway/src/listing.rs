//! What local pipes exist, and whether anyone serves them: `pipeway list`
//! and `pipeway info`, for any program. Looking never connects to a pipe.

use std::io;
use std::path::PathBuf;

use crate::error::Result;
use crate::name::IntoPipeName;

/// Whether anyone serves a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipeState {
    /// A server serves it; `pid` where the platform tells it without a
    /// connection (on Unix, where this user may see the process; on Windows
    /// a pipe's server pid is told only to a connected client: `None`).
    Live {
        /// The server's process id.
        pid: Option<u32>,
    },
    /// A socket file with no server: left behind by one that died. The
    /// next server to bind the name reclaims it. (Unix only: on Windows a
    /// pipe exists only while a server holds it.)
    Stale,
}

/// A local pipe, as [`local_pipes`] and [`inspect`] see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalPipe {
    /// The pipe's name (`echo` for `/tmp/CoreFxPipe_echo` or
    /// `\\.\pipe\echo`), or the path for a socket-path name.
    pub name: String,
    /// Its endpoint (see [`PipeName::endpoint`](crate::PipeName::endpoint)):
    /// the socket file, or the `\\.\pipe\` path.
    pub path: PathBuf,
    /// The socket file owner's uid.
    #[cfg(unix)]
    pub owner: u32,
    /// The owner's user name, when the account database knows it. Windows
    /// tells a pipe's owner only to a client that opens it: `None` there.
    pub owner_name: Option<String>,
    /// The socket file's permission bits.
    #[cfg(unix)]
    pub mode: u32,
    /// Whether a server serves it.
    pub state: PipeState,
    /// Which wire a live pipe speaks, from its socket's type; `None` when
    /// that is not known (a stale file, or a system with no socket table).
    #[cfg(unix)]
    pub wire: Option<Wire>,
}

/// Which of pipeway's two wires a live Unix pipe's socket speaks (see the
/// crate docs, "Two wires"), as its socket type shows without connecting.
#[cfg(unix)]
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

/// The local pipes, sorted by name: on Unix every `CoreFxPipe_*` socket in
/// `${TMPDIR:-/tmp}`, live or stale (.NET's and pipeway's); on Windows every
/// pipe in `\\.\pipe\`, as `Get-ChildItem \\.\pipe\` lists them (any
/// program's). Looking does not connect to any of them. Where the system
/// cannot list its pipes (Wine), fails with
/// [`io::ErrorKind::Unsupported`]; [`inspect`] still works there.
///
/// ```
/// match pipeway::local_pipes() {
///     Ok(pipes) => {
///         for pipe in pipes {
///             println!("{} {:?} at {}", pipe.name, pipe.state, pipe.path.display());
///         }
///     }
///     Err(err) if err.kind() == std::io::ErrorKind::Unsupported => println!("{err}"),
///     Err(err) => return Err(err.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn local_pipes() -> io::Result<Vec<LocalPipe>> {
    let mut pipes = crate::sys::local_pipes()?;
    pipes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pipes)
}

/// One pipe: its endpoint, owner and state, without connecting to it.
/// A name with nothing behind it fails with
/// [`Error::NotFound`](crate::Error::NotFound).
///
/// ```
/// let name = format!("inspected-{}", std::process::id());
/// let listener = pipeway::PipeListener::bind(name.as_str())?;
/// let pipe = pipeway::inspect(name.as_str())?;
/// assert_eq!(pipe.path, listener.endpoint());
/// assert!(matches!(pipe.state, pipeway::PipeState::Live { .. }));
/// drop(listener);
/// assert!(matches!(
///     pipeway::inspect(name.as_str()),
///     Err(pipeway::Error::NotFound { .. })
/// ));
/// # Ok::<(), pipeway::Error>(())
/// ```
pub fn inspect(name: impl IntoPipeName) -> Result<LocalPipe> {
    let name = name.into_pipe_name()?;
    crate::sys::inspect(&name)
}
