//! The named shared memory on this machine, for `pipeway list`.

use std::io;
use std::path::PathBuf;

use super::name::FILE_PREFIX;

/// One named shared memory file, as [`local_shared_memory`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalSharedMemory {
    /// The name (`HelloWorld` for `/dev/shm/pipeway_HelloWorld`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The creator's uid (the file's owner).
    pub owner: u32,
    /// The owner's user name, when the user database knows the uid.
    pub owner_name: Option<String>,
    /// The file's permission bits.
    pub mode: u32,
    /// The live creator's pid; `None` when the creator is gone (stale
    /// memory, which the next `create` of the name reclaims).
    pub creator_pid: Option<u32>,
}

/// Every `pipeway_*` file under `/dev/shm`, sorted by name. Looking takes no
/// lock and opens nothing: liveness is read from `/proc/locks`.
pub fn local_shared_memory() -> io::Result<Vec<LocalSharedMemory>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir("/dev/shm") {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)) else {
            continue;
        };
        let path = entry.path();
        let Some((size, owner, mode, creator_pid)) = crate::sys::shm::describe(&path) else {
            continue;
        };
        found.push(LocalSharedMemory {
            name: name.to_owned(),
            path,
            size,
            owner,
            owner_name: crate::sys::users::user_name(owner),
            mode,
            creator_pid,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
