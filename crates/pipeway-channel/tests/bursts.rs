//! Bursts: what the server's per-client queues gather into one write and
//! what a client hands to `Incoming` from one read keep their order, their
//! bounds and their errors.

mod common;

use common::*;
use pipeway_channel::wire::ErrorCode;
use pipeway_channel::{Client, ClientEvent, Error, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A message of `len` bytes of text, stamped with `seq`.
fn sized(seq: u32, len: usize) -> Down {
    Down {
        seq,
        text: format!("{seq:08}").repeat(len / 8),
    }
}

/// Small messages are copied into each client's queue, large ones shared:
/// bursts that mix them reach every client whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_small_and_large_broadcasts_reaches_every_client_in_order() {
    const CLIENTS: usize = 8;
    const MESSAGES: u32 = 300;
    let name = unique("mixed-burst");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (handles, incomings) = connect_clients::<Up, Down>(&name, &mut events, CLIENTS).await;
    // Every seventh message is 40 KiB, the rest a few bytes.
    let message = |seq: u32| {
        if seq % 7 == 3 {
            sized(seq, 40 << 10)
        } else {
            sized(seq, 16)
        }
    };
    let readers: Vec<_> = incomings
        .into_iter()
        .map(|mut incoming| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < MESSAGES as usize {
                    match within("a broadcast", incoming.recv()).await {
                        Some(ClientEvent::Message(down)) => got.push(down),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                got
            })
        })
        .collect();
    for seq in 0..MESSAGES {
        let report = server.broadcast(&message(seq)).unwrap();
        assert_eq!(report.queued, CLIENTS);
        assert!(report.full.is_empty(), "{report:?}");
        if seq % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for (i, reader) in readers.into_iter().enumerate() {
        let got = within("a client's messages", reader).await.unwrap();
        for (seq, down) in got.iter().enumerate() {
            assert!(
                *down == message(seq as u32),
                "client {i}: message {seq} arrived as #{} of {} bytes",
                down.seq,
                down.text.len()
            );
        }
    }
    drop(handles);
    server.shutdown().await;
}

/// While `Incoming` is full the client stops reading; once it is read,
/// everything the server sent meanwhile arrives, in order, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_incoming_holds_the_client_back_and_loses_nothing() {
    const MESSAGES: u32 = 500;
    let name = unique("full-incoming");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, mut incoming) = Client::<Up, Down>::builder()
        .no_reconnect()
        .incoming_capacity(3)
        .connect(&name)
        .await
        .unwrap();
    let id = connected(&mut events).await;
    for seq in 0..MESSAGES {
        server.send(id, &Down::new(seq)).unwrap();
    }
    // The client reads no more than fits, then waits for room.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(format!("{incoming:?}"), "Incoming { waiting: 3 }");
    for seq in 0..MESSAGES {
        match within("a message", incoming.recv()).await {
            Some(ClientEvent::Message(down)) => assert_eq!(down, Down::new(seq)),
            other => panic!("message {seq}: unexpected {other:?}"),
        }
    }
    client.close().await.unwrap();
    server.shutdown().await;
}

/// Frames of every kind that arrive in one read are reported in order (a
/// message decoded where it lies in the read buffer, an error frame, a body
/// that does not decode); a malformed frame behind them comes after them,
/// and drops the connection.
#[tokio::test]
async fn frames_in_one_read_are_reported_in_order_and_a_malformed_one_last() {
    let name = unique("bad-tail");
    let listener = pipeway::tokio::PipeListener::bind(name.as_str()).unwrap();
    let server = tokio::spawn(async move {
        let mut stream = listener.accept().await.unwrap();
        let mut hello = [0u8; 64];
        stream.read_exact(&mut hello).await.unwrap();
        // The server's hello: the client's with the role byte set to 1.
        let mut bytes = client_hello("json", "");
        bytes[5] = 1;
        let mut frame = |kind: u8, body: &[u8]| {
            bytes.extend_from_slice(&(9 + body.len() as u32).to_be_bytes());
            bytes.push(kind);
            bytes.extend_from_slice(&0u64.to_be_bytes());
            bytes.extend_from_slice(body);
        };
        frame(0, &serde_json::to_vec(&Down::new(0)).unwrap());
        // An error about no request (code 6, rejected), then a body that is
        // not a `Down`, then a message again.
        frame(3, b"\x00\x06not now");
        frame(0, br#"{"nope":1}"#);
        frame(0, &serde_json::to_vec(&Down::new(1)).unwrap());
        // A frame of kind 7, which does not exist.
        bytes.extend_from_slice(&[0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        stream.write_all(&bytes).await.unwrap();
        // Keep the connection until the client drops it.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    let (_client, mut incoming) = Client::<Up, Down>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap();
    match within("a message", incoming.recv()).await {
        Some(ClientEvent::Message(down)) => assert_eq!(down, Down::new(0)),
        other => panic!("unexpected {other:?}"),
    }
    match within("the error frame", incoming.recv()).await {
        Some(ClientEvent::Error(Error::Remote { code, message })) => {
            assert_eq!(code, ErrorCode::REJECTED);
            assert_eq!(message, "not now");
        }
        other => panic!("unexpected {other:?}"),
    }
    match within("the undecodable body", incoming.recv()).await {
        Some(ClientEvent::Error(Error::Codec(err))) => assert_eq!(err.codec(), "json"),
        other => panic!("unexpected {other:?}"),
    }
    match within("a message", incoming.recv()).await {
        Some(ClientEvent::Message(down)) => assert_eq!(down, Down::new(1)),
        other => panic!("unexpected {other:?}"),
    }
    match within("the malformed frame", incoming.recv()).await {
        Some(ClientEvent::Error(Error::Protocol(why))) => {
            assert!(why.contains("kind 7"), "{why}")
        }
        other => panic!("unexpected {other:?}"),
    }
    match within("the disconnection", incoming.recv()).await {
        Some(ClientEvent::Disconnected { reconnecting, .. }) => assert!(!reconnecting),
        other => panic!("unexpected {other:?}"),
    }
    within("the fake server", server).await.unwrap();
}
