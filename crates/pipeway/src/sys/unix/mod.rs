//! The Unix backend: pipes are Unix domain sockets at the paths .NET uses.

pub(crate) mod access;
pub(crate) mod admit;
pub(crate) mod blocking;
pub(crate) mod connect;
pub(crate) mod creds;
pub(crate) mod directory;
pub(crate) mod framing;
pub(crate) mod halves;
pub(crate) mod impersonate;
pub(crate) mod linger;
pub(crate) mod listen;
pub(crate) mod listing;
pub(crate) mod mailslot;
pub(crate) mod mapping;
pub(crate) mod message_wire;
pub(crate) mod probe;
pub(crate) mod process;
pub(crate) mod samba_wire;
pub(crate) mod shm;
pub(crate) mod shm_link;
#[cfg(feature = "remote")]
pub(crate) mod smb;
pub(crate) mod smb_hook;
pub(crate) mod socket;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
pub(crate) mod users;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::name::NameError;

use crate::peer::PeerIdentity;
use crate::principal::Principal;
pub(crate) use impersonate::Impersonation;

/// The size of `sockaddr_un.sun_path`, which must hold the path and its NUL.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SUN_PATH_SIZE: usize = 108;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SUN_PATH_SIZE: usize = 104;

/// The longest socket path, in bytes, without its NUL.
pub(crate) const MAX_SOCKET_PATH: usize = SUN_PATH_SIZE - 1;

/// The prefix .NET gives local pipe sockets.
pub(crate) const DOTNET_PREFIX: &str = "CoreFxPipe_";

/// The directory .NET puts pipes in: `Path.GetTempPath()`, which is `$TMPDIR`
/// (with a `/` added when missing) or `/tmp/`.
pub(crate) fn pipe_directory() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(dir) if !dir.is_empty() => {
            let mut bytes = dir.into_vec();
            if bytes.last() != Some(&b'/') {
                bytes.push(b'/');
            }
            PathBuf::from(OsString::from_vec(bytes))
        }
        _ => PathBuf::from("/tmp/"),
    }
}

/// The Unix backend's answers to the portable questions about names and
/// this machine (the backend contract, `crate::sys`).
pub(crate) enum Os {}

impl crate::sys::Platform for Os {
    /// `echo` → `${TMPDIR:-/tmp}/CoreFxPipe_echo`, exactly as .NET maps it.
    fn local_endpoint(name: &str) -> Result<PathBuf, NameError> {
        let mut path = pipe_directory().into_os_string();
        path.push(DOTNET_PREFIX);
        path.push(name);
        let path = PathBuf::from(path);
        Self::check_socket_path(&path)?;
        Ok(path)
    }

    /// Socket paths are how Unix names endpoints: always accepted here.
    fn socket_paths_supported() -> Result<(), NameError> {
        Ok(())
    }

    fn check_socket_path(path: &Path) -> Result<(), NameError> {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(NameError::TooLong {
                path: path.to_owned(),
                len,
                max: MAX_SOCKET_PATH,
            });
        }
        Ok(())
    }

    fn host_name() -> Option<String> {
        let uname = rustix::system::uname();
        uname.nodename().to_str().ok().map(str::to_owned)
    }

    fn user_name(peer: &PeerIdentity) -> Option<String> {
        users::user_name(peer.uid)
    }

    fn current_principal() -> std::io::Result<Principal> {
        Ok(Principal {
            uid: users::effective_uid(),
        })
    }

    fn account_name(principal: &Principal) -> Option<String> {
        users::user_name(principal.uid)
    }

    fn local_pipes() -> std::io::Result<Vec<crate::listing::LocalPipe>> {
        listing::local_pipes()
    }

    fn inspect(name: &crate::PipeName) -> Result<crate::listing::LocalPipe, crate::Error> {
        listing::inspect(name)
    }
}

impl PeerIdentity {
    pub(crate) fn from_credentials(creds: creds::Credentials) -> Self {
        PeerIdentity {
            pid: creds.pid,
            uid: creds.uid,
            gid: creds.gid,
            user_name: Default::default(),
            remote: None,
            #[cfg(feature = "remote")]
            smb: None,
            process: crate::process::no_process("no process handle was taken for this peer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Platform;

    #[test]
    fn the_limit_names_the_path_and_the_bytes() {
        let long = "x".repeat(MAX_SOCKET_PATH);
        match Os::local_endpoint(&long) {
            Err(NameError::TooLong { path, len, max }) => {
                assert_eq!(max, MAX_SOCKET_PATH);
                assert_eq!(len, path.as_os_str().len());
                assert!(path.to_string_lossy().ends_with(&long));
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
        let at_limit = format!("/{}", "y".repeat(MAX_SOCKET_PATH - 1));
        assert!(Os::check_socket_path(Path::new(&at_limit)).is_ok());
        let over = format!("/{}", "y".repeat(MAX_SOCKET_PATH));
        assert!(Os::check_socket_path(Path::new(&over)).is_err());
    }

    #[test]
    fn local_names_map_as_dotnet_does() {
        let dir = pipe_directory();
        assert!(dir.to_string_lossy().ends_with('/'));
        let path = Os::local_endpoint("echo").unwrap();
        assert_eq!(path, dir.join("CoreFxPipe_echo"));
    }
}
