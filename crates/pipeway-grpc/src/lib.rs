//! gRPC over named pipes with [tonic]: serve any tonic service on a pipe
//! name, with the pipe's access rules and secure default, and see in every
//! request who called; reach it with a channel that waits for the pipe,
//! checks who serves it, connects lazily if asked and reconnects after the
//! server restarts.
//!
//! The pipe is pipeway's byte pipe: on Linux and macOS a Unix socket at
//! `${TMPDIR:-/tmp}/CoreFxPipe_<name>`, so any gRPC implementation that
//! dials Unix sockets reaches the same server at `unix:/tmp/CoreFxPipe_<name>`
//! (grpcio, grpc-go, grpc-dotnet's `UnixDomainSocketEndPoint`), and a pipeway
//! client reaches their servers there.
//!
//! # Server
//!
//! [`PipeIncoming`] is the pipe as tonic's stream of connections. Each
//! request carries the caller's [`PipeConnectInfo`] (pid, uid, gid, user
//! name) in its extensions; [`peer_identity`] reads it.
//!
//! ```
//! use pipeway_grpc::{PipeIncoming, peer_identity};
//! use pipeway_grpc::buy::{BuyRequest, BuyResponse, my_service_server::{MyService, MyServiceServer}};
//! use tonic::{Request, Response, Status, transport::Server};
//!
//! struct Shop;
//!
//! #[tonic::async_trait]
//! impl MyService for Shop {
//!     async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
//!         let caller = peer_identity(&request).ok_or_else(|| Status::internal("no pipe"))?;
//!         let result = format!("{} bought {}", caller.user_name().unwrap_or("?"), request.get_ref().id);
//!         Ok(Response::new(BuyResponse { result }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let name = format!("doc-grpc-server-{}", std::process::id());
//! // Only this user (and root) may connect; see pipeway::ListenOptions for more.
//! let incoming = PipeIncoming::bind(&name)?;
//! tokio::spawn(
//!     Server::builder()
//!         .add_service(MyServiceServer::new(Shop))
//!         .serve_with_incoming(incoming),
//! );
//!
//! let mut shop = pipeway_grpc::buy::my_service_client::MyServiceClient::new(pipeway_grpc::connect(&name).await?);
//! let reply = shop.buy(BuyRequest { id: "apple".into(), quantity: 3, price: 120 }).await?;
//! assert!(reply.into_inner().result.ends_with(" bought apple")); // the caller's user, then the order
//! # Ok(())
//! # }
//! ```
//!
//! # Client
//!
//! [`PipeEndpoint`] makes a [`PipeChannel`] (a tonic channel) to a pipe;
//! [`connect`] and [`connect_lazy`] are the short forms.
//!
//! ```
//! use std::time::Duration;
//! use pipeway::ConnectOptions;
//! use pipeway_grpc::PipeEndpoint;
//! use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let name = format!("doc-grpc-client-{}", std::process::id());
//! # let incoming = pipeway_grpc::PipeIncoming::bind(&name)?;
//! # tokio::spawn(
//! #     tonic::transport::Server::builder()
//! #         .add_service(pipeway_grpc::buy::my_service_server::MyServiceServer::new(pipeway_grpc::buy::Buyer))
//! #         .serve_with_incoming(incoming),
//! # );
//! // The server must run as this user or root (the default), as "shop"
//! // with `.require_server_user("shop")`.
//! let channel = PipeEndpoint::new(&name)?
//!     .connect_options(ConnectOptions::new())
//!     .connect_timeout(Duration::from_secs(2))
//!     .connect_lazy();
//! let mut shop = MyServiceClient::new(channel);
//! let reply = shop.buy(BuyRequest { id: "apple".into(), quantity: 3, price: 120 }).await?;
//! assert_eq!(reply.into_inner().result, "bought 3 of apple at 120");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod authority;
#[cfg(feature = "demo")]
pub mod buy;
mod channel;
mod client;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod replay;
mod server;

pub use channel::{PipeChannel, ResponseFuture};
pub use client::{PipeConnector, PipeEndpoint, connect, connect_lazy};
pub use error::{Error, pipe_error};
pub use server::{
    DEFAULT_HANDSHAKE_TIMEOUT, PipeConnectInfo, PipeConnection, PipeIncoming, peer_identity,
};
