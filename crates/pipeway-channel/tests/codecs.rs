//! Request/response and broadcast with each codec (a codec mismatch is
//! tested with the handshake, in handshake.rs).

mod common;

use common::*;
use pipeway_channel::codec::{Codec, Json, MessagePack, Postcard};
use pipeway_channel::{Client, Event, Server};
use serde::{Deserialize, Serialize};

/// A message with the shapes serde formats differ on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Point { x: i64, y: f64 },
    Tuple(u8, String),
    Nested(Option<Box<Shape>>, Vec<u16>),
}

async fn exchange<C: Codec>(codec: C) {
    let name = unique(codec.name());
    let (server, mut events) = Server::<Shape, Shape>::builder()
        .codec(codec.clone())
        .bind(&name)
        .unwrap();
    let (client, mut incoming) = Client::<Shape, Shape>::builder()
        .codec(codec.clone())
        .connect(&name)
        .await
        .unwrap();
    connected(&mut events).await;

    let shapes = vec![
        Shape::Unit,
        Shape::Point { x: -3, y: 0.5 },
        Shape::Tuple(7, "seven".into()),
        Shape::Nested(Some(Box::new(Shape::Unit)), vec![1, 65535]),
        Shape::Nested(None, vec![]),
    ];
    for shape in &shapes {
        let (reply, ()) = tokio::join!(client.request(shape), async {
            match next(&mut events).await {
                Event::Request {
                    message, responder, ..
                } => {
                    assert_eq!(&message, shape, "{}", codec.name());
                    responder
                        .reply(&Shape::Nested(Some(Box::new(message)), vec![2]))
                        .unwrap();
                }
                other => panic!("unexpected {}", describe(&other)),
            }
        });
        assert_eq!(
            reply.unwrap(),
            Shape::Nested(Some(Box::new(shape.clone())), vec![2])
        );
    }
    server.broadcast(&Shape::Tuple(1, "all".into())).unwrap();
    assert_eq!(
        within("the broadcast", incoming.next_message()).await,
        Some(Shape::Tuple(1, "all".into()))
    );
}

#[tokio::test]
async fn json_carries_every_shape() {
    exchange(Json).await;
}

#[tokio::test]
async fn messagepack_carries_every_shape() {
    exchange(MessagePack).await;
}

#[tokio::test]
async fn postcard_carries_every_shape() {
    exchange(Postcard).await;
}
