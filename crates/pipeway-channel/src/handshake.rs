//! The channel handshake: the first 64 bytes each way.
//!
//! As soon as a connection is made, each side sends a hello, without waiting
//! for the other's, and then reads the other's:
//!
//! ```text
//! offset  size  field
//! 0       4     magic    "PWCH"
//! 4       1     version  1
//! 5       1     role     0 = client, 1 = server
//! 6       2     reserved, zero (ignored on receipt)
//! 8       16    codec    the codec's name, ASCII, padded with NUL bytes ("json", "msgpack", "postcard")
//! 24      40    schema   the name of the message types, UTF-8, padded with NUL bytes; empty: not said
//! ```
//!
//! Each side checks the other's: same version, the other role, the same
//! codec, and the same schema when both name one. On a mismatch both sides
//! fail with the same clear error (`the server speaks json; this client
//! speaks msgpack`); a server also sends a `handshake` error frame saying
//! why, then closes. Frames follow the hellos.
//!
//! In Python: `struct.pack(">4sBB2x16s40s", b"PWCH", 1, 0, b"json", b"")`.
//!
//! The rules live here once, for every client and the server; the I/O is a
//! write of [`Hello::encode`] and a read of [`HELLO_LEN`] bytes given to
//! [`Hello::decode`] and [`Hello::check`].

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A hello's length in bytes.
pub const HELLO_LEN: usize = 64;

/// The first four bytes of a hello.
pub const MAGIC: [u8; 4] = *b"PWCH";

/// The handshake version this build speaks.
pub const VERSION: u8 = 1;

/// How long each side waits for the other's hello, by default: 5 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest codec name, in bytes.
pub const MAX_CODEC_NAME: usize = 16;

/// The longest schema name, in bytes.
pub const MAX_SCHEMA_NAME: usize = 40;

const CODEC_AT: usize = 8;
const SCHEMA_AT: usize = CODEC_AT + MAX_CODEC_NAME;

/// Which end of a channel a hello comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that connected.
    Client,
    /// The end that listens.
    Server,
}

impl Role {
    fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

/// What one side says about itself when a connection starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The handshake version.
    pub version: u8,
    /// Client or server.
    pub role: Role,
    /// The codec's name ([`Codec::name`](crate::codec::Codec::name)).
    pub codec: String,
    /// The name of the message types (the builders' `schema`); empty when
    /// not said.
    pub schema: String,
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The two ends use different codecs.
    #[error("the {peer} speaks {theirs}; this {} speaks {ours}", peer.other())]
    Codec {
        /// The other end.
        peer: Role,
        /// The other end's codec.
        theirs: String,
        /// This end's codec.
        ours: String,
    },
    /// The two ends name different message types.
    #[error("the {peer}'s messages are {theirs:?}; this {}'s are {ours:?}", peer.other())]
    Schema {
        /// The other end.
        peer: Role,
        /// The other end's schema.
        theirs: String,
        /// This end's schema.
        ours: String,
    },
    /// The other end speaks another version of the handshake.
    #[error("the {peer} speaks channel handshake version {theirs}; this {} speaks {ours}", peer.other())]
    Version {
        /// The other end.
        peer: Role,
        /// Its version.
        theirs: u8,
        /// This end's.
        ours: u8,
    },
    /// The other end says it has the same role as this one (a client that
    /// reached an echo server reads its own hello back).
    #[error("the other end also says it is a {role}: it is not a channel {}", role.other())]
    SameRole {
        /// The role both ends claim.
        role: Role,
    },
    /// The other end did not open with a hello: not a pipeway channel, or a
    /// peer written before the handshake existed.
    #[error(
        "the {peer} did not open with a channel hello (its first bytes: {first:02x?}): not a pipeway channel, or one from before the handshake"
    )]
    NotAChannel {
        /// The other end.
        peer: Role,
        /// What it sent instead.
        first: [u8; 4],
    },
    /// A hello with a field that cannot be read (a name that is not text).
    #[error("a malformed hello from the {peer}: {why}")]
    Malformed {
        /// The other end.
        peer: Role,
        /// What is wrong.
        why: String,
    },
    /// A name this end was given does not fit in a hello.
    #[error("{what} {name:?} cannot be sent in a hello: {why}")]
    InvalidName {
        /// Which name ("codec name", "schema").
        what: &'static str,
        /// The name.
        name: String,
        /// Why not.
        why: String,
    },
    /// The other end sent no hello in time.
    #[error("the {peer} sent no hello within {within:?}")]
    Timeout {
        /// The other end.
        peer: Role,
        /// How long this end waited.
        within: Duration,
    },
    /// The other end closed the connection before its hello.
    #[error("the {0} closed the connection before its hello")]
    Closed(Role),
    /// Reading or writing the hello failed.
    #[error("the handshake failed: {0}")]
    Io(#[from] io::Error),
}

impl HandshakeError {
    /// Whether the two ends disagree (codec, schema, version, role): the
    /// error a server reports to the client in a `handshake` error frame.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            Self::Codec { .. } | Self::Schema { .. } | Self::Version { .. } | Self::SameRole { .. }
        )
    }
}

fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), HandshakeError> {
    let invalid = |why: String| HandshakeError::InvalidName {
        what,
        name: name.to_owned(),
        why,
    };
    if name.len() > max {
        return Err(invalid(format!("{} bytes, at most {max}", name.len())));
    }
    if name.contains('\0') {
        return Err(invalid("it holds a NUL byte".into()));
    }
    Ok(())
}

fn read_name(peer: Role, field: &'static str, bytes: &[u8]) -> Result<String, HandshakeError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if bytes[end..].iter().any(|&b| b != 0) {
        return Err(HandshakeError::Malformed {
            peer,
            why: format!("its {field} has bytes after the NUL padding"),
        });
    }
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| HandshakeError::Malformed {
        peer,
        why: format!("its {field} is not UTF-8"),
    })
}

impl Hello {
    /// The hello of this build's version, checking that the names fit.
    pub fn new(role: Role, codec: &str, schema: &str) -> Result<Self, HandshakeError> {
        check_name("codec name", codec, MAX_CODEC_NAME)?;
        if codec.is_empty() {
            return Err(HandshakeError::InvalidName {
                what: "codec name",
                name: String::new(),
                why: "it is empty".into(),
            });
        }
        check_name("schema", schema, MAX_SCHEMA_NAME)?;
        Ok(Self {
            version: VERSION,
            role,
            codec: codec.to_owned(),
            schema: schema.to_owned(),
        })
    }

    /// The hello's bytes. The names must fit (as [`Hello::new`] checks).
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.version;
        out[5] = match self.role {
            Role::Client => 0,
            Role::Server => 1,
        };
        let codec = &self.codec.as_bytes()[..self.codec.len().min(MAX_CODEC_NAME)];
        out[CODEC_AT..CODEC_AT + codec.len()].copy_from_slice(codec);
        let schema = &self.schema.as_bytes()[..self.schema.len().min(MAX_SCHEMA_NAME)];
        out[SCHEMA_AT..SCHEMA_AT + schema.len()].copy_from_slice(schema);
        out
    }

    /// Reads the hello that `peer` sent. Only the magic and the version are
    /// read when the version is not this build's (a later version may lay
    /// out the rest differently).
    pub fn decode(peer: Role, bytes: &[u8; HELLO_LEN]) -> Result<Self, HandshakeError> {
        let first: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
        if first != MAGIC {
            return Err(HandshakeError::NotAChannel { peer, first });
        }
        let version = bytes[4];
        if version != VERSION {
            return Err(HandshakeError::Version {
                peer,
                theirs: version,
                ours: VERSION,
            });
        }
        let role = match bytes[5] {
            0 => Role::Client,
            1 => Role::Server,
            other => {
                return Err(HandshakeError::Malformed {
                    peer,
                    why: format!("unknown role {other}"),
                });
            }
        };
        Ok(Self {
            version,
            role,
            codec: read_name(peer, "codec name", &bytes[CODEC_AT..SCHEMA_AT])?,
            schema: read_name(peer, "schema", &bytes[SCHEMA_AT..])?,
        })
    }

    /// Checks the other end's hello against this one.
    pub fn check(&self, theirs: &Hello) -> Result<(), HandshakeError> {
        let peer = self.role.other();
        if theirs.version != self.version {
            return Err(HandshakeError::Version {
                peer,
                theirs: theirs.version,
                ours: self.version,
            });
        }
        if theirs.role == self.role {
            return Err(HandshakeError::SameRole { role: self.role });
        }
        if theirs.codec != self.codec {
            return Err(HandshakeError::Codec {
                peer,
                theirs: theirs.codec.clone(),
                ours: self.codec.clone(),
            });
        }
        if !theirs.schema.is_empty() && !self.schema.is_empty() && theirs.schema != self.schema {
            return Err(HandshakeError::Schema {
                peer,
                theirs: theirs.schema.clone(),
                ours: self.schema.clone(),
            });
        }
        Ok(())
    }
}

/// Sends `ours`, then reads and checks the other end's hello, all within
/// `within`. The read takes exactly the hello's bytes: frames that follow
/// stay in the stream.
pub(crate) async fn exchange<S>(
    stream: &mut S,
    ours: &Hello,
    within: Duration,
) -> Result<Hello, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = ours.role.other();
    let work = async {
        stream.write_all(&ours.encode()).await?;
        let mut bytes = [0u8; HELLO_LEN];
        // The magic first: a peer that speaks something else is told at
        // once, not after waiting for 64 bytes it may never send.
        read_exact(stream, &mut bytes[..4], peer).await?;
        check_magic(peer, &bytes)?;
        read_exact(stream, &mut bytes[4..], peer).await?;
        take_hello(ours, &bytes)
    };
    match tokio::time::timeout(within, work).await {
        Ok(result) => result,
        Err(_elapsed) => Err(HandshakeError::Timeout { peer, within }),
    }
}

/// [`exchange`] on a blocking stream (the blocking client's).
pub(crate) fn exchange_blocking(
    stream: &mut pipeway::PipeStream,
    ours: &Hello,
    within: Duration,
) -> Result<Hello, HandshakeError> {
    use std::io::{Read, Write};
    let peer = ours.role.other();
    let deadline = std::time::Instant::now() + within;
    let read_exact = |stream: &mut pipeway::PipeStream, buf: &mut [u8]| {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::Timeout { peer, within });
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read_exact(buf) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                Err(HandshakeError::Closed(peer))
            }
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                Err(HandshakeError::Timeout { peer, within })
            }
            Err(err) => Err(err.into()),
        }
    };
    stream.write_all(&ours.encode())?;
    let mut bytes = [0u8; HELLO_LEN];
    read_exact(stream, &mut bytes[..4])?;
    check_magic(peer, &bytes)?;
    read_exact(stream, &mut bytes[4..])?;
    stream.set_read_timeout(None)?;
    take_hello(ours, &bytes)
}

/// Refuses a peer whose first four bytes are not the magic: told at once,
/// not after waiting for 64 bytes it may never send.
fn check_magic(peer: Role, bytes: &[u8; HELLO_LEN]) -> Result<(), HandshakeError> {
    if bytes[..4] != MAGIC {
        let first = bytes[..4].try_into().expect("4 bytes");
        return Err(HandshakeError::NotAChannel { peer, first });
    }
    Ok(())
}

/// Decodes the other end's hello and checks it against ours.
fn take_hello(ours: &Hello, bytes: &[u8; HELLO_LEN]) -> Result<Hello, HandshakeError> {
    let theirs = Hello::decode(ours.role.other(), bytes)?;
    ours.check(&theirs)?;
    Ok(theirs)
}

async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    peer: Role,
) -> Result<(), HandshakeError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::Closed(peer)),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_documented_one() {
        let hello = Hello::new(Role::Client, "json", "chat/1").unwrap();
        let bytes = hello.encode();
        assert_eq!(&bytes[..8], b"PWCH\x01\x00\x00\x00");
        assert_eq!(&bytes[8..12], b"json");
        assert!(bytes[12..24].iter().all(|&b| b == 0));
        assert_eq!(&bytes[24..30], b"chat/1");
        assert!(bytes[30..].iter().all(|&b| b == 0));
        assert_eq!(Hello::decode(Role::Client, &bytes).unwrap(), hello);
    }

    #[test]
    fn a_codec_mismatch_names_both_codecs_from_each_side() {
        let server = Hello::new(Role::Server, "json", "").unwrap();
        let client = Hello::new(Role::Client, "msgpack", "").unwrap();
        assert_eq!(
            client.check(&server).unwrap_err().to_string(),
            "the server speaks json; this client speaks msgpack"
        );
        assert_eq!(
            server.check(&client).unwrap_err().to_string(),
            "the client speaks msgpack; this server speaks json"
        );
    }

    #[test]
    fn schemas_must_agree_only_when_both_ends_name_one() {
        let server = Hello::new(Role::Server, "json", "chat/2").unwrap();
        let named = Hello::new(Role::Client, "json", "chat/1").unwrap();
        let unnamed = Hello::new(Role::Client, "json", "").unwrap();
        assert!(matches!(
            named.check(&server),
            Err(HandshakeError::Schema { .. })
        ));
        assert!(unnamed.check(&server).is_ok());
        assert!(server.check(&unnamed).is_ok());
    }

    #[test]
    fn an_echoed_hello_is_not_a_server() {
        let client = Hello::new(Role::Client, "json", "").unwrap();
        let echoed = Hello::decode(Role::Server, &client.encode()).unwrap();
        assert!(matches!(
            client.check(&echoed),
            Err(HandshakeError::SameRole { role: Role::Client })
        ));
    }

    #[test]
    fn foreign_or_later_hellos_are_refused_with_a_reason() {
        let mut bytes = [0u8; HELLO_LEN];
        bytes[..4].copy_from_slice(&[0, 0, 0, 21]);
        let err = Hello::decode(Role::Client, &bytes).unwrap_err();
        assert!(
            err.to_string()
                .contains("did not open with a channel hello"),
            "{err}"
        );
        let mut later = Hello::new(Role::Server, "json", "").unwrap().encode();
        later[4] = 2;
        later[5] = 9; // a later version may mean anything by the rest
        assert!(matches!(
            Hello::decode(Role::Server, &later),
            Err(HandshakeError::Version {
                theirs: 2,
                ours: 1,
                ..
            })
        ));
        let mut junk = Hello::new(Role::Server, "json", "").unwrap().encode();
        junk[13] = b'x'; // after the codec name's padding began
        assert!(matches!(
            Hello::decode(Role::Server, &junk),
            Err(HandshakeError::Malformed { .. })
        ));
    }

    #[test]
    fn names_that_do_not_fit_are_refused_before_sending() {
        assert!(Hello::new(Role::Client, &"c".repeat(17), "").is_err());
        assert!(Hello::new(Role::Client, "json", &"s".repeat(41)).is_err());
        assert!(Hello::new(Role::Client, "json", "a\0b").is_err());
        assert!(Hello::new(Role::Client, "", "").is_err());
        assert!(Hello::new(Role::Client, &"c".repeat(16), &"s".repeat(40)).is_ok());
    }
}
