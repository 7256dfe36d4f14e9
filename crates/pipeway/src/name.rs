//! Pipe names: how `echo`, `\\.\pipe\echo`, `//./pipe/echo`, socket paths and
//! `\\host\pipe\echo` are read, and where each one lives on this platform.
//!
//! The rules for local names are .NET's on Unix, so that a .NET
//! `NamedPipeServerStream("echo")` and a pipeway client meet at the same socket:
//!
//! | written | means | Unix endpoint | Windows endpoint |
//! |---|---|---|---|
//! | `echo`, `\\.\pipe\echo`, `//./pipe/echo` | local pipe `echo` | `${TMPDIR:-/tmp}/CoreFxPipe_echo` | `\\.\pipe\echo` |
//! | `/run/app/ctl.sock` | that socket path, verbatim | the path itself | refused ([`NameError::Unsupported`]) |
//! | `\\host\pipe\echo`, `//host/pipe/echo` | pipe `echo` on `host` | (remote; over SMB) | (remote) |
//!
//! On Windows a local name is the native pipe name, so pipeway meets Win32,
//! .NET and go-winio programs at `\\.\pipe\echo`; Windows compares pipe
//! names without regard to case, and a name there cannot hold a backslash.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::show::{Quoted, ShownPath};

/// Why a pipe name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name (or the pipe part of a `\\host\pipe\name` form) is empty.
    #[error("pipe name is empty")]
    Empty,
    /// `anonymous` is reserved for anonymous pipes (as in .NET).
    #[error("pipe name {} is reserved", Quoted(.0))]
    Reserved(String),
    /// The name holds a character that cannot appear in it.
    #[error("pipe name {} contains {what}: {why}", Quoted(.name))]
    InvalidChar {
        /// The name as written.
        name: String,
        /// The character, described (`'/'`, `a NUL byte`).
        what: &'static str,
        /// What to do instead.
        why: &'static str,
    },
    /// A socket path must not end in `/` (it would name a directory).
    #[error("socket path {} ends in '/'", Quoted(.0))]
    TrailingSlash(String),
    /// A `\\host\pipe\name` form that is missing its parts.
    #[error(
        "malformed pipe name {}: expected \\\\host\\pipe\\name or //host/pipe/name",
        Quoted(.0)
    )]
    MalformedUnc(String),
    /// The endpoint does not fit the platform's limit (`sun_path` on Unix;
    /// on Windows, 256 UTF-16 units for the whole `\\.\pipe\name`).
    #[cfg_attr(
        not(windows),
        error(
            "pipe name too long: the socket path {} is {len} bytes, the limit here is {max} bytes \
             (sun_path); use a shorter name, or set TMPDIR to a shorter directory",
            ShownPath(.path)
        )
    )]
    #[cfg_attr(
        windows,
        error(
            "pipe name too long: {} is {len} UTF-16 units, the limit is {max}; use a shorter name",
            ShownPath(.path)
        )
    )]
    TooLong {
        /// The endpoint the name maps to.
        path: PathBuf,
        /// Its length in bytes (UTF-16 units on Windows).
        len: usize,
        /// The longest endpoint the platform accepts, in the same unit.
        max: usize,
    },
    /// The name has a form this platform cannot serve (a socket path on Windows, say).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// A parsed pipe name: a local pipe, a socket path, or a pipe on another host.
///
/// Parse with [`PipeName::parse`] (or `str::parse`); every API that takes a
/// name accepts anything that implements [`IntoPipeName`], so a plain `&str`
/// works everywhere.
///
/// ```
/// use pipeway::PipeName;
///
/// let local: PipeName = r"\\.\pipe\echo".parse()?;
/// assert_eq!(local.pipe_name(), Some("echo"));
/// assert!(local.is_local());
///
/// let remote = PipeName::parse(r"\\fileserver\pipe\spoolss")?;
/// assert_eq!(remote.host(), Some("fileserver"));
/// assert!(!remote.is_local());
/// # Ok::<(), pipeway::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PipeName {
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// A pipe on this machine, with the endpoint this platform maps it to.
    Local { name: String, endpoint: PathBuf },
    /// A Unix socket path given verbatim.
    Path(PathBuf),
    /// A pipe on another host.
    Remote { host: String, name: String },
}

impl PipeName {
    /// Parses a pipe name: `echo`, `\\.\pipe\echo`, `//./pipe/echo`, an absolute
    /// socket path (Unix only), or `\\host\pipe\echo` (see the crate docs, "Names").
    ///
    /// Local names are checked against the platform's length limit here, so a
    /// name that cannot work fails early, naming the path and the limit.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(unc) = parse_unc(name)? {
            return match unc {
                Unc::Local(pipe) => Self::local(pipe),
                Unc::Remote { host, pipe } => Self::remote(host, pipe),
            };
        }
        if name.starts_with('/') {
            return Self::from_path(name);
        }
        if name.starts_with('\\') {
            return Err(NameError::MalformedUnc(name.to_owned()));
        }
        Self::local(name)
    }

    /// A local pipe called `name` (the part after `\\.\pipe\`).
    pub fn local(name: &str) -> Result<Self, NameError> {
        check_pipe_part(name)?;
        let endpoint = crate::sys::local_endpoint(name)?;
        Ok(Self {
            kind: Kind::Local {
                name: name.to_owned(),
                endpoint,
            },
        })
    }

    /// A socket at exactly `path`, which must be absolute.
    /// On Windows, where pipes are not files, this always fails with
    /// [`NameError::Unsupported`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, NameError> {
        let path = path.as_ref();
        crate::sys::socket_paths_supported()?;
        let shown = path.to_string_lossy();
        if !path.is_absolute() {
            return Err(NameError::InvalidChar {
                name: shown.into_owned(),
                what: "a relative path",
                why: "socket paths must be absolute",
            });
        }
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(NameError::InvalidChar {
                name: shown.into_owned(),
                what: "a NUL byte",
                why: "paths cannot hold NUL",
            });
        }
        if shown.ends_with('/') {
            return Err(NameError::TrailingSlash(shown.into_owned()));
        }
        crate::sys::check_socket_path(path)?;
        Ok(Self {
            kind: Kind::Path(path.to_owned()),
        })
    }

    /// A pipe called `name` on `host` (`\\host\pipe\name`).
    pub fn remote(host: &str, name: &str) -> Result<Self, NameError> {
        // A host is one component: with a separator in it, the name would
        // print as a different (or malformed) one.
        if host.is_empty() || host.contains(['\\', '/']) {
            return Err(NameError::MalformedUnc(format!(r"\\{host}\pipe\{name}")));
        }
        check_pipe_part(name)?;
        Ok(Self {
            kind: Kind::Remote {
                host: host.to_owned(),
                name: name.to_owned(),
            },
        })
    }

    /// True for pipes on this machine (local names and socket paths).
    pub fn is_local(&self) -> bool {
        !matches!(self.kind, Kind::Remote { .. })
    }

    /// The pipe's own name (`echo` in `\\host\pipe\echo`); `None` for socket paths.
    pub fn pipe_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Local { name, .. } | Kind::Remote { name, .. } => Some(name),
            Kind::Path(_) => None,
        }
    }

    /// The host of a remote pipe.
    pub fn host(&self) -> Option<&str> {
        match &self.kind {
            Kind::Remote { host, .. } => Some(host),
            _ => None,
        }
    }

    /// Where a local pipe lives on this platform: its socket path on Unix
    /// (`${TMPDIR:-/tmp}/CoreFxPipe_echo`, or the path a socket-path name
    /// gives), its `\\.\pipe\echo` path on Windows; `None` for a pipe on
    /// another host.
    ///
    /// ```
    /// use pipeway::PipeName;
    ///
    /// let name = PipeName::parse("echo")?;
    /// let endpoint = name.endpoint().unwrap();
    /// if cfg!(windows) {
    ///     assert_eq!(endpoint, std::path::Path::new(r"\\.\pipe\echo"));
    /// } else {
    ///     assert!(endpoint.ends_with("CoreFxPipe_echo"));
    /// }
    /// assert_eq!(PipeName::parse(r"\\srv\pipe\echo")?.endpoint(), None);
    /// # Ok::<(), pipeway::NameError>(())
    /// ```
    pub fn endpoint(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Local { endpoint, .. } => Some(endpoint),
            Kind::Path(path) => Some(path),
            Kind::Remote { .. } => None,
        }
    }

    /// The endpoint of a pipe on this machine, or the error every bind,
    /// connect and lookup gives for a remote name.
    pub(crate) fn local_path(&self) -> Result<&Path, crate::Error> {
        self.endpoint()
            .ok_or_else(|| crate::Error::RemoteNotSupported {
                name: self.to_string(),
            })
    }
}

impl fmt::Display for PipeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // A name starting with `\` would read back as a malformed UNC
            // path: print it whole, so that what is shown parses back.
            Kind::Local { name, .. } if name.starts_with('\\') => write!(f, r"\\.\pipe\{name}"),
            Kind::Local { name, .. } => f.write_str(name),
            Kind::Path(path) => write!(f, "{}", path.display()),
            Kind::Remote { host, name } => write!(f, r"\\{host}\pipe\{name}"),
        }
    }
}

impl fmt::Debug for PipeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Local { name, endpoint } => write!(f, "PipeName({name:?} at {endpoint:?})"),
            Kind::Path(path) => write!(f, "PipeName({path:?})"),
            Kind::Remote { host, name } => write!(f, r"PipeName(\\{host}\pipe\{name})"),
        }
    }
}

impl std::str::FromStr for PipeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

/// Anything that names a pipe: `&str`, `String`, [`PipeName`], or an absolute
/// `Path` for a socket path.
pub trait IntoPipeName {
    /// Parses or converts into a [`PipeName`].
    fn into_pipe_name(self) -> Result<PipeName, NameError>;
}

impl IntoPipeName for PipeName {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        Ok(self)
    }
}
impl IntoPipeName for &PipeName {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        Ok(self.clone())
    }
}
impl IntoPipeName for &str {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        PipeName::parse(self)
    }
}
impl IntoPipeName for String {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        PipeName::parse(&self)
    }
}
impl IntoPipeName for &String {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        PipeName::parse(self)
    }
}
impl IntoPipeName for &Path {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        PipeName::from_path(self)
    }
}
impl IntoPipeName for PathBuf {
    fn into_pipe_name(self) -> Result<PipeName, NameError> {
        PipeName::from_path(self)
    }
}

/// The reserved name, compared case-insensitively as .NET does.
const RESERVED: &str = "anonymous";

fn check_pipe_part(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.eq_ignore_ascii_case(RESERVED) {
        return Err(NameError::Reserved(name.to_owned()));
    }
    if name.contains('\0') {
        return Err(NameError::InvalidChar {
            name: name.to_owned(),
            what: "a NUL byte",
            why: "pipe names cannot hold NUL",
        });
    }
    if name.contains('/') {
        return Err(NameError::InvalidChar {
            name: name.to_owned(),
            what: "'/'",
            why: "a pipe name is one path component; write an absolute path for a socket path",
        });
    }
    Ok(())
}

enum Unc<'a> {
    Local(&'a str),
    Remote { host: &'a str, pipe: &'a str },
}

/// Reads `\\host\pipe\name` and `//host/pipe/name`. Returns `None` for names
/// that are not in that form; a `//` path whose second part is not `pipe` is
/// an ordinary socket path (POSIX reads `//x` as `/x`).
fn parse_unc(name: &str) -> Result<Option<Unc<'_>>, NameError> {
    let (sep, rest) = if let Some(rest) = name.strip_prefix(r"\\") {
        ('\\', rest)
    } else if let Some(rest) = name.strip_prefix("//") {
        ('/', rest)
    } else {
        return Ok(None);
    };
    let mut parts = rest.splitn(3, sep);
    let host = parts.next().unwrap_or_default();
    let pipe_word = parts.next();
    let pipe = parts.next();
    match (pipe_word, pipe) {
        (Some(word), Some(pipe)) if word.eq_ignore_ascii_case("pipe") && !host.is_empty() => {
            if is_this_host(host) {
                Ok(Some(Unc::Local(pipe)))
            } else {
                Ok(Some(Unc::Remote { host, pipe }))
            }
        }
        _ if sep == '/' => Ok(None),
        _ => Err(NameError::MalformedUnc(name.to_owned())),
    }
}

/// `.` is this machine; so is its own host name, as in .NET.
fn is_this_host(host: &str) -> bool {
    host == "." || crate::sys::host_name().is_some_and(|own| own.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_forms_name_the_same_pipe() {
        let plain = PipeName::parse("echo").unwrap();
        for form in [r"\\.\pipe\echo", "//./pipe/echo", r"\\.\PIPE\echo"] {
            assert_eq!(PipeName::parse(form).unwrap(), plain, "{form}");
        }
        assert_eq!(plain.pipe_name(), Some("echo"));
        assert!(plain.is_local());
        assert_eq!(plain.to_string(), "echo");
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_ne!(
            PipeName::parse("Echo").unwrap(),
            PipeName::parse("echo").unwrap()
        );
    }

    #[test]
    fn own_host_name_is_local() {
        if let Some(host) = crate::sys::host_name() {
            let name = PipeName::parse(&format!(r"\\{host}\pipe\x")).unwrap();
            assert!(name.is_local());
        }
    }

    #[test]
    fn remote_forms() {
        for form in [r"\\srv\pipe\echo", "//srv/pipe/echo"] {
            let name = PipeName::parse(form).unwrap();
            assert!(!name.is_local());
            assert_eq!(name.host(), Some("srv"));
            assert_eq!(name.pipe_name(), Some("echo"));
            assert_eq!(name.to_string(), r"\\srv\pipe\echo");
        }
    }

    #[test]
    fn every_name_prints_as_text_that_parses_back_to_it() {
        // Found by the pipe_name fuzz target: a local name starting with a
        // backslash printed bare, which reads back as a malformed UNC path.
        for form in [
            r"\\.\pipe\\\.\pipea\b",
            r"\\.\pipe\\x",
            r"\\srv\pipe\a\b",
            "a\\b",
        ] {
            match PipeName::parse(form) {
                Ok(name) => assert_eq!(PipeName::parse(&name.to_string()), Ok(name), "{form}"),
                // Windows refuses a backslash inside a pipe's name.
                Err(err) => assert!(
                    cfg!(windows) && matches!(err, NameError::InvalidChar { .. }),
                    "{form}: {err}"
                ),
            }
        }
    }

    #[test]
    fn a_host_holding_a_separator_is_malformed() {
        // Found by the pipe_name fuzz target: `//a\b/pipe/x` was a pipe on
        // host `a\b`, printed as `\\a\b\pipe\x`, which is malformed.
        for form in [r"//a\b/pipe/x", r"\\a/b\pipe\x"] {
            assert!(
                matches!(PipeName::parse(form), Err(NameError::MalformedUnc(_))),
                "{form}"
            );
        }
    }

    #[test]
    fn invalid_names_say_why() {
        assert_eq!(PipeName::parse(""), Err(NameError::Empty));
        assert_eq!(PipeName::parse(r"\\.\pipe\"), Err(NameError::Empty));
        assert!(matches!(
            PipeName::parse("ANONYMOUS"),
            Err(NameError::Reserved(_))
        ));
        assert!(matches!(
            PipeName::parse("a/b"),
            Err(NameError::InvalidChar { what: "'/'", .. })
        ));
        assert!(matches!(
            PipeName::parse("a\0b"),
            Err(NameError::InvalidChar {
                what: "a NUL byte",
                ..
            })
        ));
        assert!(matches!(
            PipeName::parse(r"\\srv\share\x"),
            Err(NameError::MalformedUnc(_))
        ));
        assert!(matches!(
            PipeName::parse(r"\\srv"),
            Err(NameError::MalformedUnc(_))
        ));
        assert!(matches!(
            PipeName::parse(r"\relative"),
            Err(NameError::MalformedUnc(_))
        ));
    }
}
