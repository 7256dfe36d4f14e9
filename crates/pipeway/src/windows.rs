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
//! server may learn who it is, not act as it
//! ([`ConnectOptionsExt::impersonation_level`] says otherwise; a server acts
//! as its client with `run_as_client`). Before sending or reading a
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
use crate::sealed::Sealed;
use crate::sys::prelude::blocking::*;
#[cfg(feature = "tokio")]
use crate::sys::prelude::tokio::*;

/// The peer's process handle itself (`PROCESS_QUERY_LIMITED_INFORMATION`
/// and `SYNCHRONIZE` rights), for what pipeway does not wrap. It stays owned
/// by the identity: duplicate it to keep it longer.
impl std::os::windows::io::AsHandle for crate::PeerProcess {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        self.sys().as_handle()
    }
}

/// The peer's Windows identity.
pub trait PeerIdentityExt: Sealed {
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
        crate::sys::windows::account(self).map(crate::sys::windows::accounts::qualified)
    }
}

/// The SID behind a [`Principal`](crate::Principal).
pub trait PrincipalExt: Sized + Sealed {
    /// The user's SID (`S-1-5-…`).
    fn sid(&self) -> &str;
    /// The account with this SID (or `DOMAIN\name`, or `name`), if Windows
    /// knows it.
    fn from_account(account: &str) -> io::Result<Option<Self>>;
}

impl PrincipalExt for crate::Principal {
    fn sid(&self) -> &str {
        &self.sid
    }
    fn from_account(account: &str) -> io::Result<Option<Self>> {
        Ok(crate::sys::windows::accounts::sid_of(account)?.map(|sid| crate::Principal { sid }))
    }
}

/// Where a name's pipe lives.
pub trait PipeNameExt: Sealed {
    /// The `\\.\pipe\name` path of a local name; `None` for a remote one.
    fn pipe_path(&self) -> Option<&Path>;
}

impl PipeNameExt for PipeName {
    fn pipe_path(&self) -> Option<&Path> {
        self.endpoint()
    }
}

/// Windows-only listener settings.
pub trait ListenOptionsExt: Sealed {
    /// Admits clients on other hosts (no `PIPE_REJECT_REMOTE_CLIENTS`). Off
    /// by default: a pipe on Windows is reachable over the network as
    /// `\\host\pipe\name` (SMB, the `IPC$` share of the host's Server
    /// service), and pipeway refuses that unless told.
    ///
    /// To serve other hosts:
    ///
    /// - the host's Server service (`LanmanServer`) must run and TCP 445 be
    ///   open to the clients (Windows Firewall: File and Printer Sharing);
    /// - a remote client is the account it authenticated as over SMB (a
    ///   domain user, or a local account of this host), checked against the
    ///   pipe's security descriptor like a local one: pipeway's default
    ///   admits only this user and SYSTEM, so name the remote users or
    ///   groups ([`ListenOptions::allow_user`], [`ListenOptions::allow_group`],
    ///   [`allow_sid`](Self::allow_sid); `allow_group("Authenticated Users")`
    ///   admits every authenticated account) or give a
    ///   [`security_descriptor`](Self::security_descriptor); the denies
    ///   still apply at accept;
    /// - clients that connect without credentials (a null session) are
    ///   refused by Windows unless the pipe is listed in the
    ///   `NullSessionPipes` registry value: leave it so;
    /// - the peer's pid is the process on this host that carries the SMB
    ///   session (`GetNamedPipeClientProcessId` reports the Server
    ///   service's), not the remote process.
    ///
    /// ```
    /// use pipeway::ListenOptions;
    /// use pipeway::windows::ListenOptionsExt;
    ///
    /// let options = ListenOptions::new()
    ///     .accept_remote_clients(true)
    ///     .allow_group("Authenticated Users");
    /// # let _ = options;
    /// ```
    fn accept_remote_clients(self, accept: bool) -> Self;

    /// Gives every instance of the pipe this security descriptor, written
    /// in SDDL (go-winio's `PipeConfig.SecurityDescriptor`), instead of the
    /// one pipeway makes from the access rules. The allow rules then do
    /// nothing (the descriptor's DACL decides who opens the pipe); the deny
    /// rules are still checked at accept. A descriptor Windows cannot read
    /// fails the bind with an [`io::ErrorKind::InvalidInput`] error that
    /// quotes it.
    ///
    /// ```
    /// use pipeway::windows::{ListenOptionsExt, ListenerExt};
    /// use pipeway::{ListenOptions, PipeListener};
    ///
    /// // Everyone may read and write; only this user's processes are
    /// // served instances (no one else can create one: no FILE_CREATE_PIPE_INSTANCE).
    /// let sddl = "D:P(A;;0x12019b;;;WD)(A;;FA;;;OW)";
    /// let name = format!("sddl-doc-{}", std::process::id());
    /// let options = ListenOptions::new().security_descriptor(sddl);
    /// let listener = PipeListener::bind_with(name.as_str(), &options)?;
    /// assert_eq!(listener.security_descriptor(), sddl);
    /// # Ok::<(), pipeway::Error>(())
    /// ```
    fn security_descriptor(self, sddl: impl Into<String>) -> Self;

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

    fn security_descriptor(mut self, sddl: impl Into<String>) -> Self {
        self.windows.security_descriptor = Some(sddl.into());
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

/// How far a server may act as its client (the security quality of
/// service a client opens a pipe with: go-winio's `DialPipeAccessImpLevel`,
/// .NET's `TokenImpersonationLevel`). The server always learns the client's
/// pid; what else it may do as the client is the client's choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImpersonationLevel {
    /// The server may not even learn who the client is from the pipe
    /// (`SECURITY_ANONYMOUS`; pipeway's server then reads the client's user
    /// from its process, when it may).
    Anonymous,
    /// The server may learn who the client is, and not act as it
    /// (`SECURITY_IDENTIFICATION`). pipeway's default: Windows' own default
    /// would let any server it connects to act as it.
    #[default]
    Identification,
    /// The server may act as the client on its own host
    /// (`SECURITY_IMPERSONATION`): what `run_as_client` needs to open the
    /// client's files.
    Impersonation,
    /// The server may act as the client on other hosts too
    /// (`SECURITY_DELEGATION`).
    Delegation,
}

/// Windows-only client settings.
pub trait ConnectOptionsExt: Sealed {
    /// How far the server may act as this client (default
    /// [`ImpersonationLevel::Identification`]).
    ///
    /// ```
    /// use pipeway::ConnectOptions;
    /// use pipeway::windows::{ConnectOptionsExt, ImpersonationLevel};
    ///
    /// // Let the service open files as this user on this host.
    /// let options = ConnectOptions::new().impersonation_level(ImpersonationLevel::Impersonation);
    /// # let _ = options;
    /// ```
    fn impersonation_level(self, level: ImpersonationLevel) -> Self;

    /// Trusts only a pipe owned by the account with this SID (or by SYSTEM
    /// or Administrators).
    fn require_server_sid(self, sid: impl Into<String>) -> Self;

    /// Follows go-winio's convention on a message pipe; see
    /// [`ListenOptionsExt::empty_message_ends_stream`].
    fn empty_message_ends_stream(self, on: bool) -> Self;
}

impl ConnectOptionsExt for ConnectOptions {
    fn impersonation_level(mut self, level: ImpersonationLevel) -> Self {
        self.impersonation = level;
        self
    }

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
pub trait ListenerExt: Sealed {
    /// The security descriptor of every instance, in SDDL
    /// (`O:<owner>D:P(A;;FA;;;<owner>)(A;;FA;;;SY)` by default, or the one
    /// [`ListenOptionsExt::security_descriptor`] gave).
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
    crate::sys::windows::accounts::current_user_sid()
}

/// A stream's pipe handle, for Win32 calls pipeway does not make. Only
/// `AsRawHandle`, not `AsHandle`: `disconnect` closes the handle while the
/// stream lives (that is how the peer learns of it), so no borrow of it can
/// be promised to stay valid. Null once disconnected. Reading or writing it
/// directly bypasses what pipeway keeps in the stream.
macro_rules! handle_of_stream {
    ($($stream:ty),*) => {$(
        impl std::os::windows::io::AsRawHandle for $stream {
            fn as_raw_handle(&self) -> std::os::windows::io::RawHandle {
                crate::sys::Endpoint::as_raw_handle(self.sys().endpoint())
            }
        }
    )*};
}

handle_of_stream!(crate::PipeStream, crate::MessageStream);
#[cfg(feature = "tokio")]
handle_of_stream!(crate::tokio::PipeStream, crate::tokio::MessageStream);
