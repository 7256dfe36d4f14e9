//! Entry points for the fuzz targets in the workspace's `fuzz/` crate
//! (feature `fuzzing`). Not an API: they change with the decoders they drive.
//!
//! Each function takes the fuzzer's bytes, drives one decoder of bytes that
//! come from a peer, and panics when the decoder breaks a rule it promises.

use std::collections::BTreeMap;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

use crate::codec::{Codec, Json, MessagePack, Postcard};
use crate::handshake::{HELLO_LEN, Hello, Role};
use crate::wire::{ErrorCode, Frame, FrameDecoder, FrameError, Kind};

/// A decoded frame: kind, id, body.
type Decoded = (Kind, u64, Vec<u8>);

/// Everything a decoder yields from a whole stream: frames, then how it ended.
fn decode_stream(decoder: &mut FrameDecoder, chunks: &[&[u8]]) -> (Vec<Decoded>, Option<String>) {
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    let mut take = |src: &mut BytesMut, frames: &mut Vec<_>, eof: bool| loop {
        let decoded = if eof {
            decoder.decode_eof(src)
        } else {
            decoder.decode(src)
        };
        match decoded {
            Ok(Some(Frame { kind, id, body })) => frames.push((kind, id, body.to_vec())),
            Ok(None) => return None,
            Err(err) => return Some(err),
        }
    };
    for chunk in chunks {
        src.extend_from_slice(chunk);
        if let Some(err) = take(&mut src, &mut frames, false) {
            return (frames, Some(describe(&err)));
        }
    }
    let end = take(&mut src, &mut frames, true).map(|err| describe(&err));
    (frames, end)
}

fn describe(err: &FrameError) -> String {
    match err {
        FrameError::TooLarge { len, max } => format!("too large {len} > {max}"),
        FrameError::Malformed(why) => format!("malformed: {why}"),
        FrameError::EndedMidFrame { received, expected } => {
            format!("ended mid-frame {received} {expected:?}")
        }
        FrameError::Io(err) => panic!("the frame decoder made up an I/O error: {err}"),
    }
}

/// The channel frame decoder: a stream cut into chunks anywhere decodes to
/// the same frames, and ends the same way, as the stream in one piece; no
/// frame is longer than the limit; every error body reads as a code and text.
pub fn frames(data: &[u8]) {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    // A limit small enough for the fuzzer's inputs to cross it.
    let max = 9 + (control as usize) * 4;
    let (whole, whole_end) = decode_stream(&mut FrameDecoder::new(max), &[data]);
    let step = 1 + (control as usize % 13);
    let chunks: Vec<&[u8]> = data.chunks(step).collect();
    let (cut, cut_end) = decode_stream(&mut FrameDecoder::new(max), &chunks);
    assert_eq!(whole, cut, "frames depend on where the stream was cut");
    assert_eq!(whole_end, cut_end);
    for (kind, _, body) in whole {
        assert!(9 + body.len() <= max, "a frame over the limit came through");
        if kind == Kind::Error {
            error_body(&body);
        }
    }
}

/// Error bodies: any bytes read as a code and text, and a body this crate
/// writes reads back as what was written.
pub fn error_body(data: &[u8]) {
    let frame = Frame {
        kind: Kind::Error,
        id: 0,
        body: data.to_vec().into(),
    };
    let (code, text) = frame.error_parts();
    if let (Some(&[hi, lo]), Ok(written)) = (
        data.get(..2),
        std::str::from_utf8(&data[2.min(data.len())..]),
    ) {
        assert_eq!(code, ErrorCode(u16::from_be_bytes([hi, lo])));
        assert_eq!(text, written);
        let encoded = crate::wire::error_frame(7, code, written);
        let mut src = BytesMut::from(&encoded[..]);
        let decoded = FrameDecoder::new(usize::MAX)
            .decode(&mut src)
            .expect("an error frame decodes")
            .expect("whole");
        let (again, again_text) = decoded.error_parts();
        assert_eq!(again, code);
        assert!(
            written.starts_with(&again_text),
            "error text changed on the wire"
        );
    }
}

/// The channel handshake: whatever hello decodes encodes back to the same
/// hello, and checking it against any other never panics.
pub fn handshake(data: &[u8]) {
    let mut bytes = [0u8; HELLO_LEN];
    let n = data.len().min(HELLO_LEN);
    bytes[..n].copy_from_slice(&data[..n]);
    for peer in [Role::Client, Role::Server] {
        if let Ok(hello) = Hello::decode(peer, &bytes) {
            assert_eq!(
                Hello::decode(peer, &hello.encode()).as_ref().ok(),
                Some(&hello)
            );
            for ours in [
                Hello::new(Role::Client, "json", "").unwrap(),
                Hello::new(Role::Server, "msgpack", "chat/1").unwrap(),
            ] {
                if let Err(error) = ours.check(&hello) {
                    assert!(!error.to_string().is_empty());
                }
            }
        }
    }
}

/// A message type with the shapes the README's wire format describes:
/// strings, numbers, `Option`, bytes, sequences, maps and enums.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sample {
    text: String,
    count: u32,
    maybe: Option<i64>,
    #[serde(with = "serde_bytes_as_seq")]
    bytes: Vec<u8>,
    list: Vec<Shape>,
    map: BTreeMap<String, f64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Newtype(u8),
    Tuple(u16, bool),
    Struct { name: String },
}

/// `Vec<u8>` as serde's bytes, the way a `serde_bytes` field is.
mod serde_bytes_as_seq {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(byte) = seq.next_element()? {
                    out.push(byte);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

fn body_with<C: Codec>(codec: C, data: &[u8]) {
    if let Ok(value) = codec.decode::<Sample>(data) {
        // Whatever decodes encodes, and decodes again to the same value
        // (NaN aside, which is not equal to itself).
        let mut again = Vec::new();
        codec
            .encode(&value, &mut again)
            .expect("a decoded value encodes");
        let round: Sample = codec.decode(&again).expect("an encoded value decodes");
        if value.map.values().all(|v| !v.is_nan()) {
            assert_eq!(round, value);
        }
    }
}

/// Message bodies, with each codec: a body from a peer becomes a message or
/// a codec error, with memory bounded by the body (no length claim inside it
/// makes a decoder allocate more).
pub fn bodies(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => body_with(Json, body),
        1 => body_with(MessagePack, body),
        _ => body_with(Postcard, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_take_valid_and_invalid_input() {
        let mut stream = vec![200u8];
        stream.extend_from_slice(&crate::wire::error_frame(3, ErrorCode::REJECTED, "no"));
        stream.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        frames(&stream);
        frames(&[0, 0xff, 0xff, 0xff, 0xff]);
        handshake(&Hello::new(Role::Server, "json", "chat/1").unwrap().encode());
        handshake(b"PWCH");
        error_body(b"\x00\x06refused");
        error_body(b"\xff");
        let sample = Sample {
            text: "hi".into(),
            count: 3,
            maybe: None,
            bytes: vec![1, 2],
            list: vec![Shape::Unit, Shape::Struct { name: "x".into() }],
            map: BTreeMap::from([("a".into(), 1.5)]),
        };
        for (which, codec_body) in [
            (0u8, serde_json::to_vec(&sample).unwrap()),
            (1, rmp_serde::to_vec_named(&sample).unwrap()),
            (2, postcard::to_allocvec(&sample).unwrap()),
        ] {
            let mut data = vec![which];
            data.extend_from_slice(&codec_body);
            bodies(&data);
        }
    }
}
