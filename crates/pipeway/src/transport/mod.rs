//! Local or remote, per stream. `sys` picks the platform's backend for
//! local pipes; with the `remote` feature on Unix, the stream types here
//! also carry pipes on other hosts (SMB, `crate::remote`), so that
//! `PipeStream`, `MessageStream` and their tokio forms are one type for
//! both. Without it (and on Windows, where the system opens remote pipes)
//! this is the platform backend itself.

#[cfg(all(unix, feature = "remote"))]
pub(crate) mod either;
#[cfg(all(unix, feature = "remote", feature = "tokio"))]
pub(crate) mod either_tokio;

#[cfg(all(unix, feature = "remote"))]
pub(crate) use either as blocking;
#[cfg(all(unix, feature = "remote", feature = "tokio"))]
pub(crate) use either_tokio as tokio;

#[cfg(not(all(unix, feature = "remote")))]
pub(crate) use crate::sys::blocking;
#[cfg(all(not(all(unix, feature = "remote")), feature = "tokio"))]
pub(crate) use crate::sys::tokio;

use crate::error::Error;
#[cfg(all(not(all(unix, feature = "remote")), feature = "tokio"))]
use crate::sys::AsyncMessageStream as _;
#[cfg(not(all(unix, feature = "remote")))]
use crate::sys::BlockingMessageStream as _;

/// One request and its reply on a message stream: FSCTL_PIPE_TRANSCEIVE on
/// a remote pipe (one round trip), a send and a receive on a local one.
pub(crate) fn transact(stream: &blocking::MessageStream, request: &[u8]) -> Result<Vec<u8>, Error> {
    #[cfg(all(unix, feature = "remote"))]
    return stream.transact(request);
    #[cfg(not(all(unix, feature = "remote")))]
    {
        stream.send(request)?;
        stream.recv_vec()?.ok_or_else(no_reply)
    }
}

/// The tokio form of [`transact`].
#[cfg(feature = "tokio")]
pub(crate) async fn transact_async(
    stream: &tokio::AsyncMessageStream,
    request: &[u8],
) -> Result<Vec<u8>, Error> {
    #[cfg(all(unix, feature = "remote"))]
    return stream.transact(request).await;
    #[cfg(not(all(unix, feature = "remote")))]
    {
        stream.send(request).await?;
        stream.recv_vec().await?.ok_or_else(no_reply)
    }
}

/// The server closed its side instead of replying to a transact.
pub(crate) fn no_reply() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the server closed the pipe instead of replying",
    ))
}

/// Whether the stream's writes need `poll_flush` (remote write-behind).
#[cfg(all(feature = "tokio", not(all(unix, feature = "remote"))))]
pub(crate) fn poll_flush(
    _stream: &tokio::AsyncByteStream,
    _cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::io::Result<()>> {
    std::task::Poll::Ready(Ok(()))
}

/// Waits for a remote write-behind; local writes are already in the kernel.
#[cfg(all(feature = "tokio", unix, feature = "remote"))]
pub(crate) fn poll_flush(
    stream: &tokio::AsyncByteStream,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::io::Result<()>> {
    stream.poll_flush(cx)
}
