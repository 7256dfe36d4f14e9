//! The examples are what users copy: `buy_server` takes `--help`, answers
//! `buy_client`, and on SIGTERM stops and removes its socket. (Unix: the
//! test signals the server and looks for its socket file.)
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::unique;

const PATIENCE: Duration = Duration::from_secs(30);

/// The example's binary, built here in case `cargo test` built only tests.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-p", "pipeway-grpc", "--example", name])
        .status()
        .unwrap();
    assert!(built.success(), "building the {name} example failed");
    path
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits for the exit, failing (after a kill) past [`PATIENCE`].
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + PATIENCE;
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the example did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut output = Output {
            status: self.0.wait().unwrap(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        if let Some(pipe) = self.0.stdout.as_mut() {
            pipe.read_to_end(&mut output.stdout).unwrap();
        }
        if let Some(pipe) = self.0.stderr.as_mut() {
            pipe.read_to_end(&mut output.stderr).unwrap();
        }
        output
    }
}

fn run(name: &str, args: &[&str]) -> Running {
    Running(
        Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn buy_server_answers_buy_client_and_cleans_up_on_sigterm() {
    let name = unique("example");
    let mut server = run("buy_server", &[&name]);
    let mut first = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let path = first
        .split("(unix:")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no socket path in {first:?}"));
    assert!(path.exists());

    let client = run("buy_client", &[&name, "pear", "2", "7"]).finish();
    assert!(client.status.success(), "{client:?}");
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        "bought 2 of pear at 7\n"
    );

    let pid = pid_of(&server.0);
    // SAFETY: `kill` with a pid this test started and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = server.finish();
    assert!(output.status.success(), "{output:?}");
    assert!(!Path::new(&path).exists(), "the socket was left behind");
}

fn pid_of(child: &Child) -> libc::pid_t {
    child.id() as libc::pid_t
}

#[test]
fn the_examples_take_help() {
    for name in ["buy_server", "buy_client"] {
        let output = run(name, &["--help"]).finish();
        assert!(output.status.success(), "{name}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("usage: {name} NAME")),
            "{stdout}"
        );
    }
}
