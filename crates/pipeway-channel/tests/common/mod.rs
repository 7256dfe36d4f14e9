//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pipeway_channel::{Client, ClientId, DisconnectReason, Event, Events, Incoming};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A pipe name no other test (or test run) uses.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwc-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a local pipe's socket lives (Unix).
#[cfg(unix)]
pub fn socket_path(name: &str) -> std::path::PathBuf {
    pipeway::PipeName::local(name)
        .unwrap()
        .endpoint()
        .unwrap()
        .to_owned()
}

/// A generous bound for waits that should end quickly, so a broken test
/// fails instead of hanging. Never used to assert speed.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Waits for `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("gave up waiting for {what}"),
    }
}

/// What the tests' clients send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Up {
    pub tag: u32,
    pub seq: u32,
    pub text: String,
}

impl Up {
    pub fn new(tag: u32, seq: u32) -> Self {
        Self {
            tag,
            seq,
            text: format!("{tag}/{seq}"),
        }
    }
}

/// What the tests' servers send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Down {
    pub seq: u32,
    pub text: String,
}

impl Down {
    pub fn new(seq: u32) -> Self {
        Self {
            seq,
            text: format!("#{seq}"),
        }
    }
}

/// The next server event, within [`PATIENCE`].
pub async fn next<In, Out>(events: &mut Events<In, Out>) -> Event<In, Out> {
    within("a server event", events.recv())
        .await
        .expect("the event stream ended early")
}

/// Waits for the next `Connected` event and returns its client.
pub async fn connected<In, Out>(events: &mut Events<In, Out>) -> ClientId {
    match next(events).await {
        Event::Connected { client, .. } => client,
        other => panic!("expected Connected, got {}", describe(&other)),
    }
}

/// Connects `n` clients to `name` (no reconnecting), each seen by the
/// server (`Connected`) before the next: their handles and `Incoming`s.
pub async fn connect_clients<Up, Down>(
    name: &str,
    events: &mut Events<Up, Down>,
    n: usize,
) -> (Vec<Client<Up, Down>>, Vec<Incoming<Down>>)
where
    Up: Serialize + DeserializeOwned + Send + Sync + 'static,
    Down: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let mut handles = Vec::new();
    let mut incomings = Vec::new();
    for _ in 0..n {
        let (client, incoming) = Client::<Up, Down>::builder()
            .no_reconnect()
            .connect(name)
            .await
            .unwrap();
        connected(events).await;
        handles.push(client);
        incomings.push(incoming);
    }
    (handles, incomings)
}

/// Waits for the next `Disconnected` event.
pub async fn disconnected<In, Out>(events: &mut Events<In, Out>) -> (ClientId, DisconnectReason) {
    match next(events).await {
        Event::Disconnected { client, reason } => (client, reason),
        other => panic!("expected Disconnected, got {}", describe(&other)),
    }
}

/// An event in a line, without needing `Debug` on the message types.
pub fn describe<In, Out>(event: &Event<In, Out>) -> String {
    match event {
        Event::Connected { client, .. } => format!("Connected({client})"),
        Event::Message { client, .. } => format!("Message({client})"),
        Event::Request { client, .. } => format!("Request({client})"),
        Event::Disconnected { client, reason } => format!("Disconnected({client}, {reason})"),
        Event::Error { client, error } => format!("Error({client}, {error})"),
        Event::Refused { client, error, .. } => format!("Refused({client}, {error})"),
        _ => "an unknown event".into(),
    }
}

/// A raw connection to a channel, speaking the wire format by hand over a
/// plain byte pipe (on Unix, the very stream socket any program opens).
pub struct Raw {
    pub stream: pipeway::tokio::PipeStream,
}

/// A client's hello as the README spells it: magic, version 1, role 0
/// (client), two reserved bytes, the codec's name in 16 bytes and the schema
/// in 40, both NUL-padded.
pub fn client_hello(codec: &str, schema: &str) -> Vec<u8> {
    let mut hello = b"PWCH\x01\x00\x00\x00".to_vec();
    let mut field = |text: &str, size: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(size, 0);
        hello.extend_from_slice(&bytes);
    };
    field(codec, 16);
    field(schema, 40);
    hello
}

impl Raw {
    /// Connects and exchanges hellos as a JSON client that names no schema.
    pub async fn connect(name: &str) -> Self {
        let mut raw = Self::connect_without_hello(name).await;
        raw.stream
            .write_all(&client_hello("json", ""))
            .await
            .expect("raw hello");
        let hello = raw.recv_hello().await;
        assert_eq!(&hello[..6], b"PWCH\x01\x01", "the server's hello");
        raw
    }

    /// Connects and sends nothing.
    pub async fn connect_without_hello(name: &str) -> Self {
        let stream = within("a raw connect", pipeway::tokio::PipeStream::connect(name))
            .await
            .expect("raw connect");
        Self { stream }
    }

    /// Reads the server's 64-byte hello.
    pub async fn recv_hello(&mut self) -> [u8; 64] {
        let mut hello = [0u8; 64];
        within("the server's hello", self.stream.read_exact(&mut hello))
            .await
            .expect("raw read hello");
        hello
    }

    /// Writes one frame as the README describes it.
    pub async fn send_frame(&mut self, kind: u8, id: u64, body: &[u8]) {
        let mut frame = Vec::new();
        frame.extend_from_slice(&(9 + body.len() as u32).to_be_bytes());
        frame.push(kind);
        frame.extend_from_slice(&id.to_be_bytes());
        frame.extend_from_slice(body);
        self.stream.write_all(&frame).await.expect("raw write");
    }

    /// Reads one frame: `None` at end-of-file between frames.
    pub async fn recv_frame(&mut self) -> Option<(u8, u64, Vec<u8>)> {
        let mut prefix = [0u8; 4];
        match within("a frame", self.stream.read_exact(&mut prefix)).await {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(err) => panic!("raw read: {err}"),
        }
        let len = u32::from_be_bytes(prefix) as usize;
        let mut rest = vec![0u8; len];
        within("a frame body", self.stream.read_exact(&mut rest))
            .await
            .expect("raw read body");
        let mut id = [0u8; 8];
        id.copy_from_slice(&rest[1..9]);
        Some((rest[0], u64::from_be_bytes(id), rest[9..].to_vec()))
    }

    /// Reads an error frame's code and text.
    pub async fn recv_error(&mut self) -> (u64, u16, String) {
        let (kind, id, body) = self.recv_frame().await.expect("an error frame");
        assert_eq!(kind, 3, "expected an error frame");
        let code = u16::from_be_bytes([body[0], body[1]]);
        (id, code, String::from_utf8(body[2..].to_vec()).unwrap())
    }

    /// Waits for end-of-file (the server closed the connection).
    pub async fn expect_eof(&mut self) {
        let mut byte = [0u8; 1];
        match within("end-of-file", self.stream.read(&mut byte)).await {
            Ok(0) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected end-of-file, got {other:?}"),
        }
    }
}

/// Raises this process's open-file limit to its hard limit (tests with
/// hundreds of clients hold two descriptors per client).
#[cfg(unix)]
pub fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    const WANTED: u64 = 4096;
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|n| n >= WANTED) {
        return;
    }
    // Root may raise the hard limit too; others go as far as it allows.
    let raised = Rlimit {
        current: Some(WANTED),
        maximum: limit.maximum.map(|max| max.max(WANTED)),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

/// Windows has no descriptor limit to raise.
#[cfg(windows)]
pub fn raise_fd_limit() {}
