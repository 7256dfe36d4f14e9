//! Running code as a pipe's client, on the server: .NET's `RunAsClient`,
//! Win32's `ImpersonateNamedPipeClient`. Only the calling thread changes
//! who it is, and only until the guard is dropped.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use crate::negotiated::Negotiated;
use crate::options::End;

/// The calling thread acting as the client of a server stream, until this
/// guard is dropped. Made by `impersonate_client` on a server stream
/// ([`PipeStream::impersonate_client`](crate::PipeStream::impersonate_client)
/// and its siblings); `run_as_client` wraps one around a closure.
///
/// What changes is the calling thread's identity and nothing else: on
/// Windows its impersonation token (`ImpersonateNamedPipeClient`; the client
/// decides how far it may be impersonated: see
/// `pipeway::windows::ImpersonationLevel`), on Linux its effective user and
/// group ids and its supplementary groups, switched with the raw system
/// calls, which act on one thread (the C library's `seteuid` would switch
/// every thread of the process, as .NET's `RunAsClient` does on Unix). Other
/// threads keep their identity meanwhile. The guard cannot leave the thread
/// (it is neither `Send` nor `Sync`): hold it across no `.await`.
///
/// On Linux switching needs root (`CAP_SETUID` and `CAP_SETGID`); other
/// Unix systems have no per-thread identity, and refuse with
/// [`io::ErrorKind::Unsupported`].
#[must_use = "the thread acts as the client only while the guard lives"]
pub struct ClientImpersonation<'a> {
    _active: crate::sys::Impersonation,
    _stream: PhantomData<&'a ()>,
    /// Neither `Send` nor `Sync`: the identity belongs to this thread.
    _thread: PhantomData<*const ()>,
}

impl fmt::Debug for ClientImpersonation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientImpersonation")
            .finish_non_exhaustive()
    }
}

impl ClientImpersonation<'_> {
    /// Starts acting as the client of `endpoint`, a server end.
    pub(crate) fn begin<E: crate::sys::Endpoint>(endpoint: E) -> io::Result<Self> {
        refuse_client_end(endpoint.negotiated())?;
        Ok(Self {
            _active: endpoint.impersonate_client()?,
            _stream: PhantomData,
            _thread: PhantomData,
        })
    }
}

/// Runs `f` on this thread as the client of `endpoint`.
pub(crate) fn run_as_client<E, R>(endpoint: E, f: impl FnOnce() -> R) -> io::Result<R>
where
    E: crate::sys::Endpoint,
{
    let _acting = ClientImpersonation::begin(endpoint)?;
    Ok(f())
}

/// Only a server acts as its client.
fn refuse_client_end(negotiated: &Negotiated) -> io::Result<()> {
    if negotiated.end == End::Client {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only a server end can act as its client; this is a client end",
        ));
    }
    Ok(())
}

/// The methods every stream type (blocking and tokio, bytes and messages)
/// has for acting as its client and describing its pipe, written once.
macro_rules! server_end_methods {
    () => {
        /// Runs `f` on this thread as the connected client: Windows'
        /// `ImpersonateNamedPipeClient`, .NET's `RunAsClient`; on Linux the
        /// thread's user and group ids and groups become the client's. Only
        /// the calling thread changes, and only while `f` runs; see
        /// [`ClientImpersonation`](crate::ClientImpersonation). A server end
        /// only.
        pub fn run_as_client<R>(&self, f: impl FnOnce() -> R) -> std::io::Result<R> {
            crate::impersonation::run_as_client(self.inner.endpoint(), f)
        }

        /// Makes this thread act as the connected client until the guard is
        /// dropped; see [`run_as_client`](Self::run_as_client).
        pub fn impersonate_client(&self) -> std::io::Result<crate::ClientImpersonation<'_>> {
            crate::ClientImpersonation::begin(self.inner.endpoint())
        }

        /// What the pipe is, as this end sees it: type, direction, buffers,
        /// instances ([`PipeInfo`](crate::PipeInfo)).
        pub fn info(&self) -> std::io::Result<crate::PipeInfo> {
            self.inner.endpoint().info()
        }
    };
}
pub(crate) use server_end_methods;
