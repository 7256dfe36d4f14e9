//! Samba's message wire on the hand-off socket (a message after each
//! 2-byte little-endian length), read however the bytes arrive.

use std::collections::VecDeque;
use std::io;

use super::{End, Input, end_of};
use crate::error::Error;
use crate::sys::unix::samba_wire::{ByteSource, SambaReader};

/// Bytes arriving in the chunks the fuzzer chose: end-of-file after the
/// last chunk (or at an empty one), and `WouldBlock` when told to.
struct Chunks {
    queue: VecDeque<Vec<u8>>,
    /// Reads left before the next `WouldBlock`.
    block_in: Option<u8>,
}

impl ByteSource for &mut Chunks {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.block_in.as_mut() {
            if *left == 0 {
                self.block_in = None;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *left -= 1;
        }
        let Some(chunk) = self.queue.front_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.queue.pop_front();
        }
        Ok(n)
    }
}

/// Samba's message wire, read as plainly as possible: each message after
/// its 2-byte little-endian length, up to end-of-file.
fn reference_samba_messages(stream: &[u8], max: usize) -> (Vec<Vec<u8>>, End) {
    let mut rest = stream;
    let mut messages = Vec::new();
    loop {
        match rest {
            [] => return (messages, End::Closed),
            [_] => return (messages, End::Vanished),
            [lo, hi, body @ ..] => {
                let len = u16::from_le_bytes([*lo, *hi]) as usize;
                if len > max {
                    return (messages, End::TooLarge);
                }
                if body.len() < len {
                    return (messages, End::Vanished);
                }
                messages.push(body[..len].to_vec());
                rest = &body[len..];
            }
        }
    }
}

/// Messages on Samba's hand-off socket: however the bytes arrive and
/// whatever buffers and interruptions the caller brings, the messages are
/// those the 2-byte lengths give, and the stream ends as the rules say.
pub fn samba_messages(data: &[u8]) {
    let mut input = Input { data };
    let max = input.u16() as usize;
    let controls: Vec<u8> = (0..8).map(|_| input.byte()).collect();
    let chunks: VecDeque<Vec<u8>> = input.records();
    let stream: Vec<u8> = chunks
        .iter()
        .take_while(|chunk| !chunk.is_empty())
        .flatten()
        .copied()
        .collect();
    let (expected, expected_end) = reference_samba_messages(&stream, max);
    let most_calls = 2 * (stream.len() + chunks.len()) + 16;
    let mut io = Chunks {
        queue: chunks.into_iter().take_while(|c| !c.is_empty()).collect(),
        block_in: None,
    };
    let mut reader = SambaReader::new(max);
    let mut got = Vec::new();
    let mut call = 0usize;
    let end = loop {
        assert!(call < most_calls, "Samba message reading made no progress");
        let control = controls[call % controls.len()];
        call += 1;
        if control & 0x80 != 0 && io.block_in.is_none() {
            io.block_in = Some(1 + (control & 0x03));
        }
        let outcome = if control & 0x40 != 0 {
            reader.recv_vec(&mut io)
        } else {
            let mut out = vec![0; (control & 0x3f) as usize * 7];
            loop {
                match reader.recv(&mut out, &mut io) {
                    Ok(Some(len)) => break Ok(Some(out[..len].to_vec())),
                    Ok(None) => break Ok(None),
                    Err(Error::BufferTooSmall { needed, capacity }) => {
                        assert_eq!(capacity, out.len());
                        assert!(needed > capacity && needed <= max);
                        out = vec![0; needed];
                    }
                    Err(err) => break Err(err),
                }
            }
        };
        match outcome {
            Ok(Some(message)) => got.push(message),
            Ok(None) => break End::Closed,
            Err(err) if crate::sys::unix::framing::is_resumable(&err) => {}
            Err(err) => {
                let end = end_of(&err);
                let after = reader.recv_vec(&mut io);
                if end == End::Vanished {
                    assert!(matches!(after, Ok(None)), "after {err:?}: {after:?}");
                } else {
                    assert!(
                        matches!(after, Err(Error::Protocol(_))),
                        "after {err:?}: {after:?}"
                    );
                }
                break end;
            }
        }
    };
    assert_eq!(got, expected, "messages differ from the 2-byte lengths");
    assert_eq!(end, expected_end);
}

#[cfg(test)]
mod tests {
    use super::samba_messages;
    use crate::fuzzing::tests::spell;

    #[test]
    fn samba_messages_follow_their_lengths_however_they_arrive() {
        let mut stream = Vec::new();
        for message in [&b"abc"[..], b"", &[7u8; 300]] {
            stream.extend_from_slice(&(message.len() as u16).to_le_bytes());
            stream.extend_from_slice(message);
        }
        for (max, cut) in [
            (1000u16, stream.len()),
            (1000, stream.len() - 1),
            (100, stream.len()),
            (1000, 6),
        ] {
            for controls in [[0u8; 8], [0x81, 0x41, 0x02, 0xe3, 0xa0, 0x40, 0x01, 0x84]] {
                let mut head = max.to_le_bytes().to_vec();
                head.extend_from_slice(&controls);
                let pieces: Vec<&[u8]> = stream[..cut].chunks(5).collect();
                samba_messages(&spell(&head, &pieces));
            }
        }
    }
}
