//! Windows extras: SIDs and account names, remote clients, the security
//! descriptor a listener gives its pipe, and go-winio's end-of-stream
//! convention. What Windows alone can do lives here, as extension traits,
//! so that using it elsewhere is a compile error rather than a surprise.
//!
//! # Security
//!
//! Every instance of a pipeway pipe gets a protected security descriptor,
//! owned by the listener's user, whose DACL admits, in order:
//!
//! 1. the owner (full control);
//! 2. nobody a deny rule names;
//! 3. SYSTEM (full control);
//! 4. the users and groups the allow rules name, and Everyone with
//!    [`ListenOptions::allow_everyone`]: to read and write the pipe, but not
//!    to create instances of it, so an admitted user cannot serve clients in
//!    the listener's place.
//!
//! By default that is the owner and SYSTEM only: .NET's `CurrentUserOnly`.
//! The listener also checks each client at accept and refuses the ones a
//! deny rule names, which is how a deny reaches the owner itself. Remote
//! clients are refused (`PIPE_REJECT_REMOTE_CLIENTS`) unless
//! [`ListenOptionsExt::accept_remote_clients`] says otherwise.
//!
//! A client opens pipes with the identification impersonation level: the
//! server may learn who it is, not act as it. Before sending or reading a
//! byte it checks the pipe's owner: its own user, SYSTEM or Administrators
//! (the owner an elevated process gives what it creates) by default.
//!
//! # Half-close
//!
//! Windows named pipes have no half-close. On a byte pipe
//! `shutdown(Shutdown::Write)` fails with [`io::ErrorKind::Unsupported`]
//! (drop or disconnect the stream instead: the peer reads what was written,
//! then end-of-file). On a message pipe `close_write` works when both ends
//! follow go-winio's convention, in which an empty message ends the stream
//! ([`ListenOptionsExt::empty_message_ends_stream`],
//! [`ConnectOptionsExt::empty_message_ends_stream`]); otherwise an empty
//! message is a message, as on Unix, and `close_write` is unsupported.

use std::io;
use std::path::Path;

use crate::access::Account;
use crate::name::PipeName;
use crate::options::{ConnectOptions, ListenOptions, ServerRequirement};
use crate::peer::PeerIdentity;

/// The peer's process handle itself (`PROCESS_QUERY_LIMITED_INFORMATION`
/// and `SYNCHRONIZE` rights), for what pipeway does not wrap. It stays owned
/// by the identity: duplicate it to keep it longer.
impl std::os::windows::io::AsHandle for crate::PeerProcess {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        self.sys().as_handle()
    }
}

/// The peer's Windows identity.
pub trait PeerIdentityExt {
    /// The peer's user SID (`S-1-5-21-…`): on a server stream the client's
    /// user, on a client stream the pipe's owner. `None` when Windows did
    /// not tell (a client that connected anonymously, from a process this
    /// one may not inspect).
    fn sid(&self) -> Option<&str>;

    /// The SID's account, `DOMAIN\name`, when Windows knows it.
    fn account_name(&self) -> Option<String>;
}

impl PeerIdentityExt for PeerIdentity {
    fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    fn account_name(&self) -> Option<String> {
        crate::sys::account(self).map(crate::sys::accounts::qualified)
    }
}

/// Where a name's pipe lives.
pub trait PipeNameExt {
    /// The `\\.\pipe\name` path of a local name; `None` for a remote one.
    fn pipe_path(&self) -> Option<&Path>;
}

impl PipeNameExt for PipeName {
    fn pipe_path(&self) -> Option<&Path> {
        self.endpoint()
    }
}

/// Windows-only listener settings.
pub trait ListenOptionsExt {
    /// Admits clients on other hosts (no `PIPE_REJECT_REMOTE_CLIENTS`). The
    /// access rules still apply to them. Off by default.
    fn accept_remote_clients(self, accept: bool) -> Self;

    /// Also admits the account with this SID (`S-1-5-…`).
    fn allow_sid(self, sid: impl Into<String>) -> Self;

    /// Refuses the account with this SID, whatever else admits it.
    fn deny_sid(self, sid: impl Into<String>) -> Self;

    /// Follows go-winio's convention on a message pipe: an empty message
    /// ends the stream, so `close_write` works (the peer's receive returns
    /// `None`) and sending an empty message is refused. Both ends must agree.
    fn empty_message_ends_stream(self, on: bool) -> Self;
}

impl ListenOptionsExt for ListenOptions {
    fn accept_remote_clients(mut self, accept: bool) -> Self {
        self.windows.accept_remote_clients = accept;
        self
    }

    fn allow_sid(mut self, sid: impl Into<String>) -> Self {
        self.access.allow_users.push(Account::Name(sid.into()));
        self
    }

    fn deny_sid(mut self, sid: impl Into<String>) -> Self {
        self.access.deny_users.push(Account::Name(sid.into()));
        self
    }

    fn empty_message_ends_stream(mut self, on: bool) -> Self {
        self.windows.empty_message_ends_stream = on;
        self
    }
}

/// Windows-only client settings.
pub trait ConnectOptionsExt {
    /// Trusts only a pipe owned by the account with this SID (or by SYSTEM
    /// or Administrators).
    fn require_server_sid(self, sid: impl Into<String>) -> Self;

    /// Follows go-winio's convention on a message pipe; see
    /// [`ListenOptionsExt::empty_message_ends_stream`].
    fn empty_message_ends_stream(self, on: bool) -> Self;
}

impl ConnectOptionsExt for ConnectOptions {
    fn require_server_sid(mut self, sid: impl Into<String>) -> Self {
        self.server = ServerRequirement::User(Account::Name(sid.into()));
        self
    }

    fn empty_message_ends_stream(mut self, on: bool) -> Self {
        self.empty_message_ends_stream = on;
        self
    }
}

/// What a listener gave its pipe.
pub trait ListenerExt {
    /// The security descriptor of every instance, in SDDL
    /// (`O:<owner>D:P(A;;FA;;;<owner>)(A;;FA;;;SY)` by default).
    fn security_descriptor(&self) -> &str;
}

impl ListenerExt for crate::PipeListener {
    fn security_descriptor(&self) -> &str {
        self.sys().sddl()
    }
}

impl ListenerExt for crate::MessageListener {
    fn security_descriptor(&self) -> &str {
        self.sys().sddl()
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::PipeListener {
    fn security_descriptor(&self) -> &str {
        self.sys().sddl()
    }
}

#[cfg(feature = "tokio")]
impl ListenerExt for crate::tokio::MessageListener {
    fn security_descriptor(&self) -> &str {
        self.sys().sddl()
    }
}

/// The SID of the user this process runs as: the owner of the pipes it
/// serves, and the server user its clients trust by default.
pub fn current_user_sid() -> io::Result<String> {
    crate::sys::accounts::current_user_sid()
}
