//! Pipes on other hosts: `\\host\pipe\name`.
//!
//! On Linux and other Unix systems pipeway reaches them itself, over
//! SMB2/3 with the `pipeway-smb` client (the `remote` feature, on by
//! default): [`PipeStream`](crate::PipeStream) and
//! [`MessageStream`](crate::MessageStream), blocking and tokio, connect to
//! them with the same calls and give the same types as local pipes. One
//! connection and session per host and user is shared by all the pipes to
//! that host. On Windows a remote name is refused for now
//! ([`Error::RemoteNotSupported`](crate::Error::RemoteNotSupported)); the
//! plan there is to let the system open it (`CreateFile` on the UNC name,
//! with the logon session's credentials).
//!
//! What differs from a local pipe, because SMB works that way:
//!
//! - **Credentials.** [`ConnectOptions::credentials`](crate::ConnectOptions::credentials),
//!   or `PIPEWAY_USER` and `PIPEWAY_PASSWORD` in the environment. Guest,
//!   anonymous and unsigned sessions are refused; the session is encrypted
//!   whenever the host offers it.
//! - **No half-close.** SMB cannot end one direction of a pipe: shutting
//!   down the write side (or `close_write`) fails with
//!   [`io::ErrorKind::Unsupported`](std::io::ErrorKind::Unsupported); the
//!   server sees the end when the stream is dropped or disconnected.
//! - **Messages.** A message carries at most 65,535 bytes (Samba frames
//!   messages with 2 bytes); a longer send fails with
//!   [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) before
//!   anything is sent. Samba silently drops 0-byte messages.
//! - **Mode.** SMB does not tell a client whether a pipe is byte or message
//!   typed (Samba refuses the query): a `MessageStream` on a byte pipe is
//!   not detected.
//! - **Identity.** [`PeerIdentity::remote_host`](crate::PeerIdentity::remote_host)
//!   names the host; there is no process id, and on Unix the peer's uid
//!   and gid read as `u32::MAX`. The server's account is not checked
//!   (`require_server_user` does not apply): the host's log-on is the check.

mod options;

pub use options::Credentials;
pub(crate) use options::RemoteOptions;

#[cfg(all(unix, feature = "remote"))]
pub(crate) mod smb;
