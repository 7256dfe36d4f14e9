//! Named pipes between hosts.
//!
//! On Windows, `\\server\pipe\name` is the file `name` on the server's
//! `IPC$` share, carried by SMB2/3 over TCP 445. This crate holds the two
//! halves pipeway needs for that, independent of pipeway's local pipes:
//!
//! - [`client`]: an SMB2/3 client for pipes on another host (Windows or
//!   Samba): dialects 2.0.2–3.1.1, NTLMv2 through SPNEGO, signing and
//!   encryption, and the pipe operations (open, read, write, transact).
//! - [`np`]: Samba's named-pipe hand-off, by which `smbd` passes a pipe
//!   opened on its `IPC$` share, with the caller's identity, to a local
//!   server's Unix socket.
//!
//! pipeway's `PipeStream::connect(r"\\host\pipe\name")` and its listeners'
//! SMB option are built on these; most programs use them through pipeway.

#![warn(missing_docs)]

pub mod client;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod np;
