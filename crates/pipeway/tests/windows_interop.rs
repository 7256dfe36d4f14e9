//! Windows: pipeway talking to foreign Win32 programs, played by raw Win32
//! calls (`common::win32`), in this process or in another one: native pipe
//! names, byte and message pipes both ways, go-winio's message-type servers,
//! anonymous clients.
#![cfg(windows)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::child::{self, finish};
use common::{unique, win32};
use pipeway::windows::{PeerIdentityExt, PipeNameExt};
use pipeway::{
    ConnectOptions, Error, MessageListener, MessageStream, NameError, PipeListener, PipeMode,
    PipeName, PipeStream,
};

fn me() -> String {
    pipeway::windows::current_user_sid().unwrap()
}

/// Not a test of its own: the other process's part. Does nothing unless
/// started by one of the tests below.
#[test]
fn child() {
    let Some(child::Role { role, pipe, .. }) = child::role() else {
        return;
    };
    match role.as_str() {
        "message-type-server" => message_type_server(&pipe),
        other => panic!("unknown role {other}"),
    }
}

// ---------------------------------------------------------------------------
// Names.

#[test]
fn a_local_name_is_the_native_pipe_path() {
    let name = unique("native");
    let parsed = PipeName::parse(&name).unwrap();
    assert_eq!(
        parsed.pipe_path().unwrap(),
        std::path::Path::new(&win32::path(&name))
    );
    let _listener = PipeListener::bind(&name).unwrap();
    // A Win32 program finds it at \\.\pipe\name.
    win32::client(&name, 0).unwrap();
}

#[test]
fn names_windows_cannot_take_are_refused_clearly() {
    let long = "n".repeat(250);
    match PipeListener::bind(long.as_str()).unwrap_err() {
        Error::Name(NameError::TooLong { len, max, .. }) => {
            assert_eq!(max, 256);
            assert_eq!(len, 259);
        }
        other => panic!("expected TooLong, got {other}"),
    }
    assert!(matches!(
        PipeListener::bind(r"a\b"),
        Err(Error::Name(NameError::InvalidChar { .. }))
    ));
    for socket_path in ["/run/app/ctl.sock", "/tmp/x"] {
        let err = PipeStream::connect(socket_path).unwrap_err();
        assert!(
            matches!(err, Error::Name(NameError::Unsupported(_))),
            "{err}"
        );
        assert!(err.to_string().contains("Unix"), "{err}");
    }
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 lets FILE_FLAG_FIRST_PIPE_INSTANCE create a second instance of a live name"
)]
fn a_win32_servers_name_is_never_joined() {
    let name = unique("foreignlive");
    let _foreign = win32::serve_once(&name, false);
    assert!(matches!(
        PipeListener::bind(&name),
        Err(Error::InUse { .. })
    ));
    let _ = win32::client(&name, 0);
}

// ---------------------------------------------------------------------------
// Byte and message pipes, both ways.

#[test]
fn a_win32_client_talks_to_a_pipeway_byte_server() {
    let name = unique("w32client");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(&buf).unwrap();
        stream.peer().clone()
    });
    let mut client = win32::client(&name, 0).unwrap();
    assert_eq!(win32::pipe_flags(&client) & win32::MESSAGE_TYPE_FLAG, 0);
    client.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    let peer = server.join().unwrap();
    assert_eq!(peer.pid(), Some(std::process::id()));
}

#[test]
fn a_win32_client_keeps_its_message_boundaries_with_a_pipeway_server() {
    let name = unique("w32msg");
    let listener = MessageListener::bind(&name).unwrap();
    let big = vec![7u8; 100_000];
    let expected = big.clone();
    let server = std::thread::spawn(move || {
        let stream = listener.accept().unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(stream.recv_vec().unwrap().unwrap());
        }
        stream.send(b"first").unwrap();
        stream.send(b"").unwrap();
        stream.send(b"third").unwrap();
        got
    });
    let mut client = win32::client(&name, 0).unwrap();
    assert_ne!(win32::pipe_flags(&client) & win32::MESSAGE_TYPE_FLAG, 0);
    win32::message_read_mode(&client);
    for message in [&b"one"[..], b"", &big, b"four"] {
        assert_eq!(client.write(message).unwrap(), message.len());
    }
    let got = server.join().unwrap();
    assert_eq!(
        got,
        vec![b"one".to_vec(), vec![], expected, b"four".to_vec()]
    );
    let mut buf = vec![0u8; 1024];
    let mut replies = Vec::new();
    for _ in 0..3 {
        let n = client.read(&mut buf).unwrap();
        replies.push(buf[..n].to_vec());
    }
    assert_eq!(replies, vec![b"first".to_vec(), vec![], b"third".to_vec()]);
}

#[test]
fn pipeway_clients_talk_to_win32_servers_and_check_their_mode() {
    let name = unique("w32server");
    let server = win32::serve_once(&name, false);
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server = server.join().unwrap();
    client.write_all(b"to win32").unwrap();
    let mut buf = [0u8; 8];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to win32");
    server.write_all(b"back").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"back");
    assert_eq!(client.peer().pid(), Some(std::process::id()));

    let name = unique("w32msgserver");
    let server = win32::serve_once(&name, true);
    let client = MessageStream::connect(&name).unwrap();
    let mut server = server.join().unwrap();
    server.write_all(b"a whole message").unwrap();
    // An empty write is an empty message (write_all would skip it).
    assert_eq!(server.write(b"").unwrap(), 0);
    assert_eq!(
        client.recv_vec().unwrap(),
        Some(b"a whole message".to_vec())
    );
    assert_eq!(client.recv_vec().unwrap(), Some(vec![]));

    // A message client needs a message pipe: a byte server is refused.
    let name = unique("w32mismatch");
    let _server = win32::serve_once(&name, false);
    let err = MessageStream::connect(&name).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongMode {
                expected: PipeMode::Message,
                actual: PipeMode::Byte,
                ..
            }
        ),
        "{err}"
    );
    let _ = win32::client(&name, 0);
}

#[test]
fn a_client_that_connects_anonymously_is_still_identified_when_it_is_this_user() {
    // go-winio's clients connect with SECURITY_ANONYMOUS: the server cannot
    // impersonate them, and learns the user from the client process instead.
    let name = unique("anon");
    let listener = PipeListener::bind(&name).unwrap();
    let _client = win32::client(&name, win32::SECURITY_ANONYMOUS).unwrap();
    let stream = listener.accept().unwrap();
    assert_eq!(stream.peer().pid(), Some(std::process::id()));
    assert_eq!(stream.peer().sid(), Some(me().as_str()));
}

// ---------------------------------------------------------------------------
// A byte client of a message-type server in another process.

/// The server go-winio makes with `MessageMode: true` (a message-type pipe
/// in message read mode): it reads one message, answers with two, then
/// ends its side with go-winio's `CloseWrite` (an empty message) and waits
/// for the client to leave.
fn message_type_server(name: &str) {
    let mut server = win32::serve_once(name, true).join().unwrap();
    let mut buf = [0u8; 64];
    let n = server.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"one write, one message");
    assert_eq!(server.write(b"two ").unwrap(), 4);
    assert_eq!(server.write(b"messages").unwrap(), 8);
    assert_eq!(server.write(b"").unwrap(), 0);
    // The client's leaving reads as end-of-file (or a broken pipe).
    assert!(matches!(server.read(&mut buf), Ok(0) | Err(_)));
}

fn patient() -> ConnectOptions {
    ConnectOptions::new().timeout(Duration::from_secs(30))
}

#[test]
fn a_byte_client_reads_a_message_type_pipe_as_bytes() {
    let name = unique("msgtype");
    let server = child::spawn("message-type-server", &name);
    let mut client = PipeStream::connect_with(&name, &patient()).unwrap();
    assert_eq!(client.peer().pid(), Some(server.id()));
    client.write_all(b"one write, one message").unwrap();
    // The two messages run together; the empty one reads as end-of-file.
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"two messages");
    drop(client);
    finish(server);
}

#[tokio::test]
async fn a_tokio_byte_client_reads_a_message_type_pipe_as_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("msgtypeasync");
    let server = child::spawn("message-type-server", &name);
    let mut client = pipeway::tokio::PipeStream::connect_with(&name, &patient())
        .await
        .unwrap();
    client.write_all(b"one write, one message").await.unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"two messages");
    // The handle closes once the runtime has seen its pending read cancelled:
    // wait for the child off the runtime's thread.
    drop(client);
    tokio::task::spawn_blocking(move || finish(server))
        .await
        .unwrap();
}

#[test]
fn a_stream_lends_its_pipe_handle_until_it_disconnects() {
    use std::os::windows::io::AsRawHandle;
    let name = unique("rawhandle");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let _server = listener.accept().unwrap();
    let handle = client.as_raw_handle();
    assert!(!handle.is_null());
    // A Win32 call on it sees a byte pipe.
    // SAFETY: a live pipe handle, borrowed for the call.
    let file = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::windows::io::FromRawHandle>::from_raw_handle(handle)
    });
    assert_eq!(win32::pipe_flags(&file) & win32::MESSAGE_TYPE_FLAG, 0);
    client.disconnect().unwrap();
    assert!(client.as_raw_handle().is_null());
}
