//! Raw Win32 calls: the foreign programs pipeway must get along with
//! (servers and clients as a plain Win32 program, or go-winio, makes them).

use std::fs::File;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{ERROR_PIPE_CONNECTED, GetLastError, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
};
use windows_sys::Win32::Storage::FileSystem::PIPE_ACCESS_DUPLEX;
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, GetNamedPipeInfo, PIPE_READMODE_BYTE,
    PIPE_READMODE_MESSAGE, PIPE_TYPE_BYTE, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
    SetNamedPipeHandleState,
};

/// How go-winio's clients connect: the server may not even identify them.
pub const SECURITY_ANONYMOUS: u32 = windows_sys::Win32::Storage::FileSystem::SECURITY_ANONYMOUS;
/// `GetNamedPipeInfo`'s flag for a message-type pipe.
pub const MESSAGE_TYPE_FLAG: u32 = PIPE_TYPE_MESSAGE;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

pub fn path(name: &str) -> String {
    format!(r"\\.\pipe\{name}")
}

/// A client as a Win32 program opens one: `CreateFile` with
/// `GENERIC_READ | GENERIC_WRITE`, synchronous, with `qos` flags.
pub fn client(name: &str, qos: u32) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    if qos != 0 {
        options.security_qos_flags(qos);
    }
    options.open(path(name))
}

pub fn message_read_mode(file: &File) {
    let mode = PIPE_READMODE_MESSAGE;
    // SAFETY: `file` is an open pipe handle; `mode` outlives the call.
    let ok = unsafe {
        SetNamedPipeHandleState(
            file.as_raw_handle() as HANDLE,
            &mode,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_ne!(ok, 0, "SetNamedPipeHandleState failed");
}

/// The flags `GetNamedPipeInfo` reports for an end.
pub fn pipe_flags(file: &File) -> u32 {
    let mut flags = 0;
    // SAFETY: `file` is an open pipe handle; `flags` a valid out pointer.
    let ok = unsafe {
        GetNamedPipeInfo(
            file.as_raw_handle() as HANDLE,
            &mut flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_ne!(ok, 0);
    flags
}

/// A server instance as a Win32 program makes one: default security,
/// synchronous. Waits for a client on a thread; the handle comes back
/// as a `File` once a client connected.
pub fn serve_once(name: &str, message: bool) -> std::thread::JoinHandle<File> {
    let pipe_mode = PIPE_WAIT
        | if message {
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
        } else {
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE
        };
    let name = wide(&path(name));
    // SAFETY: a NUL-terminated name, no security attributes.
    let handle = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            PIPE_ACCESS_DUPLEX,
            pipe_mode,
            PIPE_UNLIMITED_INSTANCES,
            4096,
            4096,
            0,
            std::ptr::null(),
        )
    };
    assert!(
        !handle.is_null() && handle as isize != -1,
        "CreateNamedPipeW failed"
    );
    // SAFETY: a fresh handle that nothing else owns.
    let file = File::from(unsafe { OwnedHandle::from_raw_handle(handle as _) });
    std::thread::spawn(move || {
        // SAFETY: a synchronous connect on the open server handle.
        let ok = unsafe { ConnectNamedPipe(file.as_raw_handle() as HANDLE, std::ptr::null_mut()) };
        // SAFETY: no preconditions.
        assert!(ok != 0 || unsafe { GetLastError() } == ERROR_PIPE_CONNECTED);
        file
    })
}

/// The owner and DACL of the pipe `file` is open on, in SDDL.
pub fn security_of(file: &File) -> String {
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let wanted = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: an open handle; only the descriptor is asked for.
    let rc = unsafe {
        GetSecurityInfo(
            file.as_raw_handle() as HANDLE,
            SE_KERNEL_OBJECT,
            wanted,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    assert_eq!(rc, 0, "GetSecurityInfo failed");
    let sddl = to_sddl(descriptor);
    // SAFETY: GetSecurityInfo allocated it.
    unsafe { LocalFree(descriptor) };
    sddl
}

fn to_sddl(descriptor: PSECURITY_DESCRIPTOR) -> String {
    let mut text = std::ptr::null_mut();
    let wanted = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    // SAFETY: a valid descriptor; `text` is ours to free.
    unsafe {
        let ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            wanted,
            &mut text,
            std::ptr::null_mut(),
        );
        assert_ne!(ok, 0);
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let sddl = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        sddl
    }
}

/// SDDL as Windows writes it back (well-known SIDs abbreviated, …), so
/// that what pipeway asked for and what the pipe has can be compared.
pub fn normalized(sddl: &str) -> String {
    let text = wide(sddl);
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: NUL-terminated SDDL; the descriptor is ours to free.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(ok, 0, "bad SDDL {sddl}");
    let normalized = to_sddl(descriptor);
    // SAFETY: allocated above.
    unsafe { LocalFree(descriptor) };
    normalized
}

/// Runs `f` on this thread with a token in which this user's SID only
/// denies (a restricted token): a client that is not the pipe's owner.
pub fn as_someone_else<T>(f: impl FnOnce() -> T) -> T {
    use windows_sys::Win32::Security::{
        CreateRestrictedToken, GetTokenInformation, ImpersonateLoggedOnUser, RevertToSelf,
        SID_AND_ATTRIBUTES, TOKEN_ALL_ACCESS, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    // SAFETY: plain token calls on handles and buffers owned here.
    unsafe {
        let mut token = std::ptr::null_mut();
        assert_ne!(
            OpenProcessToken(GetCurrentProcess(), TOKEN_ALL_ACCESS, &mut token),
            0
        );
        let token = OwnedHandle::from_raw_handle(token as _);
        let mut buf = vec![0u64; 64];
        let mut len = 0;
        assert_ne!(
            GetTokenInformation(
                token.as_raw_handle() as HANDLE,
                TokenUser,
                buf.as_mut_ptr().cast(),
                512,
                &mut len
            ),
            0
        );
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let deny = SID_AND_ATTRIBUTES {
            Sid: user.User.Sid,
            Attributes: 0,
        };
        let mut restricted = std::ptr::null_mut();
        assert_ne!(
            CreateRestrictedToken(
                token.as_raw_handle() as HANDLE,
                0,
                1,
                &deny,
                0,
                std::ptr::null(),
                0,
                std::ptr::null(),
                &mut restricted,
            ),
            0
        );
        let restricted = OwnedHandle::from_raw_handle(restricted as _);
        assert_ne!(
            ImpersonateLoggedOnUser(restricted.as_raw_handle() as HANDLE),
            0
        );
        let result = f();
        assert_ne!(RevertToSelf(), 0);
        result
    }
}
