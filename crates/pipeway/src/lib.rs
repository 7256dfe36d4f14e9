#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod accept;
mod access;
mod deadline;
mod error;
#[cfg(all(feature = "fuzzing", unix))]
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod impersonation;
mod info;
mod listener;
mod listing;
pub mod mailslot;
mod message;
mod messages;
mod name;
mod negotiated;
mod options;
mod peer;
mod principal;
mod process;
pub mod remote;
mod sealed;
pub mod shm;
mod show;
#[cfg(all(unix, feature = "remote"))]
pub mod smb;
mod stream;
mod sync;
mod sys;
mod transport;
mod trust;
mod wait;
#[cfg(unix)]
mod wire;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod unix;
#[cfg(windows)]
#[cfg_attr(docsrs, doc(cfg(windows)))]
pub mod windows;

pub use error::{Error, Result};
pub use impersonation::ClientImpersonation;
pub use info::PipeInfo;
pub use listener::{MessageListener, PipeListener};
pub use listing::{LocalPipe, PipeState, inspect, local_pipes};
pub use message::MessageStream;
pub use name::{IntoPipeName, NameError, PipeName};
pub use options::{
    ConnectOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, Direction, End,
    ListenOptions, PipeMode,
};
pub use peer::{PeerIdentity, RemoteHost};
pub use principal::Principal;
pub use process::{PeerProcess, ProcessError};
pub use remote::Credentials;
pub use stream::PipeStream;
