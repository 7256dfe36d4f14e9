//! `buy.proto`: the example service (`MyService` with `rpc Buy`) of the
//! article on ASP.NET Core gRPC over Windows named pipes that pipeway started
//! from (“Windows の名前付きパイプでホスト間通信をしたい”, after Microsoft
//! Learn's “Inter-process communication with gRPC and Named pipes”), and a
//! server for it: what the `buy_server` and `buy_client` examples and the
//! `pipeway demo` command use.
//!
//! ```proto
#![doc = include_str!("../proto/buy.proto")]
//! ```
//!
//! Serving and calling it on a pipe:
//!
//! ```
//! use pipeway_grpc::PipeIncoming;
//! use pipeway_grpc::buy::{Buyer, BuyRequest, my_service_client::MyServiceClient, my_service_server::MyServiceServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let name = format!("doc-grpc-buy-{}", std::process::id());
//! let incoming = PipeIncoming::bind(&name)?;
//! tokio::spawn(
//!     tonic::transport::Server::builder()
//!         .add_service(MyServiceServer::new(Buyer))
//!         .serve_with_incoming(incoming),
//! );
//! let mut shop = MyServiceClient::new(pipeway_grpc::connect(&name).await?);
//! let reply = shop.buy(BuyRequest { id: "apple".into(), quantity: 3, price: 120 }).await?;
//! assert_eq!(reply.into_inner().result, "bought 3 of apple at 120");
//! # Ok(())
//! # }
//! ```

/// Generated from `proto/buy.proto` and committed (`tests/generated.rs`
/// checks that it is current), so building needs no protoc.
#[allow(missing_docs)]
mod generated {
    include!("generated/buy.rs");
}

pub use generated::*;

use std::sync::{Arc, Mutex};

use pipeway::IntoPipeName;
use tonic::{Request, Response, Status};

use crate::{PipeConnectInfo, PipeIncoming};

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

/// What [`demo`] did: the server's answer, and who the server saw calling.
#[derive(Clone, Debug)]
pub struct DemoOutcome {
    /// The server's answer.
    pub response: BuyResponse,
    /// The caller as the server's handler saw it (this process).
    pub caller: PipeConnectInfo,
}

/// One gRPC call over a pipe, both ends in this process: serves the shop on
/// the pipe `name`, places `order` through a pipe channel, stops the server,
/// and reports the answer and the caller's identity as the handler saw it.
/// Made for `pipeway demo`; call it inside a tokio runtime.
///
/// ```
/// use pipeway_grpc::buy::{BuyRequest, demo};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let name = format!("doc-grpc-demo-{}", std::process::id());
/// let order = BuyRequest { id: "apple".into(), quantity: 3, price: 120 };
/// let outcome = demo(&name, order).await?;
/// assert_eq!(outcome.response.result, "bought 3 of apple at 120");
/// println!("{} (the server saw {})", outcome.response.result, outcome.caller.peer());
/// # Ok(())
/// # }
/// ```
pub async fn demo(
    name: impl IntoPipeName,
    order: BuyRequest,
) -> Result<DemoOutcome, Box<dyn std::error::Error + Send + Sync>> {
    let name = name.into_pipe_name()?;
    let incoming = PipeIncoming::bind(&name)?;
    let seen = Arc::new(Mutex::new(None));
    let shop = my_service_server::MyServiceServer::new(Witness { seen: seen.clone() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(shop)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    let called = async {
        let mut client = my_service_client::MyServiceClient::new(crate::connect(&name).await?);
        let response = client.buy(order).await?.into_inner();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
    }
    .await;
    let _ = stop.send(());
    server.await??;
    let response = called?;
    let caller = seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
        .ok_or("the call was not served over the pipe")?;
    Ok(DemoOutcome { response, caller })
}

/// The demo's shop: [`Buyer`]'s answers, noting who called.
struct Witness {
    seen: Arc<Mutex<Option<PipeConnectInfo>>>,
}

#[tonic::async_trait]
impl my_service_server::MyService for Witness {
    async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
        let caller = request.extensions().get::<PipeConnectInfo>().cloned();
        *self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = caller;
        Ok(Response::new(answer(request.get_ref())))
    }
}
