//! The tokio face of the shared-memory channel: the same rings and rules as
//! [`ShmChannel`](super::ShmChannel), with waits that do not block the runtime.
//!
//! A wait first polls the ring, yielding to other tasks between polls, for
//! the spin time; then it sleeps (futex or event) in a blocking-pool thread
//! (`spawn_blocking`), which a dropped future wakes and ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::name::IntoPipeName;
use crate::options::{ConnectOptions, ListenOptions};
use crate::peer::PeerIdentity;

use super::ShmError;
use super::channel::Message as Lent;
use super::engine::{Engine, Waiter};
use super::link::{Link, Wait};
use super::setup::{ShmChannelOptions, accept_offer, offer};

/// Accepts shared-memory channels for tokio; see [`super::ShmListener`].
///
/// ```
/// use pipeway::shm::tokio::{ShmChannel, ShmListener};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pipeway::shm::ShmError> {
/// let name = format!("doc-shm-tokio-{}", std::process::id());
/// let listener = ShmListener::bind(&name)?;
/// let server = tokio::spawn(async move {
///     let mut channel = listener.accept().await?;
///     while let Some(request) = channel.recv().await? {
///         channel.send(&request).await?;
///     }
///     Ok::<_, pipeway::shm::ShmError>(())
/// });
/// let mut client = ShmChannel::connect(&name).await?;
/// client.send(b"ping").await?;
/// assert_eq!(client.recv().await?.as_deref(), Some(&b"ping"[..]));
/// drop(client);
/// server.await.unwrap()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ShmListener {
    pipe: crate::tokio::PipeListener,
    options: ShmChannelOptions,
}

impl ShmListener {
    /// Binds `name` with the default options (owner-only).
    pub fn bind(name: impl IntoPipeName) -> Result<Self, ShmError> {
        Self::bind_with(name, &ListenOptions::new(), &ShmChannelOptions::new())
    }

    /// Binds `name` with `pipe` options and channel `options`.
    pub fn bind_with(
        name: impl IntoPipeName,
        pipe: &ListenOptions,
        options: &ShmChannelOptions,
    ) -> Result<Self, ShmError> {
        options.check()?;
        Ok(Self {
            pipe: crate::tokio::PipeListener::bind_with(name, pipe)?,
            options: options.clone(),
        })
    }

    /// Waits for a client and sets its channel up. Cancel safe: a client
    /// not yet accepted stays queued.
    pub async fn accept(&self) -> Result<ShmChannel, ShmError> {
        let pipe = self.pipe.accept_blocking().await?;
        // The set-up message (24 bytes and a descriptor on Linux, 48 bytes
        // naming duplicated handles on Windows) fits a fresh pipe's buffer:
        // sending it does not block.
        Ok(ShmChannel::new(offer(pipe, &self.options)?))
    }
}

/// One end of a shared-memory channel, for tokio; see [`super::ShmChannel`].
#[derive(Debug)]
pub struct ShmChannel {
    engine: Engine,
    timeout: Option<Duration>,
}

/// Wakes and ends a blocking-pool wait whose future was dropped.
struct CancelOnDrop {
    cancelled: Arc<AtomicBool>,
    link: Arc<Link>,
    what: Wait,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.link.wake_local(self.what);
    }
}

struct Async {
    deadline: Option<Instant>,
}

impl Waiter for Async {
    async fn wait(&mut self, link: &Arc<Link>, what: Wait) -> Result<(), ShmError> {
        let started = Instant::now();
        while started.elapsed() < link.spin {
            if link.ready(what) {
                return Ok(());
            }
            ::tokio::task::yield_now().await;
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop {
            cancelled: cancelled.clone(),
            link: link.clone(),
            what,
        };
        let link = link.clone();
        let deadline = self.deadline;
        ::tokio::task::spawn_blocking(move || {
            link.wait_blocking(what, Duration::ZERO, deadline, &|| {
                cancelled.load(Ordering::SeqCst)
            })
        })
        .await
        .map_err(|err| ShmError::Io(std::io::Error::other(err)))?
    }
}

impl ShmChannel {
    fn new(link: Link) -> Self {
        Self {
            engine: Engine::new(link),
            timeout: None,
        }
    }

    /// Connects to the channel `name` with the default options.
    pub async fn connect(name: impl IntoPipeName) -> Result<Self, ShmError> {
        Self::connect_with(name, &ConnectOptions::new(), &ShmChannelOptions::new()).await
    }

    /// Connects with pipe `connect` options and channel `options`. The
    /// connect and set-up run on the blocking pool: a dropped future lets
    /// them finish, then closes the channel.
    pub async fn connect_with(
        name: impl IntoPipeName,
        connect: &ConnectOptions,
        options: &ShmChannelOptions,
    ) -> Result<Self, ShmError> {
        let name = name.into_pipe_name().map_err(crate::Error::from)?;
        let (connect, options) = (connect.clone(), options.clone());
        let link = ::tokio::task::spawn_blocking(move || {
            let pipe = crate::PipeStream::connect_with(name, &connect)?;
            accept_offer(pipe, &options)
        })
        .await
        .map_err(|err| ShmError::Io(std::io::Error::other(err)))??;
        Ok(Self::new(link))
    }

    /// The process at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        self.engine.link.peer()
    }

    /// The largest message the channel carries.
    pub fn max_message_size(&self) -> usize {
        self.engine.link.max_message as usize
    }

    /// A limit for each send and receive (`None`: wait while the peer lives).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn waiter(&self) -> Async {
        Async {
            deadline: self.timeout.map(|t| Instant::now() + t),
        }
    }

    /// Sends one message. If the future is dropped part way through a
    /// message sent in chunks, the peer drops the part it received.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), ShmError> {
        let mut waiter = self.waiter();
        self.engine.send(message, &mut waiter).await
    }

    /// Receives the next message; `None` once the peer has closed. Cancel
    /// safe: chunks received before a drop are kept for the next call.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, ShmError> {
        let mut waiter = self.waiter();
        let received = self.engine.recv(&mut waiter).await?;
        Ok(received.map(|received| {
            let bytes = self.engine.bytes(&received).to_vec();
            self.engine.release();
            bytes
        }))
    }

    /// Receives the next message without copying it; see
    /// [`super::ShmChannel::recv_borrowed`].
    pub async fn recv_borrowed(&mut self) -> Result<Option<Message<'_>>, ShmError> {
        let mut waiter = self.waiter();
        let received = self.engine.recv(&mut waiter).await?;
        Ok(received.map(|received| Message {
            lent: Lent {
                engine: &mut self.engine,
                received,
                timeout: self.timeout,
            },
        }))
    }
}

/// A received message lent by [`ShmChannel::recv_borrowed`]; its bytes stay
/// in the ring until this is dropped (or answered with
/// [`reply_with`](Self::reply_with)). See [`super::Message`].
#[derive(Debug)]
pub struct Message<'a> {
    lent: Lent<'a>,
}

impl std::ops::Deref for Message<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.lent
    }
}

impl Message<'_> {
    /// Answers this message in place; see [`super::Message::reply_with`].
    /// If the future is dropped before the reply is sent, nothing is sent
    /// and the message is released.
    ///
    /// ```
    /// use pipeway::shm::tokio::{ShmChannel, ShmListener};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pipeway::shm::ShmError> {
    /// let name = format!("doc-shm-tokio-reply-{}", std::process::id());
    /// let listener = ShmListener::bind(&name)?;
    /// let server = tokio::spawn(async move {
    ///     let mut channel = listener.accept().await?;
    ///     while let Some(request) = channel.recv_borrowed().await? {
    ///         let len = request.len();
    ///         request
    ///             .reply_with(len, |request, reply| reply.copy_from_slice(request))
    ///             .await?;
    ///     }
    ///     Ok::<_, pipeway::shm::ShmError>(())
    /// });
    /// let mut client = ShmChannel::connect(&name).await?;
    /// client.send(b"ping").await?;
    /// assert_eq!(client.recv().await?.as_deref(), Some(&b"ping"[..]));
    /// drop(client);
    /// server.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reply_with(
        self,
        len: usize,
        write: impl FnOnce(&[u8], &mut [u8]),
    ) -> Result<(), ShmError> {
        let Message { mut lent } = self;
        let mut waiter = Async {
            deadline: lent.timeout.map(|t| Instant::now() + t),
        };
        let Lent {
            engine, received, ..
        } = &mut lent;
        engine.reply_with(received, len, write, &mut waiter).await
    }
}
