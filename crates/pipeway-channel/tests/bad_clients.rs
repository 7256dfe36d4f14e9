//! Clients that misbehave: killed mid-message, garbage, oversized lengths,
//! bodies of the wrong type, and clients that stop reading. Each is dealt
//! with alone; the others and the accept loop carry on.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;
use pipeway_channel::wire::ErrorCode;
use pipeway_channel::{Client, DisconnectReason, Error, Event, FullQueuePolicy, Server};
use pipeway_testbed::Reaped;

/// The child half of `a_client_killed_mid_message_is_disconnected_alone`:
/// connects, sends 15 bytes of a 104-byte frame, says so, and waits to be
/// killed. Does nothing unless started by that test.
#[test]
#[ignore = "run as a child process by a_client_killed_mid_message_is_disconnected_alone"]
fn child_sends_part_of_a_frame() {
    let Ok(name) = std::env::var("PIPEWAY_CHANNEL_CHILD_PIPE") else {
        return;
    };
    let mut stream = pipeway::PipeStream::connect(name.as_str()).unwrap();
    stream.write_all(&client_hello("json", "")).unwrap();
    // Read the server's hello: unread bytes would make the kill a reset.
    std::io::Read::read_exact(&mut stream, &mut [0u8; 64]).unwrap();
    let mut part = vec![0, 0, 0, 100, 0];
    part.extend_from_slice(&[0; 8]);
    part.extend_from_slice(b"{\"");
    stream.write_all(&part).unwrap();
    println!("PART-SENT");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(PATIENCE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_message_is_disconnected_alone() {
    let name = unique("killed");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (bystander, _bystander_in) = Client::<Up, Down>::connect(&name).await.unwrap();
    let bystander_id = connected(&mut events).await;

    let mut child = Reaped(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_sends_part_of_a_frame",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PIPEWAY_CHANNEL_CHILD_PIPE", &name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("PART-SENT"))
    });
    assert!(
        within("the child", ready).await.unwrap(),
        "the child did not start"
    );
    let child_pid = child.0.id();
    let victim = match next(&mut events).await {
        Event::Connected { client, peer } => {
            assert_eq!(peer.pid(), Some(child_pid));
            client
        }
        other => panic!("unexpected {}", describe(&other)),
    };

    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, victim);
    match reason {
        DisconnectReason::EndedMidFrame { received, expected } => {
            assert_eq!(received, 15);
            assert_eq!(expected, Some(104));
        }
        other => panic!("unexpected reason: {other}"),
    }

    // The bystander never noticed.
    let (asked, answered) =
        tokio::join!(async { bystander.request(&Up::new(1, 1)).await }, async {
            match next(&mut events).await {
                Event::Request {
                    client, responder, ..
                } => {
                    assert_eq!(client, bystander_id);
                    responder.reply(&Down::new(11)).unwrap();
                }
                other => panic!("unexpected {}", describe(&other)),
            }
        });
    let () = answered;
    assert_eq!(asked.unwrap(), Down::new(11));
}

/// Connects a well-behaved client and returns a check that it still works.
async fn bystander(
    name: &str,
    events: &mut pipeway_channel::Events<Up, Down>,
) -> (Client<Up, Down>, pipeway_channel::ClientId) {
    let (client, _) = Client::<Up, Down>::connect(name).await.unwrap();
    let id = connected(events).await;
    (client, id)
}

async fn still_works(
    client: &Client<Up, Down>,
    id: pipeway_channel::ClientId,
    events: &mut pipeway_channel::Events<Up, Down>,
) {
    client.send(&Up::new(9, 9)).await.unwrap();
    match next(events).await {
        Event::Message { client, message } => {
            assert_eq!(client, id);
            assert_eq!(message, Up::new(9, 9));
        }
        other => panic!("unexpected {}", describe(&other)),
    }
}

#[tokio::test]
async fn garbage_is_an_error_and_drops_that_client_alone() {
    let name = unique("garbage");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (good, good_id) = bystander(&name, &mut events).await;

    // An HTTP request read as a frame: its first four bytes announce 1.2 GB.
    let mut raw = Raw::connect(&name).await;
    let bad_id = connected(&mut events).await;
    use tokio::io::AsyncWriteExt;
    raw.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: pipe\r\n\r\n")
        .await
        .unwrap();

    match next(&mut events).await {
        Event::Error { client, error } => {
            assert_eq!(client, bad_id);
            match error {
                Error::TooLarge { len, max } => {
                    assert_eq!(len, u32::from_be_bytes(*b"GET ") as u64);
                    assert_eq!(max, 16 << 20);
                }
                other => panic!("unexpected error: {other}"),
            }
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, bad_id);
    assert!(matches!(reason, DisconnectReason::Protocol(_)), "{reason}");
    // The client was told why, then the connection was closed.
    let (id, code, text) = raw.recv_error().await;
    assert_eq!((id, ErrorCode(code)), (0, ErrorCode::TOO_LARGE));
    assert!(text.contains("larger than the maximum"), "{text}");
    raw.expect_eof().await;

    still_works(&good, good_id, &mut events).await;
    assert_eq!(server.clients().len(), 1);
}

#[tokio::test]
async fn an_oversized_length_is_refused_without_reading_the_body() {
    let name = unique("oversized");
    let (_server, mut events) = Server::<Up, Down>::builder()
        .max_message_size(1024)
        .bind(&name)
        .unwrap();
    let (good, good_id) = bystander(&name, &mut events).await;

    let mut raw = Raw::connect(&name).await;
    let bad_id = connected(&mut events).await;
    // 1025 bytes announced, none sent: refused from the prefix alone.
    use tokio::io::AsyncWriteExt;
    raw.stream.write_all(&1025u32.to_be_bytes()).await.unwrap();
    match next(&mut events).await {
        Event::Error {
            client,
            error:
                Error::TooLarge {
                    len: 1025,
                    max: 1024,
                },
        } => assert_eq!(client, bad_id),
        other => panic!("unexpected {}", describe(&other)),
    }
    assert_eq!(disconnected(&mut events).await.0, bad_id);
    let (_, code, _) = raw.recv_error().await;
    assert_eq!(ErrorCode(code), ErrorCode::TOO_LARGE);
    raw.expect_eof().await;

    still_works(&good, good_id, &mut events).await;
}

#[tokio::test]
async fn an_unknown_kind_is_malformed_and_drops_the_client() {
    let name = unique("malformed");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (good, good_id) = bystander(&name, &mut events).await;

    let mut raw = Raw::connect(&name).await;
    let bad_id = connected(&mut events).await;
    raw.send_frame(7, 0, b"{}").await;
    match next(&mut events).await {
        Event::Error {
            client,
            error: Error::Protocol(why),
        } => {
            assert_eq!(client, bad_id);
            assert!(why.contains("unknown frame kind 7"), "{why}");
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    assert_eq!(disconnected(&mut events).await.0, bad_id);
    let (_, code, _) = raw.recv_error().await;
    assert_eq!(ErrorCode(code), ErrorCode::MALFORMED);
    raw.expect_eof().await;

    still_works(&good, good_id, &mut events).await;
}

#[tokio::test]
async fn a_body_of_the_wrong_type_is_an_error_and_the_client_stays() {
    let name = unique("undecodable");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let mut raw = Raw::connect(&name).await;
    let id = connected(&mut events).await;

    raw.send_frame(0, 0, br#"{"tag": "not a number"}"#).await;
    match next(&mut events).await {
        Event::Error {
            client,
            error: Error::Codec(err),
        } => {
            assert_eq!(client, id);
            assert_eq!(err.codec(), "json");
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    let (err_id, code, text) = raw.recv_error().await;
    assert_eq!((err_id, ErrorCode(code)), (0, ErrorCode::UNDECODABLE));
    assert!(text.contains("json"), "{text}");

    // A request with a bad body fails with its own id.
    raw.send_frame(1, 42, b"[1, 2").await;
    assert!(matches!(
        next(&mut events).await,
        Event::Error {
            error: Error::Codec(_),
            ..
        }
    ));
    let (err_id, code, _) = raw.recv_error().await;
    assert_eq!((err_id, ErrorCode(code)), (42, ErrorCode::UNDECODABLE));

    // Still connected: a good message after the bad ones arrives.
    raw.send_frame(0, 0, br#"{"tag": 1, "seq": 2, "text": "ok"}"#)
        .await;
    match next(&mut events).await {
        Event::Message { client, message } => {
            assert_eq!(client, id);
            assert_eq!(message.text, "ok");
        }
        other => panic!("unexpected {}", describe(&other)),
    }
}

/// A 64 KiB message, so a silent client's socket buffer fills in a few.
fn big(seq: u32) -> Down {
    Down {
        seq,
        text: "x".repeat(64 * 1024),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_and_holds_up_no_one() {
    const CAPACITY: usize = 8;
    let name = unique("silent");
    let (server, mut events) = Server::<Up, Down>::builder()
        .queue_capacity(CAPACITY)
        .on_full(FullQueuePolicy::Disconnect)
        .bind(&name)
        .unwrap();
    // Connects and never reads.
    let _silent = Raw::connect(&name).await;
    let silent_id = connected(&mut events).await;
    let (_reader, mut reader_in) = Client::<Up, Down>::connect(&name).await.unwrap();
    let reader_id = connected(&mut events).await;

    // Broadcast until the silent client's queue is full; the reading client
    // takes each message before the next is sent, so its queue never is.
    let mut full_at = None;
    for seq in 0..1000 {
        let report = server.broadcast(&big(seq)).unwrap();
        let got = within("a broadcast", reader_in.next_message())
            .await
            .unwrap();
        assert_eq!(got.seq, seq);
        if !report.full.is_empty() {
            assert_eq!(report.full, vec![silent_id]);
            assert!(report.queued >= 1);
            full_at = Some(seq);
            break;
        }
    }
    let full_at = full_at.expect("the silent client's queue never filled");
    assert!(
        full_at as usize >= CAPACITY,
        "full after {full_at} messages"
    );

    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, silent_id);
    match reason {
        DisconnectReason::QueueFull { capacity } => assert_eq!(capacity, CAPACITY),
        other => panic!("unexpected reason: {other}"),
    }
    assert_eq!(
        server.clients().iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![reader_id]
    );

    // The accept loop never stopped: a newcomer connects and is served.
    let (newcomer, mut newcomer_in) = Client::<Up, Down>::connect(&name).await.unwrap();
    let newcomer_id = connected(&mut events).await;
    server.send(newcomer_id, &Down::new(5)).unwrap();
    assert_eq!(
        within("the newcomer's message", newcomer_in.next_message()).await,
        Some(Down::new(5))
    );
    drop(newcomer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_reject_policy_a_full_queue_refuses_the_message_and_keeps_the_client() {
    const CAPACITY: usize = 4;
    let name = unique("reject");
    let (server, mut events) = Server::<Up, Down>::builder()
        .queue_capacity(CAPACITY)
        .on_full(FullQueuePolicy::Reject)
        .bind(&name)
        .unwrap();
    let mut slow = Raw::connect(&name).await;
    let id = connected(&mut events).await;

    // Fill the socket buffer and the queue.
    let mut sent = 0u32;
    loop {
        match server.send(id, &big(sent)) {
            Ok(()) => sent += 1,
            Err(Error::QueueFull { capacity }) => {
                assert_eq!(capacity, CAPACITY);
                break;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
        assert!(sent < 1000, "the queue never filled");
        if sent as usize > CAPACITY {
            // Let the writer move what it can into the socket.
            tokio::task::yield_now().await;
        }
    }
    // Refused, not dropped: the client is still connected.
    assert_eq!(server.clients().len(), 1);

    // Once it reads, sending works again, and it got every accepted message.
    let mut received = 0u32;
    loop {
        match server.send(id, &big(sent)) {
            Ok(()) => {
                sent += 1;
                break;
            }
            Err(Error::QueueFull { .. }) => {
                let (kind, _, body) = slow.recv_frame().await.unwrap();
                assert_eq!(kind, 0);
                let down: Down = serde_json::from_slice(&body).unwrap();
                assert_eq!(down.seq, received);
                received += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    while received < sent {
        let (_, _, body) = slow.recv_frame().await.unwrap();
        let down: Down = serde_json::from_slice(&body).unwrap();
        assert_eq!(down.seq, received);
        received += 1;
    }
    assert_eq!(server.clients().len(), 1);
    drop(slow);
    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, id);
    assert!(matches!(reason, DisconnectReason::Closed), "{reason}");
}
