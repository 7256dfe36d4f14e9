//! Who is at the other end: the client's pid and user as its server sees
//! them, and the server's pid and the pipe's owner as a client sees them.

use std::io;
use std::marker::PhantomData;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Security::RevertToSelf;
use windows_sys::Win32::System::Pipes::{
    GetNamedPipeClientProcessId, GetNamedPipeServerProcessId, ImpersonateNamedPipeClient,
};

use crate::peer::PeerIdentity;

use super::accounts::Token;
use super::security;
use super::win::last_error;

/// A connected client, as its server sees it.
#[derive(Debug)]
pub(crate) struct Client {
    pub pid: Option<u32>,
    /// The client's process, or why there is none.
    pub process: crate::process::ProcessSlot,
    /// The client's token, when Windows lets the server have it.
    pub token: Option<Token>,
    pub sid: Option<String>,
}

impl Client {
    pub(crate) fn peer(&self) -> PeerIdentity {
        PeerIdentity::windows(self.pid, self.sid.clone()).with_process(self.process.clone())
    }
}

/// Learns who a newly connected client is: its pid, and its user from the
/// token it lent the pipe (`ImpersonateNamedPipeClient`), or failing that
/// (a client that connected anonymously, as go-winio's do) from its
/// process's token, which this process may read for its own user's clients.
pub(crate) fn client_of(pipe: HANDLE) -> Client {
    // The connection has completed: a process created after this is not the client.
    let connected_at = super::process::Stamp::now();
    let mut pid = 0u32;
    // SAFETY: `pipe` is an open server handle; `pid` a valid out pointer.
    let pid = (unsafe { GetNamedPipeClientProcessId(pipe, &mut pid) } != 0).then_some(pid);
    let token = impersonated_token(pipe)
        .or_else(|err| match pid {
            Some(pid) => Token::of_process(pid),
            None => Err(err),
        })
        .ok();
    let sid = token.as_ref().and_then(|token| token.user().ok());
    let process = super::process::open(pid, connected_at);
    Client {
        pid,
        process,
        token,
        sid,
    }
}

/// The token of the client of `pipe`, opened while impersonating it.
fn impersonated_token(pipe: HANDLE) -> io::Result<Token> {
    let _acting = impersonate(pipe)?;
    Token::of_this_thread()
}

/// The calling thread acting as a pipe's client (its impersonation token);
/// dropping it reverts the thread to itself. Not `Send`: the token belongs
/// to this thread.
#[derive(Debug)]
pub(crate) struct Impersonation(PhantomData<*const ()>);

/// Makes the calling thread act as the client of the server end `pipe`
/// (`ImpersonateNamedPipeClient`): as far as the client's impersonation
/// level lets it.
pub(crate) fn impersonate(pipe: HANDLE) -> io::Result<Impersonation> {
    // SAFETY: `pipe` is an open server handle. On success this thread runs
    // as the client until the returned guard is dropped, which reverts it.
    if unsafe { ImpersonateNamedPipeClient(pipe) } == 0 {
        return Err(last_error());
    }
    Ok(Impersonation(PhantomData))
}

impl Drop for Impersonation {
    fn drop(&mut self) {
        revert();
    }
}

fn revert() {
    // SAFETY: RevertToSelf has no arguments.
    if unsafe { RevertToSelf() } == 0 {
        // Carrying on as the client would hand its rights to whatever this
        // thread does next: stop rather than risk it.
        eprintln!(
            "pipeway: RevertToSelf failed after impersonating a pipe client: {}; aborting",
            last_error()
        );
        std::process::abort();
    }
}

/// The pid of the server a client handle is connected to.
pub(crate) fn server_pid(pipe: HANDLE) -> Option<u32> {
    let mut pid = 0u32;
    // SAFETY: `pipe` is an open client handle; `pid` a valid out pointer.
    (unsafe { GetNamedPipeServerProcessId(pipe, &mut pid) } != 0).then_some(pid)
}

/// The owner of the pipe a client handle is open on: the account the
/// server's security descriptor names (what .NET's `CurrentUserOnly`
/// checks), or, when it names none, the user of the server's process if
/// this process may see it.
pub(crate) fn pipe_owner(pipe: HANDLE, server_pid: Option<u32>) -> Option<String> {
    match security::pipe_security(pipe) {
        Ok(security::PipeSecurity {
            owner: Some(owner), ..
        }) => Some(owner),
        _ => server_pid.and_then(|pid| Token::of_process(pid).and_then(|t| t.user()).ok()),
    }
}
