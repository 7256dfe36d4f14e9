//! Reading a pipe into the frame decoder's buffer without zeroing it.
//!
//! The pipe's `poll_read` zeroes the whole unfilled part of the buffer it is
//! given before each read (it reads into initialised memory). The frame
//! decoder's buffer has kilobytes of spare capacity, and after a large
//! message megabytes, so every read, even one that finds nothing, would pay
//! for a large memset. Instead, reads go into a scratch buffer that is
//! initialised once, and only the bytes received are copied on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// The scratch buffer starts this small (idle clients cost little) ...
const FIRST: usize = 4 * 1024;
/// ... and doubles each time a read fills it, up to this.
const MOST: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct ScratchReader<R> {
    inner: R,
    scratch: Vec<u8>,
}

impl<R> ScratchReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            scratch: vec![0; FIRST],
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ScratchReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let want = buf.remaining().min(this.scratch.len());
        let mut scratch = ReadBuf::new(&mut this.scratch[..want]);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut scratch))?;
        let got = scratch.filled().len();
        buf.put_slice(scratch.filled());
        if got == this.scratch.len() && got < MOST {
            this.scratch.resize(got * 2, 0);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_pass_through_whole_and_the_scratch_grows() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = ScratchReader::new(&data[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, data);
        assert_eq!(reader.scratch.len(), MOST);
    }
}
