//! The `buy.proto` shop: the public `buy` service, and the one-call demo that
//! `pipeway demo` shows.

mod common;

use common::unique;
use pipeway_grpc::PipeIncoming;
use pipeway_grpc::buy::my_service_client::MyServiceClient;
use pipeway_grpc::buy::my_service_server::MyServiceServer;
use pipeway_grpc::buy::{BuyRequest, Buyer, demo};

#[tokio::test]
async fn the_shop_answers_as_the_issue_says() {
    let name = unique("buy");
    let incoming = PipeIncoming::bind(name.as_str()).unwrap();
    let path = incoming.endpoint().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MyServiceServer::new(Buyer))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    let mut shop = MyServiceClient::new(pipeway_grpc::connect(&name).await.unwrap());
    let reply = shop
        .buy(BuyRequest {
            id: "cherry".into(),
            quantity: 12,
            price: -5,
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().result, "bought 12 of cherry at -5");
    drop(shop);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists());
}

#[tokio::test]
async fn the_demo_makes_one_call_and_reports_the_caller() {
    let name = unique("demo");
    let order = BuyRequest {
        id: "apple".into(),
        quantity: 3,
        price: 120,
    };
    let outcome = demo(name.as_str(), order).await.unwrap();
    assert_eq!(outcome.response.result, "bought 3 of apple at 120");
    assert_eq!(outcome.caller.pid(), Some(std::process::id()));
    assert_eq!(
        outcome.caller.principal(),
        Some(pipeway::Principal::current().unwrap())
    );
    assert_eq!(outcome.caller.pipe().pipe_name(), Some(name.as_str()));
    assert!(!common::socket_path(&name).exists(), "the demo cleans up");
}
