//! Test fixtures for pipeway's remote-pipe tests: a real Samba server as a
//! second host; and [`needs`], the one rule every pipeway test follows when
//! the machine lacks what it needs (fail in CI, skip elsewhere).
//!
//! [`SambaHost::start`] makes a network namespace joined to this one by a
//! veth pair (addresses from `10.77.0.0/16`, used only on that pair), starts
//! Debian's `smbd` inside it with all of its state in a temporary directory
//! (nothing in `/etc` or `/var` is touched), adds a test user, and waits
//! until the server accepts SMB connections. Dropping the host stops every
//! process of it, deletes the namespace (and with it the veth pair), the test
//! users and the directory.
//!
//! Without root (or without `ip`), the host is `smbd` on `127.0.0.1` and a
//! free high port instead ([`Placement::Loopback`]).
//!
//! Custom pipes of that host are Unix sockets in [`SambaHost::np_dir`]:
//! `smbd` hands every open of `\\host\IPC$\NAME` to the socket
//! `np_dir/NAME` (lower-cased), after a `named_pipe_auth_req`. Unix
//! sockets cross network namespaces, so a pipe server for that host runs in
//! the test process itself.
//!
//! Several test processes may run hosts at once: namespace, interface and
//! user names carry the process id and a counter, and each host's subnet is
//! held by a lock file for as long as the host lives.
//!
//! ```no_run
//! use pipeway_testbed::SambaHost;
//!
//! let host = SambaHost::start()?;
//! println!("smbd at {}:{} as {}", host.address(), host.port(), host.user().name);
//! # Ok::<(), std::io::Error>(())
//! ```

// Samba hosts, namespaces and users are Linux things: on other platforms
// the crate has only `needs`, the rule for skipping (and the links above
// lead nowhere).
#![cfg_attr(not(target_os = "linux"), allow(rustdoc::broken_intra_doc_links))]

mod children;
pub mod needs;

pub use children::{Reaped, example};

#[cfg(target_os = "linux")]
mod netns;
#[cfg(target_os = "linux")]
mod pipe_server;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod samba;
#[cfg(target_os = "linux")]
mod users;

#[cfg(target_os = "linux")]
pub use netns::Namespace;
#[cfg(target_os = "linux")]
pub use pipe_server::{PipeServer, Role};
#[cfg(target_os = "linux")]
pub use samba::{Encryption, Placement, SambaHost, SambaOptions};
#[cfg(target_os = "linux")]
pub use users::TestUser;
