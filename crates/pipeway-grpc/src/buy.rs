//! The `buy.proto` service of seed 000 (`MyService` with `rpc Buy`), and a
//! server for it: what the `buy_server` and `buy_client` examples and the
//! `pipeway demo` command use.
//!
//! ```proto
#![doc = include_str!("../proto/buy.proto")]
//! ```
//!
//! Serving and calling it on a pipe:
//!
//! ```no_run
//! use pipeway_grpc::PipeIncoming;
//! use pipeway_grpc::buy::{Buyer, BuyRequest, my_service_client::MyServiceClient, my_service_server::MyServiceServer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let incoming = PipeIncoming::bind("shop")?;
//! tokio::spawn(
//!     tonic::transport::Server::builder()
//!         .add_service(MyServiceServer::new(Buyer))
//!         .serve_with_incoming(incoming),
//! );
//! let mut shop = MyServiceClient::new(pipeway_grpc::connect("shop").await?);
//! let reply = shop.buy(BuyRequest { id: "apple".into(), quantity: 3, price: 120 }).await?;
//! assert_eq!(reply.into_inner().result, "bought 3 of apple at 120");
//! # Ok(())
//! # }
//! ```

#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

pub use generated::*;

use tonic::{Request, Response, Status};

/// The shop: `Buy` answers `bought {quantity} of {id} at {price}`, and logs
/// who asked (their pid and user) when it was asked over a pipe.
#[derive(Clone, Copy, Debug, Default)]
pub struct Buyer;

/// The answer to an order, as [`Buyer`] gives it.
pub fn answer(order: &BuyRequest) -> BuyResponse {
    BuyResponse {
        result: format!(
            "bought {} of {} at {}",
            order.quantity, order.id, order.price
        ),
    }
}

#[tonic::async_trait]
impl my_service_server::MyService for Buyer {
    async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
        if let Some(peer) = crate::peer_identity(&request) {
            tracing::info!(%peer, id = %request.get_ref().id, "Buy");
        }
        Ok(Response::new(answer(request.get_ref())))
    }
}
