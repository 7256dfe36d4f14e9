//! Who the client logs on as and how it treats the host.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// A user name, domain and password for NTLM. The password is never
/// printed (`Debug` shows `***`) and is wiped from memory when the
/// credentials are dropped.
#[derive(Clone, Default)]
pub struct Credentials {
    pub(crate) user: String,
    pub(crate) domain: String,
    pub(crate) password: Zeroizing<String>,
}

impl Credentials {
    /// `user` with `password`, in no domain (a local account of the host).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            domain: String::new(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// Reads `DOMAIN\user`, `DOMAIN/user` or `user@domain`.
    pub fn parse_user(written: &str, password: impl Into<String>) -> Self {
        let (domain, user) = if let Some((d, u)) = written.split_once(['\\', '/']) {
            (d, u)
        } else if let Some((u, d)) = written.rsplit_once('@') {
            (d, u)
        } else {
            ("", written)
        };
        Self::new(user, password).domain(domain)
    }

    /// Sets the domain.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain (empty for none).
    pub fn domain_name(&self) -> &str {
        &self.domain
    }

    /// `DOMAIN\user`, or `user`.
    pub fn display_user(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!(r"{}\{}", self.domain, self.user)
        }
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

/// The standard SMB port.
pub const SMB_PORT: u16 = 445;

/// How to reach a host and what to require of it.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Who to log on as.
    pub credentials: Credentials,
    /// The TCP port (default 445).
    pub port: u16,
    /// Refuse a session the host will not encrypt.
    pub require_encryption: bool,
    /// How long to wait for the TCP connection and the log-on.
    pub connect_timeout: Duration,
    /// Send an ECHO after this long without traffic; a host that then stays
    /// silent for as long again is taken as gone.
    pub keepalive: Duration,
}

impl ClientOptions {
    /// Defaults: port 445, encryption when the host offers it, a 5 s
    /// connect timeout and a 30 s keep-alive.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            port: SMB_PORT,
            require_encryption: false,
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_forms() {
        let c = Credentials::parse_user(r"CORP\alice", "pw");
        assert_eq!((c.domain_name(), c.user()), ("CORP", "alice"));
        let c = Credentials::parse_user("bob@corp.example", "pw");
        assert_eq!((c.domain_name(), c.user()), ("corp.example", "bob"));
        let c = Credentials::parse_user("carol", "pw");
        assert_eq!((c.domain_name(), c.user()), ("", "carol"));
        assert_eq!(Credentials::parse_user("D/u", "").display_user(), r"D\u");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::new("alice", "s3cret-value");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
