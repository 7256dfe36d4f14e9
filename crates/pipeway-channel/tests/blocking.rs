//! The blocking client (no tokio in the caller) against the tokio server:
//! requests and their replies, one-way messages both ways, a rejected
//! request, a request that times out (its late reply is dropped), and the
//! server closing.

mod common;

use std::time::Duration;

use common::{Down, Up, unique};
use pipeway_channel::codec::Postcard;
use pipeway_channel::{Error, Event, Server, blocking};

/// Serves `name` on a runtime of its own, in a thread: a request is
/// answered with its seq (after 400 ms for text "slow"; rejected for text
/// "reject"; with its text too for text starting "echo:"), a one-way message with a message back, and the text "bye"
/// makes the server drop the client. Returns once the server listens.
fn serve(name: &str) -> std::thread::JoinHandle<()> {
    let name = name.to_owned();
    let (ready, listening) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let (server, mut events) = Server::<Up, Down>::builder()
                .codec(Postcard)
                .bind(name.as_str())
                .unwrap();
            ready.send(()).unwrap();
            while let Some(event) = events.recv().await {
                match event {
                    Event::Request {
                        message, responder, ..
                    } => match message.text.as_str() {
                        "reject" => responder.reject("no, thank you").unwrap(),
                        text if text.starts_with("echo:") => responder
                            .reply(&Down {
                                seq: message.seq,
                                text: message.text,
                            })
                            .unwrap(),
                        "slow" => {
                            tokio::time::sleep(Duration::from_millis(400)).await;
                            responder.reply(&Down::new(message.seq)).unwrap();
                        }
                        _ => responder.reply(&Down::new(message.seq)).unwrap(),
                    },
                    Event::Message { client, message } if message.text == "bye" => {
                        server.disconnect(client);
                    }
                    Event::Message { client, message } => {
                        server.send(client, &Down::new(message.seq + 1000)).unwrap();
                    }
                    Event::Disconnected { .. } => break,
                    _ => {}
                }
            }
            server.shutdown().await;
        });
    });
    listening.recv().unwrap();
    thread
}

fn up(seq: u32, text: &str) -> Up {
    Up {
        tag: 1,
        seq,
        text: text.to_owned(),
    }
}

fn connect(name: &str, timeout: Duration) -> blocking::Client<Up, Down> {
    blocking::Client::<Up, Down>::builder()
        .codec(Postcard)
        .request_timeout(timeout)
        .connect(name)
        .unwrap()
}

#[test]
fn requests_get_their_replies_and_messages_that_came_meanwhile_wait_for_recv() {
    let name = unique("blocking");
    let server = serve(&name);
    let mut client = connect(&name, Duration::from_secs(20));
    client.send(&up(1, "hello")).unwrap();
    // The server's answer to the message comes before the reply: kept.
    assert_eq!(client.request(&up(2, "q")).unwrap(), Down::new(2));
    for seq in 3..50 {
        assert_eq!(client.request(&up(seq, "q")).unwrap(), Down::new(seq));
    }
    assert_eq!(client.recv().unwrap(), Some(Down::new(1001)));
    client.close().unwrap();
    server.join().unwrap();
}

#[test]
fn a_rejected_request_fails_with_the_servers_reason_and_the_client_goes_on() {
    let name = unique("blocking-reject");
    let server = serve(&name);
    let mut client = connect(&name, Duration::from_secs(20));
    match client.request(&up(1, "reject")) {
        Err(Error::Remote { message, .. }) => assert_eq!(message, "no, thank you"),
        other => panic!("expected a remote error, got {other:?}"),
    }
    assert_eq!(client.request(&up(2, "q")).unwrap(), Down::new(2));
    client.close().unwrap();
    server.join().unwrap();
}

#[test]
fn a_request_times_out_and_its_late_reply_is_dropped() {
    let name = unique("blocking-timeout");
    let server = serve(&name);
    let mut client = connect(&name, Duration::from_millis(100));
    assert!(matches!(
        client.request(&up(1, "slow")),
        Err(Error::Timeout(_))
    ));
    // The next request gets its own reply, not the late one for seq 1 (the
    // server answers in order, so the late reply arrives first).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(client.request(&up(2, "q")).unwrap(), Down::new(2));
    client.close().unwrap();
    server.join().unwrap();
}

#[test]
fn recv_ends_when_the_server_drops_the_client_and_a_request_then_fails() {
    let name = unique("blocking-bye");
    let server = serve(&name);
    let mut client = connect(&name, Duration::from_secs(20));
    client.send(&up(1, "bye")).unwrap();
    assert_eq!(client.recv().unwrap(), None);
    assert!(client.request(&up(2, "q")).is_err());
    drop(client);
    server.join().unwrap();
}

#[test]
fn the_blocking_client_shakes_hands_a_codec_mismatch_is_a_clear_error() {
    let name = unique("blocking-codec");
    let server = serve(&name);
    let refused = blocking::Client::<Up, Down>::builder()
        .connect(name.as_str())
        .unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("postcard") && text.contains("json"), "{text}");
    // The server goes on: a client with the right codec is served.
    let mut client = connect(&name, Duration::from_secs(20));
    assert_eq!(client.request(&up(1, "q")).unwrap(), Down::new(1));
    client.close().unwrap();
    server.join().unwrap();
}

#[test]
fn a_request_and_reply_larger_than_a_read_or_the_kept_buffer_arrive_whole() {
    let name = unique("blocking-large");
    let server = serve(&name);
    let mut client = connect(&name, Duration::from_secs(20));
    for len in [300 * 1024, 10, 70 * 1024] {
        let text = format!("echo:{}", "x".repeat(len));
        let reply = client.request(&up(len as u32, &text)).unwrap();
        assert_eq!(reply.seq, len as u32);
        assert_eq!(reply.text, text);
    }
    assert_eq!(client.request(&up(7, "q")).unwrap(), Down::new(7));
    client.close().unwrap();
    server.join().unwrap();
}

#[test]
fn a_message_that_does_not_decode_is_an_error_from_recv_and_the_client_goes_on() {
    let name = unique("blocking-undecodable");
    let server = serve(&name);
    // The server sends `Down`; this client expects a `bool`.
    let mut client = blocking::Client::<Up, bool>::builder()
        .codec(Postcard)
        .connect(name.as_str())
        .unwrap();
    client.send(&up(1, "hello")).unwrap();
    assert!(matches!(client.recv(), Err(Error::Codec(_))));
    client.send(&up(2, "bye")).unwrap();
    assert!(client.recv().unwrap().is_none());
    drop(client);
    server.join().unwrap();
}

#[test]
fn a_server_that_closes_in_the_middle_of_a_frame_is_a_protocol_error() {
    use pipeway_channel::handshake::{HELLO_LEN, Hello, Role};
    use std::io::{Read, Write};
    let name = unique("blocking-cut");
    let listener = pipeway::PipeListener::bind(name.as_str()).unwrap();
    let server = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let hello = Hello::new(Role::Server, "postcard", "").unwrap();
        stream.write_all(&hello.encode()).unwrap();
        let mut theirs = [0u8; HELLO_LEN];
        stream.read_exact(&mut theirs).unwrap();
        // A frame announced as 100 bytes, of which 20 come.
        stream.write_all(&[0, 0, 0, 100]).unwrap();
        stream.write_all(&[0; 20]).unwrap();
    });
    let mut client = blocking::Client::<Up, Down>::builder()
        .codec(Postcard)
        .connect(name.as_str())
        .unwrap();
    server.join().unwrap();
    match client.recv() {
        Err(Error::Protocol(why)) => {
            assert!(why.contains("24 bytes into a frame of 104 bytes"), "{why}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}
