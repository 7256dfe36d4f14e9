//! Unix users made for a test (Samba maps every SMB account to one).

use std::io;
use std::process::Command;

use crate::process::{next_serial, run, run_retrying};

/// A Unix user made for a test, with the SMB password the test host knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// The account name (Unix and SMB).
    pub name: String,
    /// Its SMB password.
    pub password: String,
    /// Its Unix user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
}

/// Adds a Unix user `pwt<pid>x<serial>` (no home, no login shell).
pub(crate) fn create(password: &str) -> io::Result<TestUser> {
    let name = format!("pwt{}x{}", std::process::id(), next_serial());
    run_retrying(
        20,
        || {
            let mut cmd = Command::new("useradd");
            cmd.args(["-M", "-s", "/usr/sbin/nologin", &name]);
            cmd
        },
        None,
    )?;
    let id = |flag: &str| -> io::Result<u32> {
        run(Command::new("id").args([flag, &name]))?
            .trim()
            .parse()
            .map_err(|e| io::Error::other(format!("id {flag} {name}: {e}")))
    };
    Ok(TestUser {
        uid: id("-u")?,
        gid: id("-g")?,
        name,
        password: password.to_owned(),
    })
}

/// Removes the user (and its group).
pub(crate) fn delete(name: &str) {
    if run(Command::new("id").args(["-u", name])).is_err() {
        return;
    }
    let _ = run_retrying(
        20,
        || {
            let mut cmd = Command::new("userdel");
            cmd.arg(name);
            cmd
        },
        None,
    );
}
