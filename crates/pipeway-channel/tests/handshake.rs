//! The channel handshake: a codec or schema mismatch is a clear error at
//! connect on both sides; peers that do not open with a hello, or send none,
//! are refused alone.

mod common;

use std::time::Duration;

use common::*;
use pipeway_channel::codec::{MessagePack, Postcard};
use pipeway_channel::wire::ErrorCode;
use pipeway_channel::{Client, ClientEvent, Error, Event, HandshakeError, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn refused<In, Out>(event: Event<In, Out>) -> Error {
    match event {
        Event::Refused { error, .. } => error,
        other => panic!("expected Refused, got {}", describe(&other)),
    }
}

#[tokio::test]
async fn a_codec_mismatch_fails_at_connect_on_both_sides() {
    let name = unique("codec");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let err = Client::<Up, Down>::builder()
        .codec(MessagePack)
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::Codec { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server speaks json; this client speaks msgpack"
    );
    let seen = refused(next(&mut events).await);
    assert_eq!(
        seen.to_string(),
        "the client speaks msgpack; this server speaks json"
    );
}

#[tokio::test]
async fn a_schema_mismatch_fails_and_an_unnamed_schema_is_not_checked() {
    let name = unique("schema");
    let (_server, mut events) = Server::<Up, Down>::builder()
        .codec(Postcard)
        .schema("jobs/2")
        .bind(&name)
        .unwrap();
    let err = Client::<Up, Down>::builder()
        .codec(Postcard)
        .schema("jobs/1")
        .connect(&name)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"the server's messages are "jobs/2"; this client's are "jobs/1""#
    );
    assert!(matches!(
        refused(next(&mut events).await),
        Error::Handshake(HandshakeError::Schema { .. })
    ));
    // A client that names no schema is taken on its codec alone.
    let (client, _incoming) = Client::<Up, Down>::builder()
        .codec(Postcard)
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;
    client.send(&Up::new(1, 1)).await.unwrap();
    assert!(matches!(next(&mut events).await, Event::Message { .. }));
}

#[tokio::test]
async fn a_foreign_client_with_another_codec_is_told_why_in_an_error_frame() {
    let name = unique("foreign");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let mut raw = Raw::connect_without_hello(&name).await;
    raw.stream
        .write_all(&client_hello("cbor", ""))
        .await
        .unwrap();
    let hello = raw.recv_hello().await;
    assert_eq!(&hello[8..12], b"json");
    let (id, code, text) = raw.recv_error().await;
    assert_eq!((id, ErrorCode(code)), (0, ErrorCode::HANDSHAKE));
    assert_eq!(text, "the client speaks cbor; this server speaks json");
    raw.expect_eof().await;
    refused(next(&mut events).await);
}

#[tokio::test]
async fn a_client_from_before_the_handshake_is_refused_at_its_first_bytes() {
    let name = unique("legacy");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let mut raw = Raw::connect_without_hello(&name).await;
    // A frame where the hello should be; the server does not wait for more.
    raw.send_frame(0, 0, br#"{"tag":1,"seq":1,"text":"1/1"}"#)
        .await;
    let error = refused(next(&mut events).await);
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::NotAChannel {
                first: [0, 0, 0, 39],
                ..
            })
        ),
        "{error:?}"
    );
    raw.recv_hello().await;
    raw.expect_eof().await;
}

#[tokio::test]
async fn a_client_that_never_speaks_is_refused_at_the_deadline_and_holds_up_no_one() {
    let name = unique("silent");
    let (_server, mut events) = Server::<Up, Down>::builder()
        .handshake_timeout(Duration::from_millis(200))
        .bind(&name)
        .unwrap();
    let _silent = Raw::connect_without_hello(&name).await;
    // Others connect and talk meanwhile.
    let (client, _incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
    connected(&mut events).await;
    client.send(&Up::new(2, 2)).await.unwrap();
    assert!(matches!(next(&mut events).await, Event::Message { .. }));
    assert!(matches!(
        refused(next(&mut events).await),
        Error::Handshake(HandshakeError::Timeout { .. })
    ));
}

#[tokio::test]
async fn an_echo_server_is_not_taken_for_a_channel_server() {
    let name = unique("echo");
    let listener = pipeway::tokio::PipeListener::bind(name.as_str()).unwrap();
    tokio::spawn(async move {
        let stream = listener.accept().await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    let err = Client::<Up, Down>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the other end also says it is a client: it is not a channel server"
    );
}

#[tokio::test]
async fn a_client_reconnecting_to_a_server_with_another_codec_reports_each_refusal() {
    let name = unique("restart");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (_client, mut incoming) = Client::<Up, Down>::builder()
        .reconnect(pipeway_channel::Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;
    server.shutdown().await;
    let (_server, _events) = Server::<Up, Down>::builder()
        .codec(Postcard)
        .bind(&name)
        .unwrap();
    loop {
        match within("a reconnect attempt", incoming.recv()).await {
            Some(ClientEvent::ReconnectFailed {
                error: Error::Handshake(err),
                ..
            }) => {
                assert_eq!(
                    err.to_string(),
                    "the server speaks postcard; this client speaks json"
                );
                break;
            }
            Some(ClientEvent::Reconnected { .. }) => panic!("connected to a postcard server"),
            Some(_) => {}
            None => panic!("the client closed"),
        }
    }
}

#[tokio::test]
async fn frames_sent_right_behind_the_hello_are_not_lost() {
    let name = unique("pipelined");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let mut raw = Raw::connect_without_hello(&name).await;
    // Hello and a frame in one write, before reading anything.
    let mut bytes = client_hello("json", "");
    let body = br#"{"tag":5,"seq":5,"text":"5/5"}"#;
    bytes.extend_from_slice(&(9 + body.len() as u32).to_be_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&0u64.to_be_bytes());
    bytes.extend_from_slice(body);
    raw.stream.write_all(&bytes).await.unwrap();
    connected(&mut events).await;
    match next(&mut events).await {
        Event::Message { message, .. } => assert_eq!(message, Up::new(5, 5)),
        other => panic!("unexpected {}", describe(&other)),
    }
    let mut hello = [0u8; 64];
    raw.stream.read_exact(&mut hello).await.unwrap();
}
