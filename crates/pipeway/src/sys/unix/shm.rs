//! Named shared memory on Linux: a file under `/dev/shm` (tmpfs).
//!
//! The creator builds the file unnamed (`O_TMPFILE`), sizes it, sets its
//! mode and takes an exclusive `flock` on it, then links it under its name,
//! which fails if the name exists: so the name never shows a half-made
//! file, and whoever finds it can tell a live creator (the lock is held)
//! from a dead one (the kernel released the lock when the creator died).
//! The lock also tells who the creator is: `/proc/locks` names its pid.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::access::AccessRules;
use crate::peer::PeerIdentity;
use crate::shm::{ShmError, ShmName};

use super::access::{file_permissions, resolve};
use super::creds::Credentials;
use super::mapping::Mapping;
use super::probe::{self, FileId};

/// How often a create retries after finding and reclaiming a stale file.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub(crate) struct Region {
    mapping: Mapping,
    /// Holds the creator's lock; the opener's descriptor, for its identity.
    file: OwnedFd,
    /// The file this creator linked, removed on drop if the name still names it.
    created: Option<(std::path::PathBuf, FileId)>,
    writable: bool,
}

impl Region {
    pub(crate) fn create(
        name: &ShmName,
        size: usize,
        rules: &AccessRules,
    ) -> Result<Self, ShmError> {
        let mode = file_mode(rules)?;
        let path = name.path();
        let file = unnamed_file(size, mode)?;
        let mapping = Mapping::map(&file, size, true)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let linked = rustix::fs::linkat(
                rustix::fs::CWD,
                format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file)),
                rustix::fs::CWD,
                &path,
                AtFlags::SYMLINK_FOLLOW,
            );
            match linked {
                Ok(()) => break,
                Err(Errno::EXIST) if attempt < CREATE_ATTEMPTS => reclaim_if_stale(name, &path)?,
                Err(Errno::EXIST) => {
                    return Err(ShmError::InUse {
                        name: name.to_string(),
                        holder: "another creator (it keeps winning the race for the name)".into(),
                    });
                }
                Err(err) => return Err(io_error(&path, "cannot name", err).into()),
            }
        }
        let (id, _) = probe::file_id(&path)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path:?} vanished right after it was made"),
            )
        })?;
        Ok(Self {
            mapping,
            file,
            created: Some((path, id)),
            writable: true,
        })
    }

    pub(crate) fn open(name: &ShmName, writable: bool) -> Result<Self, ShmError> {
        let path = name.path();
        let flags = if writable {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        let file = match rustix::fs::open(
            &path,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(file) => file,
            Err(Errno::NOENT) => {
                return Err(ShmError::NotFound {
                    name: name.to_string(),
                });
            }
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                let owner = probe::file_id(&path)
                    .ok()
                    .flatten()
                    .map(|(_, st)| st.st_uid);
                return Err(ShmError::AccessDenied {
                    name: name.to_string(),
                    reason: format!(
                        "{} access refused by the mode of {} (owner uid {})",
                        if writable { "read-write" } else { "read-only" },
                        path.display(),
                        owner.map_or("?".into(), |uid| uid.to_string()),
                    ),
                });
            }
            Err(Errno::LOOP) => return Err(not_ours(&path)),
            Err(err) => return Err(io_error(&path, "cannot open", err).into()),
        };
        let st = rustix::fs::fstat(&file).map_err(io::Error::from)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(not_ours(&path));
        }
        // A shared lock is refused while the creator holds its exclusive one.
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
            Err(Errno::WOULDBLOCK) => {}
            Ok(()) => {
                return Err(ShmError::Stale {
                    name: name.to_string(),
                    owner: st.st_uid,
                });
            }
            Err(err) => return Err(io_error(&path, "cannot check", err).into()),
        }
        let len = usize::try_from(st.st_size).unwrap_or(0);
        if len == 0 {
            return Err(ShmError::InvalidSize {
                size: 0,
                why: "the memory has no bytes",
            });
        }
        let mapping = Mapping::map(&file, len, writable)?;
        Ok(Self {
            mapping,
            file,
            created: None,
            writable,
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.mapping.ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.mapping.len()
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    pub(crate) fn creator(&self) -> Option<PeerIdentity> {
        if self.created.is_some() {
            return Some(PeerIdentity::from_credentials(Credentials {
                pid: Some(std::process::id()),
                uid: rustix::process::geteuid().as_raw(),
                gid: rustix::process::getegid().as_raw(),
            }));
        }
        let st = rustix::fs::fstat(&self.file).ok()?;
        let pid = lock_holder_of(&st);
        Some(PeerIdentity::from_credentials(Credentials {
            pid,
            uid: st.st_uid,
            gid: pid.and_then(primary_gid_of).unwrap_or(st.st_gid),
        }))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Some((path, id)) = &self.created {
            if let Ok(Some((now, _))) = probe::file_id(path) {
                if now == *id {
                    let _ = rustix::fs::unlink(path);
                }
            }
        }
    }
}

/// The file mode that expresses `rules`. A plain file has no accept-time
/// check to carry what a mode cannot say, so those rules are refused here.
fn file_mode(rules: &AccessRules) -> Result<(u32, Option<u32>), ShmError> {
    if !rules.deny_users.is_empty() || !rules.deny_groups.is_empty() {
        return Err(ShmError::Unsupported(
            "shared memory on Linux is guarded by its file mode alone, which cannot deny users or groups; \
             use a shared-memory channel (its pipe checks every peer) for deny rules",
        ));
    }
    if !rules.allow_users.is_empty() || rules.allow_groups.len() > 1 {
        return Err(ShmError::Unsupported(
            "shared memory on Linux is guarded by its file mode alone: it can admit the owner, one group, \
             or everyone, but not single users or several groups",
        ));
    }
    let perms = file_permissions(&resolve(rules)?);
    Ok((perms.mode, perms.group))
}

/// A new, unnamed, locked memory file of `size` bytes with its final mode.
fn unnamed_file(size: usize, (mode, group): (u32, Option<u32>)) -> Result<OwnedFd, ShmError> {
    let size = u64::try_from(size)
        .ok()
        .filter(|&size| size > 0 && size <= isize::MAX as u64)
        .ok_or(ShmError::InvalidSize {
            size: size as u64,
            why: "it must be 1 byte or more",
        })?;
    let file = rustix::fs::open(
        "/dev/shm",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|err| io_error(Path::new("/dev/shm"), "cannot make a memory file in", err))?;
    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)?;
    match rustix::fs::ftruncate(&file, size) {
        Ok(()) => {}
        Err(Errno::FBIG) | Err(Errno::NOSPC) | Err(Errno::NOMEM) => {
            return Err(ShmError::InvalidSize {
                size,
                why: "/dev/shm has no room for it",
            });
        }
        Err(err) => return Err(io::Error::from(err).into()),
    }
    let mode = match group {
        Some(gid)
            if rustix::fs::fchown(&file, None, Some(rustix::fs::Gid::from_raw(gid))).is_err() =>
        {
            return Err(ShmError::AccessDenied {
                name: format!("(group {gid})"),
                reason: "this user cannot give the memory file to that group".into(),
            });
        }
        _ => mode,
    };
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode as _)).map_err(io::Error::from)?;
    Ok(file)
}

/// Removes the file at `path` if its creator is gone; otherwise says who holds it.
fn reclaim_if_stale(name: &ShmName, path: &Path) -> Result<(), ShmError> {
    let file = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(file) => file,
        // Gone since the link failed: try the link again.
        Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ACCESS) | Err(Errno::PERM) => {
            let owner = probe::file_id(path)?.map_or("?".into(), |(_, st)| st.st_uid.to_string());
            return Err(ShmError::InUse {
                name: name.to_string(),
                holder: format!(
                    "uid {owner} (its file admits no one else, so it cannot be checked or reclaimed)"
                ),
            });
        }
        Err(Errno::LOOP) => return Err(not_ours(path)),
        Err(err) => return Err(io_error(path, "cannot check", err).into()),
    };
    let st = rustix::fs::fstat(&file).map_err(io::Error::from)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(not_ours(path));
    }
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            let holder = match lock_holder_of(&st) {
                Some(pid) => format!("pid {pid}, uid {}", st.st_uid),
                None => format!("a live creator (uid {})", st.st_uid),
            };
            return Err(ShmError::InUse {
                name: name.to_string(),
                holder,
            });
        }
        Err(err) => return Err(io_error(path, "cannot check", err).into()),
    }
    // Stale. Remove it only if the name still names the file found stale.
    #[allow(clippy::unnecessary_cast)]
    let ours = FileId {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
    };
    if probe::file_id(path)?.map(|(id, _)| id) == Some(ours) {
        match rustix::fs::unlink(path) {
            Ok(()) | Err(Errno::NOENT) => {
                tracing::info!(path = %path.display(), "reclaimed stale shared memory");
            }
            Err(err) => return Err(io_error(path, "cannot remove stale", err).into()),
        }
    }
    Ok(())
}

fn not_ours(path: &Path) -> ShmError {
    ShmError::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} exists and is not a regular file: pipeway will not use or remove it",
            path.display()
        ),
    ))
}

fn io_error(path: &Path, what: &str, err: Errno) -> io::Error {
    let err = io::Error::from(err);
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

/// The pid holding the creator's lock on the file `st` describes.
pub(crate) fn lock_holder_of(st: &rustix::fs::Stat) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    #[allow(clippy::unnecessary_cast)]
    let dev = st.st_dev as u64;
    #[allow(clippy::unnecessary_cast)]
    flock_holder(
        &table,
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        st.st_ino as u64,
    )
}

/// Reads `/proc/locks` for the holder of an exclusive `flock` on one file.
/// Lines look like `3: FLOCK  ADVISORY  WRITE 4242 00:1a:9876 0 EOF`.
pub(crate) fn flock_holder(table: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    let wanted = format!("{major:02x}:{minor:02x}:{ino}");
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Skip the "->" that marks a waiter, not a holder.
        match fields.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, file, ..] if *file == wanted => pid.parse().ok(),
            _ => None,
        }
    })
}

fn primary_gid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Gid:"))?;
    // Gid: real effective saved fs
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A shared-memory file as [`crate::shm::local_shared_memory`] lists it.
pub(crate) fn describe(path: &Path) -> Option<(u64, u32, u32, Option<u32>)> {
    let (_, st) = probe::file_id(path).ok()??;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    Some((
        st.st_size as u64,
        st.st_uid,
        st.st_mode & 0o7777,
        lock_holder_of(&st),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_read_from_proc_locks() {
        let table = "1: POSIX  ADVISORY  WRITE 11 00:1a:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 00:1a:9876 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 5151 00:1a:9876 0 EOF\n\
                     3: FLOCK  ADVISORY  READ 99 00:1a:5555 0 EOF\n";
        assert_eq!(flock_holder(table, 0, 0x1a, 9876), Some(4242));
        assert_eq!(
            flock_holder(table, 0, 0x1a, 77),
            None,
            "POSIX locks are not the creator's"
        );
        assert_eq!(
            flock_holder(table, 0, 0x1a, 5555),
            None,
            "a shared lock is not the creator's"
        );
        assert_eq!(flock_holder(table, 0, 0x1b, 9876), None);
    }
}
