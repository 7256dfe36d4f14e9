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
/// ```no_run
/// use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
///
/// # async fn buy(mut shop: MyServiceClient<pipeway_grpc::PipeChannel>) {
/// if let Err(status) = shop.buy(BuyRequest::default()).await {
///     match pipeway_grpc::pipe_error(&status) {
///         Some(pipeway::Error::NotFound { .. }) => eprintln!("the shop is closed"),
///         Some(other) => eprintln!("pipe: {other}"),
///         None => eprintln!("gRPC: {status}"),
///     }
/// }
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
