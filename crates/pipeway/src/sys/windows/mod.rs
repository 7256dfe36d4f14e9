//! The Windows backend: pipes are native named pipes (`\\.\pipe\name`), so
//! pipeway programs meet Win32, .NET and go-winio programs there.
//!
//! | module | its one job |
//! |---|---|
//! | `win` | wide strings, error codes, events, waits |
//! | `accounts` | SIDs, tokens, account names |
//! | `access` | access rules as SIDs: the DACL and the check at accept |
//! | `security` | security descriptors: SDDL in, owner and DACL out |
//! | `instance` | creating an instance (`CreateNamedPipeW`); the pipe handle |
//! | `overlapped` | every read, write and connect, with timeouts and cancels |
//! | `async_wait` | waking a task when an overlapped operation completes |
//! | `identity` | the client's pid and user; the server's pid and owner |
//! | `process` | the peer's process as a handle, refused if newer than the connection |
//! | `listen` | the listener: always one instance waiting, admission |
//! | `connect` | connecting: waiting, busy, direction, mode, trusting the server |
//! | `message` | message mode: whole messages, `ERROR_MORE_DATA` |
//! | `closing` | what an end says when half-closed or used after it closed |
//! | `drain` | waiting until the peer has read everything, with a timeout |
//! | `listing` | the pipes in `\\.\pipe\`, without opening them |
//! | `blocking` | the blocking face's streams |
//! | `tokio` | the tokio face's listeners and streams |
//! | `shm`, `shm_link` | named shared memory; the shared-memory channel's memory, handles and waking |

pub(crate) mod access;
pub(crate) mod accounts;
#[cfg(feature = "tokio")]
pub(crate) mod async_wait;
pub(crate) mod blocking;
pub(crate) mod closing;
pub(crate) mod connect;
pub(crate) mod drain;
pub(crate) mod identity;
pub(crate) mod instance;
pub(crate) mod listen;
pub(crate) mod listing;
pub(crate) mod mailslot;
pub(crate) mod message;
pub(crate) mod overlapped;
pub(crate) mod process;
pub(crate) mod security;
pub(crate) mod shm;
pub(crate) mod shm_link;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
pub(crate) mod win;

use std::path::{Path, PathBuf};

use windows_sys::Win32::System::SystemInformation::{ComputerNameDnsHostname, GetComputerNameExW};

use crate::name::NameError;

use crate::peer::PeerIdentity;
use crate::principal::Principal;
pub(crate) use identity::Impersonation;

/// Where local pipes live.
pub(crate) const PIPE_PREFIX: &str = r"\\.\pipe\";

/// The longest pipe path Windows takes, in UTF-16 units, prefix included.
pub(crate) const MAX_PIPE_PATH: usize = 256;

const NO_SOCKET_PATHS: &str =
    r"socket paths are a Unix form: on Windows name a pipe (`echo` or `\\.\pipe\echo`)";

/// The Windows backend's answers to the portable questions about names and
/// this machine (the backend contract, `crate::sys`).
pub(crate) enum Os {}

impl crate::sys::Platform for Os {
    /// `echo` → `\\.\pipe\echo`.
    fn local_endpoint(name: &str) -> Result<PathBuf, NameError> {
        if name.contains('\\') {
            return Err(NameError::InvalidChar {
                name: name.to_owned(),
                what: "'\\'",
                why: r"a Windows pipe name is the one part after \\.\pipe\ and cannot hold a backslash",
            });
        }
        let path = format!("{PIPE_PREFIX}{name}");
        let len = path.encode_utf16().count();
        if len > MAX_PIPE_PATH {
            return Err(NameError::TooLong {
                path: PathBuf::from(path),
                len,
                max: MAX_PIPE_PATH,
            });
        }
        Ok(PathBuf::from(path))
    }

    /// Socket paths are a Unix form.
    fn socket_paths_supported() -> Result<(), NameError> {
        Err(NameError::Unsupported(NO_SOCKET_PATHS))
    }

    fn check_socket_path(_path: &Path) -> Result<(), NameError> {
        Err(NameError::Unsupported(NO_SOCKET_PATHS))
    }

    /// This machine's host name, which names it in `\\host\pipe\name`.
    fn host_name() -> Option<String> {
        let mut buf = vec![0u16; 256];
        let mut len = buf.len() as u32;
        // SAFETY: `buf` holds `len` writable units.
        let ok = unsafe { GetComputerNameExW(ComputerNameDnsHostname, buf.as_mut_ptr(), &mut len) };
        (ok != 0 && len > 0).then(|| String::from_utf16_lossy(&buf[..len as usize]))
    }

    fn user_name(peer: &PeerIdentity) -> Option<String> {
        account(peer).map(|(_, name)| name.clone())
    }

    fn current_principal() -> std::io::Result<Principal> {
        Ok(Principal {
            sid: accounts::current_user_sid()?,
        })
    }

    fn account_name(principal: &Principal) -> Option<String> {
        accounts::account_of(&principal.sid).map(|account| accounts::qualified(&account))
    }

    fn local_pipes() -> std::io::Result<Vec<crate::listing::LocalPipe>> {
        listing::local_pipes()
    }

    fn inspect(name: &crate::PipeName) -> Result<crate::listing::LocalPipe, crate::Error> {
        listing::inspect(name)
    }
}

/// The peer's account, (domain, name), resolved once.
pub(crate) fn account(peer: &PeerIdentity) -> Option<&(String, String)> {
    peer.account
        .get_or_init(|| peer.sid.as_deref().and_then(accounts::account_of))
        .as_ref()
}

impl PeerIdentity {
    pub(crate) fn windows(pid: Option<u32>, sid: Option<String>) -> Self {
        PeerIdentity {
            pid,
            sid,
            user_name: Default::default(),
            remote: None,
            account: Default::default(),
            process: crate::process::no_process("no process handle was taken for this peer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Platform;

    #[test]
    fn local_names_are_native_pipe_paths() {
        assert_eq!(
            Os::local_endpoint("echo").unwrap(),
            PathBuf::from(r"\\.\pipe\echo")
        );
        assert!(matches!(
            Os::local_endpoint(r"a\b"),
            Err(NameError::InvalidChar { what: "'\\'", .. })
        ));
    }

    #[test]
    fn the_limit_counts_the_whole_path_in_utf16_units() {
        let fits = "x".repeat(MAX_PIPE_PATH - PIPE_PREFIX.len());
        assert!(Os::local_endpoint(&fits).is_ok());
        let over = format!("{fits}y");
        match Os::local_endpoint(&over) {
            Err(NameError::TooLong { len, max, .. }) => {
                assert_eq!(len, MAX_PIPE_PATH + 1);
                assert_eq!(max, MAX_PIPE_PATH);
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
    }

    #[test]
    fn socket_paths_are_refused_as_unsupported() {
        assert!(matches!(
            crate::PipeName::parse("/run/app/ctl.sock"),
            Err(NameError::Unsupported(_))
        ));
    }
}
