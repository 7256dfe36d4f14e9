//! The options of listeners and clients, shared by the blocking and tokio faces.

use std::fmt;
use std::time::Duration;

use crate::access::{AccessRules, Account};

/// The default largest message a message-mode pipe accepts: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// The default connect timeout: how long a client waits for a pipe that does
/// not exist yet, refuses, or is busy.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which way data flows, named as Windows names it: from the server's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Both ways (`PIPE_ACCESS_DUPLEX`).
    #[default]
    Duplex,
    /// Clients write and the server reads (`PIPE_ACCESS_INBOUND`).
    Inbound,
    /// The server writes and clients read (`PIPE_ACCESS_OUTBOUND`).
    Outbound,
}

impl Direction {
    /// Whether the server end may read.
    pub fn server_reads(self) -> bool {
        self != Direction::Outbound
    }
    /// Whether the server end may write.
    pub fn server_writes(self) -> bool {
        self != Direction::Inbound
    }
    /// Whether a client end may read: the server writes.
    pub fn client_reads(self) -> bool {
        self.server_writes()
    }
    /// Whether a client end may write: the server reads.
    pub fn client_writes(self) -> bool {
        self.server_reads()
    }
    /// Whether a pipe that goes this way can serve a client that asks for
    /// `requested`: the same direction, or any from a duplex pipe.
    pub fn serves(self, requested: Direction) -> bool {
        self == requested || self == Direction::Duplex
    }
    /// Whether an end may read, given which end it is.
    pub(crate) fn reads(self, end: End) -> bool {
        match end {
            End::Server => self.server_reads(),
            End::Client => self.client_reads(),
        }
    }
    /// Whether an end may write, given which end it is.
    pub(crate) fn writes(self, end: End) -> bool {
        match end {
            End::Server => self.server_writes(),
            End::Client => self.client_writes(),
        }
    }

    /// The direction a client gets from a pipe that offers `offered`: what
    /// it asked for, if the pipe serves it, or else the pipe's own; a pipe
    /// that cannot serve the request is refused with
    /// [`Error::DirectionMismatch`](crate::Error::DirectionMismatch).
    pub(crate) fn negotiate(
        name: &crate::PipeName,
        requested: Option<Direction>,
        offered: Direction,
    ) -> Result<Direction, crate::Error> {
        match requested {
            None => Ok(offered),
            Some(requested) if offered.serves(requested) => Ok(requested),
            Some(requested) => Err(crate::Error::DirectionMismatch {
                name: name.to_string(),
                requested,
                actual: offered,
            }),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Duplex => "duplex",
            Direction::Inbound => "inbound (clients write, the server reads)",
            Direction::Outbound => "outbound (the server writes, clients read)",
        })
    }
}

/// What an end of a pipe is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Read,
    Write,
}

impl Direction {
    /// Refuses `op` on `end` if the pipe's direction rules it out: the one
    /// rule both faces and both modes apply before touching the socket.
    pub(crate) fn check(self, end: End, op: Operation) -> Result<(), crate::Error> {
        let (allowed, name) = match op {
            Operation::Read => (self.reads(end), "read"),
            Operation::Write => (self.writes(end), "write"),
        };
        if allowed {
            Ok(())
        } else {
            Err(crate::Error::WrongDirection {
                op: name,
                direction: self,
            })
        }
    }
}

/// Which end of a pipe a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The end a listener accepted.
    Server,
    /// The end that connected.
    Client,
}

/// How a pipe carries data: a byte stream or whole messages.
///
/// The mode is fixed by the type you use ([`PipeStream`](crate::PipeStream) or
/// [`MessageStream`](crate::MessageStream)); it shows up in errors when the
/// two ends disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PipeMode {
    /// A byte stream (`PIPE_TYPE_BYTE`).
    Byte,
    /// Whole messages with their boundaries (`PIPE_TYPE_MESSAGE`).
    Message,
}

impl fmt::Display for PipeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PipeMode::Byte => "byte-mode",
            PipeMode::Message => "message-mode",
        })
    }
}

/// How a listener serves its pipe. Used by every listener type:
/// [`PipeListener`](crate::PipeListener), [`MessageListener`](crate::MessageListener)
/// and their tokio forms.
///
/// The defaults are secure and unsurprising: duplex, unlimited instances,
/// only the owner's user (and root; on Windows, SYSTEM) admitted, 16 MiB
/// messages, and on Windows no remote clients.
///
/// ```
/// use std::io::{Read, Write};
/// use pipeway::{ConnectOptions, Direction, ListenOptions, PipeListener, PipeStream};
///
/// let name = format!("doc-listen-options-{}", std::process::id());
/// // Clients write and the server reads; at most 4 clients at once. Access
/// // rules widen who may connect: `.allow_group("staff")`, say.
/// let options = ListenOptions::new()
///     .direction(Direction::Inbound)
///     .max_instances(4);
/// let listener = PipeListener::bind_with(&name, &options)?;
///
/// let mut client =
///     PipeStream::connect_with(&name, &ConnectOptions::new().direction(Direction::Inbound))?;
/// client.write_all(b"42 C")?;
/// let mut reading = [0u8; 4];
/// listener.accept()?.read_exact(&mut reading)?;
/// assert_eq!(&reading, b"42 C");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Setters take and return the options by value: a setter whose result is
/// dropped changes nothing, and the compiler says so (`unused_must_use`):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let options = pipeway::ListenOptions::new();
/// options.allow_user("alice"); // dropped: alice is not admitted
/// ```
#[derive(Clone, Debug)]
#[must_use = "options are set by value: use the ListenOptions a setter returns"]
pub struct ListenOptions {
    pub(crate) direction: Direction,
    pub(crate) max_instances: Option<usize>,
    pub(crate) first_instance: bool,
    pub(crate) access: AccessRules,
    pub(crate) in_buffer_size: Option<usize>,
    pub(crate) out_buffer_size: Option<usize>,
    pub(crate) max_message_size: usize,
    #[cfg(windows)]
    pub(crate) windows: WindowsListen,
    /// Also serve SMB clients through Samba (`pipeway::unix::ListenOptionsExt::serve_smb`).
    #[cfg(all(unix, feature = "remote"))]
    pub(crate) smb: Option<crate::smb::SmbOptions>,
}

/// The Windows-only settings of a listener, set through
/// `pipeway::windows::ListenOptionsExt`.
#[cfg(windows)]
#[derive(Clone, Debug, Default)]
pub(crate) struct WindowsListen {
    /// Admit clients on other hosts (no `PIPE_REJECT_REMOTE_CLIENTS`).
    pub accept_remote_clients: bool,
    /// go-winio's convention: an empty message ends a message stream.
    pub empty_message_ends_stream: bool,
    /// A security descriptor given as SDDL, in place of the one the access
    /// rules make.
    pub security_descriptor: Option<String>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ListenOptions {
    /// The defaults: duplex, unlimited instances, owner-only access.
    pub fn new() -> Self {
        Self {
            direction: Direction::Duplex,
            max_instances: None,
            first_instance: false,
            access: AccessRules::default(),
            in_buffer_size: None,
            out_buffer_size: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            #[cfg(windows)]
            windows: WindowsListen::default(),
            #[cfg(all(unix, feature = "remote"))]
            smb: None,
        }
    }

    /// Which way data flows. Each end refuses the operation its direction
    /// rules out with [`Error::WrongDirection`](crate::Error::WrongDirection).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// At most `n` clients connected at once (`nMaxInstances`). A client
    /// beyond `n` waits for a free instance until its connect timeout, then
    /// fails with [`Error::Busy`](crate::Error::Busy). `n` must be at least 1.
    ///
    /// On Unix a limited pipe uses pipeway's framed wire, so only pipeway
    /// clients can reach it (see the crate docs, "Two wires"). On Windows it
    /// is the pipe's own instance limit, and any client gets
    /// `ERROR_PIPE_BUSY` past it.
    pub fn max_instances(mut self, n: usize) -> Self {
        self.max_instances = Some(n);
        self
    }

    /// Fails the bind if the name exists at all, even as a stale socket file
    /// that would otherwise be reclaimed (`FILE_FLAG_FIRST_PIPE_INSTANCE`).
    ///
    /// On Windows, where a name cannot go stale, a listener is always the
    /// first instance of its name: binding a live name fails either way,
    /// with [`Error::AlreadyExists`](crate::Error::AlreadyExists) when this
    /// is set and [`Error::InUse`](crate::Error::InUse) when it is not.
    pub fn first_instance(mut self, first: bool) -> Self {
        self.first_instance = first;
        self
    }

    /// Also admits `user` (a user name).
    pub fn allow_user(mut self, user: impl Into<String>) -> Self {
        self.access.allow_users.push(Account::Name(user.into()));
        self
    }

    /// Also admits members of `group` (a group name).
    pub fn allow_group(mut self, group: impl Into<String>) -> Self {
        self.access.allow_groups.push(Account::Name(group.into()));
        self
    }

    /// Admits every user (denies still apply).
    pub fn allow_everyone(mut self) -> Self {
        self.access.everyone = true;
        self
    }

    /// Refuses `user`, whatever else admits them. Denies win over allows.
    pub fn deny_user(mut self, user: impl Into<String>) -> Self {
        self.access.deny_users.push(Account::Name(user.into()));
        self
    }

    /// Refuses members of `group`, whatever else admits them.
    pub fn deny_group(mut self, group: impl Into<String>) -> Self {
        self.access.deny_groups.push(Account::Name(group.into()));
        self
    }

    /// The size of the kernel buffer for data flowing in (`nInBufferSize`;
    /// `SO_RCVBUF` on Unix, which the kernel may round). On Windows the
    /// default is 64 KiB.
    pub fn in_buffer_size(mut self, bytes: usize) -> Self {
        self.in_buffer_size = Some(bytes);
        self
    }

    /// The size of the kernel buffer for data flowing out (`nOutBufferSize`;
    /// `SO_SNDBUF` on Unix).
    pub fn out_buffer_size(mut self, bytes: usize) -> Self {
        self.out_buffer_size = Some(bytes);
        self
    }

    /// The largest message a message-mode pipe accepts from its clients
    /// (default [`DEFAULT_MAX_MESSAGE_SIZE`]). Clients learn it when they
    /// connect and refuse larger sends before sending anything.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

/// Who a client accepts as the server of a pipe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum ServerRequirement {
    /// The client's own user, or root (the default).
    #[default]
    SameUserOrRoot,
    /// That user, or root.
    User(Account),
    /// Anyone.
    Anyone,
}

/// How a client connects. Used by every stream type's `connect_with`.
///
/// By default a connect waits up to [`DEFAULT_CONNECT_TIMEOUT`] for the pipe to
/// appear, listen, or have a free instance, and trusts only a server running
/// as the client's own user or root. On Windows the analogue of root is
/// SYSTEM and the Administrators group (the owner an elevated process gives
/// what it creates), and the user checked is the pipe's owner.
///
/// ```
/// use std::time::Duration;
/// use pipeway::{ConnectOptions, Error, PipeListener, PipeStream};
///
/// let name = format!("doc-connect-options-{}", std::process::id());
/// let missing = format!("{name}-missing");
/// let _listener = PipeListener::bind(&name)?;
///
/// // Waits up to 1 s for the pipe, then fails naming it.
/// let quick = ConnectOptions::new().timeout(Duration::from_secs(1));
/// assert!(matches!(PipeStream::connect_with(&missing, &quick), Err(Error::NotFound { .. })));
/// let _stream = PipeStream::connect_with(&name, &quick)?;
///
/// // `.require_server_user("postgres")` would trust only a server run by
/// // postgres (or root), refusing any other before a byte goes either way.
/// # Ok::<(), pipeway::Error>(())
/// ```
///
/// Setters take and return the options by value; a dropped result is a
/// warning (`unused_must_use`):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let options = pipeway::ConnectOptions::new();
/// options.trust_any_server(); // dropped: the default trust still applies
/// ```
#[derive(Clone, Debug)]
#[must_use = "options are set by value: use the ConnectOptions a setter returns"]
pub struct ConnectOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) direction: Option<Direction>,
    pub(crate) server: ServerRequirement,
    pub(crate) in_buffer_size: Option<usize>,
    pub(crate) out_buffer_size: Option<usize>,
    pub(crate) max_message_size: usize,
    #[cfg(windows)]
    pub(crate) empty_message_ends_stream: bool,
    #[cfg(windows)]
    pub(crate) impersonation: crate::windows::ImpersonationLevel,
    pub(crate) remote: crate::remote::RemoteOptions,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectOptions {
    /// The defaults: a 5 s timeout, any direction, a server of the same user or root.
    pub fn new() -> Self {
        Self {
            timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            direction: None,
            server: ServerRequirement::default(),
            in_buffer_size: None,
            out_buffer_size: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            #[cfg(windows)]
            empty_message_ends_stream: false,
            #[cfg(windows)]
            impersonation: crate::windows::ImpersonationLevel::default(),
            remote: Default::default(),
        }
    }

    /// How long to wait for the pipe to exist, listen, and have a free
    /// instance (`WaitNamedPipe`). Zero tries once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the pipe with no time limit.
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The direction this client needs. A pipe that cannot serve it is refused
    /// with [`Error::DirectionMismatch`](crate::Error::DirectionMismatch) where
    /// the pipe announces its direction. An inbound client shuts down its read
    /// half at once and an outbound client its write half, as .NET's
    /// `PipeDirection.Out` and `In` clients do. Unset, the client takes the
    /// pipe's direction (duplex when the pipe does not say).
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Trusts only a server running as `user` (or root; on Windows, SYSTEM
    /// or Administrators). On Windows `user` may be `name`, `DOMAIN\name` or
    /// a SID string (`S-1-5-21-…`).
    pub fn require_server_user(mut self, user: impl Into<String>) -> Self {
        self.server = ServerRequirement::User(Account::Name(user.into()));
        self
    }

    /// Trusts a server running as any user. Use it for pipes that other users
    /// serve on purpose; the default refuses them, which stops squatters.
    pub fn trust_any_server(mut self) -> Self {
        self.server = ServerRequirement::Anyone;
        self
    }

    /// The kernel receive buffer (`SO_RCVBUF` on Unix). Windows sizes a
    /// pipe's buffers on the server's side only: ignored there.
    pub fn in_buffer_size(mut self, bytes: usize) -> Self {
        self.in_buffer_size = Some(bytes);
        self
    }

    /// The kernel send buffer (`SO_SNDBUF` on Unix); ignored on Windows.
    pub fn out_buffer_size(mut self, bytes: usize) -> Self {
        self.out_buffer_size = Some(bytes);
        self
    }

    /// The largest message this client accepts from the server (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]). On Windows, where a native pipe carries
    /// no handshake, the client also takes it as the server's limit.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_what_it_asks_for_where_the_pipe_serves_it() {
        use Direction::*;
        let name = crate::PipeName::parse("negotiate").unwrap();
        assert_eq!(Direction::negotiate(&name, None, Inbound).unwrap(), Inbound);
        assert_eq!(
            Direction::negotiate(&name, Some(Outbound), Duplex).unwrap(),
            Outbound
        );
        assert_eq!(
            Direction::negotiate(&name, Some(Inbound), Inbound).unwrap(),
            Inbound
        );
        for (requested, offered) in [(Duplex, Inbound), (Inbound, Outbound)] {
            assert!(matches!(
                Direction::negotiate(&name, Some(requested), offered),
                Err(crate::Error::DirectionMismatch { .. })
            ));
        }
    }

    #[test]
    fn client_and_server_ends_see_one_direction_from_two_sides() {
        for direction in [Direction::Duplex, Direction::Inbound, Direction::Outbound] {
            assert_eq!(direction.client_reads(), direction.server_writes());
            assert_eq!(direction.client_writes(), direction.server_reads());
            assert!(direction.serves(direction));
            assert!(Direction::Duplex.serves(direction));
        }
        assert!(!Direction::Inbound.serves(Direction::Duplex));
    }
}
