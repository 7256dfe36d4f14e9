//! The server: events in order per client, many clients, broadcast, listing,
//! disconnecting one client, graceful shutdown, and the handler API.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::*;
use futures::future::join_all;
use pipeway_channel::{Client, ClientEvent, DisconnectReason, Event, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_come_in_order_for_each_client() {
    const CLIENTS: u32 = 20;
    const MESSAGES: u32 = 50;
    let name = unique("order");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();

    // Every client connects, sends its messages, and closes, all at once.
    let clients = (0..CLIENTS).map(|tag| {
        let name = name.clone();
        tokio::spawn(async move {
            let (client, _incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
            for seq in 0..MESSAGES {
                client.send(&Up::new(tag, seq)).await.unwrap();
            }
            client.close().await.unwrap();
        })
    });
    let senders = tokio::spawn(join_all(clients));

    // What each client id went through, as a list of steps.
    let mut seen: BTreeMap<_, Vec<String>> = BTreeMap::new();
    let mut done = 0;
    while done < CLIENTS {
        let event = next(&mut events).await;
        let steps = seen.entry(event.client()).or_default();
        match event {
            Event::Connected { .. } => steps.push("connected".into()),
            Event::Message { message, .. } => {
                steps.push(format!("{}/{}", message.tag, message.seq))
            }
            Event::Disconnected { reason, .. } => {
                assert!(matches!(reason, DisconnectReason::Closed), "{reason}");
                steps.push("disconnected".into());
                done += 1;
            }
            other => panic!("unexpected {}", describe(&other)),
        }
    }
    for result in within("the senders", senders).await.unwrap() {
        result.unwrap();
    }

    assert_eq!(seen.len(), CLIENTS as usize);
    let mut tags = HashSet::new();
    for (client, steps) in &seen {
        assert_eq!(steps.len(), MESSAGES as usize + 2, "{client}: {steps:?}");
        assert_eq!(steps[0], "connected", "{client}");
        assert_eq!(steps[steps.len() - 1], "disconnected", "{client}");
        let tag: u32 = steps[1].split('/').next().unwrap().parse().unwrap();
        assert!(tags.insert(tag), "two clients sent tag {tag}");
        let expected: Vec<String> = (0..MESSAGES).map(|seq| format!("{tag}/{seq}")).collect();
        assert_eq!(&steps[1..steps.len() - 1], &expected[..], "{client}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_at_once() {
    const CLIENTS: u32 = 500;
    raise_fd_limit();
    let name = unique("many");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();

    // The server answers each request with the sender's tag.
    let answering = tokio::spawn(async move {
        let mut connected = HashSet::new();
        let mut disconnected = 0;
        while disconnected < CLIENTS {
            match next(&mut events).await {
                Event::Connected { client, .. } => assert!(connected.insert(client)),
                Event::Request {
                    message, responder, ..
                } => responder.reply(&Down::new(message.tag)).unwrap(),
                Event::Disconnected { client, .. } => {
                    assert!(connected.contains(&client));
                    disconnected += 1;
                }
                other => panic!("unexpected {}", describe(&other)),
            }
        }
        connected.len()
    });

    let clients = join_all((0..CLIENTS).map(|_| Client::<Up, Down>::connect(&name))).await;
    let clients: Vec<_> = clients.into_iter().map(|c| c.unwrap().0).collect();
    let replies = join_all(
        clients
            .iter()
            .enumerate()
            .map(|(tag, client)| async move { client.request(&Up::new(tag as u32, 0)).await }),
    )
    .await;
    for (tag, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap().seq, tag as u32);
    }
    // All are connected at once, each once.
    let listed = server.clients();
    assert_eq!(listed.len(), CLIENTS as usize);
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<HashSet<_>>().len(),
        CLIENTS as usize
    );

    join_all(clients.iter().map(|c| c.close())).await;
    assert_eq!(
        within("every disconnection", answering).await.unwrap(),
        CLIENTS as usize
    );
    assert!(server.clients().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_client_exactly_once() {
    const CLIENTS: usize = 50;
    const MESSAGES: u32 = 100;
    let name = unique("broadcast");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();

    let (handles, incomings) = connect_clients::<Up, Down>(&name, &mut events, CLIENTS).await;
    for seq in 0..MESSAGES {
        let report = server.broadcast(&Down::new(seq)).unwrap();
        assert_eq!(report.queued, CLIENTS);
        assert!(report.full.is_empty());
    }
    // Shutdown delivers what was queued, then closes every connection, so
    // each client's stream ends after exactly what it was sent.
    within("shutdown", server.shutdown()).await;

    for (i, mut incoming) in incomings.into_iter().enumerate() {
        let mut got = Vec::new();
        let mut disconnects = 0;
        while let Some(event) = within("client events", incoming.recv()).await {
            match event {
                ClientEvent::Message(down) => got.push(down.seq),
                ClientEvent::Disconnected { reconnecting, .. } => {
                    assert!(!reconnecting);
                    disconnects += 1;
                }
                other => panic!("client {i}: unexpected {other:?}"),
            }
        }
        assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>(), "client {i}");
        assert_eq!(disconnects, 1, "client {i}");
    }
    drop(handles);
}

#[tokio::test]
async fn the_server_lists_and_disconnects_clients() {
    let name = unique("list");
    let (server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (first, mut first_in) = Client::<Up, Down>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap();
    let first_id = connected(&mut events).await;
    let (second, _second_in) = Client::<Up, Down>::connect(&name).await.unwrap();
    let second_id = connected(&mut events).await;

    let listed = server.clients();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![first_id, second_id]
    );
    for info in &listed {
        assert_eq!(info.peer.pid(), Some(std::process::id()));
        assert_eq!(
            info.peer.principal(),
            Some(pipeway::Principal::current().unwrap())
        );
    }

    // Queued before the disconnect, so delivered before the connection ends.
    server.send(first_id, &Down::new(7)).unwrap();
    assert!(server.disconnect(first_id));
    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, first_id);
    assert!(matches!(reason, DisconnectReason::ByServer), "{reason}");
    assert_eq!(
        within("the last message", first_in.next_message()).await,
        Some(Down::new(7))
    );
    match within("the disconnection", first_in.recv()).await {
        Some(ClientEvent::Disconnected {
            reason: DisconnectReason::Closed,
            reconnecting: false,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(server.client(first_id).is_none());
    assert!(!server.disconnect(first_id));
    assert!(matches!(
        server.send(first_id, &Down::new(8)),
        Err(pipeway_channel::Error::UnknownClient(id)) if id == first_id
    ));
    assert!(first.send(&Up::new(0, 0)).await.is_err());

    // The other client is untouched.
    second.send(&Up::new(2, 1)).await.unwrap();
    match next(&mut events).await {
        Event::Message { client, message } => {
            assert_eq!(client, second_id);
            assert_eq!(message, Up::new(2, 1));
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    assert_eq!(server.clients().len(), 1);
}

#[tokio::test]
async fn shutdown_delivers_what_was_queued_and_frees_the_name() {
    const MESSAGES: u32 = 1000;
    let name = unique("shutdown");
    let (server, mut events) = Server::<Up, Down>::builder()
        .queue_capacity(MESSAGES as usize)
        .bind(&name)
        .unwrap();
    let (_client, mut incoming) = Client::<Up, Down>::builder()
        .no_reconnect()
        .connect(&name)
        .await
        .unwrap();
    let id = connected(&mut events).await;
    for seq in 0..MESSAGES {
        server.send(id, &Down::new(seq)).unwrap();
    }
    within("shutdown", server.shutdown()).await;
    assert!(server.is_shut_down());

    // The name is free at once: a new server binds it.
    let (again, _) = Server::<Up, Down>::bind(&name).unwrap();
    drop(again);

    let mut got = Vec::new();
    while let Some(message) = within("messages", incoming.next_message()).await {
        got.push(message.seq);
    }
    assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>());
    let (_, reason) = disconnected(&mut events).await;
    assert!(matches!(reason, DisconnectReason::Shutdown), "{reason}");
    assert!(within("the end of events", events.recv()).await.is_none());
}

#[tokio::test]
async fn a_closing_client_delivers_its_queue() {
    const MESSAGES: u32 = 500;
    let name = unique("client-close");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let (client, _incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
    connected(&mut events).await;
    for seq in 0..MESSAGES {
        client.try_send(&Up::new(1, seq)).unwrap();
    }
    within("close", client.close()).await.unwrap();
    for seq in 0..MESSAGES {
        match next(&mut events).await {
            Event::Message { message, .. } => assert_eq!(message.seq, seq),
            other => panic!("unexpected {}", describe(&other)),
        }
    }
    disconnected(&mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_api_answers_messages_and_requests() {
    let name = unique("handler");
    let server = Server::<Up, Down>::builder()
        .serve(&name, |_client, up: Up| async move {
            match up.seq {
                // A request or message with seq 0 gets no answer.
                0 => None,
                seq => Some(Down::new(seq * 10)),
            }
        })
        .unwrap();
    let (client, mut incoming) = Client::<Up, Down>::connect(&name).await.unwrap();
    assert_eq!(client.request(&Up::new(1, 4)).await.unwrap(), Down::new(40));
    match client.request(&Up::new(1, 0)).await {
        Err(pipeway_channel::Error::Remote { code, .. }) => {
            assert_eq!(code, pipeway_channel::wire::ErrorCode::NO_REPLY)
        }
        other => panic!("{other:?}"),
    }
    client.send(&Up::new(1, 5)).await.unwrap();
    assert_eq!(
        within("the answer", incoming.next_message()).await,
        Some(Down::new(50))
    );
    within("shutdown", server.shutdown()).await;
}

#[tokio::test]
async fn a_reply_to_a_client_that_left_is_not_an_error() {
    let name = unique("left");
    let (_server, mut events) = Server::<Up, Down>::bind(&name).unwrap();
    let mut raw = Raw::connect(&name).await;
    raw.send_frame(1, 7, br#"{"tag":1,"seq":1,"text":"1/1"}"#)
        .await;
    drop(raw);
    connected(&mut events).await;
    let responder = match next(&mut events).await {
        Event::Request { responder, .. } => responder,
        other => panic!("unexpected {}", describe(&other)),
    };
    // Answer only once the client is known to be gone.
    disconnected(&mut events).await;
    responder.reply(&Down::new(1)).unwrap();
}
