//! Mailslots: one reader, any number of writers, one-way datagrams, as in
//! Win32 (`\\.\mailslot\name`; `CreateMailslot`, `GetMailslotInfo`).
//!
//! A [`MailslotServer`] is created with a name, a maximum message size and a
//! read timeout; [`MailslotClient`]s open it by name and
//! [`send`](MailslotClient::send) messages, each delivered whole, in order
//! per writer. [`MailslotServer::info`] gives the number of waiting
//! messages and the next one's size.
//!
//! | written | Linux | Windows |
//! |---|---|---|
//! | `alerts`, `\\.\mailslot\alerts`, `//./mailslot/alerts` | a datagram socket at `${TMPDIR:-/tmp}/pipeway_mailslot_alerts` | `\\.\mailslot\alerts` |
//!
//! On Linux the socket file is owner-only by default, and the server checks
//! each message's sender (`SCM_CREDENTIALS`) against the access rules, as a
//! pipe checks each client; binding over a live mailslot fails with
//! [`MailslotError::InUse`], and a socket left by a crashed server is
//! reclaimed. A message over the maximum is refused with
//! [`MailslotError::MessageTooLarge`]: by the server, which drops it, and
//! by the client when it exceeds what the kernel carries in one datagram.

mod error;
mod name;

use std::time::Duration;

use crate::access::{AccessRules, Account};

pub use error::MailslotError;
pub use name::MailslotName;

use crate::sys::mailslot as sys;

/// The largest message a mailslot accepts by default.
pub const DEFAULT_MAX_MAILSLOT_MESSAGE: usize = 64 * 1024;

/// How a [`MailslotServer`] is made: its maximum message size, its read
/// timeout, and who may write to it (owner-only by default).
#[derive(Clone, Debug)]
pub struct MailslotOptions {
    pub(crate) max_message_size: usize,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) access: AccessRules,
}

impl Default for MailslotOptions {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MAILSLOT_MESSAGE,
            read_timeout: None,
            access: AccessRules::default(),
        }
    }
}

impl MailslotOptions {
    /// 64 KiB messages, reads that wait forever, owner-only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest message accepted (at least 1 byte).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long [`MailslotServer::read`] waits for a message (`None`:
    /// forever, `MAILSLOT_WAIT_FOREVER`; zero: not at all).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Also admits writers of this user.
    pub fn allow_user(mut self, user: impl Into<String>) -> Self {
        self.access.allow_users.push(Account::Name(user.into()));
        self
    }

    /// Also admits writers in this group.
    pub fn allow_group(mut self, group: impl Into<String>) -> Self {
        self.access.allow_groups.push(Account::Name(group.into()));
        self
    }

    /// Admits every writer.
    pub fn allow_everyone(mut self) -> Self {
        self.access.everyone = true;
        self
    }

    /// Refuses writers of this user.
    pub fn deny_user(mut self, user: impl Into<String>) -> Self {
        self.access.deny_users.push(Account::Name(user.into()));
        self
    }
}

/// What [`MailslotServer::info`] reports (`GetMailslotInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailslotInfo {
    /// Messages waiting.
    pub count: usize,
    /// The next message's size, if one waits.
    pub next_size: Option<usize>,
    /// The largest message accepted.
    pub max_message_size: usize,
    /// The read timeout.
    pub read_timeout: Option<Duration>,
}

/// The reading end of a mailslot.
///
/// ```
/// use std::time::Duration;
/// use pipeway::mailslot::{MailslotClient, MailslotOptions, MailslotServer};
///
/// let name = format!("doc-mailslot-{}", std::process::id());
/// let options = MailslotOptions::new().read_timeout(Some(Duration::from_secs(5)));
/// let server = MailslotServer::create_with(&name, &options)?;
/// let client = MailslotClient::open(&name)?;
/// client.send(b"first")?;
/// client.send(b"second!")?;
/// let info = server.info()?;
/// println!("{} waiting", info.count); // 2 (Wine's GetMailslotInfo says 1)
/// assert_eq!(info.next_size, Some(5));
/// assert_eq!(server.read()?, b"first");
/// assert_eq!(server.read()?, b"second!");
/// # Ok::<(), pipeway::mailslot::MailslotError>(())
/// ```
#[derive(Debug)]
pub struct MailslotServer {
    name: MailslotName,
    inner: sys::Server,
}

impl MailslotServer {
    /// Creates the mailslot `name` with the default options.
    pub fn create(name: &str) -> Result<Self, MailslotError> {
        Self::create_with(name, &MailslotOptions::new())
    }

    /// Creates the mailslot `name` with `options`.
    pub fn create_with(name: &str, options: &MailslotOptions) -> Result<Self, MailslotError> {
        let name = MailslotName::parse(name)?;
        if options.max_message_size == 0 {
            return Err(MailslotError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the maximum message size must be 1 byte or more",
            )));
        }
        let inner = sys::Server::create(&name, options)?;
        Ok(Self { name, inner })
    }

    /// The name.
    pub fn name(&self) -> &MailslotName {
        &self.name
    }

    /// Reads the next message, waiting up to the read timeout
    /// ([`MailslotError::TimedOut`] then). A message over the maximum is
    /// dropped and reported as [`MailslotError::MessageTooLarge`]; the next
    /// read goes on with the next message.
    pub fn read(&self) -> Result<Vec<u8>, MailslotError> {
        self.inner.read()
    }

    /// The number of waiting messages and the next one's size.
    pub fn info(&self) -> Result<MailslotInfo, MailslotError> {
        self.inner.info()
    }

    /// Changes the read timeout (`SetMailslotInfo`).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), MailslotError> {
        self.inner.set_read_timeout(timeout)
    }
}

/// A writer to a mailslot.
#[derive(Debug)]
pub struct MailslotClient {
    inner: sys::Client,
}

impl MailslotClient {
    /// Opens the mailslot `name`, which must exist.
    pub fn open(name: &str) -> Result<Self, MailslotError> {
        let name = MailslotName::parse(name)?;
        Ok(Self {
            inner: sys::Client::open(&name)?,
        })
    }

    /// Sends one message, delivered whole or not at all.
    pub fn send(&self, message: &[u8]) -> Result<(), MailslotError> {
        self.inner.send(message)
    }
}
