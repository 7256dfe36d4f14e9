//! The directory a pipe's socket lives in. In a directory anyone may write
//! to, without the sticky bit (`/tmp` has it), anyone may also remove or
//! rename other users' files: a server's socket can be deleted or replaced
//! by another user's. pipeway's checks still hold (a client trusts only a
//! server of its own user or root by default), but such a pipe is easy to
//! take down, so binding or connecting there is warned about, once per
//! directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::Mode;

/// Whether a directory with these permission bits lets anyone remove or
/// replace files of others: world-writable and not sticky.
pub(crate) fn lets_anyone_replace_files(mode: u32) -> bool {
    let mode = Mode::from_raw_mode(mode as _);
    mode.contains(Mode::WOTH) && !mode.contains(Mode::SVTX)
}

/// Warns, the first time this process binds or connects in the directory
/// holding `socket`, if anyone may replace files there.
pub(crate) fn warn_if_anyone_may_replace(socket: &Path) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let Some(dir) = socket.parent() else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(st) = rustix::fs::stat(dir) else {
        return;
    };
    // st_mode is u32 on Linux, narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let mode = st.st_mode as u32;
    if !lets_anyone_replace_files(mode) {
        return;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(dir.to_owned())
    {
        tracing::warn!(
            directory = %dir.display(),
            "the pipe's directory is world-writable without the sticky bit: any user may remove or replace its socket (chmod +t the directory, or use another)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::lets_anyone_replace_files;

    #[test]
    fn only_world_writable_directories_without_the_sticky_bit_are_unsafe() {
        assert!(lets_anyone_replace_files(0o777));
        assert!(lets_anyone_replace_files(0o703));
        assert!(!lets_anyone_replace_files(0o1777)); // /tmp
        assert!(!lets_anyone_replace_files(0o775));
        assert!(!lets_anyone_replace_files(0o700));
    }
}
