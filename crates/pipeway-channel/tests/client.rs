//! The client: reconnecting with queued sends, the queue's bound while
//! reconnecting, request timeouts, concurrent requests, and requests that
//! fail for the server's reasons.

mod common;

use std::time::Duration;

use common::*;
use futures::future::join_all;
use pipeway_channel::wire::ErrorCode;
use pipeway_channel::{
    Backoff, Client, ClientEvent, ConnectionState, DisconnectReason, Error, Event, Server,
};

/// Reconnects quickly, so the tests do not wait on backoff.
fn quick() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50))
}

/// Waits until the client reports the lost connection.
async fn lost(incoming: &mut pipeway_channel::Incoming<Down>) {
    loop {
        match within("the disconnection", incoming.recv()).await {
            Some(ClientEvent::Disconnected { reconnecting, .. }) => {
                assert!(reconnecting);
                return;
            }
            Some(ClientEvent::Message(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reconnects_after_a_server_restart_and_delivers_its_queue() {
    let name = unique("restart");
    let (first, mut first_events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, mut incoming) = Client::<Up, Down>::builder()
        .reconnect(quick())
        .connect(&name)
        .await
        .unwrap();
    connected(&mut first_events).await;
    client.send(&Up::new(1, 0)).await.unwrap();
    assert!(matches!(
        next(&mut first_events).await,
        Event::Message { .. }
    ));

    // The server goes away; the client notices and starts reconnecting.
    within("shutdown", first.shutdown()).await;
    drop((first, first_events));
    lost(&mut incoming).await;
    assert!(matches!(
        client.state(),
        ConnectionState::Reconnecting { .. }
    ));

    // Sends and a request made meanwhile wait in the queue.
    for seq in 1..=10 {
        client.send(&Up::new(1, seq)).await.unwrap();
    }
    assert_eq!(client.queued(), 10);
    let asking = {
        let client = client.clone();
        tokio::spawn(async move { client.request(&Up::new(1, 99)).await })
    };

    // A new server on the same name gets them, in order, from the same client.
    let (second, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let id = connected(&mut events).await;
    for seq in 1..=10 {
        match next(&mut events).await {
            Event::Message { client, message } => {
                assert_eq!(client, id);
                assert_eq!(message, Up::new(1, seq));
            }
            other => panic!("unexpected {}", describe(&other)),
        }
    }
    match next(&mut events).await {
        Event::Request {
            message, responder, ..
        } => {
            assert_eq!(message.seq, 99);
            responder.reply(&Down::new(100)).unwrap();
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    assert_eq!(
        within("the reply", asking).await.unwrap().unwrap(),
        Down::new(100)
    );

    loop {
        match within("reconnection", incoming.recv()).await {
            Some(ClientEvent::Reconnected { attempts }) => {
                assert!(attempts >= 1);
                break;
            }
            Some(ClientEvent::ReconnectFailed { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(client.state(), ConnectionState::Connected);
    drop(second);
}

#[tokio::test]
async fn sends_while_reconnecting_are_bounded_then_fail_clearly() {
    const CAPACITY: usize = 3;
    let name = unique("bound");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, mut incoming) = Client::<Up, Down>::builder()
        .queue_capacity(CAPACITY)
        .reconnect(quick())
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;
    within("shutdown", server.shutdown()).await;
    lost(&mut incoming).await;

    for seq in 0..CAPACITY as u32 {
        client.send(&Up::new(2, seq)).await.unwrap();
    }
    match client.send(&Up::new(2, 9)).await {
        Err(Error::Reconnecting { queued }) => assert_eq!(queued, CAPACITY),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.try_send(&Up::new(2, 9)),
        Err(Error::Reconnecting { queued: CAPACITY })
    ));
    // Closing now cannot deliver them, and says so.
    match within("close", client.close()).await {
        Err(Error::Unsent { count }) => assert_eq!(count, CAPACITY),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(matches!(
        client.send(&Up::new(2, 0)).await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn a_request_times_out_and_its_late_reply_is_dropped() {
    let name = unique("timeout");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, _incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
    connected(&mut events).await;

    let started = async {
        client
            .request_with_timeout(&Up::new(3, 1), Duration::from_millis(100))
            .await
    };
    let (result, held) = tokio::join!(started, async {
        match next(&mut events).await {
            // Held, not answered, until the request has timed out.
            Event::Request { responder, .. } => responder,
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    match result {
        Err(Error::Timeout(after)) => assert_eq!(after, Duration::from_millis(100)),
        other => panic!("{other:?}"),
    }
    held.reply(&Down::new(1)).unwrap();

    // The next request gets its own reply, not the late one.
    let (result, ()) = tokio::join!(async { client.request(&Up::new(3, 2)).await }, async {
        match next(&mut events).await {
            Event::Request { responder, .. } => responder.reply(&Down::new(2)).unwrap(),
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    assert_eq!(result.unwrap(), Down::new(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_their_own_replies() {
    const REQUESTS: u32 = 200;
    let name = unique("concurrent");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, _incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
    connected(&mut events).await;

    // The server collects every request, then answers in reverse order.
    let server_side = tokio::spawn(async move {
        let mut held = Vec::new();
        while held.len() < REQUESTS as usize {
            match next(&mut events).await {
                Event::Request {
                    message, responder, ..
                } => held.push((message, responder)),
                other => panic!("unexpected {}", describe(&other)),
            }
        }
        for (message, responder) in held.into_iter().rev() {
            responder
                .reply(&Down::new(message.seq * 3 + message.tag))
                .unwrap();
        }
    });

    // From several handles and tasks at once.
    let asks = (0..REQUESTS).map(|seq| {
        let client = client.clone();
        tokio::spawn(async move { (seq, client.request(&Up::new(seq % 2, seq)).await) })
    });
    for result in within("every reply", join_all(asks)).await {
        let (seq, reply) = result.unwrap();
        assert_eq!(reply.unwrap(), Down::new(seq * 3 + seq % 2));
    }
    within("the server", server_side).await.unwrap();
}

#[tokio::test]
async fn requests_fail_with_the_servers_reasons() {
    let name = unique("refused");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, mut incoming) = Client::<Up, Down>::builder()
        .reconnect(quick())
        .connect(&name)
        .await
        .unwrap();
    let id = connected(&mut events).await;

    // Dropped unanswered: fails at once with no_reply, not at its timeout.
    let (result, ()) = tokio::join!(async { client.request(&Up::new(4, 1)).await }, async {
        match next(&mut events).await {
            Event::Request { responder, .. } => drop(responder),
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    match result {
        Err(Error::Remote { code, .. }) => assert_eq!(code, ErrorCode::NO_REPLY),
        other => panic!("{other:?}"),
    }

    // Rejected with a reason.
    let (result, ()) = tokio::join!(async { client.request(&Up::new(4, 2)).await }, async {
        match next(&mut events).await {
            Event::Request { responder, .. } => responder.reject("not today").unwrap(),
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    match result {
        Err(Error::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::REJECTED);
            assert_eq!(message, "not today");
        }
        other => panic!("{other:?}"),
    }

    // The connection breaks while the request waits: it fails at once.
    let (result, held) = tokio::join!(async { client.request(&Up::new(4, 3)).await }, async {
        match next(&mut events).await {
            Event::Request { responder, .. } => {
                assert!(server.disconnect(id));
                responder
            }
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    assert!(matches!(result, Err(Error::ConnectionLost)), "{result:?}");
    drop(held);
    match within("the disconnection", incoming.recv()).await {
        Some(ClientEvent::Disconnected {
            reason: DisconnectReason::Closed,
            reconnecting: true,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connecting_to_nothing_fails_after_the_timeout() {
    let name = unique("nothing");
    let result = Client::<Up, Down>::builder()
        .connect_timeout(Duration::from_millis(50))
        .connect(&name)
        .await;
    match result {
        Err(Error::Pipe(pipeway::Error::NotFound { .. })) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn an_oversized_send_fails_before_anything_is_sent() {
    let name = unique("too-big");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, _incoming) = Client::<Up, Down>::builder()
        .max_message_size(100)
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;
    let mut up = Up::new(5, 0);
    up.text = "y".repeat(200);
    match client.send(&up).await {
        Err(Error::TooLarge { max, .. }) => assert_eq!(max, 100),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.queued(), 0);
    client.send(&Up::new(5, 1)).await.unwrap();
    match next(&mut events).await {
        Event::Message { message, .. } => assert_eq!(message, Up::new(5, 1)),
        other => panic!("unexpected {}", describe(&other)),
    }
}
