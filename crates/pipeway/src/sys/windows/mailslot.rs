//! Mailslots on Windows: `CreateMailslotW` for the server, `CreateFileW`
//! and `WriteFile` for clients.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER,
    ERROR_SEM_TIMEOUT, GENERIC_WRITE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING, ReadFile,
    WriteFile,
};
use windows_sys::Win32::System::Mailslots::{CreateMailslotW, GetMailslotInfo, SetMailslotInfo};
use windows_sys::Win32::System::SystemServices::{MAILSLOT_NO_MESSAGE, MAILSLOT_WAIT_FOREVER};

use crate::mailslot::{MailslotError, MailslotInfo, MailslotName, MailslotOptions};

use super::access::{resolve, sddl};
use super::security::SecurityDescriptor;
use super::win::{is, last_error, owned, raw, wide};

fn timeout_millis(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => MAILSLOT_WAIT_FOREVER,
        Some(t) => t.as_millis().min((MAILSLOT_WAIT_FOREVER - 1) as u128) as u32,
    }
}

#[derive(Debug)]
pub(crate) struct Server {
    handle: OwnedHandle,
    max_message: usize,
}

impl Server {
    pub(crate) fn create(
        name: &MailslotName,
        options: &MailslotOptions,
    ) -> Result<Self, MailslotError> {
        let access = resolve(&options.access)?;
        let security = SecurityDescriptor::from_sddl(&sddl(&access))?;
        let attributes = security.attributes();
        let path = wide(name.path());
        let max = u32::try_from(options.max_message_size).unwrap_or(u32::MAX);
        // SAFETY: the path is NUL-terminated; the attributes borrow a
        // descriptor that `security` keeps alive for the call.
        let handle = unsafe {
            CreateMailslotW(
                path.as_ptr(),
                max,
                timeout_millis(options.read_timeout),
                &attributes,
            )
        };
        let handle = owned(handle).map_err(|err| {
            if is(&err, ERROR_ALREADY_EXISTS) {
                MailslotError::InUse {
                    name: name.to_string(),
                    holder: "another server (Windows does not say which)".into(),
                }
            } else {
                MailslotError::Io(err)
            }
        })?;
        Ok(Self {
            handle,
            max_message: options.max_message_size,
        })
    }

    pub(crate) fn read(&self) -> Result<Vec<u8>, MailslotError> {
        let mut buf = vec![0u8; self.max_message.max(1)];
        let mut read = 0u32;
        // SAFETY: `buf` is valid for its length; the handle is open; no overlapped I/O.
        let ok = unsafe {
            ReadFile(
                raw(&self.handle),
                buf.as_mut_ptr(),
                buf.len() as u32,
                &mut read,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            let err = last_error();
            if is(&err, ERROR_SEM_TIMEOUT) {
                return Err(MailslotError::TimedOut);
            }
            if is(&err, ERROR_INSUFFICIENT_BUFFER) {
                let size = self.info().ok().and_then(|i| i.next_size).unwrap_or(0);
                return Err(MailslotError::MessageTooLarge {
                    size,
                    max: self.max_message,
                });
            }
            return Err(err.into());
        }
        buf.truncate(read as usize);
        Ok(buf)
    }

    pub(crate) fn info(&self) -> Result<MailslotInfo, MailslotError> {
        let (mut max, mut next, mut count, mut timeout) = (0u32, 0u32, 0u32, 0u32);
        // SAFETY: the handle is open; the out pointers are valid.
        let ok = unsafe {
            GetMailslotInfo(
                raw(&self.handle),
                &mut max,
                &mut next,
                &mut count,
                &mut timeout,
            )
        };
        if ok == 0 {
            return Err(last_error().into());
        }
        Ok(MailslotInfo {
            count: count as usize,
            next_size: (next != MAILSLOT_NO_MESSAGE).then_some(next as usize),
            max_message_size: self.max_message,
            read_timeout: (timeout != MAILSLOT_WAIT_FOREVER)
                .then(|| Duration::from_millis(timeout as u64)),
        })
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), MailslotError> {
        // SAFETY: the handle is open.
        if unsafe { SetMailslotInfo(raw(&self.handle), timeout_millis(timeout)) } == 0 {
            return Err(last_error().into());
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct Client {
    handle: OwnedHandle,
}

impl Client {
    pub(crate) fn open(name: &MailslotName) -> Result<Self, MailslotError> {
        let path = wide(name.path());
        // SAFETY: the path is NUL-terminated; no security attributes or template.
        let handle = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_WRITE,
                // Other writers hold it open too.
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL,
                std::ptr::null_mut(),
            )
        };
        let handle = owned(handle).map_err(|err| {
            if is(&err, ERROR_FILE_NOT_FOUND) {
                MailslotError::NotFound {
                    name: name.to_string(),
                }
            } else if is(&err, ERROR_ACCESS_DENIED) {
                MailslotError::AccessDenied {
                    name: name.to_string(),
                }
            } else {
                MailslotError::Io(err)
            }
        })?;
        Ok(Self { handle })
    }

    pub(crate) fn send(&self, message: &[u8]) -> Result<(), MailslotError> {
        let len = u32::try_from(message.len()).map_err(|_| MailslotError::MessageTooLarge {
            size: message.len(),
            max: u32::MAX as usize,
        })?;
        let mut written = 0u32;
        // SAFETY: `message` is valid for `len` bytes; the handle is open.
        let ok = unsafe {
            WriteFile(
                raw(&self.handle),
                message.as_ptr(),
                len,
                &mut written,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            let err: io::Error = last_error();
            if is(&err, ERROR_FILE_NOT_FOUND) {
                return Err(MailslotError::NotFound {
                    name: String::new(),
                });
            }
            return Err(err.into());
        }
        if written != len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the mailslot took part of the message",
            )
            .into());
        }
        Ok(())
    }
}
