//! A server in one process and a client in another: each sees the other's
//! pid, and bytes and messages cross intact. The second process is this
//! test binary again, running only [`child`] with a role in its environment.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::child::{self, finish};
use common::unique;
use pipeway::{ConnectOptions, MessageListener, MessageStream, PipeListener, PipeStream};

/// Not a test of its own: the other process's part. Does nothing unless
/// started by one of the tests below.
#[test]
fn child() {
    let Some(child::Role { role, pipe, parent }) = child::role() else {
        return;
    };
    match role.as_str() {
        "byte-client" => {
            let mut stream = PipeStream::connect(&pipe).unwrap();
            assert_eq!(
                stream.peer().pid(),
                Some(parent),
                "the server is the parent"
            );
            let me = std::process::id().to_string();
            stream.write_all(format!("{me}\n").as_bytes()).unwrap();
            let mut echo = vec![0u8; me.len() + 1];
            stream.read_exact(&mut echo).unwrap();
            assert_eq!(echo, format!("{me}\n").as_bytes());
        }
        "message-server" => {
            let listener = MessageListener::bind(&pipe).unwrap();
            let stream = listener.accept().unwrap();
            assert_eq!(
                stream.peer().pid(),
                Some(parent),
                "the client is the parent"
            );
            while let Some(message) = stream.recv_vec().unwrap() {
                stream.send(&message).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_client_process_and_this_server_see_each_other() {
    let name = unique("xclient");
    let listener = PipeListener::bind(&name).unwrap();
    let child = child::spawn("byte-client", &name);
    let child_pid = child.id();
    let mut stream = listener.accept().unwrap();
    assert_eq!(stream.peer().pid(), Some(child_pid));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        stream.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    assert_eq!(line, format!("{child_pid}\n").as_bytes());
    stream.write_all(&line).unwrap();
    finish(child);
}

#[test]
fn this_client_and_a_server_process_exchange_whole_messages() {
    let name = unique("xserver");
    let child = child::spawn("message-server", &name);
    // The connect waits for the child to bind the name.
    let patient = ConnectOptions::new().timeout(Duration::from_secs(30));
    let stream = MessageStream::connect_with(&name, &patient).unwrap();
    assert_eq!(stream.peer().pid(), Some(child.id()));
    for len in [0usize, 1, 5000, 200_000] {
        let message: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        stream.send(&message).unwrap();
        assert_eq!(stream.recv_vec().unwrap(), Some(message));
    }
    // Leaving ends the server's loop, and the child.
    drop(stream);
    finish(child);
}
