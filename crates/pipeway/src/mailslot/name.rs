//! Mailslot names: `alerts`, `\\.\mailslot\alerts`, `//./mailslot/alerts`.

use std::fmt;

use super::MailslotError;

/// A parsed mailslot name (a local one: this crate does not send to
/// mailslots on other hosts).
///
/// ```
/// use pipeway::mailslot::MailslotName;
///
/// let name = MailslotName::parse(r"\\.\mailslot\alerts")?;
/// assert_eq!(name.name(), "alerts");
/// assert_eq!(MailslotName::parse("//./mailslot/alerts")?, name);
/// # Ok::<(), pipeway::mailslot::MailslotError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MailslotName {
    name: String,
}

/// The prefix of a mailslot's socket file under `${TMPDIR:-/tmp}`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const SOCKET_PREFIX: &str = "pipeway_mailslot_";

impl MailslotName {
    /// Parses a local mailslot name.
    pub fn parse(written: &str) -> Result<Self, MailslotError> {
        let lower = written.to_ascii_lowercase();
        let name = if lower.starts_with(r"\\.\mailslot\") || lower.starts_with("//./mailslot/") {
            &written[r"\\.\mailslot\".len()..]
        } else if lower.starts_with(r"\\") || lower.starts_with("//") {
            return Err(invalid(
                written,
                "mailslots on other hosts are not supported",
            ));
        } else {
            written
        };
        if name.is_empty() {
            return Err(invalid(written, "the name is empty"));
        }
        if name.contains(['/', '\\']) {
            return Err(invalid(written, "the name holds a '/' or '\\'"));
        }
        if name.contains('\0') {
            return Err(invalid(written, "the name holds a NUL byte"));
        }
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// The name without its `\\.\mailslot\` prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The datagram socket's path: `${TMPDIR:-/tmp}/pipeway_mailslot_<name>`.
    #[cfg(unix)]
    pub fn socket_path(&self) -> std::path::PathBuf {
        let mut path = crate::sys::pipe_directory().into_os_string();
        path.push(SOCKET_PREFIX);
        path.push(&self.name);
        path.into()
    }

    /// `\\.\mailslot\<name>`.
    #[cfg(windows)]
    pub(crate) fn path(&self) -> String {
        format!(r"\\.\mailslot\{}", self.name)
    }
}

fn invalid(name: &str, why: &'static str) -> MailslotError {
    MailslotError::InvalidName {
        name: name.to_owned(),
        why,
    }
}

impl fmt::Display for MailslotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r"\\.\mailslot\{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_name_one_mailslot() {
        let a = MailslotName::parse("alerts").unwrap();
        assert_eq!(MailslotName::parse(r"\\.\mailslot\alerts").unwrap(), a);
        assert_eq!(MailslotName::parse(r"\\.\MAILSLOT\alerts").unwrap(), a);
        assert_eq!(MailslotName::parse("//./mailslot/alerts").unwrap(), a);
        assert_eq!(a.to_string(), r"\\.\mailslot\alerts");
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            r"\\.\mailslot\",
            "a/b",
            r"a\b",
            "a\0",
            r"\\host\mailslot\x",
        ] {
            assert!(
                matches!(
                    MailslotName::parse(bad),
                    Err(MailslotError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
