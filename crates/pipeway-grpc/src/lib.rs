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
//! ```no_run
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
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! // Only this user (and root) may connect; see pipeway::ListenOptions for more.
//! Server::builder()
//!     .add_service(MyServiceServer::new(Shop))
//!     .serve_with_incoming(PipeIncoming::bind("shop")?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Client
//!
//! [`PipeEndpoint`] makes a [`PipeChannel`] (a tonic channel) to a pipe;
//! [`connect`] and [`connect_lazy`] are the short forms.
//!
//! ```no_run
//! use std::time::Duration;
//! use pipeway::ConnectOptions;
//! use pipeway_grpc::PipeEndpoint;
//! use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
//!
//! # async fn call() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = PipeEndpoint::new("shop")?
//!     .connect_options(ConnectOptions::new().require_server_user("shop"))
//!     .connect_timeout(Duration::from_secs(2))
//!     .connect_lazy();
//! let mut shop = MyServiceClient::new(channel);
//! let reply = shop.buy(BuyRequest { id: "apple".into(), quantity: 3, price: 120 }).await?;
//! println!("{}", reply.into_inner().result);
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
