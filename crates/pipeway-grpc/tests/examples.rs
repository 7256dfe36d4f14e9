//! The examples are what users copy: `buy_server` takes `--help`, answers
//! `buy_client`, and on SIGTERM stops and removes its socket. (Unix: the
//! test signals the server and looks for its socket file.)
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::unique;
use pipeway_testbed::Reaped;

const PATIENCE: Duration = Duration::from_secs(30);

/// The example's binary, built first.
fn example(name: &str) -> PathBuf {
    pipeway_testbed::example("pipeway-grpc", name)
}

fn run(name: &str, args: &[&str]) -> Reaped {
    Reaped(
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

    let client = run("buy_client", &[&name, "pear", "2", "7"]).finish_within(PATIENCE);
    assert!(client.status.success(), "{client:?}");
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        "bought 2 of pear at 7\n"
    );

    let pid = pid_of(&server.0);
    // SAFETY: `kill` with a pid this test started and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = server.finish_within(PATIENCE);
    assert!(output.status.success(), "{output:?}");
    assert!(!Path::new(&path).exists(), "the socket was left behind");
}

fn pid_of(child: &Child) -> libc::pid_t {
    child.id() as libc::pid_t
}

#[test]
fn the_examples_take_help() {
    for name in ["buy_server", "buy_client"] {
        let output = run(name, &["--help"]).finish_within(PATIENCE);
        assert!(output.status.success(), "{name}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("usage: {name} NAME")),
            "{stdout}"
        );
    }
}
