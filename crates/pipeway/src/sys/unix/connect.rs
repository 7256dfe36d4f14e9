//! Connecting to a pipe, `WaitNamedPipe` style: a client waits, up to its
//! timeout, for a pipe that does not exist yet, refuses, or is busy, and
//! checks the server's identity before it sends or reads a byte.
//!
//! [`ConnectPlan`] holds every rule; the blocking and tokio faces only differ
//! in how they sleep between attempts and wait for the hello.

use std::io::{self, IoSliceMut};
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::SocketAddrUnix;

use crate::error::Error;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{ConnectOptions, Direction, End, PipeMode};
use crate::peer::PeerIdentity;
use crate::trust::Trusted;
use crate::wait::{ConnectWait, Waiting};
use crate::wire::{HELLO_LEN, Hello, Refusal};

use super::admit::{Connection, shut_unused_halves};
use super::socket::{Socket, Wire};
use super::users;

/// What the face should do next.
pub(crate) enum Step {
    /// Connected at the socket level; the server's identity has been checked.
    /// On the framed wire, wait for the hello next.
    Connected(Socket, Wire, PeerIdentity),
    /// Sleep this long, then call [`ConnectPlan::step`] again.
    Sleep(Duration),
}

pub(crate) struct ConnectPlan {
    wait: ConnectWait,
    mode: PipeMode,
    requested_direction: Option<Direction>,
    trusted: Trusted<u32>,
    in_buffer_size: Option<usize>,
    out_buffer_size: Option<usize>,
    max_message: usize,
}

impl ConnectPlan {
    pub(crate) fn new(
        name: PipeName,
        options: &ConnectOptions,
        mode: PipeMode,
    ) -> Result<Self, Error> {
        let trusted = Trusted::resolve(
            &options.server,
            || Ok(users::effective_uid()),
            users::uid_of,
            [users::ROOT],
        )?;
        let wait = ConnectWait::start(name, options.timeout)?;
        super::directory::warn_if_anyone_may_replace(wait.path());
        Ok(Self {
            wait,
            mode,
            requested_direction: options.direction,
            trusted,
            in_buffer_size: options.in_buffer_size,
            out_buffer_size: options.out_buffer_size,
            max_message: options.max_message_size,
        })
    }

    /// The wires to try, in order. A byte client reaches byte pipes on either
    /// wire; a message client only the framed one.
    fn wires(&self) -> &'static [Wire] {
        match self.mode {
            PipeMode::Byte => &[Wire::Plain, Wire::Framed],
            PipeMode::Message => &[Wire::Framed],
        }
    }

    /// Makes one attempt. Returns the socket, or how long to sleep before the
    /// next attempt, or the error that ends the connect.
    pub(crate) fn step(&mut self) -> Result<Step, Error> {
        match self.attempt()? {
            Some((socket, wire)) => {
                let peer = self.check_server(&socket)?;
                Ok(Step::Connected(socket, wire, peer))
            }
            None => Ok(Step::Sleep(self.wait.next_pause()?)),
        }
    }

    fn attempt(&mut self) -> Result<Option<(Socket, Wire)>, Error> {
        let addr = SocketAddrUnix::new(self.wait.path()).map_err(io::Error::from)?;
        for &wire in self.wires() {
            let socket = Socket::new(wire, true)?;
            let waiting = match rustix::net::connect(&socket, &addr) {
                Ok(()) => {
                    socket.set_buffer_sizes(self.in_buffer_size, self.out_buffer_size)?;
                    return Ok(Some((socket, wire)));
                }
                // The other wire may be the pipe's.
                Err(Errno::PROTOTYPE) => continue,
                Err(Errno::NOENT) => Waiting::Missing,
                Err(Errno::CONNREFUSED) => Waiting::Refused,
                Err(Errno::AGAIN) => Waiting::Busy,
                Err(Errno::ACCESS) | Err(Errno::PERM) => {
                    return Err(Error::AccessDenied {
                        name: self.wait.name().to_string(),
                        reason: format!(
                            "the socket file {} does not admit this user",
                            self.wait.path().display()
                        ),
                    });
                }
                Err(err) => return Err(Error::Io(err.into())),
            };
            self.wait.waiting_for(waiting);
            return Ok(None);
        }
        // Every wire this client speaks was the wrong socket type.
        Err(match self.mode {
            PipeMode::Message => Error::WrongMode {
                name: self.wait.name().to_string(),
                expected: PipeMode::Message,
                actual: PipeMode::Byte,
            },
            PipeMode::Byte => Error::Protocol(format!(
                "{} is a socket of a kind pipes do not use (neither stream nor seqpacket)",
                self.wait.path().display()
            )),
        })
    }

    /// Refuses a server run by a user the client does not trust, before a
    /// byte goes either way.
    fn check_server(&self, socket: &Socket) -> Result<PeerIdentity, Error> {
        let creds = socket.peer_cred()?;
        self.trusted
            .check(self.wait.name(), Some(&creds.uid), creds.pid)?;
        let process = super::process::of_socket(socket.as_fd(), creds.pid);
        Ok(PeerIdentity::from_credentials(creds).with_process(process))
    }

    /// How long is left to wait for the hello (zero once the deadline has
    /// passed), or `None` without a deadline.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.wait.remaining()
    }

    /// Reads the hello if it has arrived. `Ok(None)`: not yet. A server that
    /// closed before admitting this client (a listener that went away, say)
    /// counts as "not listening" and the connect starts over.
    pub(crate) fn try_read_hello(&mut self, socket: &Socket) -> Result<Option<HelloResult>, Error> {
        let mut buf = [0u8; HELLO_LEN + 8];
        match socket.recv_vectored(&mut [IoSliceMut::new(&mut buf)], false) {
            Ok(received) if received.bytes == 0 => {
                self.wait.waiting_for(Waiting::Refused);
                Ok(Some(HelloResult::Retry))
            }
            Ok(received) => {
                let hello = Hello::decode(&buf[..received.bytes.min(buf.len())])
                    .map_err(Error::Protocol)?;
                Ok(Some(HelloResult::Hello(hello)))
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                self.wait.waiting_for(Waiting::Refused);
                Ok(Some(HelloResult::Retry))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The error for a client whose hello did not come before the deadline:
    /// it is still queued behind the instances in use.
    pub(crate) fn busy(&mut self) -> Error {
        self.wait.waiting_for(Waiting::Busy);
        self.wait.give_up()
    }

    /// Finishes a connection: checks the hello against what this client
    /// wants, and shuts the half the client will not use.
    pub(crate) fn finish(
        &self,
        socket: Socket,
        wire: Wire,
        peer: PeerIdentity,
        hello: Option<Hello>,
    ) -> Result<Connection, Error> {
        let (offered, peer_max_message) = match hello {
            None => (Direction::Duplex, self.max_message),
            Some(Hello::Refused(Refusal::AccessDenied)) => {
                return Err(Error::AccessDenied {
                    name: self.wait.name().to_string(),
                    reason: "the server's access rules refused this client".into(),
                });
            }
            Some(Hello::Welcome {
                mode,
                direction,
                max_message,
            }) => {
                if mode != self.mode {
                    return Err(Error::WrongMode {
                        name: self.wait.name().to_string(),
                        expected: self.mode,
                        actual: mode,
                    });
                }
                // A limit past what this end can address is no limit here.
                (
                    direction,
                    usize::try_from(max_message).unwrap_or(usize::MAX),
                )
            }
        };
        let direction = Direction::negotiate(self.wait.name(), self.requested_direction, offered)?;
        shut_unused_halves(&socket, direction, End::Client)?;
        Ok(Connection {
            socket,
            wire,
            negotiated: Negotiated {
                end: End::Client,
                pipe_mode: self.mode,
                direction,
                peer,
                limits: MessageLimits {
                    max: self.max_message,
                    peer_max: peer_max_message,
                },
            },
            permit: None,
            smb: None,
        })
    }
}

/// What reading the hello gave.
pub(crate) enum HelloResult {
    Hello(Hello),
    /// The server closed without a hello: start the connect over.
    Retry,
}
