//! The blocking face: [`ShmListener`] and [`ShmChannel`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::name::IntoPipeName;
use crate::options::{ConnectOptions, ListenOptions};
use crate::peer::PeerIdentity;

use super::ShmError;
use super::engine::{Engine, Received, Waiter, run_blocking};
use super::link::{Link, Wait};
use super::setup::{ShmChannelOptions, accept_offer, offer};

/// Accepts shared-memory channels on a pipe of the channel's name.
///
/// Each client connects to the pipe (so the pipe's access rules and
/// identity checks apply to it), and receives its own memory over it as a
/// descriptor (Linux) or as handles duplicated into its process (Windows):
/// the memory is never at a name another process could open.
///
/// ```
/// use std::thread;
/// use pipeway::shm::{ShmChannel, ShmListener};
///
/// let name = format!("doc-shm-channel-{}", std::process::id());
/// let listener = ShmListener::bind(&name)?;
/// let server = thread::spawn(move || -> Result<(), pipeway::shm::ShmError> {
///     let mut channel = listener.accept()?;
///     while let Some(request) = channel.recv()? {
///         channel.send(&request)?; // echo
///     }
///     Ok(())
/// });
/// let mut client = ShmChannel::connect(&name)?;
/// client.send(b"ping")?;
/// assert_eq!(client.recv()?.as_deref(), Some(&b"ping"[..]));
/// drop(client);
/// server.join().unwrap()?;
/// # Ok::<(), pipeway::shm::ShmError>(())
/// ```
#[derive(Debug)]
pub struct ShmListener {
    pipe: crate::PipeListener,
    options: ShmChannelOptions,
}

impl ShmListener {
    /// Binds `name` with the default pipe and channel options (owner-only).
    pub fn bind(name: impl IntoPipeName) -> Result<Self, ShmError> {
        Self::bind_with(name, &ListenOptions::new(), &ShmChannelOptions::new())
    }

    /// Binds `name` with `pipe` options (access rules, ...) and `options`.
    pub fn bind_with(
        name: impl IntoPipeName,
        pipe: &ListenOptions,
        options: &ShmChannelOptions,
    ) -> Result<Self, ShmError> {
        options.check()?;
        Ok(Self {
            pipe: crate::PipeListener::bind_with(name, pipe)?,
            options: options.clone(),
        })
    }

    /// Waits for a client and sets its channel up.
    pub fn accept(&self) -> Result<ShmChannel, ShmError> {
        let pipe = self.pipe.accept()?;
        Ok(ShmChannel::new(offer(pipe, &self.options)?))
    }
}

/// One end of a shared-memory channel: messages both ways, through two
/// single-producer single-consumer rings in memory both processes map.
///
/// A receive (or a send into a full ring) spins for a while (50 µs by
/// default), then sleeps (on a futex; on Windows, an event) until the peer
/// wakes it: fast when busy, no CPU when idle. A peer that dies is noticed within 100 ms of
/// waiting for it ([`ShmError::PeerGone`]); a message it had half sent is
/// dropped, never handed over torn. A peer that closes ends the stream of
/// messages (`recv` gives `None` after the last one).
#[derive(Debug)]
pub struct ShmChannel {
    engine: Engine,
    timeout: Option<Duration>,
}

/// The blocking face's waiter: sleeps in this thread.
struct Blocking {
    deadline: Option<Instant>,
}

impl Waiter for Blocking {
    async fn wait(&mut self, link: &Arc<Link>, what: Wait) -> Result<(), ShmError> {
        link.wait_blocking(what, link.spin, self.deadline, &|| false)
    }
}

impl ShmChannel {
    fn new(link: Link) -> Self {
        Self {
            engine: Engine::new(link),
            timeout: None,
        }
    }

    /// Connects to the channel `name` with the default options: waits up to
    /// 5 s for its pipe, and trusts only a server of this user or root.
    pub fn connect(name: impl IntoPipeName) -> Result<Self, ShmError> {
        Self::connect_with(name, &ConnectOptions::new(), &ShmChannelOptions::new())
    }

    /// Connects with pipe `connect` options and channel `options` (the
    /// client's spin and set-up timeout; the server chooses the sizes).
    pub fn connect_with(
        name: impl IntoPipeName,
        connect: &ConnectOptions,
        options: &ShmChannelOptions,
    ) -> Result<Self, ShmError> {
        let pipe = crate::PipeStream::connect_with(name, connect)?;
        Ok(Self::new(accept_offer(pipe, options)?))
    }

    /// The process at the other end, as its pipe reported it.
    pub fn peer(&self) -> &PeerIdentity {
        self.engine.link.peer()
    }

    /// The largest message the channel carries.
    pub fn max_message_size(&self) -> usize {
        self.engine.link.max_message as usize
    }

    /// The largest message that travels in place (and that
    /// [`recv_borrowed`](Self::recv_borrowed) lends without a copy).
    pub fn max_in_place(&self) -> usize {
        self.engine.max_record()
    }

    /// A limit for each send and receive (`None`, the default: wait for as
    /// long as the peer lives).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn waiter(&self) -> Blocking {
        Blocking {
            deadline: self.timeout.map(|t| Instant::now() + t),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, message: &[u8]) -> Result<(), ShmError> {
        let mut waiter = self.waiter();
        run_blocking(self.engine.send(message, &mut waiter))
    }

    /// Sends a message of `len` bytes that `write` fills in place in the
    /// ring: no copy when it fits in [`max_in_place`](Self::max_in_place).
    pub fn send_with(&mut self, len: usize, write: impl FnOnce(&mut [u8])) -> Result<(), ShmError> {
        let mut waiter = self.waiter();
        run_blocking(self.engine.send_with(len, write, &mut waiter))
    }

    /// Receives the next message; `None` once the peer has closed the
    /// channel and everything it sent has been received.
    pub fn recv(&mut self) -> Result<Option<Vec<u8>>, ShmError> {
        let mut waiter = self.waiter();
        let received = run_blocking(self.engine.recv(&mut waiter))?;
        Ok(received.map(|received| {
            let bytes = self.engine.bytes(&received).to_vec();
            self.engine.release();
            bytes
        }))
    }

    /// Receives the next message without copying it: the message is lent
    /// in place in the ring until the returned [`Message`] is dropped (a
    /// message larger than [`max_in_place`](Self::max_in_place) is
    /// assembled into a buffer the channel keeps).
    pub fn recv_borrowed(&mut self) -> Result<Option<Message<'_>>, ShmError> {
        let mut waiter = self.waiter();
        let received = run_blocking(self.engine.recv(&mut waiter))?;
        Ok(received.map(|received| Message {
            engine: &mut self.engine,
            received,
            timeout: self.timeout,
        }))
    }

    /// Closes the channel: the peer receives what was sent, then `None`.
    /// (Dropping the channel does the same.)
    pub fn close(self) {}
}

/// A received message lent by [`ShmChannel::recv_borrowed`]; its bytes stay
/// in the ring until this is dropped (or answered with
/// [`reply_with`](Self::reply_with)).
pub struct Message<'a> {
    pub(crate) engine: &'a mut Engine,
    pub(crate) received: Received,
    /// The channel's limit for each send, for the reply.
    pub(crate) timeout: Option<Duration>,
}

impl Message<'_> {
    /// Answers this message in place: `write` gets the message where it
    /// lies in the receive ring and the reply's `len` bytes in the send
    /// ring, so a server that transforms requests makes one pass over the
    /// bytes and no other copy (a reply larger than
    /// [`max_in_place`](ShmChannel::max_in_place) goes through a buffer).
    /// The message is released once the reply is sent.
    ///
    /// ```
    /// use std::thread;
    /// use pipeway::shm::{ShmChannel, ShmListener};
    ///
    /// let name = format!("doc-shm-reply-{}", std::process::id());
    /// let listener = ShmListener::bind(&name)?;
    /// let server = thread::spawn(move || -> Result<(), pipeway::shm::ShmError> {
    ///     let mut channel = listener.accept()?;
    ///     while let Some(request) = channel.recv_borrowed()? {
    ///         // Upper-cases each request straight into the reply.
    ///         let len = request.len();
    ///         request.reply_with(len, |request, reply| {
    ///             for (to, from) in reply.iter_mut().zip(request) {
    ///                 *to = from.to_ascii_uppercase();
    ///             }
    ///         })?;
    ///     }
    ///     Ok(())
    /// });
    /// let mut client = ShmChannel::connect(&name)?;
    /// client.send(b"ping")?;
    /// assert_eq!(client.recv()?.as_deref(), Some(&b"PING"[..]));
    /// drop(client);
    /// server.join().unwrap()?;
    /// # Ok::<(), pipeway::shm::ShmError>(())
    /// ```
    pub fn reply_with(
        self,
        len: usize,
        write: impl FnOnce(&[u8], &mut [u8]),
    ) -> Result<(), ShmError> {
        let mut this = self;
        let mut waiter = Blocking {
            deadline: this.timeout.map(|t| Instant::now() + t),
        };
        let Message {
            engine, received, ..
        } = &mut this;
        run_blocking(engine.reply_with(received, len, write, &mut waiter))
    }
}

impl std::ops::Deref for Message<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.engine.bytes(&self.received)
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        self.engine.release();
    }
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message").field("len", &self.len()).finish()
    }
}
