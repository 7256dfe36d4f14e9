//! Serves seed 000's `MyService` (buy.proto) on a local pipe until Ctrl-C.
//!
//! ```text
//! cargo run --release -p pipeway-grpc --example buy_server -- NAME
//! ```
//!
//! Only this user (and root) may connect: the pipe's secure default. Each
//! call is printed with the caller's pid, uid (SID on Windows) and user. On
//! Unix any gRPC client that dials Unix sockets reaches it at `unix:` + the
//! printed socket path.

use std::process::ExitCode;

use pipeway_grpc::PipeIncoming;
use pipeway_grpc::buy::my_service_server::{MyService, MyServiceServer};
use pipeway_grpc::buy::{BuyRequest, BuyResponse, answer};
use tonic::{Request, Response, Status};

/// The shop, printing each order and who placed it.
struct Shop;

#[tonic::async_trait]
impl MyService for Shop {
    async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
        let response = answer(request.get_ref());
        match pipeway_grpc::peer_identity(&request) {
            Some(peer) => println!(
                "Buy from pid {} ({}, {}): {}",
                peer.pid()
                    .map_or_else(|| "?".to_owned(), |pid| pid.to_string()),
                peer.principal()
                    .map_or_else(|| "user ?".to_owned(), |user| user.to_string()),
                peer.user_name().unwrap_or("unknown user"),
                response.result
            ),
            None => println!("Buy: {}", response.result),
        }
        Ok(Response::new(response))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(name), None) = (args.next(), args.next()) else {
        eprintln!("usage: buy_server NAME");
        return ExitCode::from(2);
    };
    let incoming = match PipeIncoming::bind(name.as_str()) {
        Ok(incoming) => incoming,
        Err(err) => {
            eprintln!("buy_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "serving MyService on pipe {name} ({}); Ctrl-C stops",
        incoming.endpoint().display()
    );
    let served = tonic::transport::Server::builder()
        .add_service(MyServiceServer::new(Shop))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("buy_server: {err}");
            ExitCode::FAILURE
        }
    }
}
