//! What can go wrong, typed.

use std::error::Error as StdError;

/// Why a channel could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pipe: a malformed name, no server before the connect timeout,
    /// access denied, a server of an untrusted user, ... Match on it to act.
    #[error(transparent)]
    Pipe(#[from] pipeway::Error),

    /// HTTP/2 or gRPC, above the pipe: the server did not speak HTTP/2, say.
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// The pipe error behind a failed call or connect, if a pipe error caused
/// it: a call on a channel whose server went away fails with `Unavailable`,
/// and the reconnection's own error (the pipe is not found before the connect
/// timeout, access is denied, ...) is kept as the status's source.
///
/// ```
/// use std::time::Duration;
/// use pipeway_grpc::PipeEndpoint;
/// use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pipeway::Result<()> {
/// // No server serves this pipe.
/// let name = format!("doc-grpc-closed-shop-{}", std::process::id());
/// let channel = PipeEndpoint::new(&name)?
///     .connect_timeout(Duration::from_millis(100))
///     .connect_lazy();
/// let mut shop = MyServiceClient::new(channel);
/// let status = shop.buy(BuyRequest::default()).await.unwrap_err();
/// match pipeway_grpc::pipe_error(&status) {
///     Some(pipeway::Error::NotFound { .. }) => eprintln!("the shop is closed"),
///     Some(other) => panic!("pipe: {other}"),
///     None => panic!("gRPC: {status}"),
/// }
/// # Ok(())
/// # }
/// ```
pub fn pipe_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a pipeway::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(pipe) = err.downcast_ref::<pipeway::Error>() {
            return Some(pipe);
        }
        if let Some(Error::Pipe(pipe)) = err.downcast_ref::<Error>() {
            return Some(pipe);
        }
        next = err.source();
    }
    None
}
