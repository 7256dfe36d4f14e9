//! Other processes for the shared-memory and mailslot tests: the test
//! binary runs itself again with `--ignored --exact role` and the role in
//! the environment, so each peer is a real, separate process that a test
//! can kill at a chosen moment.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

pub const ROLE: &str = "PIPEWAY_TEST_ROLE";
pub const ARG: &str = "PIPEWAY_TEST_ARG";

/// A peer process, killed (if still running) when dropped.
pub struct Peer {
    pub child: Child,
    lines: BufReader<ChildStdout>,
}

impl Peer {
    /// Runs `role` with `arg` in a new process of this test binary.
    pub fn start(role: &str, arg: &str) -> Peer {
        Self::start_as(role, arg, None)
    }

    /// As [`start`](Self::start), as user `uid` (the test must be root).
    pub fn start_as(role: &str, arg: &str, uid: Option<u32>) -> Peer {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--ignored", "--exact", "role", "--nocapture", "--quiet"])
            .env(ROLE, role)
            .env(ARG, arg)
            .stdout(Stdio::piped());
        #[cfg(unix)]
        if let Some(uid) = uid {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(uid);
        }
        #[cfg(not(unix))]
        assert!(uid.is_none(), "running as another user is a Unix test");
        let mut child = command.spawn().expect("cannot start the peer process");
        let lines = BufReader::new(child.stdout.take().unwrap());
        Peer { child, lines }
    }

    /// Waits for the peer to print `line` (and says what it printed instead).
    pub fn expect(&mut self, line: &str) {
        let mut got = String::new();
        loop {
            got.clear();
            let n = self.lines.read_line(&mut got).unwrap();
            assert!(n > 0, "the peer exited before printing {line:?}");
            if got.trim_end() == line {
                return;
            }
            // The test harness's own lines ("running 1 test") are skipped.
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the peer at once (SIGKILL: no cleanup of any kind runs).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the peer and returns its exit code.
    pub fn wait(mut self) -> i32 {
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The role this process plays, if it is a peer.
pub fn role() -> Option<(String, String)> {
    let role = std::env::var(ROLE).ok()?;
    Some((role, std::env::var(ARG).unwrap_or_default()))
}

/// Prints a line the test waits for.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}
