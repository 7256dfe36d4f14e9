#![doc = include_str!("../README.md")]
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
mod listener;
pub mod mailslot;
mod message;
mod messages;
mod name;
mod options;
mod peer;
mod process;
pub mod remote;
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
pub mod tokio;
#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
pub mod windows;

pub use error::{Error, Result};
pub use listener::{MessageListener, PipeListener};
pub use message::MessageStream;
pub use name::{IntoPipeName, NameError, PipeName};
pub use options::{
    ConnectOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, Direction, ListenOptions,
    PipeMode,
};
pub use peer::{PeerIdentity, RemoteHost};
pub use process::{PeerProcess, ProcessError};
pub use remote::Credentials;
pub use stream::PipeStream;
