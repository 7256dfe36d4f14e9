#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod blocking;
mod client;
pub mod codec;
#[cfg(feature = "demo")]
pub mod demo;
mod error;
mod framer;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod outbox;
mod server;
#[cfg(test)]
mod test_io;
pub mod wire;

pub use client::{
    Backoff, Client, ClientBuilder, ClientEvent, ConnectionState, DEFAULT_CLIENT_LINGER,
    DEFAULT_CLIENT_QUEUE_CAPACITY, DEFAULT_INCOMING_CAPACITY, DEFAULT_REQUEST_TIMEOUT, Incoming,
};
pub use error::{DisconnectReason, Error, Result};
pub use handshake::{DEFAULT_HANDSHAKE_TIMEOUT, HandshakeError};
pub use server::{
    BroadcastReport, ClientId, ClientInfo, DEFAULT_EVENT_CAPACITY, DEFAULT_LINGER,
    DEFAULT_QUEUE_CAPACITY, Event, Events, FullQueuePolicy, Responder, Server, ServerBuilder,
};
