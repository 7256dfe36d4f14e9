//! Security descriptors: built from SDDL for the pipes pipeway creates, and
//! read back from pipes it connects to (the owner a client checks).

use std::io;

use windows_sys::Win32::Foundation::{HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES,
};

use super::win::{last_error, os_error, wide};

/// A self-relative security descriptor that `LocalAlloc` gave, with the
/// SDDL it was made from.
#[derive(Debug)]
pub(crate) struct SecurityDescriptor {
    descriptor: PSECURITY_DESCRIPTOR,
    sddl: String,
}

// SAFETY: the descriptor is immutable after creation and owned by this value
// alone; Windows only reads it (CreateNamedPipeW copies it), from any thread.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above: shared access only ever reads it.
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    pub(crate) fn from_sddl(sddl: &str) -> io::Result<Self> {
        let text = wide(sddl);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated; `descriptor` is a valid out
        // pointer, and on success points at memory this value then owns.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            // Whatever code Windows gives, the SDDL was not one it reads.
            let err = last_error();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot build the security descriptor {sddl}: {err}"),
            ));
        }
        Ok(Self {
            descriptor,
            sddl: sddl.to_owned(),
        })
    }

    /// Attributes for `CreateNamedPipeW`, borrowing the descriptor: the
    /// caller keeps `self` alive for the call. Handles are not inherited.
    pub(crate) fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        }
    }

    pub(crate) fn sddl(&self) -> &str {
        &self.sddl
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW,
        // freed once, here.
        unsafe { LocalFree(self.descriptor) };
    }
}

/// What a pipe's security descriptor says about who owns it and who may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PipeSecurity {
    /// The owner's SID, when the descriptor names one.
    pub owner: Option<String>,
    /// The owner and DACL, in SDDL.
    pub sddl: String,
}

/// Reads the owner and DACL of the pipe `handle` is open on. Needs
/// `READ_CONTROL` on the handle (`GENERIC_READ` and `GENERIC_WRITE` include it).
pub(crate) fn pipe_security(handle: HANDLE) -> io::Result<PipeSecurity> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let wanted = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: `handle` is open for the call; the out pointers are valid.
    // On success `descriptor` is ours to LocalFree and `owner` points into it.
    let rc = unsafe {
        GetSecurityInfo(
            handle,
            SE_KERNEL_OBJECT,
            wanted,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if rc != 0 {
        return Err(os_error(rc));
    }
    let owner = if owner.is_null() {
        None
    } else {
        // SAFETY: `owner` points at a valid SID inside `descriptor`.
        Some(unsafe { super::accounts::sid_string_of(owner) }?)
    };
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: `descriptor` is valid until freed below; `text` is a valid out
    // pointer whose string is ours to LocalFree.
    let sddl = unsafe {
        let ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            wanted,
            &mut text,
            std::ptr::null_mut(),
        );
        let sddl = if ok == 0 {
            String::new()
        } else {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let sddl = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            sddl
        };
        LocalFree(descriptor);
        sddl
    };
    Ok(PipeSecurity { owner, sddl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sddl_round_trips_and_bad_sddl_says_so() {
        let sd = SecurityDescriptor::from_sddl("O:SYD:P(A;;FA;;;SY)").unwrap();
        assert_eq!(sd.sddl(), "O:SYD:P(A;;FA;;;SY)");
        assert!(!sd.attributes().lpSecurityDescriptor.is_null());
        let err = SecurityDescriptor::from_sddl("D:(this is not sddl").unwrap_err();
        assert!(err.to_string().contains("this is not sddl"), "{err}");
    }
}
