//! Pain points users of other libraries hit: large messages split across
//! reads, and concurrent senders interleaving their frames.

mod common;

use common::*;
use futures::future::join_all;
use pipeway_channel::codec::Postcard;
use pipeway_channel::{Client, Event, Server};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Blob {
    tag: u8,
    data: Vec<u8>,
}

fn blob(tag: u8, len: usize) -> Blob {
    Blob {
        tag,
        data: (0..len).map(|i| (i as u8).wrapping_mul(31) ^ tag).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_arrive_whole_both_ways() {
    const LEN: usize = 8 << 20;
    let name = unique("large");
    let (_server, mut events) = Server::<Blob>::builder()
        .codec(Postcard)
        .bind(&name)
        .unwrap();
    let (client, _incoming) = Client::<Blob>::builder()
        .codec(Postcard)
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;
    let sent = blob(1, LEN);
    let (reply, ()) = tokio::join!(async { client.request(&sent).await }, async {
        match next(&mut events).await {
            Event::Request {
                message, responder, ..
            } => {
                assert!(message == blob(1, LEN), "the request arrived damaged");
                responder.reply(&blob(2, LEN)).unwrap();
            }
            other => panic!("unexpected {}", describe(&other)),
        }
    });
    assert!(reply.unwrap() == blob(2, LEN), "the reply arrived damaged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_never_interleave() {
    const SENDERS: u8 = 8;
    const EACH: usize = 20;
    const LEN: usize = 100 * 1024;
    let name = unique("interleave");
    let (_server, mut events) = Server::<Blob>::builder()
        .codec(Postcard)
        .bind(&name)
        .unwrap();
    let (client, _incoming) = Client::<Blob>::builder()
        .codec(Postcard)
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;

    let senders = (0..SENDERS).map(|tag| {
        let client = client.clone();
        tokio::spawn(async move {
            for _ in 0..EACH {
                client.send(&blob(tag, LEN)).await.unwrap();
            }
        })
    });
    let sending = tokio::spawn(join_all(senders));
    let mut counts = [0usize; SENDERS as usize];
    for _ in 0..SENDERS as usize * EACH {
        match next(&mut events).await {
            Event::Message { message, .. } => {
                assert!(
                    message == blob(message.tag, LEN),
                    "a message arrived damaged"
                );
                counts[message.tag as usize] += 1;
            }
            other => panic!("unexpected {}", describe(&other)),
        }
    }
    for result in within("the senders", sending).await.unwrap() {
        result.unwrap();
    }
    assert_eq!(counts, [EACH; SENDERS as usize]);
}
