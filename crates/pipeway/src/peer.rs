//! Who is at the other end of a pipe.

use std::fmt;
use std::sync::OnceLock;

/// The identity of the process at the other end of a pipe, as the kernel
/// reported it when the connection was made (`SO_PEERCRED` on Linux).
///
/// On a server stream it is the client; on a client stream, the server. The
/// numeric ids are Unix extras: [`PeerIdentityExt`](crate::unix::PeerIdentityExt).
///
/// ```no_run
/// use pipeway::PipeListener;
/// use pipeway::unix::PeerIdentityExt;
///
/// let listener = PipeListener::bind("whoami")?;
/// let stream = listener.accept()?;
/// let peer = stream.peer();
/// println!("pid {:?}, uid {}, user {:?}", peer.pid(), peer.uid(), peer.user_name());
/// # Ok::<(), pipeway::Error>(())
/// ```
#[derive(Clone)]
pub struct PeerIdentity {
    pub(crate) pid: Option<u32>,
    #[cfg(unix)]
    pub(crate) uid: u32,
    #[cfg(unix)]
    pub(crate) gid: u32,
    /// Resolved on first use: a user database lookup is too slow to make on
    /// every accept.
    pub(crate) user_name: OnceLock<Option<String>>,
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
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PeerIdentity");
        d.field("pid", &self.pid);
        #[cfg(unix)]
        d.field("uid", &self.uid).field("gid", &self.gid);
        if let Some(name) = self.user_name.get() {
            d.field("user_name", name);
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
        if let Some(name) = self.user_name() {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}
