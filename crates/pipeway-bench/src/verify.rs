//! Checking what comes back, cheaply enough to do on every operation.
//!
//! An echoed message is a fixed pattern with a stamp (a counter unique to
//! the operation) in its first and last 8 bytes: every reply's stamps are
//! checked, so a stale, lost, duplicated or truncated reply fails at once,
//! and the last reply of each batch is compared in full, outside the timed
//! part, so corrupted payload fails too. A one-way stream carries the same
//! stamps at the head and tail of every chunk, checked by the receiver at
//! their stream offsets ([`StreamCheck`]).

use std::io;

/// Writes `stamp` into the first and last 8 bytes of `buf` (all of it when
/// shorter than 16 bytes).
fn stamp_into(buf: &mut [u8], stamp: u64) {
    let bytes = stamp.to_le_bytes();
    let head = buf.len().min(8);
    buf[..head].copy_from_slice(&bytes[..head]);
    if buf.len() >= 16 {
        let tail = buf.len() - 8;
        buf[tail..].copy_from_slice(&bytes);
    }
}

/// The byte at offset `i` of every pattern: varies, so that shifted or
/// reordered bytes do not match.
fn pattern_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// A message to echo and room for its reply, stamped anew for every
/// operation.
///
/// ```
/// let mut echo = pipeway_bench::Pattern::new(64);
/// let (message, reply) = echo.stamp_next();
/// reply.copy_from_slice(message);
/// echo.check().unwrap();
/// let (_, reply) = echo.stamp_next();
/// reply[0] ^= 1; // the previous stamp, or a flipped bit
/// assert!(echo.check().is_err());
/// ```
#[derive(Debug)]
pub struct Pattern {
    message: Vec<u8>,
    reply: Vec<u8>,
    stamp: u64,
}

impl Pattern {
    /// A pattern of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self {
            message: (0..size).map(pattern_byte).collect(),
            reply: vec![0; size],
            // Differs from run to run, so a reply left over from another
            // run cannot pass.
            stamp: u64::from(std::process::id()) << 32,
        }
    }

    /// Stamps the message for the next operation and returns it with the
    /// reply buffer to receive into.
    pub fn stamp_next(&mut self) -> (&[u8], &mut [u8]) {
        self.stamp = self.stamp.wrapping_add(1);
        stamp_into(&mut self.message, self.stamp);
        (&self.message, &mut self.reply)
    }

    /// The reply buffer, to receive into (after [`stamp_next`](Self::stamp_next)).
    pub fn reply_mut(&mut self) -> &mut [u8] {
        &mut self.reply
    }

    /// The message as last stamped.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Checks the reply's stamps against the message's.
    pub fn check(&self) -> io::Result<()> {
        let len = self.message.len();
        let head = len.min(8);
        let stamps_match = self.reply[..head] == self.message[..head]
            && (len < 16 || self.reply[len - 8..] == self.message[len - 8..]);
        if stamps_match {
            Ok(())
        } else {
            Err(mismatch(format!(
                "the reply to operation {} carries another stamp",
                self.stamp as u32
            )))
        }
    }

    /// Checks that the reply has the message's length.
    pub fn check_len(&self, len: usize) -> io::Result<()> {
        if len == self.message.len() {
            Ok(())
        } else {
            Err(mismatch(format!(
                "a reply of {len} bytes to a message of {}",
                self.message.len()
            )))
        }
    }

    /// Compares the last reply with the last message in full.
    pub fn check_full(&self) -> io::Result<()> {
        match self
            .reply
            .iter()
            .zip(&self.message)
            .position(|(a, b)| a != b)
        {
            None => Ok(()),
            Some(at) => Err(mismatch(format!(
                "the reply differs from the message at byte {at} of {}",
                self.message.len()
            ))),
        }
    }
}

/// A wrong echo: the row fails with this, and shows no figure.
pub fn mismatch(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// A one-way stream of `chunk`-byte chunks, each stamped at its head and
/// tail with its index and a salt: [`fill`](Self::fill) stamps chunks to
/// send, [`check`](Self::check) verifies received bytes at their stream
/// offsets, in pieces of any size.
///
/// ```
/// use pipeway_bench::StreamCheck;
///
/// let mut sender = StreamCheck::new(32, 7);
/// let mut chunk = vec![0u8; 32];
/// let mut stream = Vec::new();
/// for _ in 0..3 {
///     sender.fill(&mut chunk);
///     stream.extend_from_slice(&chunk);
/// }
/// let mut receiver = StreamCheck::new(32, 7);
/// for piece in stream.chunks(5) {
///     receiver.check(piece).unwrap();
/// }
/// stream[64] ^= 1;
/// let mut receiver = StreamCheck::new(32, 7);
/// assert!(receiver.check(&stream).is_err());
/// ```
#[derive(Debug)]
pub struct StreamCheck {
    chunk: usize,
    salt: u64,
    /// Chunks stamped so far ([`fill`](Self::fill)) or bytes checked so far
    /// ([`check`](Self::check)).
    position: u64,
}

impl StreamCheck {
    /// Chunks of `chunk` bytes (at least 16), stamped with `salt`.
    pub fn new(chunk: usize, salt: u64) -> Self {
        assert!(chunk >= 16, "a chunk holds two stamps");
        Self {
            chunk,
            salt,
            position: 0,
        }
    }

    fn stamp(&self, index: u64) -> [u8; 8] {
        (index ^ self.salt).to_le_bytes()
    }

    /// Stamps `chunk` as the next chunk of the stream.
    pub fn fill(&mut self, chunk: &mut [u8]) {
        assert_eq!(chunk.len(), self.chunk);
        let stamp = self.stamp(self.position);
        chunk[..8].copy_from_slice(&stamp);
        chunk[self.chunk - 8..].copy_from_slice(&stamp);
        self.position += 1;
    }

    /// Checks the next `bytes` of the stream: the stamps that fall in them
    /// must be those of their chunks.
    pub fn check(&mut self, bytes: &[u8]) -> io::Result<()> {
        let chunk = self.chunk as u64;
        let start = self.position;
        let end = start + bytes.len() as u64;
        let mut index = start / chunk;
        while index * chunk < end {
            let stamp = self.stamp(index);
            let base = index * chunk;
            for at in [base, base + chunk - 8] {
                for k in 0..8u64 {
                    let pos = at + k;
                    if pos >= start
                        && pos < end
                        && bytes[(pos - start) as usize] != stamp[k as usize]
                    {
                        return Err(mismatch(format!(
                            "byte {pos} of the stream is not chunk {index}'s stamp"
                        )));
                    }
                }
            }
            index += 1;
        }
        self.position = end;
        Ok(())
    }

    /// Bytes checked so far.
    pub fn checked(&self) -> u64 {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faithful_echo_passes_every_check() {
        for size in [1, 8, 15, 16, 64, 4096] {
            let mut echo = Pattern::new(size);
            for _ in 0..3 {
                let (message, reply) = echo.stamp_next();
                reply.copy_from_slice(message);
                echo.check().unwrap();
                echo.check_len(size).unwrap();
                echo.check_full().unwrap();
            }
        }
    }

    #[test]
    fn a_stale_reply_fails_its_stamp_check() {
        let mut echo = Pattern::new(64);
        let (message, reply) = echo.stamp_next();
        reply.copy_from_slice(message);
        let _ = echo.stamp_next();
        assert!(echo.check().is_err());
    }

    #[test]
    fn corrupted_payload_fails_the_full_check() {
        let mut echo = Pattern::new(64);
        let (message, reply) = echo.stamp_next();
        reply.copy_from_slice(message);
        echo.reply_mut()[30] ^= 0x80;
        echo.check().unwrap();
        assert!(
            echo.check_full()
                .unwrap_err()
                .to_string()
                .contains("byte 30")
        );
        assert!(echo.check_len(63).is_err());
    }

    #[test]
    fn a_stream_check_finds_lost_and_corrupted_bytes() {
        let mut sender = StreamCheck::new(64, 99);
        let mut chunk = vec![0u8; 64];
        let mut stream = Vec::new();
        for _ in 0..10 {
            sender.fill(&mut chunk);
            stream.extend_from_slice(&chunk);
        }
        let mut receiver = StreamCheck::new(64, 99);
        for piece in stream.chunks(7) {
            receiver.check(piece).unwrap();
        }
        assert_eq!(receiver.checked(), 640);

        // A chunk lost: the next chunk's stamp arrives where this one's was due.
        let mut lossy = stream.clone();
        lossy.drain(128..192);
        assert!(StreamCheck::new(64, 99).check(&lossy).is_err());
        // A tail stamp corrupted.
        let mut corrupt = stream;
        corrupt[64 * 3 + 60] ^= 1;
        assert!(StreamCheck::new(64, 99).check(&corrupt).is_err());
    }
}
