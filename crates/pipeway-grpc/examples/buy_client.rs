//! Calls `Buy` on `MyService` (buy.proto, the ASP.NET Core gRPC-over-named-pipes
//! example service) served on a local pipe.
//!
//! ```text
//! cargo run --release -p pipeway-grpc --example buy_client -- NAME [ID QUANTITY PRICE]
//! ```
//!
//! The order defaults to 3 of `apple` at 120. The client waits up to 5 s for
//! the pipe, and trusts only a server of this user or root.

use std::process::ExitCode;

use pipeway_grpc::buy::BuyRequest;
use pipeway_grpc::buy::my_service_client::MyServiceClient;

const USAGE: &str = "usage: buy_client NAME [ID QUANTITY PRICE]

Orders QUANTITY of ID at PRICE (default: 3 of apple at 120) from the
MyService server on the pipe NAME, and prints its answer.";

fn order(args: &[String]) -> Result<BuyRequest, String> {
    match args {
        [] => Ok(BuyRequest {
            id: "apple".into(),
            quantity: 3,
            price: 120,
        }),
        [id, quantity, price] => Ok(BuyRequest {
            id: id.clone(),
            quantity: quantity
                .parse()
                .map_err(|err| format!("QUANTITY {quantity:?}: {err}"))?,
            price: price
                .parse()
                .map_err(|err| format!("PRICE {price:?}: {err}"))?,
        }),
        _ => Err(USAGE.to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some((name, rest)) = args
        .split_first()
        .filter(|(name, _)| !name.starts_with('-'))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let order = match order(rest) {
        Ok(order) => order,
        Err(err) => {
            eprintln!("buy_client: {err}");
            return ExitCode::from(2);
        }
    };
    let channel = match pipeway_grpc::connect(name.as_str()).await {
        Ok(channel) => channel,
        Err(err) => {
            eprintln!("buy_client: {err}");
            return ExitCode::FAILURE;
        }
    };
    match MyServiceClient::new(channel).buy(order).await {
        Ok(reply) => {
            println!("{}", reply.into_inner().result);
            ExitCode::SUCCESS
        }
        Err(status) => {
            eprintln!("buy_client: {}: {}", status.code(), status.message());
            ExitCode::FAILURE
        }
    }
}
