//! A second process for a test: this test binary again, running only its
//! `child` test with a role, a pipe name and the parent's pid in its
//! environment.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROLE: &str = "PIPEWAY_TEST_ROLE";
const PIPE: &str = "PIPEWAY_TEST_PIPE";
const PARENT: &str = "PIPEWAY_TEST_PARENT";

/// What a child process was started to do.
pub struct Role {
    pub role: String,
    pub pipe: String,
    pub parent: u32,
}

/// Starts this test binary again, running only its `child` test as `role`.
pub fn spawn(role: &str, pipe: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PIPE, pipe)
        .env(PARENT, std::process::id().to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The role this process was started with; `None` in the parent, where the
/// `child` test does nothing.
pub fn role() -> Option<Role> {
    Some(Role {
        role: std::env::var(ROLE).ok()?,
        pipe: std::env::var(PIPE).unwrap(),
        parent: std::env::var(PARENT).unwrap().parse().unwrap(),
    })
}

/// Waits for the child, which must succeed within 30 s.
pub fn finish(mut child: Child) {
    let status = super::within(Duration::from_secs(30), move || child.wait().unwrap());
    assert!(status.success(), "the child failed: {status}");
}
