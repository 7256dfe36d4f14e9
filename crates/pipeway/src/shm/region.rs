//! [`SharedMemory`]: a named block of memory that processes map, like a
//! Win32 file mapping (`CreateFileMapping` / `OpenFileMapping` / `MapViewOfFile`).

use crate::access::{AccessRules, Account};
use crate::peer::PeerIdentity;
use crate::sys::shm::Region;

use super::{ShmError, ShmName};

/// Who may open shared memory the creator makes. The default admits only the
/// creator's user (and root / SYSTEM), as for pipes.
///
/// On Linux the memory is a file and its mode is the only guard, so it can
/// admit the owner, one group, or everyone; other rules (single users,
/// several groups, denies) are refused with [`ShmError::Unsupported`] rather
/// than silently widened. A [`ShmChannel`](super::ShmChannel) checks each
/// peer on its pipe and takes every rule.
#[derive(Clone, Debug, Default)]
pub struct ShmOptions {
    pub(crate) access: AccessRules,
}

impl ShmOptions {
    /// Owner-only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also admits members of `group`.
    pub fn allow_group(mut self, group: impl Into<String>) -> Self {
        self.access.allow_groups.push(Account::Name(group.into()));
        self
    }

    /// Also admits `user` (Windows only: see the type's docs).
    pub fn allow_user(mut self, user: impl Into<String>) -> Self {
        self.access.allow_users.push(Account::Name(user.into()));
        self
    }

    /// Admits every user.
    pub fn allow_everyone(mut self) -> Self {
        self.access.everyone = true;
        self
    }

    /// Refuses `user` (Windows only: see the type's docs).
    pub fn deny_user(mut self, user: impl Into<String>) -> Self {
        self.access.deny_users.push(Account::Name(user.into()));
        self
    }
}

/// How [`SharedMemory::open`] maps the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmAccess {
    /// Read only (`FILE_MAP_READ`): writes are refused.
    ReadOnly,
    /// Read and write (`FILE_MAP_ALL_ACCESS`).
    ReadWrite,
}

/// Named shared memory, mapped into this process.
///
/// The creator makes it with a size ([`create`](Self::create)); other
/// processes [`open`](Self::open) it by name, read-only or read-write, while
/// the creator keeps it. Creating a name that a live creator holds fails
/// with [`ShmError::InUse`]; memory whose creator crashed is stale: opening
/// it fails with [`ShmError::Stale`], and the next `create` reclaims the name.
/// When the creator drops it the name goes away; processes that have it
/// open keep their mapping.
///
/// The bytes are shared with other processes, which may change them at any
/// time, so this type hands out copies ([`read_at`](Self::read_at)) and raw
/// pointers, never Rust references into the memory.
///
/// ```
/// use pipeway::shm::{SharedMemory, ShmAccess};
///
/// let name = format!("doc-region-{}", std::process::id());
/// let creator = SharedMemory::create(&name, 4096)?;
/// creator.write_at(0, b"Message from the first process")?;
///
/// let reader = SharedMemory::open(&name, ShmAccess::ReadOnly)?;
/// let mut text = [0u8; 30];
/// reader.read_at(0, &mut text)?;
/// assert_eq!(&text, b"Message from the first process");
/// assert_eq!(creator.creator().unwrap().pid(), Some(std::process::id()));
/// // An opener learns the creator's pid on Linux (Windows does not keep it).
/// #[cfg(unix)]
/// assert_eq!(reader.creator().unwrap().pid(), Some(std::process::id()));
/// # Ok::<(), pipeway::shm::ShmError>(())
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    name: ShmName,
    region: Region,
}

impl SharedMemory {
    /// Creates `size` bytes of zeroed shared memory called `name`, owner-only.
    pub fn create(name: &str, size: usize) -> Result<Self, ShmError> {
        Self::create_with(name, size, &ShmOptions::new())
    }

    /// Creates `size` bytes of zeroed shared memory called `name` with `options`.
    pub fn create_with(name: &str, size: usize, options: &ShmOptions) -> Result<Self, ShmError> {
        let name = ShmName::parse(name)?;
        if size == 0 {
            return Err(ShmError::InvalidSize {
                size: 0,
                why: "it must be 1 byte or more",
            });
        }
        let region = Region::create(&name, size, &options.access)?;
        Ok(Self { name, region })
    }

    /// Opens the shared memory called `name`, which a live creator made.
    pub fn open(name: &str, access: ShmAccess) -> Result<Self, ShmError> {
        let name = ShmName::parse(name)?;
        let region = Region::open(&name, access == ShmAccess::ReadWrite)?;
        Ok(Self { name, region })
    }

    /// The name.
    pub fn name(&self) -> &ShmName {
        &self.name
    }

    /// The size in bytes (on Windows, rounded up to whole pages).
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Never true: shared memory has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this mapping may write.
    pub fn is_writable(&self) -> bool {
        self.region.writable()
    }

    /// The process that created the memory: this one for the creator; for
    /// an opener, the creator's pid where this user may see it, and its user.
    pub fn creator(&self) -> Option<PeerIdentity> {
        self.region.creator()
    }

    /// The first byte of the mapping. Other processes may write to it at
    /// any time: coordinate with them (atomics, or a [`ShmChannel`](super::ShmChannel)).
    pub fn as_ptr(&self) -> *const u8 {
        self.region.ptr()
    }

    /// The first byte of a writable mapping; `None` if it is read-only.
    pub fn as_mut_ptr(&self) -> Option<*mut u8> {
        self.is_writable().then(|| self.region.ptr())
    }

    /// Copies `buf.len()` bytes at `offset` out of the memory.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), ShmError> {
        self.check_range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked above) and `buf`
        // is a distinct Rust buffer; the bytes may change under the copy,
        // which yields whatever they were, never out-of-bounds access.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.region.ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copies `data` into the memory at `offset`.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), ShmError> {
        if !self.is_writable() {
            return Err(ShmError::AccessDenied {
                name: self.name.to_string(),
                reason: "this mapping is read-only".into(),
            });
        }
        self.check_range(offset, data.len())?;
        // SAFETY: the range is inside a writable mapping (checked above);
        // `data` is a Rust buffer, so it cannot overlap the shared memory.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.region.ptr().add(offset), data.len())
        };
        Ok(())
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<(), ShmError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(ShmError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{len} bytes at offset {offset} do not fit in the {} bytes of shared memory {}",
                    self.len(),
                    self.name
                ),
            ))),
        }
    }
}
