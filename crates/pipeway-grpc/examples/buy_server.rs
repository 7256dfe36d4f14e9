//! Serves `MyService` (buy.proto, the ASP.NET Core gRPC-over-named-pipes
//! example service) on a local pipe until Ctrl-C or SIGTERM.
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

const USAGE: &str = "usage: buy_server NAME

Serves MyService (buy.proto) on the pipe NAME until Ctrl-C or SIGTERM,
printing each order and who placed it.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = match args.as_slice() {
        [help] if help == "-h" || help == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [name] if !name.starts_with('-') => name.clone(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let incoming = match PipeIncoming::bind(name.as_str()) {
        Ok(incoming) => incoming,
        Err(err) => {
            eprintln!("buy_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    // What another gRPC implementation dials: `unix:` + the socket path on
    // Unix; on Windows the pipe's path.
    let target = if cfg!(unix) { "unix:" } else { "" };
    println!(
        "serving MyService on pipe {name} ({target}{}); Ctrl-C or SIGTERM stops",
        incoming.endpoint().display()
    );
    let served = tonic::transport::Server::builder()
        .add_service(MyServiceServer::new(Shop))
        // The pipe's socket goes with the server, on either signal.
        .serve_with_incoming_shutdown(incoming, stop_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("buy_server: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves at Ctrl-C (SIGINT) or SIGTERM, what `kill` and service managers
/// send: either way the server stops and frees its name.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => drop(tokio::signal::ctrl_c().await),
        }
    }
    #[cfg(not(unix))]
    drop(tokio::signal::ctrl_c().await);
}
