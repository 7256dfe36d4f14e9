//! Named shared memory on Windows: a file mapping backed by the paging file
//! (`CreateFileMappingW(INVALID_HANDLE_VALUE, …)`), named `Local\name`.
//!
//! Windows removes the object with its last handle, so memory is never
//! stale there: a crashed creator's mapping lives on only while others hold
//! it open, and then it is still a live name.

use std::io;
use std::os::windows::io::OwnedHandle;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE,
    GetLastError, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, UnmapViewOfFile,
    VirtualQuery,
};

use crate::access::AccessRules;
use crate::peer::PeerIdentity;
use crate::shm::{ShmError, ShmName};

use super::access::{resolve, sddl_granting};
use super::security::{SecurityDescriptor, pipe_security};
use super::win::{owned, raw, wide};

/// What an admitted user may do with the mapping: query, map for reading
/// and writing, read its security descriptor, synchronize.
const MAPPING_CLIENT_RIGHTS: u32 = 0x0012_0007;

#[derive(Debug)]
pub(crate) struct Region {
    view: *mut u8,
    len: usize,
    handle: OwnedHandle,
    creator: bool,
    writable: bool,
}

// SAFETY: the view is plain memory owned by this value until Drop unmaps
// it; accesses go through raw pointers whose users synchronise.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` only hands out raw pointers.
unsafe impl Sync for Region {}

fn shm_error(name: &ShmName, err: io::Error) -> ShmError {
    let code = err.raw_os_error().map(|c| c as u32);
    match code {
        Some(ERROR_FILE_NOT_FOUND) => ShmError::NotFound {
            name: name.to_string(),
        },
        Some(ERROR_ACCESS_DENIED) => ShmError::AccessDenied {
            name: name.to_string(),
            reason: "the mapping's security descriptor refuses this user".into(),
        },
        // The name belongs to an object of another kind (an event, a mutex...).
        Some(ERROR_INVALID_HANDLE) => ShmError::InUse {
            name: name.to_string(),
            holder: "an object of another kind".into(),
        },
        _ => ShmError::Io(err),
    }
}

/// Maps `len` bytes of `handle` (0: all of it).
pub(crate) fn map(
    handle: &OwnedHandle,
    writable: bool,
    len: usize,
) -> io::Result<(*mut u8, usize)> {
    let access = if writable {
        FILE_MAP_READ | FILE_MAP_WRITE
    } else {
        FILE_MAP_READ
    };
    // SAFETY: `handle` is an open mapping; a new view aliases no Rust object.
    let view = unsafe { MapViewOfFile(raw(handle), access, 0, 0, len) };
    if view.Value.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `info` is a valid out buffer of the size passed.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
    let got = unsafe {
        VirtualQuery(
            view.Value,
            &mut info,
            std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    let size = if got == 0 { len } else { info.RegionSize };
    Ok((view.Value.cast(), size))
}

impl Region {
    pub(crate) fn create(
        name: &ShmName,
        size: usize,
        rules: &AccessRules,
    ) -> Result<Self, ShmError> {
        let access = resolve(rules)?;
        let security =
            SecurityDescriptor::from_sddl(&sddl_granting(&access, MAPPING_CLIENT_RIGHTS))?;
        let attributes = security.attributes();
        let object = wide(name.object_name());
        let size64 = size as u64;
        // SAFETY: the name is NUL-terminated and the attributes borrow a
        // descriptor that `security` keeps alive for the call.
        let handle = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                &attributes,
                PAGE_READWRITE,
                (size64 >> 32) as u32,
                size64 as u32,
                object.as_ptr(),
            )
        };
        // SAFETY: GetLastError has no preconditions; read before any other call.
        let already = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
        let handle = owned(handle).map_err(|err| shm_error(name, err))?;
        if already {
            return Err(ShmError::InUse {
                name: name.to_string(),
                holder: "another process (Windows does not say which)".into(),
            });
        }
        let (view, _) = map(&handle, true, size)?;
        Ok(Self {
            view,
            len: size,
            handle,
            creator: true,
            writable: true,
        })
    }

    pub(crate) fn open(name: &ShmName, writable: bool) -> Result<Self, ShmError> {
        let object = wide(name.object_name());
        let access = if writable {
            FILE_MAP_READ | FILE_MAP_WRITE
        } else {
            FILE_MAP_READ
        };
        // SAFETY: the name is NUL-terminated.
        let handle = unsafe { OpenFileMappingW(access, 0, object.as_ptr()) };
        let handle = owned(handle).map_err(|err| shm_error(name, err))?;
        let (view, len) = map(&handle, writable, 0)?;
        Ok(Self {
            view,
            len,
            handle,
            creator: false,
            writable,
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.view
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// The creator: this process for the creator; otherwise the mapping's
    /// owner (Windows does not keep the creator's pid).
    pub(crate) fn creator(&self) -> Option<PeerIdentity> {
        let owner = pipe_security(raw(&self.handle)).ok().and_then(|s| s.owner);
        let pid = self.creator.then(std::process::id);
        Some(PeerIdentity::windows(pid, owner))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `view` is what MapViewOfFile returned, unmapped once, here;
        // no borrow of the view outlives `self`.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.view.cast(),
            })
        };
    }
}
