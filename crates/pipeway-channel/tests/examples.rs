//! The examples are what users copy: `chat_server` survives every client
//! (one that asks and leaves at once, one that follows a request with
//! garbage, one whose message is too large to pass on), takes `--help`, and
//! removes its socket on SIGTERM. (Unix: the tests signal the example and
//! look for its socket file.)
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pipeway_channel::demo::{Heard, Say};
use pipeway_channel::{Client, ClientEvent};
use pipeway_testbed::Reaped;
use tokio::io::AsyncWriteExt;

/// The example's binary, built first.
fn example(name: &str) -> PathBuf {
    pipeway_testbed::example("pipeway-channel", name)
}

/// The `chat_server` example, killed when the test ends, however it ends.
struct Server(Reaped);

impl Server {
    fn start(name: &str) -> Self {
        let mut child = Command::new(example("chat_server"))
            .arg(name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with("serving chat on"), "{first}");
        // Keep reading what it prints: a full pipe would block the server in
        // the middle of its event loop, and it would not see SIGTERM.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self(Reaped(child))
    }

    fn still_running(&mut self) -> bool {
        self.0.still_running()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_server_survives_every_client_and_cleans_up_on_sigterm() {
    let name = unique("example");
    let mut server = Server::start(&name);

    // Asks, and leaves before the answer.
    let mut hasty = Raw::connect(&name).await;
    hasty.send_frame(1, 1, br#"{"text":"answer me"}"#).await;
    drop(hasty);

    // A valid request, then garbage.
    let mut rude = Raw::connect(&name).await;
    rude.send_frame(1, 1, br#"{"text":"and then"}"#).await;
    rude.stream
        .write_all(&[0xde, 0xad, 0xbe, 0xef, 9])
        .await
        .unwrap();

    // A message that fits the limit but whose broadcast, with the sender's
    // name added, does not.
    let (big, _big_in) = Client::<Say, Heard>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap();
    let text = "x".repeat(pipeway_channel::wire::DEFAULT_MAX_MESSAGE_SIZE - 30);
    big.send(&Say { text }).await.unwrap();

    // Still serving: a new client's request is answered.
    let (client, mut incoming) = Client::<Say, Heard>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap();
    let reply = within(
        "the shout",
        client.request(&Say {
            text: "still there?".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(reply.text, "STILL THERE?");
    assert!(server.still_running());

    // SIGTERM: a graceful shutdown, exit 0, no socket left behind.
    let pid = rustix::process::Pid::from_raw(server.0.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = server.0.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "chat_server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!socket_path(&name).exists(), "the socket was left behind");
    // The client was told the server went away.
    loop {
        match within("the disconnection", incoming.recv()).await {
            Some(ClientEvent::Disconnected { .. }) | None => break,
            Some(_) => {}
        }
    }
}

/// Runs an example that should exit at once; fails (after killing it) if it
/// is still running after [`PATIENCE`], as a server would be.
fn run_briefly(name: &str, arg: &str) -> std::process::Output {
    let child = Command::new(example(name))
        .arg(arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Reaped(child).finish_within(PATIENCE)
}

#[test]
fn chat_server_help_prints_usage_and_serves_nothing() {
    for help in ["--help", "-h"] {
        let output = run_briefly("chat_server", help);
        assert!(output.status.success());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("usage: chat_server [NAME]"), "{stdout}");
        assert!(!socket_path(help).exists(), "served a pipe named {help}");
    }
    let output = run_briefly("chat_server", "--port");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("usage:"));
}

#[test]
fn the_other_examples_take_help() {
    for name in ["chat_client", "demo"] {
        let output = run_briefly(name, "--help");
        assert!(output.status.success(), "{name}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("usage: {name}")),
            "{name}: {stdout}"
        );
    }
}
