//! A codec bound to a size limit, seen through one message type at a time,
//! so that servers and clients need not carry the codec in their types.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};
use crate::error::Error;
use crate::wire::{self, Kind};

/// Encodes values of `T` into whole frames.
pub(crate) trait Encode<T: ?Sized>: Send + Sync {
    fn frame(&self, kind: Kind, id: u64, value: &T) -> Result<Bytes, Error>;

    /// The same frame, written into `buf` (emptied first).
    fn frame_in(&self, buf: &mut Vec<u8>, kind: Kind, id: u64, value: &T) -> Result<(), Error>;
}

/// Decodes frame bodies into values of `T`.
pub(crate) trait Decode<T>: Send + Sync {
    fn decode(&self, body: &[u8]) -> Result<T, CodecError>;
}

/// A codec and the largest frame it may produce.
#[derive(Clone, Debug)]
pub(crate) struct Framer<C> {
    pub codec: C,
    pub max: usize,
}

impl<C: Codec, T: Serialize + ?Sized> Encode<T> for Framer<C> {
    fn frame(&self, kind: Kind, id: u64, value: &T) -> Result<Bytes, Error> {
        wire::encode(&self.codec, kind, id, value, self.max)
    }

    fn frame_in(&self, buf: &mut Vec<u8>, kind: Kind, id: u64, value: &T) -> Result<(), Error> {
        wire::encode_in(&self.codec, buf, kind, id, value, self.max)
    }
}

impl<C: Codec, T: DeserializeOwned> Decode<T> for Framer<C> {
    fn decode(&self, body: &[u8]) -> Result<T, CodecError> {
        self.codec.decode(body)
    }
}
