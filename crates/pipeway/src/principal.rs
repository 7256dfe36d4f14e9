//! A user, as the platform names it: what a peer runs as, and who owns a pipe.

use std::fmt;
use std::io;

use crate::peer::PeerIdentity;

/// A user as the platform names it: a uid on Unix, a SID on Windows. What
/// [`PeerIdentity::principal`] says the peer runs as, portably: compare two
/// of them, print one, or look up its account's name. The platform's own id
/// is an extension: `pipeway::unix::PrincipalExt::uid`,
/// `pipeway::windows::PrincipalExt::sid`.
///
/// ```
/// use pipeway::Principal;
///
/// let me = Principal::current()?;
/// println!("running as {me} ({:?})", me.account_name());
/// assert_eq!(me, Principal::current()?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    #[cfg(unix)]
    pub(crate) uid: u32,
    #[cfg(windows)]
    pub(crate) sid: String,
}

impl Principal {
    /// The user this process runs as (its effective uid on Unix): the owner
    /// of the pipes it serves, and the server user its clients trust by
    /// default.
    pub fn current() -> io::Result<Principal> {
        crate::sys::current_principal()
    }

    /// The platform's id for the user, as text: the uid (`1000`) on Unix,
    /// the SID (`S-1-5-21-…`) on Windows.
    pub fn id(&self) -> String {
        #[cfg(unix)]
        return self.uid.to_string();
        #[cfg(windows)]
        return self.sid.clone();
    }

    /// The account's name, as the account database has it (`alice` on
    /// Unix, `DOMAIN\alice` on Windows), or `None` for an id it does not
    /// know. Looked up on each call.
    pub fn account_name(&self) -> Option<String> {
        crate::sys::account_name(self)
    }
}

/// `uid 1000` on Unix, the SID on Windows.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(unix)]
        return write!(f, "uid {}", self.uid);
        #[cfg(windows)]
        return f.write_str(&self.sid);
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({self})")
    }
}

impl PeerIdentity {
    /// The user the peer runs as: on a server stream the client's, on a
    /// client stream the server's (on Windows, the pipe's owner). `None` on
    /// Windows when the system did not say (a client that connected
    /// anonymously, from a process this one may not inspect).
    pub fn principal(&self) -> Option<Principal> {
        #[cfg(unix)]
        return Some(Principal { uid: self.uid });
        #[cfg(windows)]
        return self.sid.clone().map(|sid| Principal { sid });
    }
}
