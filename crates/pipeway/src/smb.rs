//! Serving pipes to other hosts through Samba: `\\linuxhost\pipe\name`.
//!
//! A Windows server serves its named pipes to clients on other machines
//! over SMB. On Linux, Samba does the SMB part: when a client opens
//! `\\host\pipe\NAME` on the `IPC$` share, `smbd` connects to the Unix
//! socket `<np directory>/<name, lower-cased>` and hands the pipe over,
//! telling who the caller is (Samba's `named_pipe_auth_req`, decoded by
//! [`pipeway_smb::np`]). A listener given [`SmbOptions`]
//! (`pipeway::unix::ListenOptionsExt::serve_smb`, or
//! `pipeway serve NAME --smb`) binds that socket too, so the same listener
//! serves local clients at its usual path and SMB clients through Samba:
//! .NET's `NamedPipeClientStream("linuxhost", "name")`, go-winio's
//! `DialPipe`, Win32 `CreateFile`, impacket and pipeway's own remote client.
//!
//! ```
//! use std::io::Write;
//! use pipeway::{ListenOptions, PipeListener};
//! use pipeway::smb::SmbOptions;
//! use pipeway::unix::{ListenOptionsExt, ListenerExt};
//!
//! # let np_dir = std::env::temp_dir().join(format!("doc-smb-{}", std::process::id()));
//! # std::fs::create_dir_all(&np_dir)?;
//! # let name = format!("doc-smb-{}", std::process::id());
//! // Samba users mapped to this Unix user, and PWHOST\alice, may connect.
//! let options = ListenOptions::new()
//!     .allow_user(r"PWHOST\alice")
//!     .serve_smb(SmbOptions::new().socket_dir(&np_dir)); // SmbOptions::new(): Samba's own
//! let listener = PipeListener::bind_with(name.as_str(), &options)?;
//!
//! // smbd's part, played here: it connects and hands a caller over.
//! let mut smbd = std::os::unix::net::UnixStream::connect(listener.smb_socket_path().unwrap())?;
//! smbd.write_all(&pipeway_smb::np::AuthRequest::example(8, "alice", 4321).encode()?)?;
//!
//! let stream = listener.accept()?;
//! let caller = stream.peer().smb().expect("an SMB client");
//! assert_eq!((caller.domain(), caller.account()), ("PWHOST", "alice"));
//! assert_eq!(stream.peer().pid(), None); // no process here: it is on another host
//! println!("{} from {:?}", caller, caller.client_address());
//! # drop(listener);
//! # std::fs::remove_dir_all(&np_dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Where the socket goes.** Samba's np directory is `<ncalrpc dir>/np`
//! (`external_rpc_pipe:socket_dir` moves it), read from Samba's
//! configuration with `testparm` ([`SmbOptions::new`] for the default
//! smb.conf, [`SmbOptions::smb_conf`] for another), or named outright
//! ([`SmbOptions::socket_dir`]). The directory is root's, mode 0700: binding
//! there needs root. pipeway never widens it; a service that does not run
//! as root binds in a directory of its own (`socket_dir`) and root places a
//! symlink from the np directory to its socket.
//!
//! **Names.** Samba lower-cases the name a client opens, so the socket is
//! named in lower case and SMB clients reach `Inventory` as `inventory` (in
//! any case). Names Samba cannot carry are refused at bind: non-ASCII names
//! (Samba's case tables are its own), `.` and `..`, and names whose socket
//! path would not fit `sun_path`.
//!
//! **Identity and access.** An SMB client's stream has a [`PeerIdentity`]
//! with no pid, the Unix uid and gid Samba mapped the caller to, and the SMB
//! caller ([`PeerIdentity::smb`]): account, domain, SIDs, client address.
//! The listener's access rules apply to it as to local clients: by default
//! only the listener's own user (as Samba maps the account) and root;
//! `allow_user`/`allow_group` by Unix name, or, for SMB callers, by
//! `DOMAIN\user` or SID (`S-1-5-21-…`; a group SID matches any SID in the
//! caller's token). Anonymous callers (`S-1-5-7`) are refused unless a rule
//! names that SID. A refused caller's open fails (smbd reports
//! `STATUS_CONNECTION_DISCONNECTED`); the refusal is logged.
//!
//! **Byte and message mode.** In byte mode the stream is the SMB client's
//! byte stream. In message mode each message travels after Samba's 2-byte
//! length, so at most 65,535 bytes, and never empty (Samba takes an empty
//! message for a broken pipe): larger or empty sends fail with a typed error
//! before anything is sent. Each SMB write is one message.
//!
//! **Closing.** Samba drops data a server wrote just before it closed: on a
//! byte pipe, smbd fails the client's read that would have returned it once
//! the socket shows end-of-file. So an SMB stream that is closed (dropped,
//! or its write side shut down) is kept open in the background until the
//! client has read everything written and a moment has passed, or the
//! client has closed, or [`SmbOptions::linger`] (5 s) runs out. SMB pipes
//! have no half-close: shutting down the write side ends the pipe, after
//! that delivery.
//!
//! **Handshakes.** The hand-off is read off the accept loop, on a thread of
//! its own, with a deadline ([`SmbOptions::handshake_timeout`], 5 s): a
//! silent or malformed hand-off never stalls the listener or its other
//! clients; it is logged and closed. Only root (smbd) and the listener's own
//! user may hand clients over. Past an instance limit, SMB callers are
//! refused at once (Samba cannot make them wait for an instance).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use pipeway_smb::np::Sid;

#[cfg(doc)]
use crate::PeerIdentity;

/// The default deadline for smbd's hand-off.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default bound on keeping a closed SMB stream open until its client
/// has read everything.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// How a listener serves SMB clients through Samba (see the
/// [module docs](self)).
///
/// ```
/// use std::time::Duration;
/// use pipeway::smb::SmbOptions;
///
/// let options = SmbOptions::new()
///     .smb_conf("/etc/samba/smb.conf")
///     .linger(Duration::from_secs(2));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct SmbOptions {
    pub(crate) place: Place,
    pub(crate) handshake_timeout: Duration,
    pub(crate) linger: Duration,
}

/// Where the np directory comes from.
#[derive(Clone, Debug)]
pub(crate) enum Place {
    /// Asks `testparm` (with this smb.conf, or Samba's default one).
    Configured(Option<PathBuf>),
    /// This directory.
    Directory(PathBuf),
}

impl Default for SmbOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SmbOptions {
    /// The np directory of Samba's default configuration, a 5 s handshake
    /// deadline and a 5 s linger bound.
    pub fn new() -> Self {
        Self {
            place: Place::Configured(None),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            linger: DEFAULT_LINGER,
        }
    }

    /// Reads the np directory from this smb.conf (for an smbd started with
    /// `-s FILE`).
    pub fn smb_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.place = Place::Configured(Some(path.into()));
        self
    }

    /// Binds the SMB socket in this directory, without asking Samba: the
    /// np directory itself, or a directory of the service's own that a
    /// root-placed symlink in the np directory points into.
    pub fn socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.place = Place::Directory(dir.into());
        self
    }

    /// How long smbd has to send its hand-off after connecting.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The most a closed SMB stream is kept open for its client to read
    /// what was written (see the [module docs](self), "Closing").
    pub fn linger(mut self, bound: Duration) -> Self {
        self.linger = bound;
        self
    }
}

/// The SMB caller at the other end of a stream, as smbd handed it over.
#[derive(Clone, PartialEq, Eq)]
pub struct SmbCaller {
    pub(crate) account: String,
    pub(crate) domain: String,
    pub(crate) sids: Vec<Sid>,
    pub(crate) unix_name: Option<String>,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<u32>,
    pub(crate) guest: bool,
    pub(crate) client_address: Option<SocketAddr>,
    pub(crate) client_name: Option<String>,
    pub(crate) server_address: Option<SocketAddr>,
    pub(crate) level: u32,
}

impl SmbCaller {
    /// The SMB account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The account's domain: for a local Samba account, the host's NetBIOS name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The token's SIDs: the user's first, the primary group's second, then
    /// the other groups'. Samba adds SIDs of its own under `S-1-22-`.
    pub fn sids(&self) -> &[Sid] {
        &self.sids
    }

    /// The user's SID.
    pub fn user_sid(&self) -> Option<&Sid> {
        self.sids.first()
    }

    /// The Unix user Samba mapped the caller to.
    pub fn unix_name(&self) -> Option<&str> {
        self.unix_name.as_deref()
    }

    /// The Unix uid Samba mapped the caller to.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The Unix primary gid Samba mapped the caller to.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The Unix supplementary gids Samba gave the caller.
    pub fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// Whether Samba let the caller in as a guest or anonymously (its token
    /// lacks Authenticated Users, `S-1-5-11`).
    pub fn is_guest(&self) -> bool {
        self.guest
    }

    /// Where the SMB client connected from.
    pub fn client_address(&self) -> Option<SocketAddr> {
        self.client_address
    }

    /// The client's host name, as Samba knows it.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The address and port the client reached.
    pub fn server_address(&self) -> Option<SocketAddr> {
        self.server_address
    }

    /// The hand-off's level (4 to 8: which Samba release handed it over).
    pub fn level(&self) -> u32 {
        self.level
    }
}

impl fmt::Display for SmbCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r"SMB {}\{}", self.domain, self.account)?;
        if self.guest {
            f.write_str(" (guest)")?;
        }
        if let Some(address) = self.client_address {
            write!(f, " from {address}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SmbCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmbCaller")
            .field("account", &self.account)
            .field("domain", &self.domain)
            .field("sids", &self.sids)
            .field("unix_name", &self.unix_name)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("guest", &self.guest)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

/// Where a listener of `name` binds its SMB socket with `options`: the np
/// directory (or [`SmbOptions::socket_dir`]) and the name in lower case.
/// For placing a symlink, or checking a deployment.
///
/// ```
/// use pipeway::smb::{SmbOptions, socket_path};
///
/// let options = SmbOptions::new().socket_dir("/run/inventory");
/// let path = socket_path("Inventory", &options)?;
/// assert_eq!(path, std::path::Path::new("/run/inventory/inventory"));
/// // Names Samba cannot carry are refused.
/// assert!(socket_path("Ünïcode", &options).is_err());
/// # Ok::<(), pipeway::Error>(())
/// ```
pub fn socket_path(name: impl crate::IntoPipeName, options: &SmbOptions) -> crate::Result<PathBuf> {
    let name = name.into_pipe_name()?;
    crate::sys::unix::smb::place::socket_path(&name, options)
}

/// The np directory Samba's configuration names (`<ncalrpc dir>/np`, or
/// `external_rpc_pipe:socket_dir`/np), as `testparm` reads it from `smb_conf`
/// (Samba's default configuration when `None`).
///
/// ```no_run
/// // Needs Samba's testparm.
/// let dir = pipeway::smb::np_directory(None)?;
/// println!("smbd hands pipes over in {}", dir.display()); // Debian: /run/samba/ncalrpc/np
/// # Ok::<(), pipeway::Error>(())
/// ```
pub fn np_directory(smb_conf: Option<&Path>) -> crate::Result<PathBuf> {
    crate::sys::unix::smb::place::np_directory(smb_conf)
}
