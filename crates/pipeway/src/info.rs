//! What a pipe is, as one of its ends sees it: .NET's pipe properties,
//! Win32's `GetNamedPipeInfo` and `GetNamedPipeHandleState`.

use crate::options::{Direction, End, PipeMode};

/// What a pipe is, as one of its ends sees it: its type and direction, the
/// buffers of this end, and its instances where the platform counts them.
/// Asked of a stream with `info()`.
///
/// ```
/// use pipeway::{End, ListenOptions, PipeListener, PipeMode, PipeStream};
///
/// let name = format!("info-doc-{}", std::process::id());
/// let listener = PipeListener::bind_with(name.as_str(), &ListenOptions::new().max_instances(4))?;
/// let client = PipeStream::connect(name.as_str())?;
/// let server = listener.accept()?;
/// let info = server.info()?;
/// assert_eq!((info.mode, info.end), (PipeMode::Byte, End::Server));
/// assert_eq!(info.max_instances, Some(4));
/// assert!(info.instances.is_some_and(|n| n >= 1));
/// assert_eq!(client.info()?.end, End::Client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipeInfo {
    /// The pipe's type (a byte client of a Windows message pipe reads it
    /// as bytes: its stream type says how it reads).
    pub mode: PipeMode,
    /// Which end this is.
    pub end: End,
    /// The pipe's direction.
    pub direction: Direction,
    /// This end's buffer for data coming in, in bytes, as the kernel sized it.
    pub in_buffer_size: usize,
    /// This end's buffer for data going out.
    pub out_buffer_size: usize,
    /// The instances the pipe has now, where the platform counts them (on
    /// Windows, every instance; on Unix, a server's connected clients under
    /// an instance limit).
    pub instances: Option<usize>,
    /// The most instances the pipe may have; `None` for no limit or where
    /// this end cannot tell (a Unix client).
    pub max_instances: Option<usize>,
}
