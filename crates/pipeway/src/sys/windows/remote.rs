//! Pipes on other hosts, on Windows: the system opens `\\host\pipe\name`
//! itself (SMB, with the logon session's credentials), so the client here
//! only names it. The server's account is on the other host and cannot be
//! checked against local accounts: a remote pipe is trusted unless the
//! caller names the account it requires.

use std::io;
use std::path::PathBuf;

use crate::error::Error;
use crate::name::PipeName;
use crate::options::ConnectOptions;

/// The UNC path of a remote name, or why this client will not open it.
pub(crate) fn unc_path(name: &PipeName, options: &ConnectOptions) -> Result<PathBuf, Error> {
    if options.remote.credentials.is_some() {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{name}: Windows opens remote pipes with the logon session's credentials; \
                 explicit credentials are not used: log on first (net use \\\\HOST\\IPC$ /user:NAME)"
            ),
        )));
    }
    let host = name.host().unwrap_or_default();
    let pipe = name.pipe_name().unwrap_or_default();
    Ok(PathBuf::from(format!(r"\\{host}\pipe\{pipe}")))
}
