//! A real .NET peer at the other end: Mono's System.IO.Pipes, which is
//! .NET Core's Unix code (`$TMPDIR/CoreFxPipe_NAME`, a stream socket), as a
//! client of pipeway servers and as the server of pipeway clients. The peer
//! is `tests/dotnet/Peer.cs`, compiled here with `mcs`; scripts/test.sh
//! installs Mono, and in CI a missing Mono fails these tests.
#![cfg(unix)]

mod common;
#[path = "dotnet/peer.rs"]
mod peer;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use common::{socket_path, unique};
use peer::{Dotnet, peer};
use pipeway::{
    ConnectOptions, Direction, Error, ListenOptions, MessageListener, MessageStream, PipeListener,
    PipeMode, PipeStream,
};

const ONE_MIB: usize = 1 << 20;

/// What .NET sends in the bulk exchange, and what pipeway sends back: the
/// same functions as in `Peer.cs`.
fn from_dotnet(i: usize) -> u8 {
    (i % 251) as u8
}
fn from_pipeway(i: usize) -> u8 {
    ((i * 7 + 3) % 256) as u8
}

fn patient() -> ConnectOptions {
    ConnectOptions::new().timeout(Duration::from_secs(30))
}

fn read_line(stream: &PipeStream) -> String {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

// ---------------------------------------------------------------------------
// ReadLine and WriteLine, both ways; each side waiting for the other.

#[test]
fn a_dotnet_client_waits_for_a_pipeway_server_and_exchanges_lines_with_it() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-lines");
    let dotnet = Dotnet::start(peer, "client", &name, "lines");
    // The client is waiting in Connect before the pipe exists.
    dotnet.wait_for("connecting");
    assert!(!socket_path(&name).exists());
    let listener = PipeListener::bind(&name).unwrap();
    let stream = listener.accept().unwrap();
    assert_eq!(stream.peer().pid(), Some(dotnet.pid()));
    assert_eq!(read_line(&stream), "hello from .NET\n");
    (&stream)
        .write_all(b"pipeway got: hello from .NET\n")
        .unwrap();
    let (code, stdout, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "reply: pipeway got: hello from .NET\n");
}

#[test]
fn a_pipeway_client_waits_for_a_dotnet_server_and_exchanges_lines_with_it() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-server");
    assert!(!socket_path(&name).exists());
    let connecting = {
        let name = name.clone();
        std::thread::spawn(move || PipeStream::connect_with(&name, &patient()))
    };
    let dotnet = Dotnet::start(peer, "server", &name, "lines");
    let mut client = connecting.join().unwrap().unwrap();
    assert_eq!(client.peer().pid(), Some(dotnet.pid()));
    client.write_all(b"hello from pipeway\n").unwrap();
    assert_eq!(read_line(&client), ".NET got: hello from pipeway\n");
    client.write_all(b"and again\n").unwrap();
    assert_eq!(read_line(&client), ".NET got: and again\n");
    drop(client);
    let (code, _, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
}

// ---------------------------------------------------------------------------
// Direction: .NET's PipeDirection.In and Out, against pipeway's.

#[test]
fn a_dotnet_in_client_reads_all_a_pipeway_outbound_server_sends() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-in");
    let outbound = ListenOptions::new().direction(Direction::Outbound);
    let listener = PipeListener::bind_with(&name, &outbound).unwrap();
    let dotnet = Dotnet::start(peer, "client", &name, "in");
    let mut stream = listener.accept().unwrap();
    stream.write_all(b"news 1\nnews 2\n").unwrap();
    drop(stream);
    let (code, stdout, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "connecting\nreceived: news 1\nnews 2\n");
}

#[test]
fn a_dotnet_out_client_writes_to_a_pipeway_inbound_server() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-out");
    let inbound = ListenOptions::new().direction(Direction::Inbound);
    let listener = PipeListener::bind_with(&name, &inbound).unwrap();
    let dotnet = Dotnet::start(peer, "client", &name, "out");
    let mut stream = listener.accept().unwrap();
    let mut got = String::new();
    stream.read_to_string(&mut got).unwrap();
    assert_eq!(got, "report 1\nreport 2\n");
    let (code, _, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn pipeway_clients_read_a_dotnet_out_server_and_write_a_dotnet_in_server() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-srv-out");
    let dotnet = Dotnet::start(peer, "server", &name, "out");
    let reading = patient().direction(Direction::Outbound);
    let mut client = PipeStream::connect_with(&name, &reading).unwrap();
    let mut got = String::new();
    client.read_to_string(&mut got).unwrap();
    assert_eq!(got, "news 1\nnews 2\n");
    assert_eq!(dotnet.finish().0, 0);

    let name = unique("dn-srv-in");
    let dotnet = Dotnet::start(peer, "server", &name, "in");
    let writing = patient().direction(Direction::Inbound);
    let mut client = PipeStream::connect_with(&name, &writing).unwrap();
    client.write_all(b"to .NET\n").unwrap();
    drop(client);
    let (code, stdout, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "received: to .NET\n");
}

// ---------------------------------------------------------------------------
// A mebibyte each way.

#[test]
fn a_mebibyte_each_way_between_a_dotnet_client_and_a_pipeway_server() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-bulk");
    let listener = PipeListener::bind(&name).unwrap();
    let dotnet = Dotnet::start(peer, "client", &name, "bulk");
    let mut stream = listener.accept().unwrap();
    let mut got = vec![0u8; ONE_MIB];
    stream.read_exact(&mut got).unwrap();
    assert!(
        got.iter().enumerate().all(|(i, &b)| b == from_dotnet(i)),
        "what .NET sent arrived intact"
    );
    let reply: Vec<u8> = (0..ONE_MIB).map(from_pipeway).collect();
    stream.write_all(&reply).unwrap();
    let (code, stdout, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("received 1 MiB intact"), "{stdout}");
}

#[test]
fn a_mebibyte_each_way_between_a_pipeway_client_and_a_dotnet_server() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-bulk-srv");
    let dotnet = Dotnet::start(peer, "server", &name, "bulk");
    let mut client = PipeStream::connect_with(&name, &patient()).unwrap();
    let data: Vec<u8> = (0..ONE_MIB).map(from_pipeway).collect();
    client.write_all(&data).unwrap();
    let mut got = vec![0u8; ONE_MIB];
    client.read_exact(&mut got).unwrap();
    assert!(
        got.iter().enumerate().all(|(i, &b)| b == from_dotnet(i)),
        "what .NET sent arrived intact"
    );
    let (code, stdout, stderr) = dotnet.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("received 1 MiB intact"), "{stdout}");
}

// ---------------------------------------------------------------------------
// The framed wire refuses .NET clearly, and .NET's pipes refuse pipeway's
// message clients clearly.

/// A .NET client of a pipe on the framed wire fails at once (not at its
/// 20 s timeout), saying the socket is of the wrong type; the pipe goes on
/// serving pipeway clients.
fn a_dotnet_client_is_refused_at_once(name: &str) {
    let peer = peer().expect("checked by the caller");
    let (code, stdout, stderr) = Dotnet::start(peer, "client", name, "refused").finish();
    assert_eq!(code, 3, "refused, not connected: {stdout}{stderr}");
    let refusal = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        refusal.contains("Protocol wrong type for socket"),
        "{refusal}"
    );
    let ms: u64 = refusal
        .strip_prefix("refused after ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{refusal}"));
    assert!(ms < 20_000, "it did not wait for its timeout: {refusal}");
}

#[test]
fn a_message_pipe_refuses_a_dotnet_client_clearly() {
    if peer().is_none() {
        return;
    }
    let name = unique("dn-msg");
    let listener = MessageListener::bind(&name).unwrap();
    a_dotnet_client_is_refused_at_once(&name);
    let client = MessageStream::connect(&name).unwrap();
    client.send(b"still serving").unwrap();
    assert_eq!(
        listener.accept().unwrap().recv_vec().unwrap(),
        Some(b"still serving".to_vec())
    );
}

#[test]
fn an_instance_limited_pipe_refuses_a_dotnet_client_clearly() {
    if peer().is_none() {
        return;
    }
    let name = unique("dn-limited");
    let limited = ListenOptions::new().max_instances(2);
    let listener = PipeListener::bind_with(&name, &limited).unwrap();
    a_dotnet_client_is_refused_at_once(&name);
    let mut client = PipeStream::connect(&name).unwrap();
    client.write_all(b"x").unwrap();
    let mut byte = [0u8];
    listener.accept().unwrap().read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
}

#[test]
fn a_pipeway_message_client_refuses_a_dotnet_server_clearly() {
    let Some(peer) = peer() else { return };
    let name = unique("dn-msg-srv");
    let _dotnet = Dotnet::start(peer, "server", &name, "lines");
    let err = MessageStream::connect_with(&name, &patient()).unwrap_err();
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
}
