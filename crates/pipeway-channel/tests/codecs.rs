//! Request/response and broadcast with each codec, and what a codec
//! mismatch looks like.

mod common;

use common::*;
use pipeway_channel::codec::{Codec, Json, MessagePack, Postcard};
use pipeway_channel::wire::ErrorCode;
use pipeway_channel::{Client, Error, Event, Server};
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

#[tokio::test]
async fn a_codec_mismatch_is_reported_not_misread() {
    let name = unique("mismatch");
    let (_server, mut events) = Server::<Shape, Shape>::bind(&name).unwrap();
    let (client, _incoming) = Client::<Shape, Shape>::builder()
        .codec(Postcard)
        .connect(&name)
        .await
        .unwrap();
    let id = connected(&mut events).await;
    let (result, event) = tokio::join!(
        async { client.request(&Shape::Point { x: 1, y: 2.0 }).await },
        next(&mut events)
    );
    match event {
        Event::Error {
            client,
            error: Error::Codec(err),
        } => {
            assert_eq!(client, id);
            assert_eq!(err.codec(), "json");
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    match result {
        Err(Error::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::UNDECODABLE);
            assert!(message.starts_with("json: cannot decode"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
