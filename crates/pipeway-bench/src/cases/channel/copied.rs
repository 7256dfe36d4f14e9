//! The floor for a channel's throughput: the raw std transfer, plus the
//! copy a channel that owns its messages makes on each side. The sender
//! copies each message into a new buffer before writing it (a channel's
//! `send(&T)` serializes into a frame it owns); the receiver copies each
//! message out of its read buffer into a new one (deserializing into an
//! owned value). Nothing else differs from the raw std row, so the gap
//! between the two rows is what those two copies cost on this machine.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};

use super::{CHUNK, TOTAL};
use crate::cases::common::{Transfer, arg, serve_sink_copying};
use crate::{Context, Peer, Subject, peer};

pub(super) const ROLE: &str = "channel-copied-sink";

/// The row's name.
pub(super) const NAME: &str = "floor: raw std UnixStream, each message copied on both sides";

/// Sends [`TOTAL`] bytes per operation in [`CHUNK`]-byte messages, each
/// copied into a new buffer first; the peer copies each out again.
pub(super) fn start(cx: &Context) -> io::Result<Box<dyn Subject>> {
    let path = cx.socket_path("copied");
    let peer = Peer::spawn(ROLE, &[path.display().to_string()], cx.cpu())?;
    let stream = UnixStream::connect(&path)?;
    Ok(Transfer::boxed_copying(stream, TOTAL, CHUNK, peer))
}

/// The peer: reads as the raw std sink does (256 KiB at a time), and
/// gathers each message into a buffer of its own, checked there.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let path: String = arg(args, 0)?;
    let listener = UnixListener::bind(&path)?;
    peer::ready()?;
    let (stream, _) = listener.accept()?;
    serve_sink_copying(stream, TOTAL, CHUNK)
}
