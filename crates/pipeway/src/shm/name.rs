//! Shared-memory names: `HelloWorld`, `Local\HelloWorld`, `Global\HelloWorld`,
//! and where each one lives on this platform.
//!
//! | written | Linux | Windows |
//! |---|---|---|
//! | `HelloWorld`, `Local\HelloWorld` | `/dev/shm/pipeway_HelloWorld` | `Local\HelloWorld` |
//! | `Global\HelloWorld` | `/dev/shm/pipeway_HelloWorld` (Linux has one namespace) | `Global\HelloWorld` |

use std::fmt;

use super::error::ShmError;

/// The longest name (the part after `Local\`), in bytes: what fits in a file
/// name under `/dev/shm` after the `pipeway_` prefix, and in a Windows
/// object name.
pub const MAX_SHM_NAME: usize = 200;

/// The prefix of the files that hold named shared memory under `/dev/shm`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const FILE_PREFIX: &str = "pipeway_";

/// A parsed shared-memory name.
///
/// ```
/// use pipeway::shm::ShmName;
///
/// let name = ShmName::parse(r"Local\HelloWorld")?;
/// assert_eq!(name.name(), "HelloWorld");
/// assert!(!name.is_global());
/// assert!(ShmName::parse("a/b").is_err());
/// # Ok::<(), pipeway::shm::ShmError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShmName {
    name: String,
    global: bool,
}

impl ShmName {
    /// Parses `name`, `Local\name` or `Global\name`. The name itself must be
    /// 1 to [`MAX_SHM_NAME`] bytes with no `\`, `/` or NUL.
    pub fn parse(written: &str) -> Result<Self, ShmError> {
        let (name, global) = if let Some(rest) = written.strip_prefix(r"Local\") {
            (rest, false)
        } else if let Some(rest) = written.strip_prefix(r"Global\") {
            (rest, true)
        } else {
            (written, false)
        };
        let invalid = |why: &'static str| ShmError::InvalidName {
            name: written.to_owned(),
            why,
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.len() > MAX_SHM_NAME {
            return Err(invalid("the name is longer than 200 bytes"));
        }
        if name.contains('\\') {
            return Err(invalid(
                r"the name holds a '\' (only Local\ or Global\ may prefix it)",
            ));
        }
        if name.contains('/') {
            return Err(invalid("the name holds a '/'"));
        }
        if name.contains('\0') {
            return Err(invalid("the name holds a NUL byte"));
        }
        if name == "." || name == ".." {
            return Err(invalid("the name is a directory entry"));
        }
        Ok(Self {
            name: name.to_owned(),
            global,
        })
    }

    /// The name without its `Local\` or `Global\` prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the name was written `Global\…` (session-wide on Windows; on
    /// Linux there is one namespace, so it makes no difference there).
    pub fn is_global(&self) -> bool {
        self.global
    }

    /// The file that holds the memory: `/dev/shm/pipeway_<name>`.
    #[cfg(unix)]
    pub fn path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/dev/shm/{FILE_PREFIX}{}", self.name))
    }

    /// The Windows object name: `Local\<name>` or `Global\<name>`.
    #[cfg(windows)]
    pub(crate) fn object_name(&self) -> String {
        let scope = if self.global { "Global" } else { "Local" };
        format!(r"{scope}\{}", self.name)
    }
}

impl fmt::Display for ShmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.global {
            write!(f, r"Global\{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl std::str::FromStr for ShmName {
    type Err = ShmError;
    fn from_str(s: &str) -> Result<Self, ShmError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_bare_names_are_the_same_object() {
        assert_eq!(
            ShmName::parse(r"Local\HelloWorld").unwrap(),
            ShmName::parse("HelloWorld").unwrap()
        );
        let global = ShmName::parse(r"Global\HelloWorld").unwrap();
        assert!(global.is_global());
        assert_eq!(global.to_string(), r"Global\HelloWorld");
    }

    #[test]
    fn bad_names_say_why() {
        for (bad, why) in [
            ("", "empty"),
            (r"Local\", "empty"),
            (r"a\b", r"'\'"),
            ("a/b", "'/'"),
            ("a\0b", "NUL"),
            ("..", "directory"),
        ] {
            match ShmName::parse(bad) {
                Err(ShmError::InvalidName { why: reason, .. }) => {
                    assert!(reason.contains(why), "{bad:?}: {reason}")
                }
                other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
            }
        }
        assert!(ShmName::parse(&"x".repeat(MAX_SHM_NAME)).is_ok());
        assert!(ShmName::parse(&"x".repeat(MAX_SHM_NAME + 1)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_under_dev_shm() {
        let name = ShmName::parse("HelloWorld").unwrap();
        assert_eq!(
            name.path(),
            std::path::Path::new("/dev/shm/pipeway_HelloWorld")
        );
    }
}
