//! Codecs: how a message becomes the body of a frame, and back.
//!
//! A channel's messages are any `Serialize + DeserializeOwned` type; the codec
//! chosen for the channel turns them into bytes. Both ends must use the same
//! codec: each names its codec in the [handshake](crate::handshake), and a
//! mismatch fails the connection, naming both.
//!
//! | codec | body | for |
//! |---|---|---|
//! | [`Json`] (default) | UTF-8 JSON text | peers in other languages, debugging |
//! | [`MessagePack`] | MessagePack, structs as maps | compact, and still self-describing for other languages |
//! | [`Postcard`] | postcard (varints, fields in order) | Rust peers; the smallest and fastest |
//!
//! Any other format plugs in through the [`Codec`] trait.

use std::error::Error as StdError;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns messages into frame bodies and back.
///
/// `encode` appends to `out` (the frame header is already in it); `decode`
/// is given exactly one body and must refuse bytes left over after the
/// value, so that a body is either one whole message or an error.
///
/// ```
/// use pipeway_channel::codec::{Codec, CodecError};
///
/// /// Messages as plain UTF-8 strings.
/// #[derive(Clone, Copy, Debug, Default)]
/// struct Text;
///
/// impl Codec for Text {
///     fn name(&self) -> &'static str {
///         "text"
///     }
///     fn encode<T: serde::Serialize + ?Sized>(
///         &self,
///         value: &T,
///         out: &mut Vec<u8>,
///     ) -> Result<(), CodecError> {
///         // Borrow JSON's string encoding for the example.
///         let text = serde_json::to_value(value).map_err(|e| CodecError::encode("text", e))?;
///         let text = text.as_str().ok_or_else(|| CodecError::encode("text", "not a string"))?;
///         out.extend_from_slice(text.as_bytes());
///         Ok(())
///     }
///     fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
///         let text = std::str::from_utf8(bytes).map_err(|e| CodecError::decode("text", e))?;
///         serde_json::from_value(text.into()).map_err(|e| CodecError::decode("text", e))
///     }
/// }
///
/// let mut body = Vec::new();
/// Text.encode("hello", &mut body)?;
/// assert_eq!(body, b"hello");
/// assert_eq!(Text.decode::<String>(&body)?, "hello");
/// # Ok::<(), CodecError>(())
/// ```
pub trait Codec: Clone + Send + Sync + 'static {
    /// A short name for errors and logs (`"json"`).
    fn name(&self) -> &'static str;

    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T, out: &mut Vec<u8>)
    -> Result<(), CodecError>;

    /// Decodes one value that fills `bytes` exactly.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// Which way a codec failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Turning a value into bytes.
    Encode,
    /// Turning bytes into a value.
    Decode,
}

/// A message that could not be encoded, or bytes that are not a message of
/// the expected type.
#[derive(Debug)]
pub struct CodecError {
    codec: &'static str,
    operation: Operation,
    source: Box<dyn StdError + Send + Sync>,
}

impl CodecError {
    /// A value `codec` could not encode.
    pub fn encode(codec: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            codec,
            operation: Operation::Encode,
            source: source.into(),
        }
    }

    /// Bytes `codec` could not decode.
    pub fn decode(codec: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            codec,
            operation: Operation::Decode,
            source: source.into(),
        }
    }

    /// The codec's name.
    pub fn codec(&self) -> &'static str {
        self.codec
    }

    /// Whether encoding or decoding failed.
    pub fn operation(&self) -> Operation {
        self.operation
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.operation {
            Operation::Encode => "cannot encode the message",
            Operation::Decode => "cannot decode the message",
        };
        write!(f, "{}: {what}: {}", self.codec, self.source)
    }
}

impl StdError for CodecError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Bytes left after a decoded value.
#[derive(Debug)]
struct TrailingBytes(usize);

impl fmt::Display for TrailingBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes left over after the message", self.0)
    }
}

impl StdError for TrailingBytes {}

/// JSON (`serde_json`): the default, for peers in other languages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

impl Codec for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError::encode("json", e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        // `from_slice` refuses anything but whitespace after the value.
        serde_json::from_slice(bytes).map_err(|e| CodecError::decode("json", e))
    }
}

/// MessagePack (`rmp-serde`), with structs as maps keyed by field name, so
/// that other languages' MessagePack libraries read them as dictionaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessagePack;

impl Codec for MessagePack {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        rmp_serde::encode::write_named(out, value).map_err(|e| CodecError::encode("msgpack", e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        let value = T::deserialize(&mut de).map_err(|e| CodecError::decode("msgpack", e))?;
        let used = usize::try_from(de.position()).unwrap_or(usize::MAX);
        match bytes.len().saturating_sub(used) {
            0 => Ok(value),
            left => Err(CodecError::decode("msgpack", TrailingBytes(left))),
        }
    }
}

/// postcard: compact and fast, for Rust peers (the format is specified, so
/// other languages can implement it, but few have libraries for it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Postcard;

/// Lets postcard append to a borrowed vector, a slice at a time: postcard's
/// `to_extend` feeds bytes one by one, which for a 64 KiB byte string took
/// 13% of a channel transfer's CPU (a copy loop instead of one `memcpy`).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

impl Codec for Postcard {
    fn name(&self) -> &'static str {
        "postcard"
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        postcard::serialize_with_flavor(value, Append(out))
            .map_err(|e| CodecError::encode("postcard", e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| CodecError::decode("postcard", e))?;
        match rest.len() {
            0 => Ok(value),
            left => Err(CodecError::decode("postcard", TrailingBytes(left))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        label: String,
        tags: Vec<u8>,
    }

    fn round_trip<C: Codec>(codec: C) {
        let point = Point {
            x: -7,
            label: "here".into(),
            tags: vec![1, 2, 3],
        };
        let mut out = vec![0xAA];
        codec.encode(&point, &mut out).unwrap();
        assert_eq!(out[0], 0xAA, "{}: encode must append", codec.name());
        assert_eq!(codec.decode::<Point>(&out[1..]).unwrap(), point);

        // A body with a byte after the value is refused, not half-read.
        out.push(0x01);
        let err = codec.decode::<Point>(&out[1..]).unwrap_err();
        assert_eq!(err.operation(), Operation::Decode);
        assert_eq!(err.codec(), codec.name());

        // So is a body cut short.
        assert!(codec.decode::<Point>(&out[1..out.len() - 3]).is_err());
    }

    #[test]
    fn every_codec_round_trips_and_refuses_leftovers() {
        round_trip(Json);
        round_trip(MessagePack);
        round_trip(Postcard);
    }

    #[test]
    fn messagepack_writes_structs_as_maps() {
        let mut out = Vec::new();
        MessagePack
            .encode(
                &Point {
                    x: 1,
                    label: String::new(),
                    tags: vec![],
                },
                &mut out,
            )
            .unwrap();
        // fixmap of 3 entries, then the key "x" as a fixstr.
        assert_eq!(&out[..3], &[0x83, 0xA1, b'x']);
    }

    /// The encodings the README's wire format promises other languages.
    #[test]
    fn messagepack_encodes_enums_options_and_bytes_as_documented() {
        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(u8, u8),
            Struct { a: u8 },
        }
        #[derive(Serialize)]
        struct Fields {
            some: Option<u8>,
            none: Option<u8>,
            list: Vec<u8>,
            #[serde(serialize_with = "as_bytes")]
            bytes: Vec<u8>,
        }
        fn as_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(bytes)
        }
        let encode = |value: &dyn erased::Encode| {
            let mut out = Vec::new();
            value.encode_into(&mut out);
            out
        };
        // A unit variant is its name; any other variant a one-entry map
        // from its name to its value (a tuple is an array, a struct a map).
        assert_eq!(encode(&Shape::Unit), b"\xa4Unit");
        assert_eq!(encode(&Shape::Newtype(1)), b"\x81\xa7Newtype\x01");
        assert_eq!(encode(&Shape::Tuple(1, 2)), b"\x81\xa5Tuple\x92\x01\x02");
        assert_eq!(
            encode(&Shape::Struct { a: 1 }),
            b"\x81\xa6Struct\x81\xa1a\x01"
        );
        // `Option` is nil or the value; `Vec<u8>` an array of integers;
        // serde bytes (`serde_bytes`, `bytes::Bytes`) MessagePack bin.
        let fields = Fields {
            some: Some(1),
            none: None,
            list: vec![1, 2],
            bytes: vec![1, 2],
        };
        assert_eq!(
            encode(&fields),
            b"\x84\xa4some\x01\xa4none\xc0\xa4list\x92\x01\x02\xa5bytes\xc4\x02\x01\x02"
        );
    }

    /// Encodes values of different types through one closure.
    mod erased {
        pub trait Encode {
            fn encode_into(&self, out: &mut Vec<u8>);
        }
        impl<T: serde::Serialize> Encode for T {
            fn encode_into(&self, out: &mut Vec<u8>) {
                use crate::codec::Codec;
                crate::codec::MessagePack.encode(self, out).unwrap();
            }
        }
    }

    #[test]
    fn json_errors_say_what_failed() {
        let err = Json.decode::<Point>(br#"{"x": 1}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("json: cannot decode"), "{text}");
        assert!(text.contains("label"), "{text}");
    }
}
