//! The cases: one module per group, and the list of groups.
//!
//! To add a group, write a module here with a `group()` that returns its
//! [`Group`] (its tables, and the peer roles its rows start),
//! and add one line to [`all`]. See the crate's documentation for a worked
//! example.

pub mod common;

#[cfg(all(unix, feature = "channel"))]
pub mod channel;
#[cfg(unix)]
pub mod cli_echo;
#[cfg(all(unix, feature = "grpc"))]
pub mod grpc;
#[cfg(unix)]
pub mod message;
#[cfg(unix)]
pub mod pipes;
#[cfg(unix)]
pub mod seqpacket;
#[cfg(target_os = "linux")]
pub mod shm;
#[cfg(all(target_os = "linux", feature = "smb"))]
pub mod smb;
#[cfg(all(target_os = "linux", feature = "smb-serve"))]
pub mod smb_serve;

use crate::Group;

/// Every group of this build, in the order a full run measures them.
pub fn all() -> Vec<Group> {
    vec![
        #[cfg(unix)]
        pipes::group(),
        #[cfg(unix)]
        message::group(),
        #[cfg(unix)]
        cli_echo::group(),
        #[cfg(all(unix, feature = "channel"))]
        channel::group(),
        #[cfg(all(unix, feature = "grpc"))]
        grpc::group(),
        #[cfg(all(target_os = "linux", feature = "smb"))]
        smb::group(),
        #[cfg(target_os = "linux")]
        shm::group(),
        #[cfg(all(target_os = "linux", feature = "smb-serve"))]
        smb_serve::group(),
    ]
}
