//! The wire format: frames, the envelope header, error codes.
//!
//! After the [handshake](crate::handshake)'s hellos, everything is a frame:
//!
//! ```text
//! frame    = length:u32be  kind:u8  id:u64be  body[length - 9]
//! ```
//!
//! `length` counts the header and body (not itself) and may be at most the
//! receiver's maximum message size (16 MiB by default). `kind` says what the
//! frame is ([`Kind`]); `id` correlates requests with their replies and is 0
//! on one-way messages. A message's body is its encoding by the channel's
//! codec; an error's body is a [`ErrorCode`] (u16, big-endian) then UTF-8
//! text. The crate's README, section "Wire format", is the full
//! specification.

use std::fmt;
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::codec::Codec;
use crate::error::Error;

/// Bytes in the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Bytes in the header after the prefix: kind (1) and id (8).
pub const HEADER_LEN: usize = 9;

/// The default largest frame (header and body, the value of the length
/// prefix) either end accepts: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = pipeway::DEFAULT_MAX_MESSAGE_SIZE;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A one-way message (id 0).
    Message = 0,
    /// A request: the peer answers it with a [`Kind::Reply`] or a
    /// [`Kind::Error`] with the same id.
    Request = 1,
    /// The answer to the request with the same id.
    Reply = 2,
    /// An error: the failure of the request with the same id, or with id 0
    /// a complaint about the connection or a one-way message.
    Error = 3,
}

impl Kind {
    /// The kind with this code, if any.
    pub fn from_u8(code: u8) -> Option<Self> {
        Some(match code {
            0 => Kind::Message,
            1 => Kind::Request,
            2 => Kind::Reply,
            3 => Kind::Error,
            _ => return None,
        })
    }
}

/// Why an error frame was sent: the first two bytes of its body.
///
/// Codes below 256 are pipeway's own; an application may use others.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The frame could not be parsed (bad header or unknown kind). The sender
    /// of this error closes the connection after it.
    pub const MALFORMED: ErrorCode = ErrorCode(1);
    /// The length prefix was larger than the receiver's maximum. The sender
    /// of this error closes the connection after it.
    pub const TOO_LARGE: ErrorCode = ErrorCode(2);
    /// The body did not decode as the receiver's message type. The
    /// connection stays open.
    pub const UNDECODABLE: ErrorCode = ErrorCode(3);
    /// The receiver dropped the request without answering it.
    pub const NO_REPLY: ErrorCode = ErrorCode(4);
    /// A frame the receiver does not expect: a reply to no request, a
    /// request to a peer that takes none, a request with id 0.
    pub const UNEXPECTED: ErrorCode = ErrorCode(5);
    /// The application refused the request (the text says why).
    pub const REJECTED: ErrorCode = ErrorCode(6);
    /// The peer's hello does not match (codec, message types, version): the
    /// text says how. The sender of this error closes the connection.
    pub const HANDSHAKE: ErrorCode = ErrorCode(7);

    /// The code's name, for pipeway's own codes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::MALFORMED => "malformed",
            Self::TOO_LARGE => "too_large",
            Self::UNDECODABLE => "undecodable",
            Self::NO_REPLY => "no_reply",
            Self::UNEXPECTED => "unexpected",
            Self::REJECTED => "rejected",
            Self::HANDSHAKE => "handshake",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "code {}", self.0),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One received frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub body: Bytes,
}

impl Frame {
    /// The code and text of an error frame. A body too short for a code reads
    /// as code 0; text that is not UTF-8 is shown with replacement characters.
    pub fn error_parts(&self) -> (ErrorCode, String) {
        match self.body.get(..2) {
            Some(&[hi, lo]) => (
                ErrorCode(u16::from_be_bytes([hi, lo])),
                String::from_utf8_lossy(&self.body[2..]).into_owned(),
            ),
            _ => (
                ErrorCode(0),
                String::from_utf8_lossy(&self.body).into_owned(),
            ),
        }
    }
}

/// Starts a frame: room for the prefix, then the header.
fn begin(kind: Kind, id: u64, body_hint: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(PREFIX_LEN + HEADER_LEN + body_hint);
    begin_in(&mut buf, kind, id);
    buf
}

/// Starts a frame in `buf`, which it empties first.
fn begin_in(buf: &mut Vec<u8>, kind: Kind, id: u64) {
    buf.clear();
    buf.extend_from_slice(&[0; PREFIX_LEN]);
    buf.push(kind as u8);
    buf.extend_from_slice(&id.to_be_bytes());
}

/// Fills in the prefix, refusing a frame larger than `max`.
fn finish_in(buf: &mut [u8], max: usize) -> Result<(), Error> {
    let len = buf.len() - PREFIX_LEN;
    let limit = max.min(u32::MAX as usize);
    if len > limit {
        return Err(Error::TooLarge {
            len: len as u64,
            max: limit as u64,
        });
    }
    buf[..PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Encodes a message-carrying frame (message, request or reply).
pub(crate) fn encode<C: Codec, T: serde::Serialize + ?Sized>(
    codec: &C,
    kind: Kind,
    id: u64,
    value: &T,
    max: usize,
) -> Result<Bytes, Error> {
    let mut buf = Vec::with_capacity(PREFIX_LEN + HEADER_LEN + 64);
    encode_in(codec, &mut buf, kind, id, value, max)?;
    Ok(Bytes::from(buf))
}

/// Encodes a message-carrying frame into `buf`, replacing what it held: for
/// a writer that sends the frame before it encodes the next, and so can keep
/// one buffer rather than allocate one a frame.
pub(crate) fn encode_in<C: Codec, T: serde::Serialize + ?Sized>(
    codec: &C,
    buf: &mut Vec<u8>,
    kind: Kind,
    id: u64,
    value: &T,
    max: usize,
) -> Result<(), Error> {
    begin_in(buf, kind, id);
    codec.encode(value, buf)?;
    finish_in(buf, max)
}

/// The longest error text sent; errors are for people, not for payloads.
const MAX_ERROR_TEXT: usize = 4096;

/// Encodes an error frame. Over-long text is cut at a character boundary.
pub(crate) fn error_frame(id: u64, code: ErrorCode, text: &str) -> Bytes {
    let mut end = text.len().min(MAX_ERROR_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut buf = begin(Kind::Error, id, 2 + end);
    buf.extend_from_slice(&code.0.to_be_bytes());
    buf.extend_from_slice(&text.as_bytes()[..end]);
    let len = (buf.len() - PREFIX_LEN) as u32;
    buf[..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    Bytes::from(buf)
}

/// The kind and id of a frame this crate encoded.
pub(crate) fn peek_header(frame: &[u8]) -> Option<(Kind, u64)> {
    let kind = Kind::from_u8(*frame.get(PREFIX_LEN)?)?;
    let id = frame.get(PREFIX_LEN + 1..PREFIX_LEN + HEADER_LEN)?;
    let mut raw = [0u8; 8];
    raw.copy_from_slice(id);
    Some((kind, u64::from_be_bytes(raw)))
}

/// What can go wrong reading frames.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame of {len} bytes is larger than the maximum of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("the peer closed the connection {received} bytes into a frame{}",
        match .expected { Some(n) => format!(" of {n} bytes"), None => String::new() })]
    EndedMidFrame {
        received: usize,
        expected: Option<usize>,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How much buffer to reserve ahead for a frame still arriving: enough to
/// read big frames in few calls, never more than was announced, so a peer
/// that announces a large frame and sends nothing costs little.
const READ_AHEAD: usize = 64 * 1024;

/// Where the frame at the start of a buffer stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Peeked {
    /// All of it is there: its header, and its length (the prefix's value).
    Whole { kind: Kind, id: u64, len: usize },
    /// Not all of it; its length, once the prefix is there.
    Incomplete { len: Option<usize> },
}

/// Cuts a byte stream into frames, refusing an oversized length before
/// allocating anything for it.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.min(u32::MAX as usize),
        }
    }

    fn announced(src: &[u8]) -> Option<usize> {
        match src.get(..PREFIX_LEN) {
            Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d]) as usize),
            _ => None,
        }
    }

    /// The error for a stream that ended with `src` left over, not one
    /// whole frame.
    pub fn ended_mid_frame(src: &[u8]) -> FrameError {
        FrameError::EndedMidFrame {
            received: src.len(),
            expected: Self::announced(src).map(|len| len + PREFIX_LEN),
        }
    }

    /// Checks the frame at the start of `src` without taking it: every
    /// check [`decode`](Decoder::decode) makes, for a reader that decodes a
    /// body where it lies, `src[PREFIX_LEN + HEADER_LEN..PREFIX_LEN + len]`.
    pub fn peek(&self, src: &[u8]) -> Result<Peeked, FrameError> {
        let Some(len) = Self::announced(src) else {
            return Ok(Peeked::Incomplete { len: None });
        };
        if len > self.max {
            return Err(FrameError::TooLarge {
                len: len as u64,
                max: self.max as u64,
            });
        }
        if len < HEADER_LEN {
            return Err(FrameError::Malformed(format!(
                "a frame of {len} bytes cannot hold the {HEADER_LEN}-byte header"
            )));
        }
        if src.len() < PREFIX_LEN + len {
            return Ok(Peeked::Incomplete { len: Some(len) });
        }
        let code = src[PREFIX_LEN];
        let Some(kind) = Kind::from_u8(code) else {
            return Err(FrameError::Malformed(format!("unknown frame kind {code}")));
        };
        let mut id = [0u8; 8];
        id.copy_from_slice(&src[PREFIX_LEN + 1..PREFIX_LEN + HEADER_LEN]);
        Ok(Peeked::Whole {
            kind,
            id: u64::from_be_bytes(id),
            len,
        })
    }
}

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.peek(src)? {
            Peeked::Incomplete { len: None } => Ok(None),
            Peeked::Incomplete { len: Some(len) } => {
                src.reserve((PREFIX_LEN + len - src.len()).min(READ_AHEAD));
                Ok(None)
            }
            Peeked::Whole { kind, id, len } => {
                src.advance(PREFIX_LEN + HEADER_LEN);
                let body = src.split_to(len - HEADER_LEN).freeze();
                Ok(Some(Frame { kind, id, body }))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameDecoder::ended_mid_frame(src)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Json;

    fn decode_all(bytes: &[u8]) -> (Vec<Frame>, Result<(), FrameError>) {
        let mut decoder = FrameDecoder::new(1024);
        let mut src = BytesMut::from(bytes);
        let mut frames = Vec::new();
        loop {
            match decoder.decode(&mut src) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {
                    return match decoder.decode_eof(&mut src) {
                        Ok(_) => (frames, Ok(())),
                        Err(err) => (frames, Err(err)),
                    };
                }
                Err(err) => return (frames, Err(err)),
            }
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let frame = encode(&Json, Kind::Request, 0x0102, &"hi", 1024).unwrap();
        assert_eq!(
            &frame[..],
            &[
                0, 0, 0, 13, 1, 0, 0, 0, 0, 0, 0, 0x01, 0x02, b'"', b'h', b'i', b'"'
            ]
        );
        assert_eq!(peek_header(&frame), Some((Kind::Request, 0x0102)));
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut stream = Vec::new();
        for i in 0..5u64 {
            stream.extend_from_slice(&encode(&Json, Kind::Message, 0, &i, 1024).unwrap());
        }
        stream.extend_from_slice(&error_frame(9, ErrorCode::NO_REPLY, "gone"));
        for cut in 1..stream.len() {
            let mut decoder = FrameDecoder::new(1024);
            let mut src = BytesMut::from(&stream[..cut]);
            let mut frames = Vec::new();
            while let Some(frame) = decoder.decode(&mut src).unwrap() {
                frames.push(frame);
            }
            src.extend_from_slice(&stream[cut..]);
            while let Some(frame) = decoder.decode(&mut src).unwrap() {
                frames.push(frame);
            }
            assert_eq!(frames.len(), 6, "cut at {cut}");
            assert_eq!(&frames[3].body[..], b"3");
            assert_eq!(frames[5].kind, Kind::Error);
            assert_eq!(
                frames[5].error_parts(),
                (ErrorCode::NO_REPLY, "gone".into())
            );
        }
    }

    #[test]
    fn peek_makes_the_checks_decode_makes_and_takes_nothing() {
        let frame = encode(&Json, Kind::Reply, 7, &"hi", 1024).unwrap();
        let decoder = FrameDecoder::new(1024);
        assert_eq!(
            decoder.peek(&frame[..3]).unwrap(),
            Peeked::Incomplete { len: None }
        );
        assert_eq!(
            decoder.peek(&frame[..frame.len() - 1]).unwrap(),
            Peeked::Incomplete {
                len: Some(frame.len() - PREFIX_LEN)
            }
        );
        assert_eq!(
            decoder.peek(&frame).unwrap(),
            Peeked::Whole {
                kind: Kind::Reply,
                id: 7,
                len: frame.len() - PREFIX_LEN
            }
        );
        assert!(matches!(
            FrameDecoder::new(8).peek(&frame[..PREFIX_LEN]),
            Err(FrameError::TooLarge { max: 8, .. })
        ));
        assert!(matches!(
            decoder.peek(&[0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn an_oversized_length_is_refused_before_the_body_arrives() {
        let (frames, result) = decode_all(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(frames.is_empty());
        match result {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, 0x7fff_ffff);
                assert_eq!(max, 1024);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_decoder_reserves_little_for_a_large_announced_frame() {
        let mut decoder = FrameDecoder::new(usize::MAX);
        let mut src = BytesMut::from(&[0x10u8, 0, 0, 0, 0][..]); // 256 MiB announced
        assert!(decoder.decode(&mut src).unwrap().is_none());
        assert!(src.capacity() <= READ_AHEAD + 64, "{}", src.capacity());
    }

    #[test]
    fn bad_headers_are_malformed() {
        let (_, result) = decode_all(&[0, 0, 0, 3, 0, 0, 0]);
        assert!(
            matches!(result, Err(FrameError::Malformed(_))),
            "{result:?}"
        );
        let (_, result) = decode_all(&[0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        match result {
            Err(FrameError::Malformed(text)) => assert!(text.contains("kind 7"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stream_ending_mid_frame_says_how_far_it_got() {
        let (frames, result) = decode_all(&[0, 0, 0, 20, 0, 0, 0]);
        assert!(frames.is_empty());
        match result {
            Err(FrameError::EndedMidFrame { received, expected }) => {
                assert_eq!(received, 7);
                assert_eq!(expected, Some(24));
            }
            other => panic!("{other:?}"),
        }
        let (_, result) = decode_all(&[0, 0]);
        assert!(matches!(
            result,
            Err(FrameError::EndedMidFrame {
                received: 2,
                expected: None
            })
        ));
    }

    #[test]
    fn oversized_messages_are_refused_before_sending() {
        let big = "x".repeat(2000);
        match encode(&Json, Kind::Message, 0, &big, 1024) {
            Err(Error::TooLarge { len, max }) => {
                assert_eq!(len, 2002 + HEADER_LEN as u64);
                assert_eq!(max, 1024);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_ERROR_TEXT);
        let frame = error_frame(0, ErrorCode::REJECTED, &text);
        let mut src = BytesMut::from(&frame[..]);
        let decoded = FrameDecoder::new(usize::MAX).decode(&mut src).unwrap();
        let (code, message) = decoded.unwrap().error_parts();
        assert_eq!(code, ErrorCode::REJECTED);
        assert_eq!(message.len(), MAX_ERROR_TEXT);
        assert!(message.chars().all(|c| c == 'é'));
    }
}
