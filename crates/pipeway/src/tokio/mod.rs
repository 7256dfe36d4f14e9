//! The tokio face: the same pipes, the same options and the same rules,
//! with `async` methods and [`AsyncRead`](::tokio::io::AsyncRead) /
//! [`AsyncWrite`](::tokio::io::AsyncWrite) streams.
//!
//! Listeners must be bound, and streams connected, inside a tokio runtime
//! with I/O and time enabled.
//!
//! # Deadlines
//!
//! Async operations take no timeout parameters: wrap any of them in
//! [`timeout`] (or `tokio::time::timeout`). Every receive here is cancel
//! safe, so a receive that times out loses nothing and the stream stays
//! usable. A message send that times out after its first record keeps the
//! rest of the message and sends it before the next one.
//!
//! ```
//! use std::time::Duration;
//! use pipeway::tokio::{MessageListener, MessageStream, timeout};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pipeway::Result<()> {
//! let name = format!("doc-tokio-timeout-{}", std::process::id());
//! let listener = MessageListener::bind(&name)?;
//! let stream = MessageStream::connect(&name).await?;
//! let server_end = listener.accept().await?;
//!
//! // Nothing has been sent: the receive times out, and loses nothing.
//! match timeout(Duration::from_millis(100), stream.recv_vec()).await {
//!     Ok(message) => println!("{message:?}"),
//!     Err(err) if err.kind() == std::io::ErrorKind::TimedOut => println!("nothing yet"),
//!     Err(err) => return Err(err),
//! }
//! server_end.send(b"now").await?;
//! assert_eq!(stream.recv_vec().await?, Some(b"now".to_vec()));
//! # Ok(())
//! # }
//! ```

mod incoming;
mod listener;
mod message;
mod stream;

pub use incoming::Incoming;
pub use listener::{MessageListener, PipeListener};
pub use message::MessageStream;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, PipeStream, ReuniteError};

use std::future::Future;
use std::io;
use std::time::Duration;

/// Runs `operation` for at most `duration`; past it, fails with an error of
/// kind [`io::ErrorKind::TimedOut`]. For pipeway's own errors use
/// [`Error::kind`](crate::Error::kind) to test for it.
pub async fn timeout<T, E>(
    duration: Duration,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    E: From<io::Error>,
{
    match ::tokio::time::timeout(duration, operation).await {
        Ok(result) => result,
        Err(_elapsed) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the pipe operation took longer than {}",
                crate::show::Human(duration)
            ),
        )
        .into()),
    }
}
