//! How errors show what they name: names and paths as written (no Debug
//! escaping of backslashes, so `\\.\pipe\x` reads as typed; only control
//! characters are escaped, so an error stays on one line) and durations
//! rounded for people ("2.0 s", "300 ms").

use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Text as written, control characters escaped.
pub(crate) struct Plain<'a>(pub &'a str);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Text as written, in single quotes, control characters escaped.
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", Plain(self.0))
    }
}

/// A path as written, control characters escaped.
pub(crate) struct ShownPath<'a>(pub &'a Path);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Plain(&self.0.to_string_lossy()))
    }
}

/// A duration rounded for people: `2.0 s`, `300 ms`, `40 µs`, `2 min 5 s`.
pub(crate) struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d >= Duration::from_secs(60) {
            let secs = d.as_secs();
            write!(f, "{} min {} s", secs / 60, secs % 60)
        } else if d >= Duration::from_secs(1) {
            write!(f, "{:.1} s", d.as_secs_f64())
        } else if d >= Duration::from_millis(1) {
            write!(f, "{} ms", d.as_millis())
        } else if d.is_zero() {
            f.write_str("0 s")
        } else {
            write!(f, "{} µs", d.as_micros())
        }
    }
}

/// `; waited 2.0 s`, or nothing for a call that did not wait.
pub(crate) struct Waited(pub Duration);

impl fmt::Display for Waited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            Ok(())
        } else {
            write!(f, "; waited {}", Human(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let shown = |d| Human(d).to_string();
        assert_eq!(shown(Duration::from_nanos(2_009_947_219)), "2.0 s");
        assert_eq!(shown(Duration::from_millis(300)), "300 ms");
        assert_eq!(shown(Duration::from_micros(40)), "40 µs");
        assert_eq!(shown(Duration::ZERO), "0 s");
        assert_eq!(shown(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(Waited(Duration::ZERO).to_string(), "");
        assert_eq!(
            Waited(Duration::from_millis(1500)).to_string(),
            "; waited 1.5 s"
        );
    }

    #[test]
    fn names_read_as_written_on_one_line() {
        assert_eq!(Quoted(r"\\.\notpipe\x").to_string(), r"'\\.\notpipe\x'");
        assert_eq!(Plain("a\nb\0").to_string(), r"a\nb\u{0}");
        assert_eq!(ShownPath(Path::new("/tmp/x y")).to_string(), "/tmp/x y");
    }
}
