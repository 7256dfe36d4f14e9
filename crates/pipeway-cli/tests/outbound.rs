//! One-way pipes from the shell: `pipeway serve --outbound` behaves like
//! `nc -lU` (stdin, read only once a client is connected, to every client;
//! at its end every client gets what was sent, then end-of-file, and the
//! server exits 0), and `pipeway connect` to a byte pipe of either
//! direction does what the pipe allows and exits 0.
//!
//! (Unix for now: the .NET peer runs on Mono, and the tests look for the
//! socket file; not yet ported to Windows.)
#![cfg(unix)]

mod common;
#[path = "../../pipeway/tests/dotnet/peer.rs"]
mod dotnet;

use common::{Client, Server, endpoint as socket_path, text, unique};

/// A line written before any client connects waits for one, and the end
/// of the server's input ends the client and the server.
fn outbound_server_keeps_early_input_and_ends_its_client(mode: &[&str]) {
    let name = unique("early");
    let mut args = vec![name.as_str(), "--outbound"];
    args.extend_from_slice(mode);
    let mut server = Server::start(&args);
    server.send_stdin(b"before anyone connected\n");
    let mut connect = vec![name.as_str()];
    connect.extend_from_slice(mode);
    let mut client = Client::start(&connect);
    client.close_stdin();
    assert_eq!(client.read_line(), "before anyone connected\n");
    server.close_stdin();
    let (status, rest, stderr) = client.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(rest, "");
    let output = server.wait_for_exit();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !socket_path(&name).exists(),
        "the server removed its socket"
    );
}

#[test]
fn an_outbound_byte_server_keeps_early_input_and_ends_its_client() {
    outbound_server_keeps_early_input_and_ends_its_client(&[]);
}

#[test]
fn an_outbound_message_server_keeps_early_input_and_ends_its_client() {
    outbound_server_keeps_early_input_and_ends_its_client(&["--message"]);
}

/// Every line reaches every connected client, all of it before end-of-file.
fn outbound_server_sends_every_line_to_every_client(mode: &[&str]) {
    let name = unique("fanout");
    let mut args = vec![name.as_str(), "--outbound"];
    args.extend_from_slice(mode);
    let mut server = Server::start(&args);
    let mut connect = vec![name.as_str()];
    connect.extend_from_slice(mode);
    let clients: Vec<Client> = (1..=3)
        .map(|n| {
            let mut client = Client::start(&connect);
            client.close_stdin();
            server.wait_for(&format!("client {n} connected"));
            client
        })
        .collect();
    let lines: String = (0..200).map(|i| format!("line {i}\n")).collect();
    server.send_stdin(lines.as_bytes());
    server.close_stdin();
    for client in clients {
        let (status, stdout, stderr) = client.finish();
        assert!(status.success(), "{status}: {stderr}");
        assert_eq!(stdout, lines);
    }
    assert!(server.wait_for_exit().status.success());
}

#[test]
fn an_outbound_byte_server_sends_every_line_to_every_client() {
    outbound_server_sends_every_line_to_every_client(&[]);
}

#[test]
fn an_outbound_message_server_sends_every_line_to_every_client() {
    outbound_server_sends_every_line_to_every_client(&["--message"]);
}

/// A client that does not know the byte pipe is outbound prints what the
/// server sends, says once that its input goes nowhere, and exits 0.
#[test]
fn connecting_to_an_outbound_byte_pipe_prints_it_and_says_the_pipe_does_not_read() {
    let name = unique("outconnect");
    let mut server = Server::start(&[&name, "--outbound"]);
    let mut client = Client::start(&[&name]);
    server.wait_for("client 1 connected");
    server.send_stdin(b"news\n");
    assert_eq!(client.read_line(), "news\n");
    // The server has admitted the client (it sent it a line): what the
    // client writes now is refused, and it says so.
    client.send_stdin(b"unheard\n");
    let said = client.read_error_line();
    assert!(said.contains("does not read"), "{said}");
    client.send_stdin(b"also unheard\n");
    server.send_stdin(b"more news\n");
    server.close_stdin();
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{status}: {said}{stderr}");
    assert_eq!(stdout, "more news\n");
    assert_eq!(stderr, "", "one line about it, not more");
}

/// A client that does not know the byte pipe is inbound sends its input
/// and exits 0, though the server never writes.
#[test]
fn connecting_to_an_inbound_byte_pipe_sends_stdin_and_exits_0() {
    let name = unique("inconnect");
    let mut server = Server::start(&[&name, "--inbound"]);
    let mut client = Client::start(&[&name]);
    // Admitted: the server has shut its side that writes, and the client
    // has seen end-of-file. It must still send what it is given.
    server.wait_for("client 1 connected");
    client.send_stdin(b"report 1\n");
    client.send_stdin(b"report 2\n");
    client.close_stdin();
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stdout, "");
    server.wait_for("client 1 disconnected");
    assert_eq!(text(&server.stop().stdout), "report 1\nreport 2\n");
}

/// An interactive client of an echo server ends when the server goes, even
/// while it waits for input.
#[test]
fn a_client_waiting_for_input_ends_when_the_server_goes() {
    let name = unique("servergone");
    let mut server = Server::start(&[&name, "--echo"]);
    let mut client = Client::start(&[&name]);
    server.wait_for("client 1 connected");
    client.send_stdin(b"hello\n");
    assert_eq!(client.read_line(), "hello\n");
    drop(server);
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stdout, "");
}

/// The .NET side of defect 1: a `PipeDirection.In` client reading to the
/// end (`ReadToEnd`) gets all the server's input and its end.
#[test]
fn a_dotnet_in_client_reads_an_outbound_server_to_its_end() {
    let Some(peer) = dotnet::peer() else { return };
    let name = unique("dotnet-in");
    let mut server = Server::start(&[&name, "--outbound"]);
    let client = dotnet::Dotnet::start(peer, "client", &name, "in");
    server.wait_for("client 1 connected");
    server.send_stdin(b"news 1\nnews 2\n");
    server.close_stdin();
    let (code, stdout, stderr) = client.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "connecting\nreceived: news 1\nnews 2\n");
    assert!(server.wait_for_exit().status.success());
}
