//! Child processes of a test: an example built on demand, and a child that
//! is killed and reaped however the test ends.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The binary of `package`'s example `name`, built first (`cargo test` may
/// have been told to build only the test targets), in the target directory
/// of the running test.
///
/// # Panics
///
/// When the build fails.
pub fn example(package: &str, name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let mut path = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary lives in target/<profile>/deps")
        .join("examples")
        .join(name);
    path.set_extension(std::env::consts::EXE_EXTENSION);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-p", package, "--example", name])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building the {name} example failed");
    assert!(path.exists(), "no example at {}", path.display());
    path
}

/// A child process, killed and reaped when the test ends, however it ends.
#[derive(Debug)]
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Whether the child has not exited yet.
    pub fn still_running(&mut self) -> bool {
        self.0
            .try_wait()
            .expect("waitpid on our own child")
            .is_none()
    }

    /// Waits for the child to exit and collects what it wrote to its piped
    /// stdout and stderr.
    ///
    /// # Panics
    ///
    /// When it is still running after `patience` (it is killed then).
    pub fn finish_within(mut self, patience: Duration) -> Output {
        let deadline = Instant::now() + patience;
        while self.still_running() {
            assert!(
                Instant::now() < deadline,
                "the child did not exit within {patience:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut output = Output {
            status: self.0.wait().expect("waitpid on our own child"),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        if let Some(pipe) = self.0.stdout.as_mut() {
            pipe.read_to_end(&mut output.stdout)
                .expect("the child's stdout");
        }
        if let Some(pipe) = self.0.stderr.as_mut() {
            pipe.read_to_end(&mut output.stderr)
                .expect("the child's stderr");
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::Reaped;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    #[cfg(unix)]
    #[test]
    fn finishing_collects_the_output_and_status() {
        let child = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Reaped(child).finish_within(Duration::from_secs(30));
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_child_that_outlives_its_patience_fails_and_is_killed() {
        let child = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        let outcome =
            std::panic::catch_unwind(|| Reaped(child).finish_within(Duration::from_millis(100)));
        assert!(outcome.is_err());
        // Killed and reaped at drop: no such process any more.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
