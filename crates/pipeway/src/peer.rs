//! Who is at the other end of a pipe.

use std::fmt;
use std::sync::OnceLock;

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
    /// The SMB caller, for a client Samba handed over.
    #[cfg(all(unix, feature = "smb"))]
    pub(crate) smb: Option<std::sync::Arc<crate::smb::SmbCaller>>,
}

impl PeerIdentity {
    /// The peer's process id, when the platform reports one.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The peer's user name, when the user database knows the user.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name
            .get_or_init(|| crate::sys::user_name(self))
            .as_deref()
    }

    /// The SMB caller, when Samba handed this client over from another
    /// host (see [`crate::smb`]); `None` for a local client.
    #[cfg(all(unix, feature = "smb"))]
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
        #[cfg(all(unix, feature = "smb"))]
        if let Some(smb) = &self.smb {
            d.field("smb", smb);
        }
        d.finish()
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        #[cfg(all(unix, feature = "smb"))]
        if let Some(smb) = &self.smb {
            write!(f, ", {smb}")?;
        }
        Ok(())
    }
}
