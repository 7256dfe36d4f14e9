//! Who is at the other end of a pipe.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// The identity of the process at the other end of a pipe, as the kernel
/// reported it when the connection was made (`SO_PEERCRED` on Linux;
/// `GetNamedPipeClientProcessId` and the client's token on Windows).
///
/// On a server stream it is the client; on a client stream, the server. The
/// numeric ids are Unix extras (`pipeway::unix::PeerIdentityExt`); the SID
/// and the account name are Windows extras (`pipeway::windows::PeerIdentityExt`).
///
/// On Windows a client stream's peer is the server's pid and the pipe's
/// owner: the account the server's security descriptor names, which is what
/// the client checked before trusting the server.
///
/// ```
/// use pipeway::{PipeListener, PipeStream};
///
/// let name = format!("doc-peer-identity-{}", std::process::id());
/// let listener = PipeListener::bind(&name)?;
/// let client = PipeStream::connect(&name)?;
/// let stream = listener.accept()?;
///
/// let peer = stream.peer(); // the client: this very process
/// assert_eq!(peer.pid(), Some(std::process::id()));
/// println!("pid {:?}, user {:?}", peer.pid(), peer.user_name());
/// assert_eq!(client.peer().pid(), Some(std::process::id())); // and the server
/// # Ok::<(), pipeway::Error>(())
/// ```
#[derive(Clone)]
pub struct PeerIdentity {
    pub(crate) pid: Option<u32>,
    #[cfg(unix)]
    pub(crate) uid: u32,
    #[cfg(unix)]
    pub(crate) gid: u32,
    /// The peer's user SID (`S-1-5-21-…`), when Windows told it.
    #[cfg(windows)]
    pub(crate) sid: Option<String>,
    /// Resolved on first use: a user database lookup is too slow to make on
    /// every accept.
    pub(crate) user_name: OnceLock<Option<String>>,
    /// The SID's account as (domain, name), resolved on first use.
    #[cfg(windows)]
    pub(crate) account: OnceLock<Option<(String, String)>>,
    /// The peer's process as a handle, or why there is none; shared by clones.
    pub(crate) process: crate::process::ProcessSlot,
    /// The host serving a pipe on another host.
    pub(crate) remote: Option<Arc<RemoteHost>>,
    /// The SMB caller, for a client Samba handed over.
    #[cfg(all(unix, feature = "remote"))]
    pub(crate) smb: Option<std::sync::Arc<crate::smb::SmbCaller>>,
}

/// The host at the other end of a remote pipe (`\\host\pipe\name`), and
/// how the session to it is protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteHost {
    pub(crate) host: String,
    pub(crate) address: SocketAddr,
    pub(crate) server_name: Option<String>,
    pub(crate) dialect: String,
    pub(crate) protection: String,
    pub(crate) user: String,
}

impl RemoteHost {
    /// The host as the pipe's name gave it.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The address connected to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
    /// The server's own (NetBIOS) name, as it told it during log-on.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }
    /// The SMB dialect (`3.1.1`).
    pub fn dialect(&self) -> &str {
        &self.dialect
    }
    /// How the session is protected: `encrypted AES-128-GCM`, `signed AES-GMAC`.
    pub fn protection(&self) -> &str {
        &self.protection
    }
    /// The user this client logged on as.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl fmt::Display for RemoteHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host {} ({}", self.host, self.address)?;
        if let Some(name) = &self.server_name {
            write!(f, ", server {name}")?;
        }
        write!(f, ", SMB {}, {})", self.dialect, self.protection)
    }
}

impl PeerIdentity {
    /// The peer's process id, when the platform reports one.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The host, when the peer is a pipe's server on another host (no
    /// process id then, and on Unix uid and gid read `u32::MAX`).
    pub fn remote_host(&self) -> Option<&RemoteHost> {
        self.remote.as_deref()
    }

    /// The identity of a remote pipe's server.
    #[cfg(all(unix, feature = "remote"))]
    pub(crate) fn remote(host: RemoteHost) -> Self {
        PeerIdentity {
            pid: None,
            uid: u32::MAX,
            gid: u32::MAX,
            user_name: OnceLock::from(None),
            process: crate::process::no_process("the peer is on another host"),
            remote: Some(Arc::new(host)),
            smb: None,
        }
    }

    /// The peer's user name, when the user database knows the user.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name
            .get_or_init(|| crate::sys::user_name(self))
            .as_deref()
    }

    /// The peer's process, held so that pid reuse cannot fool a server: a
    /// pidfd on Linux 6.5+, a process handle on Windows (see
    /// [`PeerProcess`](crate::PeerProcess) for what each guarantees). Taken
    /// when the connection was made; an `Err` says why there is none
    /// ([`ProcessError::Unsupported`](crate::ProcessError::Unsupported) on
    /// kernels and systems without such a handle).
    ///
    /// ```
    /// use pipeway::{PipeListener, PipeStream};
    ///
    /// # let name = format!("peer-process-doc-{}", std::process::id());
    /// let listener = PipeListener::bind(&name)?;
    /// let client = PipeStream::connect(&name)?;
    /// let server = listener.accept()?;
    /// match server.peer().process() {
    ///     Ok(process) => println!(
    ///         "client pid {} runs {:?}, alive: {}",
    ///         process.pid(),
    ///         process.exe(),
    ///         process.is_alive()?,
    ///     ),
    ///     Err(why) => println!("no handle to the client's process: {why}"),
    /// }
    /// // The client sees its server's process the same way.
    /// assert_eq!(client.peer().process()?.pid(), std::process::id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn process(&self) -> Result<&crate::PeerProcess, crate::ProcessError> {
        self.process.as_ref().map_err(|why| why.to_error())
    }

    /// Records the peer's process, taken by the backend as the connection
    /// was made.
    pub(crate) fn with_process(mut self, process: crate::process::ProcessSlot) -> Self {
        self.process = process;
        self
    }

    /// The SMB caller, when Samba handed this client over from another
    /// host (see [`crate::smb`]); `None` for a local client.
    #[cfg(all(unix, feature = "remote"))]
    pub fn smb(&self) -> Option<&crate::smb::SmbCaller> {
        self.smb.as_deref()
    }
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PeerIdentity");
        d.field("pid", &self.pid);
        #[cfg(unix)]
        d.field("uid", &self.uid).field("gid", &self.gid);
        #[cfg(windows)]
        d.field("sid", &self.sid);
        if let Some(name) = self.user_name.get() {
            d.field("user_name", name);
        }
        if let Some(host) = &self.remote {
            d.field("remote", host);
        }
        match &self.process {
            Ok(process) => d.field("process", process),
            Err(why) => d.field("process", why),
        };
        #[cfg(all(unix, feature = "remote"))]
        if let Some(smb) = &self.smb {
            d.field("smb", smb);
        }
        d.finish()
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.remote {
            return write!(f, "{host}");
        }
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("pid ?")?,
        }
        // The user's name goes right after the id it names: after the gid it
        // would read as the group's.
        #[cfg(unix)]
        write!(f, ", uid {}", self.uid)?;
        #[cfg(windows)]
        write!(f, ", sid {}", self.sid.as_deref().unwrap_or("?"))?;
        if let Some(name) = self.user_name() {
            write!(f, " ({name})")?;
        }
        #[cfg(unix)]
        write!(f, ", gid {}", self.gid)?;
        #[cfg(all(unix, feature = "remote"))]
        if let Some(smb) = &self.smb {
            write!(f, ", {smb}")?;
        }
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use crate::sys::unix::creds::Credentials;

    use super::PeerIdentity;

    #[test]
    fn the_user_name_follows_the_uid_it_names() {
        let root = PeerIdentity::from_credentials(Credentials {
            pid: Some(1),
            uid: 0,
            gid: 0,
        });
        assert_eq!(root.to_string(), "pid 1, uid 0 (root), gid 0");
        let stranger = PeerIdentity::from_credentials(Credentials {
            pid: None,
            uid: 4242,
            gid: 4242,
        });
        assert_eq!(stranger.to_string(), "pid ?, uid 4242, gid 4242");
    }
}
