//! The listener: a thread of its own that always keeps an instance of the
//! pipe waiting for the next client, so that no client finds the pipe busy
//! between two accepts (go-winio's most reported problem). Both faces share
//! it; `accept` only takes what it has admitted.
//!
//! The thread keeps up to [`SPARES`] instances in the listening state, each
//! with a `ConnectNamedPipe` in flight, and waits on all of them at once
//! (`WaitForMultipleObjects`). When a client connects to one, the others
//! are still listening while the thread admits that client (its identity
//! and the denies, see `access`), queues it for `accept`, and creates a
//! replacement. Clients connect as soon as an instance exists, whether or
//! not anyone has called `accept`, as Windows does.
//!
//! Limits: at most `max_instances` instances (listening or connected), and
//! at most `ADMITTED_AHEAD` clients admitted ahead of `accept`. At either
//! limit no instance is listening, so new clients get `ERROR_PIPE_BUSY` and
//! wait (`WaitNamedPipeW`) until a stream closes or `accept` takes one.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::accept::{self, ADMITTED_AHEAD};
use crate::error::Error;
use crate::gate::InstanceGate;
use crate::name::PipeName;
use crate::negotiated::{MessageLimits, Negotiated};
use crate::options::{End, ListenOptions, PipeMode};
use crate::sync::{lock, wait};

use super::access;
use super::accounts::Sid;
use super::identity;
use super::instance::{Connection, InstanceConfig, InstanceSlot, PipeHandle};
use super::overlapped::{OnDrop, Op, Outcome, client_gone};
use super::win::{Event, wait_any};

/// How many instances wait for clients at once (fewer under an instance limit).
pub(crate) const SPARES: usize = 2;

/// How long the thread waits before trying again after creating an
/// instance failed (say, Windows' instance count lagging a close).
const RETRY: Duration = Duration::from_millis(20);

/// What a listener needs to admit a client.
#[derive(Debug)]
struct Admission {
    config: InstanceConfig,
    max_message: usize,
    empty_message_ends_stream: bool,
}

impl Admission {
    /// Learns who the client is and applies the denies. `None`: refused
    /// (logged; dropping the pipe closes it on the client).
    fn admit(&self, pipe: Arc<PipeHandle>) -> Option<Connection> {
        let client = identity::client_of(pipe.raw());
        // A client whose user cannot be learned (it connected anonymously,
        // from a process this one may not inspect) is not the owner, whose
        // processes this one can always inspect: the DACL has applied the
        // denies to it already.
        if let Some(sid) = &client.sid {
            let groups = || match &client.token {
                Some(token) => Ok(token.groups()?.into_iter().map(Sid).collect()),
                None => Err(io::Error::other("no token")),
            };
            if let Err(reason) = access::decide(&self.config.access, &Sid(sid.clone()), groups) {
                tracing::warn!(pipe = %self.config.name, pid = ?client.pid, %sid, "refused a client: {reason}");
                return None;
            }
        }
        Some(Connection {
            pipe,
            mode: self.config.mode,
            negotiated: Negotiated {
                end: End::Server,
                pipe_mode: self.config.mode,
                direction: self.config.direction,
                peer: client.peer(),
                limits: MessageLimits::symmetric(self.max_message),
            },
            empty_message_ends_stream: self.empty_message_ends_stream,
        })
    }
}

/// What the acceptor thread and the `accept` callers share.
#[derive(Debug)]
struct Shared {
    admission: Admission,
    gate: Option<Arc<InstanceGate>>,
    /// Wakes the thread: a slot freed, or `accept` made room in the queue.
    wake: Arc<Event>,
    /// Stops the thread.
    stop: Event,
    state: Mutex<State>,
    /// Signaled when a client is queued, and when the thread stops.
    changed: Condvar,
    #[cfg(feature = "tokio")]
    changed_async: ::tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Connection>,
    /// `shutdown` was called.
    closed: bool,
    /// The thread has closed its instances and ended.
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn notify(&self) {
        self.changed.notify_all();
        #[cfg(feature = "tokio")]
        self.changed_async.notify_waiters();
    }

    fn slot(&self, permit: Option<crate::gate::Permit>) -> InstanceSlot {
        InstanceSlot::new(permit, Some(self.wake.clone()))
    }
}

/// An instance waiting for a client, with its `ConnectNamedPipe` in flight.
struct Listening {
    pipe: Arc<PipeHandle>,
    connect: Op,
}

/// What starting to listen on a new instance gave.
enum Started {
    Listening(Listening),
    /// A client was already there.
    Connected(Arc<PipeHandle>),
    /// A client came and went before the connect: the instance is spent.
    Spent,
}

fn listen_on(pipe: Arc<PipeHandle>) -> io::Result<Started> {
    let mut connect = Op::new(OnDrop::Cancel)?;
    match connect.start_connect(pipe.clone()) {
        Ok(true) => Ok(Started::Connected(pipe)),
        Ok(false) => Ok(Started::Listening(Listening { pipe, connect })),
        Err(err) if client_gone(&err) => Ok(Started::Spent),
        Err(err) => Err(err),
    }
}

/// The listener of both faces: the blocking face's `accept` waits on a
/// condition variable, the tokio face's on a `Notify`; everything else is
/// one implementation.
#[derive(Debug)]
pub(crate) struct Listener {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    /// The SDDL of every instance's security descriptor.
    pub(crate) fn sddl(&self) -> &str {
        self.shared.admission.config.sddl()
    }

    /// Takes the next admitted client, if one is queued.
    fn take(&self, state: &mut State) -> Option<Result<Connection, Error>> {
        if let Some(connection) = state.queue.pop_front() {
            // Room in the queue: the thread may listen again.
            self.shared.wake.set();
            return Some(Ok(connection));
        }
        (state.closed || state.stopped).then_some(Err(Error::ListenerClosed))
    }
}

impl crate::sys::BlockingListener for Listener {
    type Connection = Connection;

    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error> {
        let config = InstanceConfig::new(name, options, mode)?;
        let gate = options.max_instances.map(InstanceGate::new);
        // The first instance is always the name's first: a live name, ours
        // or another server's, is never joined.
        let first = config
            .create(true)
            .map_err(|err| config.bind_error(err, options.first_instance))?;
        let shared = Arc::new(Shared {
            admission: Admission {
                config,
                max_message: options.max_message_size,
                empty_message_ends_stream: options.windows.empty_message_ends_stream,
            },
            gate,
            wake: Arc::new(Event::auto()?),
            stop: Event::manual()?,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            #[cfg(feature = "tokio")]
            changed_async: ::tokio::sync::Notify::new(),
        });
        let permit = match &shared.gate {
            Some(gate) => gate.try_acquire().ok().flatten(),
            None => None,
        };
        let first = Arc::new(PipeHandle::new(first, Some(shared.slot(permit))));
        let (mut listening, mut arrived) = (Vec::new(), Vec::new());
        match listen_on(first)? {
            Started::Listening(instance) => listening.push(instance),
            Started::Connected(pipe) => arrived.push(pipe),
            Started::Spent => {}
        }
        // The spares exist before bind returns: no client that comes right
        // after finds the pipe busy.
        top_up(&shared, &mut listening, &mut arrived, &mut None);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("pipeway-accept {}", shared.admission.config.name))
                .spawn(move || run(&shared, listening, arrived))?
        };
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    fn name(&self) -> &PipeName {
        &self.shared.admission.config.name
    }

    fn endpoint(&self) -> &std::path::Path {
        &self.shared.admission.config.path
    }

    fn accept(&self) -> Result<Connection, Error> {
        let mut state = self.shared.lock();
        loop {
            if let Some(result) = self.take(&mut state) {
                return result;
            }
            state = wait(&self.shared.changed, state);
        }
    }

    /// Stops accepting: waiting and future `accept` calls fail with
    /// [`Error::ListenerClosed`]; the instances waiting for clients and the
    /// clients admitted but not accepted are closed before this returns.
    fn shutdown(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.stop.set();
        self.shared.notify();
        while !state.stopped {
            state = wait(&self.shared.changed, state);
        }
        Ok(())
    }
}

#[cfg(feature = "tokio")]
impl crate::sys::AsyncListener for Listener {
    type Connection = Connection;

    fn bind(name: PipeName, options: &ListenOptions, mode: PipeMode) -> Result<Self, Error> {
        <Self as crate::sys::BlockingListener>::bind(name, options, mode)
    }

    /// Cancel safe: a client is either returned or still queued.
    async fn accept(&self) -> Result<Connection, Error> {
        loop {
            let changed = self.shared.changed_async.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if let Some(result) = self.take(&mut self.shared.lock()) {
                return result;
            }
            changed.await;
        }
    }

    fn name(&self) -> &PipeName {
        <Self as crate::sys::BlockingListener>::name(self)
    }

    fn endpoint(&self) -> &std::path::Path {
        <Self as crate::sys::BlockingListener>::endpoint(self)
    }

    /// As the blocking face's: it waits only for the acceptor thread to
    /// close its instances, which takes no client's time.
    fn shutdown(&self) -> io::Result<()> {
        <Self as crate::sys::BlockingListener>::shutdown(self)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = crate::sys::BlockingListener::shutdown(self);
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Marks the listener stopped when the acceptor thread ends, however it ends.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        // The clients no one accepted are closed with the queue.
        let queued = std::mem::take(&mut self.0.lock().queue);
        drop(queued);
        self.0.lock().stopped = true;
        self.0.notify();
    }
}

/// The acceptor thread.
fn run(shared: &Shared, mut listening: Vec<Listening>, mut arrived: Vec<Arc<PipeHandle>>) {
    let _stopped = Stopped(shared);
    let mut retry_at: Option<Instant> = None;
    loop {
        if shared.stop.is_set() {
            break;
        }
        // New instances first, so that clients find one waiting while the
        // ones that just arrived are admitted.
        top_up(shared, &mut listening, &mut arrived, &mut retry_at);
        for pipe in arrived.drain(..) {
            admit(shared, pipe);
        }
        let mut handles = vec![shared.stop.raw(), shared.wake.raw()];
        handles.extend(listening.iter().map(|l| l.connect.event()));
        let timeout = retry_at.map(|at| at.saturating_duration_since(Instant::now()));
        match wait_any(&handles, timeout) {
            Ok(Some(0)) => break,
            Ok(Some(_)) => collect_connected(shared, &mut listening, &mut arrived),
            Ok(None) => retry_at = None,
            Err(err) => {
                let pause = accept::accept_failed(&shared.admission.config.name, &Error::Io(err));
                std::thread::sleep(pause);
            }
        }
    }
    // Close every instance still waiting (then `_stopped` the queue).
    drop(listening);
}

/// Moves every instance whose client has connected to `arrived`.
fn collect_connected(
    shared: &Shared,
    listening: &mut Vec<Listening>,
    arrived: &mut Vec<Arc<PipeHandle>>,
) {
    let mut still = Vec::with_capacity(listening.len());
    for mut instance in listening.drain(..) {
        match instance.connect.try_finish() {
            None => still.push(instance),
            Some(Outcome::Done(_)) => arrived.push(instance.pipe),
            Some(Outcome::Failed(err)) if client_gone(&err) => {}
            Some(outcome) => {
                tracing::warn!(pipe = %shared.admission.config.name, ?outcome, "waiting for a client failed");
            }
        }
    }
    *listening = still;
}

/// Creates instances until [`SPARES`] are listening, or a limit is reached.
/// An instance a client reached at once goes to `arrived`.
fn top_up(
    shared: &Shared,
    listening: &mut Vec<Listening>,
    arrived: &mut Vec<Arc<PipeHandle>>,
    retry_at: &mut Option<Instant>,
) {
    if retry_at.is_some_and(|at| Instant::now() < at) {
        return;
    }
    *retry_at = None;
    while listening.len() < SPARES {
        let ahead = shared.lock().queue.len() + listening.len() + arrived.len();
        if ahead >= ADMITTED_AHEAD {
            return;
        }
        let permit = match &shared.gate {
            Some(gate) => match gate.try_acquire() {
                Ok(Some(permit)) => Some(permit),
                // At the limit: a closing stream's slot wakes the thread.
                _ => return,
            },
            None => None,
        };
        let started = shared
            .admission
            .config
            .create(false)
            .map(|handle| Arc::new(PipeHandle::new(handle, Some(shared.slot(permit)))))
            .and_then(listen_on);
        match started {
            Ok(Started::Listening(instance)) => listening.push(instance),
            Ok(Started::Connected(pipe)) => arrived.push(pipe),
            Ok(Started::Spent) => {}
            Err(err) => {
                tracing::debug!(pipe = %shared.admission.config.name, %err, "cannot create an instance yet");
                *retry_at = Some(Instant::now() + RETRY);
                return;
            }
        }
    }
}

fn admit(shared: &Shared, pipe: Arc<PipeHandle>) {
    if let Some(connection) = shared.admission.admit(pipe) {
        shared.lock().queue.push_back(connection);
        shared.changed.notify_one();
        #[cfg(feature = "tokio")]
        shared.changed_async.notify_one();
    }
}
