//! What the remote-pipe tests share: a Samba host and pipe servers behind
//! it, reached through Samba's np hand-off.
//!
//! In CI (`CI=true`) a missing Samba fails the test; elsewhere the test is
//! skipped with a message.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use pipeway_smb::client::{ClientOptions, Credentials};
pub use pipeway_testbed::{PipeServer, Role};
use pipeway_testbed::{SambaHost, SambaOptions};

/// Starts a Samba host, or explains why not (and fails in CI).
pub fn samba(options: &SambaOptions) -> Option<SambaHost> {
    pipeway_testbed::needs::samba(options)
}

/// Client options for the host's first user.
pub fn options(host: &SambaHost) -> ClientOptions {
    let user = host.user();
    let mut o = ClientOptions::new(Credentials::new(&user.name, &user.password));
    o.port = host.port();
    o
}

/// The host name to dial.
pub fn host_name(host: &SambaHost) -> String {
    host.address().to_string()
}

/// A unique pipe name for this process.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
