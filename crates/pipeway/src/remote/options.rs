//! What a client needs to reach a pipe on another host: credentials, the
//! SMB port, and whether to insist on encryption. Kept with the remote
//! layer; `ConnectOptions` carries it.

use std::fmt;

use zeroize::Zeroizing;

use crate::options::ConnectOptions;

/// A user name, domain and password for logging on to a remote pipe's host.
/// `Debug` never shows the password; it is wiped from memory when the last
/// copy is dropped.
#[derive(Clone, Default)]
pub struct Credentials {
    pub(crate) user: String,
    pub(crate) domain: String,
    pub(crate) password: Zeroizing<String>,
}

impl Credentials {
    /// `user` (`name`, `DOMAIN\name`, `DOMAIN/name` or `name@domain`) with `password`.
    pub fn new(user: &str, password: impl Into<String>) -> Self {
        let (domain, user) = if let Some((d, u)) = user.split_once(['\\', '/']) {
            (d, u)
        } else if let Some((u, d)) = user.rsplit_once('@') {
            (d, u)
        } else {
            ("", user)
        };
        Self {
            user: user.to_owned(),
            domain: domain.to_owned(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// The user name, without the domain.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain (empty for a local account of the host).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The password, to hand to another client (pipeway never prints it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Credentials from the environment: `PIPEWAY_USER` (any form [`new`](Self::new)
    /// reads) and `PIPEWAY_PASSWORD`. `None` unless both are set.
    pub fn from_env() -> Option<Self> {
        let user = std::env::var("PIPEWAY_USER").ok()?;
        let password = Zeroizing::new(std::env::var("PIPEWAY_PASSWORD").ok()?);
        Some(Self::new(&user, password.as_str()))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"***")
            .finish()
    }
}

/// The remote part of [`ConnectOptions`].
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(all(unix, feature = "remote")), allow(dead_code))]
pub(crate) struct RemoteOptions {
    pub credentials: Option<Credentials>,
    pub port: Option<u16>,
    pub require_encryption: bool,
}

/// Options for pipes on other hosts (`\\host\pipe\name`); see [`crate::remote`].
impl ConnectOptions {
    /// Logs on to a remote pipe's host as `user` (`name`, `DOMAIN\name` or
    /// `name@domain`) with `password`. Without it, a remote connect takes
    /// `PIPEWAY_USER` and `PIPEWAY_PASSWORD` from the environment.
    ///
    /// Used on Unix; on Windows remote names are refused for now.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.remote.credentials = Some(credentials);
        self
    }

    /// The SMB port of remote pipes' hosts (default 445).
    pub fn smb_port(mut self, port: u16) -> Self {
        self.remote.port = Some(port);
        self
    }

    /// Refuses a remote host that will not encrypt the session. Without
    /// it, the session is encrypted whenever the host offers encryption,
    /// and signed otherwise; unsigned sessions are always refused.
    pub fn require_encryption(mut self, required: bool) -> Self {
        self.remote.require_encryption = required;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_forms_and_a_hidden_password() {
        let c = Credentials::new(r"CORP\alice", "s3cret");
        assert_eq!((c.domain(), c.user()), ("CORP", "alice"));
        let c = Credentials::new("bob@corp", "s3cret");
        assert_eq!((c.domain(), c.user()), ("corp", "bob"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let o = ConnectOptions::new().credentials(c);
        assert!(!format!("{o:?}").contains("s3cret"));
    }
}
