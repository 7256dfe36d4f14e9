//! The floor for a channel's throughput: the raw std transfer, plus the
//! copy a channel that owns its messages makes on each side. The sender
//! copies each message into a new buffer before writing it (a channel's
//! `send(&T)` serializes into a frame it owns); the receiver copies each
//! message out of its read buffer into a new one (deserializing into an
//! owned value). Nothing else differs from the raw std row, so the gap
//! between the two rows is what those two copies cost on this machine.
//!
//! A second row does the same with the receiver on tokio (a
//! current-thread runtime reading the std client's bytes), as a channel
//! server is: the floor for the channel's blocking client, whose server
//! runs on tokio.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};

use super::{CHUNK, TOTAL};
use crate::cases::common::{Transfer, arg, runtime, serve_sink_copying, serve_sink_copying_async};
use crate::{Context, Peer, Subject, peer};

pub(super) const ROLE: &str = "channel-copied-sink";

/// The row's name.
pub(super) const NAME: &str = "floor: raw std UnixStream, each message copied on both sides";
/// The row with the receiver on tokio.
pub(super) const NAME_TOKIO_SERVER: &str = "floor: the same, the receiver a raw tokio UnixStream";

/// Sends [`TOTAL`] bytes per operation in [`CHUNK`]-byte messages, each
/// copied into a new buffer first; the peer copies each out again.
pub(super) fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
    start_with(cx, "std")
}

/// [`start`], the peer reading on tokio.
pub(super) fn start_tokio_server(cx: &Context) -> io::Result<Box<dyn Subject>> {
    start_with(cx, "tokio")
}

fn start_with(cx: &Context, server: &str) -> io::Result<Box<dyn Subject>> {
    let path = cx.socket_path("copied");
    let peer = Peer::spawn(
        ROLE,
        &[server.to_owned(), path.display().to_string()],
        cx.cpu(),
    )?;
    let stream = UnixStream::connect(&path)?;
    Ok(Transfer::boxed_copying(stream, TOTAL, CHUNK, peer))
}

/// The peer, `std|tokio PATH`: reads as the raw sinks do (256 KiB at a
/// time), and gathers each message into a buffer of its own, checked there.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let server: String = arg(args, 0)?;
    let path: String = arg(args, 1)?;
    let listener = UnixListener::bind(&path)?;
    peer::ready()?;
    let (stream, _) = listener.accept()?;
    match server.as_str() {
        "std" => serve_sink_copying(stream, TOTAL, CHUNK),
        "tokio" => runtime()?.block_on(async {
            stream.set_nonblocking(true)?;
            let stream = tokio::net::UnixStream::from_std(stream)?;
            serve_sink_copying_async(stream, TOTAL, CHUNK).await
        }),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no copying sink {other}"),
        )),
    }
}
