//! Where a listener's SMB socket goes: Samba's np directory (from its
//! configuration, or named outright) and the pipe's name as Samba writes it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::name::{NameError, PipeName};
use crate::smb::{Place, SmbOptions};

use super::super::access::FilePermissions;
use super::super::listen::{self, SocketFile};
use super::super::socket::{Socket, Wire};

/// The name smbd looks for: the pipe's name in lower case, as Samba writes
/// every name a client opens. Refuses what Samba cannot carry.
pub(crate) fn smb_name(name: &PipeName) -> Result<String, Error> {
    let pipe = match name.pipe_name() {
        Some(pipe) if name.is_local() => pipe,
        _ => {
            return Err(NameError::Unsupported(
                "only a pipe name (not a socket path) can be served to SMB clients",
            )
            .into());
        }
    };
    let invalid = |what: &'static str, why: &'static str| {
        Error::Name(NameError::InvalidChar {
            name: pipe.to_owned(),
            what,
            why,
        })
    };
    if !pipe.is_ascii() {
        return Err(invalid(
            "a character outside ASCII",
            "Samba lower-cases the names SMB clients open by tables of its own; serve SMB clients under an ASCII name",
        ));
    }
    if pipe == "." || pipe == ".." {
        return Err(invalid("only dots", "Samba refuses to open it"));
    }
    if pipe.contains('\\') {
        return Err(invalid("'\\'", "SMB pipe names are one path component"));
    }
    Ok(pipe.to_ascii_lowercase())
}

/// `testparm`'s value for one parameter of `conf` (Samba's default
/// configuration when `None`); `None` when it is not set.
fn testparm(conf: Option<&Path>, parameter: &str) -> Result<Option<String>, Error> {
    let mut cmd = Command::new("testparm");
    cmd.args(["-s", "--parameter-name", parameter]);
    if let Some(conf) = conf {
        cmd.arg(conf);
    }
    let out = cmd.output().map_err(|err| {
        Error::Io(io::Error::new(
            err.kind(),
            format!(
                "cannot run testparm to find Samba's np directory ({err}): install Samba, or name the directory (SmbOptions::socket_dir, --smb-dir)"
            ),
        ))
    })?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.status.success() && !value.is_empty()).then_some(value))
}

/// Samba's np directory: `<external_rpc_pipe:socket_dir>/np` when that is
/// set, else `<ncalrpc dir>/np` (what smbd's `local_np_connect` uses).
pub(crate) fn np_directory(conf: Option<&Path>) -> Result<PathBuf, Error> {
    let base = match testparm(conf, "external_rpc_pipe:socket_dir")? {
        Some(dir) => dir,
        None => testparm(conf, "ncalrpc dir")?.ok_or_else(|| {
            Error::Io(io::Error::other(format!(
                "testparm did not say Samba's ncalrpc dir{}",
                conf.map(|c| format!(" for {}", c.display()))
                    .unwrap_or_default()
            )))
        })?,
    };
    Ok(Path::new(&base).join("np"))
}

/// Where the listener of `name` binds its SMB socket.
pub(crate) fn socket_path(name: &PipeName, options: &SmbOptions) -> Result<PathBuf, Error> {
    let smb_name = smb_name(name)?;
    let dir = match &options.place {
        Place::Directory(dir) => dir.clone(),
        Place::Configured(conf) => np_directory(conf.as_deref())?,
    };
    let path = dir.join(smb_name);
    crate::sys::check_socket_path(&path)?;
    Ok(path)
}

/// Binds the SMB socket (non-blocking), with the same care for names as a
/// local pipe: a live holder is not robbed, a stale socket is reclaimed,
/// anything else is left alone.
pub(crate) fn bind(name: &PipeName, options: &SmbOptions) -> Result<(Socket, SocketFile), Error> {
    let path = socket_path(name, options)?;
    let as_name = PipeName::from_path(&path)?;
    // Only smbd (root) connects; the directory is root's in any case.
    let perms = FilePermissions {
        mode: 0o600,
        group: None,
    };
    let bound = listen::bind(&as_name, Wire::Samba, false, perms, true);
    let (socket, file) = bound.map_err(|err| explain(err, &path))?;
    let pipe = name.pipe_name().unwrap_or_default();
    if pipe != pipe.to_ascii_lowercase() {
        tracing::info!(
            pipe,
            socket = %path.display(),
            "Samba lower-cases pipe names: SMB clients open this pipe as {} (in any case)",
            pipe.to_ascii_lowercase()
        );
    }
    Ok((socket, file))
}

/// Says what to do when the np directory cannot be used.
fn explain(err: Error, path: &Path) -> Error {
    let Error::Io(io_err) = &err else {
        return err;
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let hint = match io_err.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "binding {} needs root: Samba's np directory {} is root's (mode 0700), and pipeway will not widen it. \
             Run the server as root, or bind in a directory of its own (SmbOptions::socket_dir, --smb-dir) \
             and have root place a symlink {} pointing to that socket",
            path.display(),
            dir.display(),
            path.display()
        ),
        io::ErrorKind::NotFound => format!(
            "{} does not exist: smbd makes its np directory when it starts (is Samba running with this configuration?)",
            dir.display()
        ),
        _ => return err,
    };
    Error::Io(io::Error::new(io_err.kind(), format!("{hint} ({io_err})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_what_samba_cannot_carry_is_refused() {
        let name = |s: &str| PipeName::parse(s).unwrap();
        assert_eq!(smb_name(&name("Inventory")).unwrap(), "inventory");
        assert_eq!(smb_name(&name(r"\\.\pipe\MyPipe")).unwrap(), "mypipe");
        for bad in ["Ünïcode", ".", "..", r"a\b"] {
            assert!(
                matches!(smb_name(&name(bad)), Err(Error::Name(_))),
                "{bad} accepted"
            );
        }
        assert!(smb_name(&name("/run/x.sock")).is_err());
    }

    #[test]
    fn a_socket_path_too_long_for_sun_path_is_refused() {
        let options = SmbOptions::new().socket_dir(format!("/{}", "d".repeat(110)));
        let err = socket_path(&PipeName::parse("pipe").unwrap(), &options).unwrap_err();
        assert!(
            matches!(err, Error::Name(NameError::TooLong { .. })),
            "{err}"
        );
    }

    #[test]
    fn permission_errors_say_how_else() {
        let err = explain(
            Error::Io(io::Error::from(io::ErrorKind::PermissionDenied)),
            Path::new("/run/samba/ncalrpc/np/echo"),
        );
        let text = err.to_string();
        assert!(
            text.contains("needs root") && text.contains("symlink"),
            "{text}"
        );
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
