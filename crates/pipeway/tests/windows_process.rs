//! Windows: both ends of a pipe hold the peer's process as a handle: alive,
//! its executable, waiting for its exit (blocking and tokio). The peer in
//! another process is this test binary again, running only [`child`].
#![cfg(windows)]

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::unique;
use pipeway::{PipeListener, PipeStream, ProcessError};

const ROLE: &str = "PIPEWAY_TEST_ROLE";
const PIPE: &str = "PIPEWAY_TEST_PIPE";
const PATIENCE: Duration = Duration::from_secs(30);

fn spawn_child(role: &str, pipe: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PIPE, pipe)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Not a test of its own: the other process's part.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let pipe = std::env::var(PIPE).unwrap();
    match role.as_str() {
        // Connects, waits for one byte (or the end) and exits.
        "client" => {
            let options = pipeway::ConnectOptions::new().timeout(PATIENCE);
            let mut stream = PipeStream::connect_with(&pipe, &options).unwrap();
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
        }
        other => panic!("unknown role {other}"),
    }
}

fn reap(mut child: Child) -> std::process::ExitStatus {
    common::within(PATIENCE, move || child.wait().unwrap())
}

/// Compares executables as Windows names them: case does not matter.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    a.to_string_lossy().to_lowercase() == b.to_string_lossy().to_lowercase()
}

#[test]
fn both_ends_hold_the_peers_process() {
    let name = unique("proc-ends");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    let me = std::env::current_exe().unwrap();
    for (end, peer) in [("server", server.peer()), ("client", client.peer())] {
        let process = peer
            .process()
            .unwrap_or_else(|err| panic!("the {end} end has no process handle: {err}"));
        assert_eq!(process.pid(), std::process::id(), "{end}");
        assert!(process.is_alive().unwrap(), "{end}");
        assert!(!process.wait_timeout(Duration::from_millis(20)).unwrap());
        let exe = process.exe().unwrap();
        assert!(same_file(&exe, &me), "{end}: {exe:?} is not {me:?}");
    }
}

#[test]
fn a_client_process_is_seen_to_exit_and_then_reported_gone() {
    let name = unique("proc-exit");
    let listener = PipeListener::bind(&name).unwrap();
    let child = spawn_child("client", &name);
    let mut stream = listener.accept().unwrap();
    let process = stream.peer().process().unwrap().clone();
    assert_eq!(process.pid(), child.id());
    assert!(process.is_alive().unwrap());
    let exe = process.exe().unwrap();
    assert!(
        same_file(&exe, &std::env::current_exe().unwrap()),
        "{exe:?}"
    );

    stream.write_all(b"x").unwrap();
    assert!(process.wait_timeout(PATIENCE).unwrap(), "no exit seen");
    assert!(!process.is_alive().unwrap());
    assert!(matches!(process.exe(), Err(ProcessError::Exited { pid }) if pid == child.id()));
    assert!(reap(child).success());
}

#[tokio::test]
async fn the_tokio_face_waits_for_a_client_process_to_exit() {
    use pipeway::tokio::PipeListener;
    use tokio::io::AsyncWriteExt;

    let name = unique("proc-async");
    let listener = PipeListener::bind(&name).unwrap();
    let child = spawn_child("client", &name);
    let mut stream = listener.accept().await.unwrap();
    let process = stream.peer().process().unwrap().clone();
    let early = tokio::time::timeout(Duration::from_millis(50), process.exited()).await;
    assert!(early.is_err(), "the client has not been told to exit yet");
    stream.write_all(b"x").await.unwrap();
    tokio::time::timeout(PATIENCE, process.exited())
        .await
        .expect("the client's exit was not seen")
        .unwrap();
    assert!(!process.is_alive().unwrap());
    assert!(reap(child).success());
}
