//! Accepting clients that send a socket path as `:authority`.
//!
//! grpcio (since 1.57), grpc-java, grpc-swift and grpcurl send, for a
//! `unix:` target, the socket path (percent-encoded or not) as the HTTP/2
//! `:authority`. h2, under tonic, checks it as a URI authority, finds `/` or
//! `%` in the host, and refuses the request with `PROTOCOL_ERROR`. Under the
//! connection, before h2 reads a byte, [`AuthorityFix`] follows the
//! client's HTTP/2 frames, decodes each header block (HPACK, keeping the
//! client's dynamic table), and when `:authority` is not a valid authority,
//! writes the block again with `:authority: localhost`.
//!
//! Soundness: h2's HPACK table must keep matching the client's. A block
//! passed on unchanged updates both alike. A block written again uses only
//! literals that leave h2's table alone; if the client's block changed its
//! own table, the two differ from then on, and every later block is written
//! again, decoded from the client's table (never referring to h2's). A block
//! that does not decode is passed on unchanged while the tables still agree
//! (h2 reports the client's error as it would have), and ends the
//! connection once they do not.
//!
//! Everything else passes through untouched, and in the bytes the client's
//! read brought (no copy) until a header block needs holding.

mod hpack;
mod huffman;

use std::io;

use hpack::{Decoder, Field};

/// What replaces an invalid `:authority`.
pub(crate) const REPLACEMENT: &[u8] = b"localhost";

/// The client's connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The largest frame payload every HTTP/2 peer accepts
/// (SETTINGS_MAX_FRAME_SIZE's initial value): frames written again stay
/// within it whatever the server configured.
const MAX_FRAME_PAYLOAD: usize = 16 * 1024;

/// The most bytes of one header block (its frames) held for decoding.
const MAX_HELD: usize = 256 * 1024;

/// Where in the client's byte stream the fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Inside the 24-byte preface, this many bytes in.
    Preface(usize),
    /// Between frames, or `left` bytes before the end of a frame passed on.
    Frames { left: usize },
    /// Passing everything on from here (the client broke HTTP/2 in a way
    /// h2 will report, or never spoke it).
    Off,
}

/// A header block being collected from a HEADERS frame and its
/// CONTINUATION frames.
#[derive(Debug, Default)]
struct Collecting {
    stream: u32,
    flags: u8,
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
}

/// Rewrites invalid `:authority` values in a client's HTTP/2 stream; see the
/// module docs.
#[derive(Debug)]
pub(crate) struct AuthorityFix {
    position: Position,
    decoder: Decoder,
    /// h2's HPACK table still matches the client's.
    in_step: bool,
    /// Bytes taken from the client and not yet handled: from the start of
    /// a frame (header block frames, or a frame header cut short).
    held: Vec<u8>,
    /// The raw frames of the block being collected, for passing on as they are.
    raw_block: Vec<u8>,
    collecting: Option<Collecting>,
    /// The last `:authority` found valid: a client sends the same one on
    /// every call, checked once.
    valid_authority: Option<Vec<u8>>,
    /// Where Huffman-coded strings are decoded for a look.
    scratch: Vec<u8>,
    /// Blocks written again, for tests and the benchmark.
    rewritten: u64,
}

impl Default for AuthorityFix {
    fn default() -> Self {
        Self::new()
    }
}

fn invalid_data(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Whether h2 accepts `value` as an `:authority`: the rule it applies.
fn is_valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

impl AuthorityFix {
    pub(crate) fn new() -> Self {
        Self {
            position: Position::Preface(0),
            decoder: Decoder::new(hpack::DEFAULT_TABLE_SIZE),
            in_step: true,
            held: Vec::new(),
            raw_block: Vec::new(),
            collecting: None,
            valid_authority: None,
            scratch: Vec::new(),
            rewritten: 0,
        }
    }

    /// Whether a whole header block goes to the server as it is, known
    /// without decoding it (see [`Decoder::passes_as_is`]): the common case,
    /// a client that sends a valid `:authority` and refers to its table.
    fn passes_as_is(&mut self, fragment: &[u8]) -> bool {
        let known = &mut self.valid_authority;
        self.in_step
            && self
                .decoder
                .passes_as_is(fragment, &mut self.scratch, |value| {
                    if known.as_deref() == Some(value) {
                        return true;
                    }
                    let valid = is_valid_authority(value);
                    if valid {
                        *known = Some(value.to_vec());
                    }
                    valid
                })
    }

    /// How many header blocks were written again.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn rewritten(&self) -> u64 {
        self.rewritten
    }

    /// Takes bytes read from the client. The first `n` bytes of `input`
    /// (the return value) go to the server as they are; what the rest
    /// becomes is appended to `out`, now or with later input. The server
    /// reads `input[..n]`, then `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        if !self.held.is_empty() || self.collecting.is_some() {
            self.held.extend_from_slice(input);
            self.work(out)?;
            return Ok(0);
        }
        let mut at = 0;
        while at < input.len() {
            match self.position {
                Position::Off => return Ok(input.len()),
                Position::Preface(seen) => {
                    let n = (PREFACE.len() - seen).min(input.len() - at);
                    if input[at..at + n] != PREFACE[seen..seen + n] {
                        // Not HTTP/2 with prior knowledge: h2 will say so.
                        self.position = Position::Off;
                        return Ok(input.len());
                    }
                    at += n;
                    self.position = match seen + n {
                        24 => Position::Frames { left: 0 },
                        seen => Position::Preface(seen),
                    };
                }
                Position::Frames { left } if left > 0 => {
                    let n = left.min(input.len() - at);
                    at += n;
                    self.position = Position::Frames { left: left - n };
                }
                Position::Frames { .. } => {
                    let rest = &input[at..];
                    match frame_header(rest) {
                        Some((len, kind, ..)) if kind != HEADERS && kind != CONTINUATION => {
                            self.position = Position::Frames {
                                left: FRAME_HEADER_LEN + len,
                            };
                        }
                        // A whole block in one frame that needs no fix goes
                        // on where it was read, uncopied.
                        Some((len, HEADERS, flags, _))
                            if flags & END_HEADERS != 0
                                && FRAME_HEADER_LEN + len <= rest.len().min(MAX_HELD)
                                && headers_fragment(flags, &rest[FRAME_HEADER_LEN..][..len])
                                    .is_some_and(|(_, fragment)| self.passes_as_is(fragment)) =>
                        {
                            self.position = Position::Frames {
                                left: FRAME_HEADER_LEN + len,
                            };
                        }
                        // A header block frame, or a frame header cut short.
                        _ => {
                            self.held.extend_from_slice(rest);
                            self.work(out)?;
                            return Ok(at);
                        }
                    }
                }
            }
        }
        Ok(input.len())
    }

    /// Handles what is held, appending what it becomes to `out`.
    fn work(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut at = 0;
        let result = self.work_from(&mut at, out);
        self.held.drain(..at);
        result
    }

    fn work_from(&mut self, at: &mut usize, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let rest = &self.held[*at..];
            if rest.is_empty() {
                return Ok(());
            }
            match self.position {
                Position::Off => {
                    out.extend_from_slice(rest);
                    *at = self.held.len();
                    return Ok(());
                }
                Position::Preface(_) => unreachable!("the preface is never held"),
                Position::Frames { left } if left > 0 => {
                    let n = left.min(rest.len());
                    out.extend_from_slice(&rest[..n]);
                    *at += n;
                    self.position = Position::Frames { left: left - n };
                    continue;
                }
                Position::Frames { .. } => {}
            }
            let Some((len, kind, flags, stream)) = frame_header(rest) else {
                return Ok(());
            };
            let header_block_frame =
                kind == HEADERS || (kind == CONTINUATION && self.collecting.is_some());
            if !header_block_frame {
                if self.collecting.is_some() {
                    // Another frame inside a header block: the client broke
                    // HTTP/2 (h2 says so), or our view of it is wrong.
                    return self.give_up(at, out, "a frame interrupted a header block");
                }
                self.position = Position::Frames {
                    left: FRAME_HEADER_LEN + len,
                };
                continue;
            }
            if self.raw_block.len() + FRAME_HEADER_LEN + len > MAX_HELD {
                return self.give_up(at, out, "a header block larger than the fix holds");
            }
            if rest.len() < FRAME_HEADER_LEN + len {
                return Ok(()); // the rest of the frame is still to come
            }
            let frame = &rest[..FRAME_HEADER_LEN + len];
            let payload = &frame[FRAME_HEADER_LEN..];
            if kind == HEADERS {
                if self.collecting.is_some() {
                    return self.give_up(at, out, "a HEADERS frame inside a header block");
                }
                let Some((priority, fragment)) = headers_fragment(flags, payload) else {
                    return self.give_up(at, out, "a malformed HEADERS frame");
                };
                self.collecting = Some(Collecting {
                    stream,
                    flags,
                    priority,
                    fragment: fragment.to_vec(),
                });
            } else {
                let collecting = self.collecting.as_mut().expect("checked above");
                if collecting.stream != stream {
                    return self.give_up(at, out, "a CONTINUATION frame of another stream");
                }
                collecting.fragment.extend_from_slice(payload);
            }
            self.raw_block.extend_from_slice(frame);
            *at += frame.len();
            if flags & END_HEADERS != 0 {
                self.finish_block(out)?;
            }
        }
    }

    /// Decodes a whole block and passes it on, as it was or written again.
    fn finish_block(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let collecting = self.collecting.take().expect("a block was collected");
        let raw = std::mem::take(&mut self.raw_block);
        if self.passes_as_is(&collecting.fragment) {
            out.extend_from_slice(&raw);
            return Ok(());
        }
        let block = match self.decoder.decode(&collecting.fragment) {
            Ok(block) => block,
            Err(err) if self.in_step => {
                // h2 reads the same bytes and reports the client's error.
                tracing::debug!(%err, "a header block that does not decode; passing it on");
                out.extend_from_slice(&raw);
                self.position = Position::Off;
                return Ok(());
            }
            Err(err) => return Err(invalid_data(format!("a client's header block: {err}"))),
        };
        let fix = block
            .fields
            .iter()
            .any(|field| field.name == b":authority" && !is_valid_authority(&field.value));
        if self.in_step && !fix {
            out.extend_from_slice(&raw);
            return Ok(());
        }
        let mut fields = block.fields;
        for field in fields.iter_mut() {
            if field.name == b":authority" && !is_valid_authority(&field.value) {
                tracing::trace!(authority = ?String::from_utf8_lossy(&field.value), "replacing :authority");
                field.value = REPLACEMENT.to_vec();
            }
        }
        if block.changed_table {
            self.in_step = false;
        }
        self.rewritten += 1;
        write_block(&collecting, &fields, out);
        Ok(())
    }

    /// Stops following the client: passes on what is held (while h2's table
    /// is still the client's), or fails the connection.
    fn give_up(&mut self, at: &mut usize, out: &mut Vec<u8>, why: &str) -> io::Result<()> {
        if !self.in_step {
            return Err(invalid_data(format!(
                "{why}, after a header block was written again"
            )));
        }
        tracing::debug!(why, "no longer following the client's frames");
        out.extend_from_slice(&std::mem::take(&mut self.raw_block));
        self.collecting = None;
        out.extend_from_slice(&self.held[*at..]);
        *at = self.held.len();
        self.position = Position::Off;
        Ok(())
    }
}

/// A frame's length, type, flags and stream, if its 9-byte header is there.
fn frame_header(bytes: &[u8]) -> Option<(usize, u8, u8, u32)> {
    let header = bytes.get(..FRAME_HEADER_LEN)?;
    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    Some((len, header[3], header[4], stream))
}

/// A HEADERS frame's priority fields and header block fragment (padding
/// removed).
fn headers_fragment(flags: u8, payload: &[u8]) -> Option<(Option<[u8; 5]>, &[u8])> {
    let mut payload = payload;
    let mut padding = 0;
    if flags & PADDED != 0 {
        let (&pad, rest) = payload.split_first()?;
        padding = pad as usize;
        payload = rest;
    }
    let mut priority = None;
    if flags & PRIORITY != 0 {
        let fields = payload.get(..5)?;
        priority = Some(fields.try_into().expect("5 bytes"));
        payload = &payload[5..];
    }
    let end = payload.len().checked_sub(padding)?;
    Some((priority, &payload[..end]))
}

/// Writes a header block as a HEADERS frame and as many CONTINUATION
/// frames as it needs, keeping the stream, END_STREAM and priority.
fn write_block(collecting: &Collecting, fields: &[Field], out: &mut Vec<u8>) {
    let mut block = Vec::with_capacity(collecting.fragment.len() + 64);
    if let Some(priority) = collecting.priority {
        block.extend_from_slice(&priority);
    }
    hpack::encode(fields, &mut block);
    let mut chunks = block.chunks(MAX_FRAME_PAYLOAD).peekable();
    let mut kind = HEADERS;
    let mut flags = (collecting.flags & END_STREAM)
        | if collecting.priority.is_some() {
            PRIORITY
        } else {
            0
        };
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        let last = chunks.peek().is_none();
        if last {
            flags |= END_HEADERS;
        }
        let len = (chunk.len() as u32).to_be_bytes();
        out.extend_from_slice(&len[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&collecting.stream.to_be_bytes());
        out.extend_from_slice(chunk);
        if last {
            return;
        }
        kind = CONTINUATION;
        flags = 0;
    }
}

#[cfg(test)]
mod tests;
