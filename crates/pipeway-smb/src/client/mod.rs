//! The SMB2/3 client for pipes on other hosts.
//!
//! [`Session::get`] connects to a host (or reuses the live session to it
//! with the same credentials), and [`Pipe::open`] opens a pipe on it:
//!
//! ```no_run
//! use std::time::Duration;
//! use pipeway_smb::client::{ClientOptions, Credentials, Pipe, ReadMode, Session};
//!
//! let options = ClientOptions::new(Credentials::new("alice", "secret"));
//! let session = Session::get("fileserver", &options)?;
//! let pipe = Pipe::open(session, "echo", ReadMode::Messages, Duration::from_secs(5))?;
//! let reply = pipe.transact(b"ping", None)?;
//! # Ok::<(), pipeway_smb::client::Error>(())
//! ```
//!
//! Layers, from the bottom: [`wire`] (sans-I/O codecs for every message),
//! [`auth`] (NTLMv2 in SPNEGO), [`crypto`] (key derivation, signing,
//! encryption), `conn` (one TCP connection with its reader thread), then
//! sessions and pipes.

pub mod auth;
pub(crate) mod conn;
pub mod crypto;
mod error;
mod handshake;
mod options;
mod pipe;
mod session;
mod wait;
pub mod wire;

pub use conn::Ticket;
pub use error::Error;
pub use options::{ClientOptions, Credentials, SMB_PORT};
pub use pipe::{Pipe, ReadMode, Transact};
pub use session::{Session, SessionInfo, parse_ip};
pub use wait::{Wait, block_on};

/// The largest message a remote message pipe carries: Samba frames
/// messages with a 2-byte length, so 65,535 bytes. (Samba also drops
/// 0-byte messages without a word.)
pub const SAMBA_MAX_MESSAGE: usize = 65_535;
