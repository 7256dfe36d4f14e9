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
/// ```no_run
/// use pipeway::PipeListener;
///
/// let listener = PipeListener::bind("whoami")?;
/// let stream = listener.accept()?;
/// let peer = stream.peer();
/// println!("pid {:?}, user {:?}", peer.pid(), peer.user_name());
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
    /// The host serving a pipe on another host.
    pub(crate) remote: Option<Arc<RemoteHost>>,
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
            remote: Some(Arc::new(host)),
        }
    }

    /// The peer's user name, when the user database knows the user.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name
            .get_or_init(|| crate::sys::user_name(self))
            .as_deref()
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
        #[cfg(unix)]
        write!(f, ", uid {}, gid {}", self.uid, self.gid)?;
        #[cfg(windows)]
        write!(f, ", sid {}", self.sid.as_deref().unwrap_or("?"))?;
        if let Some(name) = self.user_name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}
