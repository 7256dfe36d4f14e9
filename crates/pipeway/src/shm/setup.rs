//! Setting a channel up over its pipe: the server makes the memory and
//! sends it (a descriptor on Linux, handles on Windows) with a [`Setup`]
//! message; the client checks both before it maps anything.

use std::time::Duration;

use crate::sys::shm_link::{make_memory, map_offer, receive_offer, send_offer};

use super::ShmError;
use super::layout::{MAGIC, Setup, VERSION, check_memory_header, check_ring_size, memory_size};
use super::link::{Link, Side};

/// The channel's shape, chosen by the server.
#[derive(Clone, Debug)]
pub struct ShmChannelOptions {
    pub(crate) ring_size: u32,
    pub(crate) max_message: u64,
    pub(crate) spin: Duration,
    pub(crate) setup_timeout: Duration,
}

/// Each ring's size by default: a 1 MiB message travels in place.
pub const DEFAULT_RING_SIZE: u32 = 2 << 20;
/// How long a waiter spins before it sleeps, by default.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

impl Default for ShmChannelOptions {
    fn default() -> Self {
        Self {
            ring_size: DEFAULT_RING_SIZE,
            max_message: crate::DEFAULT_MAX_MESSAGE_SIZE as u64,
            spin: DEFAULT_SPIN,
            setup_timeout: Duration::from_secs(5),
        }
    }
}

impl ShmChannelOptions {
    /// The defaults: 2 MiB rings, 16 MiB messages, 50 µs of spinning.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes in each ring: a power of two from 4 KiB to 1 GiB. A message up
    /// to the ring size less 8 travels in place; larger ones in chunks.
    /// (Server side; the client takes the server's.)
    pub fn ring_size(mut self, bytes: u32) -> Self {
        self.ring_size = bytes;
        self
    }

    /// The largest message either side may send (server side).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes as u64;
        self
    }

    /// How long a receive (or a send into a full ring) spins before it
    /// sleeps. Zero sleeps at once: least CPU, a few µs more per wait.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How long a client waits for the server's set-up message.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    pub(crate) fn check(&self) -> Result<(), ShmError> {
        check_ring_size(self.ring_size).map_err(|err| ShmError::InvalidSize {
            size: self.ring_size as u64,
            why: if err.0.contains("power of two") {
                "a ring is a power of two from 4 KiB to 1 GiB"
            } else {
                "bad ring size"
            },
        })?;
        if self.max_message == 0 {
            return Err(ShmError::InvalidSize {
                size: 0,
                why: "the maximum message size must be 1 byte or more",
            });
        }
        Ok(())
    }
}

/// The server's half: make the memory, lay out its header, send it (with
/// the memory as a descriptor on Linux, as handles duplicated into the
/// client's process on Windows).
pub(crate) fn offer(
    pipe: crate::PipeStream,
    options: &ShmChannelOptions,
) -> Result<Link, ShmError> {
    let setup = Setup {
        ring_size: options.ring_size,
        max_message: options.max_message,
    };
    let (mapping, memory) = make_memory(memory_size(setup.ring_size))?;
    let mut header = [0u8; 16];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&setup.ring_size.to_le_bytes());
    // SAFETY: the mapping is new, private to this process until the send
    // below, and longer than 16 bytes.
    unsafe { std::ptr::copy_nonoverlapping(header.as_ptr(), mapping.ptr(), header.len()) };
    let signals = send_offer(&pipe, &setup.encode(), memory)?;
    Ok(Link::new(
        mapping,
        signals,
        pipe,
        Side::Server,
        setup.ring_size,
        setup.max_message,
        options.spin,
    ))
}

/// The client's half: receive and check the set-up message and the memory.
pub(crate) fn accept_offer(
    pipe: crate::PipeStream,
    options: &ShmChannelOptions,
) -> Result<Link, ShmError> {
    pipe.set_read_timeout(Some(options.setup_timeout))?;
    let mut bytes = [0u8; Setup::LEN];
    let memory = receive_offer(&pipe, &mut bytes).map_err(|err| match err.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ShmError::Protocol(format!(
            "the pipe's server sent no set-up message within {:?}: is it a shared-memory channel?",
            options.setup_timeout
        )),
        std::io::ErrorKind::InvalidData => ShmError::Protocol(err.to_string()),
        _ => ShmError::Io(err),
    })?;
    pipe.set_read_timeout(None)?;
    let setup = Setup::decode(&bytes).map_err(|err| ShmError::Protocol(err.0))?;
    let len = memory_size(setup.ring_size);
    let (mapping, signals) = map_offer(&pipe, memory, len)?;
    let mut header = [0u8; 16];
    // SAFETY: the mapping holds at least `len` (> 16) bytes.
    unsafe { std::ptr::copy_nonoverlapping(mapping.ptr(), header.as_mut_ptr(), header.len()) };
    check_memory_header(&header, &setup).map_err(|err| ShmError::Protocol(err.0))?;
    Ok(Link::new(
        mapping,
        signals,
        pipe,
        Side::Client,
        setup.ring_size,
        setup.max_message,
        options.spin,
    ))
}
