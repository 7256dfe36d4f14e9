//! Windows: native pipes, their security descriptors, identities, instances,
//! and pipeway talking to foreign Win32 programs (played here by raw Win32
//! calls). Tests that show what Wine does not emulate are ignored under
//! Wine (`--cfg wine`, set by scripts/test-windows.sh), each with its reason.
#![cfg(windows)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::unique;
use pipeway::windows::{
    ConnectOptionsExt, ListenOptionsExt, ListenerExt, PeerIdentityExt, PipeNameExt,
};
use pipeway::{
    ConnectOptions, Direction, Error, ListenOptions, MessageListener, MessageStream, NameError,
    PipeListener, PipeMode, PipeName, PipeStream,
};

/// Raw Win32 calls: the foreign programs pipeway must get along with.
mod foreign {
    use super::*;
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
        PIPE_READMODE_MESSAGE, PIPE_TYPE_BYTE, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES,
        PIPE_WAIT, SetNamedPipeHandleState,
    };

    pub use windows_sys::Win32::Storage::FileSystem::SECURITY_ANONYMOUS;
    pub use windows_sys::Win32::System::Pipes::PIPE_TYPE_MESSAGE as MESSAGE_TYPE_FLAG;

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
            let ok =
                unsafe { ConnectNamedPipe(file.as_raw_handle() as HANDLE, std::ptr::null_mut()) };
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
}

/// Everything pipeway logs in this test process (listeners log from their
/// own threads, so the subscriber is the global one).
fn logs() -> String {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || LogWriter(writer.clone()))
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    });
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn me() -> String {
    pipeway::windows::current_user_sid().unwrap()
}

fn quick() -> ConnectOptions {
    ConnectOptions::new().timeout(Duration::from_millis(300))
}

// ---------------------------------------------------------------------------
// Names.

#[test]
fn a_local_name_is_the_native_pipe_path() {
    let name = unique("native");
    let parsed = PipeName::parse(&name).unwrap();
    assert_eq!(
        parsed.pipe_path().unwrap(),
        std::path::Path::new(&foreign::path(&name))
    );
    let _listener = PipeListener::bind(&name).unwrap();
    // A Win32 program finds it at \\.\pipe\name.
    foreign::client(&name, 0).unwrap();
}

#[test]
fn names_windows_cannot_take_are_refused_clearly() {
    let long = "n".repeat(250);
    match PipeListener::bind(long.as_str()).unwrap_err() {
        Error::Name(NameError::TooLong { len, max, .. }) => {
            assert_eq!(max, 256);
            assert_eq!(len, 259);
        }
        other => panic!("expected TooLong, got {other}"),
    }
    assert!(matches!(
        PipeListener::bind(r"a\b"),
        Err(Error::Name(NameError::InvalidChar { .. }))
    ));
    for socket_path in ["/run/app/ctl.sock", "/tmp/x"] {
        let err = PipeStream::connect(socket_path).unwrap_err();
        assert!(
            matches!(err, Error::Name(NameError::Unsupported(_))),
            "{err}"
        );
        assert!(err.to_string().contains("Unix"), "{err}");
    }
}

#[test]
fn dropping_a_listener_ends_its_name() {
    let name = unique("vanish");
    drop(PipeListener::bind(&name).unwrap());
    match PipeStream::connect_with(&name, &quick()).unwrap_err() {
        Error::NotFound { path, .. } => {
            assert_eq!(path, std::path::PathBuf::from(foreign::path(&name)))
        }
        other => panic!("expected NotFound, got {other}"),
    }
    // And the name can be served again.
    let _again = PipeListener::bind(&name).unwrap();
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 lets FILE_FLAG_FIRST_PIPE_INSTANCE create a second instance of a live name"
)]
fn a_live_name_is_never_joined() {
    let name = unique("live");
    let _holder = PipeListener::bind(&name).unwrap();
    let err = PipeListener::bind(&name).unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let err =
        PipeListener::bind_with(&name, &ListenOptions::new().first_instance(true)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // A foreign server's name is not joined either.
    let foreign_name = unique("foreignlive");
    let _foreign = foreign::serve_once(&foreign_name, false);
    assert!(matches!(
        PipeListener::bind(&foreign_name),
        Err(Error::InUse { .. })
    ));
    let _ = foreign::client(&foreign_name, 0);
}

// ---------------------------------------------------------------------------
// Interoperating with Win32 programs.

#[test]
fn a_win32_client_talks_to_a_pipeway_byte_server() {
    let name = unique("w32client");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(&buf).unwrap();
        stream.peer().clone()
    });
    let mut client = foreign::client(&name, 0).unwrap();
    assert_eq!(foreign::pipe_flags(&client) & foreign::MESSAGE_TYPE_FLAG, 0);
    client.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    let peer = server.join().unwrap();
    assert_eq!(peer.pid(), Some(std::process::id()));
}

#[test]
fn a_win32_client_keeps_its_message_boundaries_with_a_pipeway_server() {
    let name = unique("w32msg");
    let listener = MessageListener::bind(&name).unwrap();
    let big = vec![7u8; 100_000];
    let expected = big.clone();
    let server = std::thread::spawn(move || {
        let stream = listener.accept().unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(stream.recv_vec().unwrap().unwrap());
        }
        stream.send(b"first").unwrap();
        stream.send(b"").unwrap();
        stream.send(b"third").unwrap();
        got
    });
    let mut client = foreign::client(&name, 0).unwrap();
    assert_ne!(foreign::pipe_flags(&client) & foreign::MESSAGE_TYPE_FLAG, 0);
    foreign::message_read_mode(&client);
    for message in [&b"one"[..], b"", &big, b"four"] {
        assert_eq!(client.write(message).unwrap(), message.len());
    }
    let got = server.join().unwrap();
    assert_eq!(
        got,
        vec![b"one".to_vec(), vec![], expected, b"four".to_vec()]
    );
    let mut buf = vec![0u8; 1024];
    let mut replies = Vec::new();
    for _ in 0..3 {
        let n = client.read(&mut buf).unwrap();
        replies.push(buf[..n].to_vec());
    }
    assert_eq!(replies, vec![b"first".to_vec(), vec![], b"third".to_vec()]);
}

#[test]
fn pipeway_clients_talk_to_win32_servers_and_check_their_mode() {
    let name = unique("w32server");
    let server = foreign::serve_once(&name, false);
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server = server.join().unwrap();
    client.write_all(b"to win32").unwrap();
    let mut buf = [0u8; 8];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to win32");
    server.write_all(b"back").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"back");
    assert_eq!(client.peer().pid(), Some(std::process::id()));

    let name = unique("w32msgserver");
    let server = foreign::serve_once(&name, true);
    let client = MessageStream::connect(&name).unwrap();
    let mut server = server.join().unwrap();
    server.write_all(b"a whole message").unwrap();
    // An empty write is an empty message (write_all would skip it).
    assert_eq!(server.write(b"").unwrap(), 0);
    assert_eq!(
        client.recv_vec().unwrap(),
        Some(b"a whole message".to_vec())
    );
    assert_eq!(client.recv_vec().unwrap(), Some(vec![]));

    let name = unique("w32mismatch");
    let _server = foreign::serve_once(&name, true);
    let err = PipeStream::connect(&name).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongMode {
                expected: PipeMode::Byte,
                actual: PipeMode::Message,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_client_that_connects_anonymously_is_still_identified_when_it_is_this_user() {
    // go-winio's clients connect with SECURITY_ANONYMOUS: the server cannot
    // impersonate them, and learns the user from the client process instead.
    let name = unique("anon");
    let listener = PipeListener::bind(&name).unwrap();
    let _client = foreign::client(&name, foreign::SECURITY_ANONYMOUS).unwrap();
    let stream = listener.accept().unwrap();
    assert_eq!(stream.peer().pid(), Some(std::process::id()));
    assert_eq!(stream.peer().sid(), Some(me().as_str()));
}

// ---------------------------------------------------------------------------
// Security descriptors.

#[test]
fn the_default_descriptor_admits_the_owner_and_system_only() {
    let name = unique("sddl");
    let listener = PipeListener::bind(&name).unwrap();
    let me = me();
    let expected = format!("O:{me}D:P(A;;FA;;;{me})(A;;FA;;;SY)");
    assert_eq!(listener.security_descriptor(), expected);
    // It is what the pipe has.
    let client = foreign::client(&name, 0).unwrap();
    assert_eq!(
        foreign::security_of(&client),
        foreign::normalized(&expected)
    );
}

#[test]
fn access_rules_become_the_dacl_denies_first() {
    let name = unique("rules");
    let options = ListenOptions::new()
        .allow_group("Users")
        .allow_sid("S-1-5-32-555")
        .allow_everyone()
        .deny_group("Guests")
        .deny_sid("S-1-5-7");
    let listener = MessageListener::bind_with(&name, &options).unwrap();
    let me = me();
    let expected = format!(
        "O:{me}D:P(A;;FA;;;{me})(D;;FA;;;S-1-5-7)(D;;FA;;;S-1-5-32-546)(A;;FA;;;SY)\
         (A;;0x12019b;;;S-1-5-32-555)(A;;0x12019b;;;S-1-5-32-545)(A;;0x12019b;;;WD)"
    );
    assert_eq!(listener.security_descriptor(), expected);
    let client = foreign::client(&name, 0).unwrap();
    assert_eq!(
        foreign::security_of(&client),
        foreign::normalized(&expected)
    );
    // Names that are no account fail the bind.
    assert!(matches!(
        PipeListener::bind_with(unique("bad"), &ListenOptions::new().allow_sid("S-1-x")),
        Err(Error::UnknownUser(_))
    ));
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 does not check a pipe's DACL when a client opens it"
)]
fn the_dacl_keeps_out_everyone_but_the_owner_unless_the_rules_say_otherwise() {
    let name = unique("dacl");
    let _listener = PipeListener::bind(&name).unwrap();
    let err = foreign::as_someone_else(|| PipeStream::connect_with(&name, &quick()));
    assert!(matches!(err, Err(Error::AccessDenied { .. })), "{err:?}");

    let open = unique("daclopen");
    let _listener = PipeListener::bind_with(&open, &ListenOptions::new().allow_everyone()).unwrap();
    let connected = foreign::as_someone_else(|| PipeStream::connect_with(&open, &quick()));
    assert!(connected.is_ok(), "{connected:?}");
}

#[test]
fn a_denied_owner_is_refused_at_accept_and_the_refusal_is_logged() {
    logs();
    let name = unique("denyme");
    let listener =
        Arc::new(PipeListener::bind_with(&name, &ListenOptions::new().deny_sid(me())).unwrap());
    let accepting = {
        let listener = listener.clone();
        std::thread::spawn(move || listener.accept().map(|_| ()))
    };
    // The DACL lets the owner in (it must, to serve its own pipe); the
    // check at accept closes the connection before a byte is read.
    let mut client = PipeStream::connect(&name).unwrap();
    let mut buf = [0u8; 1];
    let read = common::within(Duration::from_secs(5), move || client.read(&mut buf));
    assert_eq!(read.unwrap(), 0);
    listener.shutdown().unwrap();
    assert!(matches!(
        accepting.join().unwrap(),
        Err(Error::ListenerClosed)
    ));
    let logs = logs();
    let refusal = logs
        .lines()
        .find(|line| line.contains("refused a client") && line.contains(&name))
        .unwrap_or_else(|| panic!("no refusal logged for {name}: {logs}"));
    assert!(refusal.contains(&me()), "{refusal}");
}

#[test]
fn remote_clients_can_be_admitted_on_request() {
    // Wine has no remote clients to refuse or admit; this checks that the
    // flag is accepted and local clients still get in.
    let name = unique("remote");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().accept_remote_clients(true)).unwrap();
    let _client = PipeStream::connect(&name).unwrap();
    listener.accept().unwrap();
}

// ---------------------------------------------------------------------------
// The server's identity, as a client checks it.

#[test]
fn a_client_trusts_only_the_owners_it_is_told_to() {
    let name = unique("trust");
    let _listener = PipeListener::bind(&name).unwrap();
    let err = PipeStream::connect_with(&name, &quick().require_server_sid("S-1-5-18")).unwrap_err();
    match &err {
        Error::UntrustedServer {
            actual,
            pid,
            expected,
            ..
        } => {
            assert!(actual.contains(&me()), "{actual}");
            assert_eq!(*pid, Some(std::process::id()));
            assert!(expected.contains("S-1-5-18"), "{expected}");
        }
        other => panic!("expected UntrustedServer, got {other}"),
    }
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    let user = std::env::var("USERNAME").unwrap();
    PipeStream::connect_with(&name, &quick().require_server_user(user)).unwrap();
    PipeStream::connect_with(&name, &quick().require_server_sid(me())).unwrap();
    let stream = PipeStream::connect_with(&name, &quick().trust_any_server()).unwrap();
    assert_eq!(stream.peer().sid(), Some(me().as_str()));
    assert_eq!(stream.peer().pid(), Some(std::process::id()));
    assert!(matches!(
        PipeStream::connect_with(&name, &quick().require_server_user("no-such-user-here")),
        Err(Error::UnknownUser(_))
    ));
}

#[tokio::test]
async fn the_async_client_checks_the_owner_too() {
    let name = unique("trustasync");
    let _listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let err =
        pipeway::tokio::PipeStream::connect_with(&name, &quick().require_server_sid("S-1-5-18"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::UntrustedServer { .. }), "{err}");
}

// ---------------------------------------------------------------------------
// Instances.

#[test]
fn no_client_finds_the_pipe_busy_between_accepts() {
    // go-winio's listener makes its next instance only when Accept is
    // called again, so a client arriving while the server is busy with the
    // last one finds no instance. pipeway always keeps one waiting: clients
    // that try once (a zero timeout) all get in, though the server is slow
    // to come back to accept.
    const CLIENTS: usize = 100;
    let name = unique("between");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..CLIENTS {
            let mut stream = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(2));
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).unwrap();
            stream.write_all(&byte).unwrap();
        }
    });
    let once = ConnectOptions::new().timeout(Duration::ZERO);
    for i in 0..CLIENTS {
        let mut client = PipeStream::connect_with(&name, &once)
            .unwrap_or_else(|err| panic!("client {i} did not get in: {err}"));
        client.write_all(&[i as u8]).unwrap();
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], i as u8);
    }
    server.join().unwrap();
}

#[test]
fn clients_are_admitted_before_the_server_accepts() {
    // Windows connects a client to whichever instance waits: the order in
    // which clients on different instances are accepted is not theirs.
    let name = unique("ahead");
    let listener = PipeListener::bind(&name).unwrap();
    let patient = ConnectOptions::new().timeout(Duration::from_secs(5));
    let clients: Vec<PipeStream> = (0..10u8)
        .map(|i| {
            let mut client = PipeStream::connect_with(&name, &patient).unwrap();
            client.write_all(&[i]).unwrap();
            client
        })
        .collect();
    let mut seen: Vec<u8> = (0..10)
        .map(|_| {
            let mut server = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            server.read_exact(&mut byte).unwrap();
            byte[0]
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    drop(clients);
}

// ---------------------------------------------------------------------------
// Directions.

#[test]
fn direction_is_the_pipe_access_and_each_end_keeps_to_it() {
    let name = unique("inbound");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().direction(Direction::Inbound))
            .unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    assert_eq!(client.direction(), Direction::Inbound);
    let mut server = listener.accept().unwrap();
    client.write_all(b"in").unwrap();
    let mut buf = [0u8; 2];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"in");
    let err = client.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::WrongDirection { op: "read", .. })
    ));
    assert!(server.write(b"x").is_err());
    // A Win32 client asking both ways is refused by Windows itself.
    assert_eq!(
        foreign::client(&name, 0).unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
    for requested in [Direction::Outbound, Direction::Duplex] {
        let err = PipeStream::connect_with(&name, &quick().direction(requested)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DirectionMismatch {
                    actual: Direction::Inbound,
                    ..
                }
            ),
            "{requested:?}: {err}"
        );
    }

    let name = unique("outbound");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().direction(Direction::Outbound))
            .unwrap();
    let client = MessageStream::connect(&name).unwrap();
    assert_eq!(client.direction(), Direction::Outbound);
    let server = listener.accept().unwrap();
    server.send(b"out").unwrap();
    assert_eq!(client.recv_vec().unwrap(), Some(b"out".to_vec()));
    assert!(matches!(
        client.send(b"no"),
        Err(Error::WrongDirection { op: "write", .. })
    ));

    // A duplex pipe serves a client that wants one way only.
    let name = unique("duplexin");
    let _listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect_with(&name, &quick().direction(Direction::Inbound)).unwrap();
    assert_eq!(client.direction(), Direction::Inbound);
}

// ---------------------------------------------------------------------------
// Half-close, and go-winio's convention.

#[test]
fn byte_pipes_have_no_half_close_and_say_so() {
    let name = unique("nohalf");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let _server = listener.accept().unwrap();
    let err = client.shutdown(Shutdown::Write).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("half-close"), "{err}");
    // Reads can still be shut down, and the rest works.
    client.shutdown(Shutdown::Read).unwrap();
    assert_eq!((&client).read(&mut [0u8; 4]).unwrap(), 0);
    (&client).write_all(b"still writes").unwrap();
}

#[test]
fn close_write_needs_go_winios_convention_and_then_ends_the_peers_messages() {
    let name = unique("plainclose");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let _server = listener.accept().unwrap();
    let err = client.close_write().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);

    let name = unique("winioclose");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().empty_message_ends_stream(true))
            .unwrap();
    let client = MessageStream::connect_with(
        &name,
        &ConnectOptions::new().empty_message_ends_stream(true),
    )
    .unwrap();
    let server = listener.accept().unwrap();
    client.send(b"one").unwrap();
    // An empty message would read as the end: refused.
    assert!(matches!(client.send(b""), Err(Error::Io(_))));
    client.close_write().unwrap();
    assert!(client.send(b"late").is_err());
    assert_eq!(server.recv_vec().unwrap(), Some(b"one".to_vec()));
    assert_eq!(server.recv_vec().unwrap(), None);
    assert_eq!(server.recv_vec().unwrap(), None);
    // The other way still works.
    server.send(b"reply").unwrap();
    assert_eq!(client.recv_vec().unwrap(), Some(b"reply".to_vec()));
}

#[tokio::test]
async fn tokio_byte_streams_have_no_half_close_either() {
    use tokio::io::AsyncWriteExt;
    let name = unique("nohalfasync");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let _server = listener.accept().await.unwrap();
    let err = client.shutdown().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    client.write_all(b"still writes").await.unwrap();
}

// ---------------------------------------------------------------------------
// Limits and timeouts.

#[test]
fn message_limits_hold_on_both_ends_without_a_handshake() {
    let name = unique("limits");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().max_message_size(1000)).unwrap();
    // A client cannot learn the server's limit from a native pipe: it
    // assumes its own, and the server refuses what breaks its limit.
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    assert_eq!(server.peer_max_message_size(), 1000);
    client.send(&[1u8; 1001]).unwrap();
    assert!(matches!(
        server.recv_vec(),
        Err(Error::MessageTooLarge {
            len: 1001,
            max: 1000
        })
    ));
    assert!(matches!(server.recv_vec(), Err(Error::Protocol(_))));

    let modest =
        MessageStream::connect_with(&name, &ConnectOptions::new().max_message_size(1000)).unwrap();
    let server = listener.accept().unwrap();
    assert_eq!(modest.peer_max_message_size(), 1000);
    assert!(matches!(
        modest.send(&[2u8; 1001]),
        Err(Error::MessageTooLarge {
            len: 1001,
            max: 1000
        })
    ));
    modest.send(&[3u8; 1000]).unwrap();
    assert_eq!(server.recv_vec().unwrap(), Some(vec![3u8; 1000]));
}

#[test]
fn a_timed_out_message_receive_loses_nothing() {
    let name = unique("readtimeout");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = server.recv_vec().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    client.send(b"after the timeout").unwrap();
    assert_eq!(
        server.recv_vec().unwrap(),
        Some(b"after the timeout".to_vec())
    );
}

#[tokio::test]
async fn async_message_receives_keep_big_messages_for_a_bigger_buffer() {
    let name = unique("asyncbig");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let server = listener.accept().await.unwrap();
    let big = vec![4u8; 300_000];
    // Larger than the pipe's buffer: the send ends when the server reads.
    let sending = tokio::spawn({
        let big = big.clone();
        async move {
            client.send(&big).await.unwrap();
            client.send(b"small").await.unwrap();
            client
        }
    });
    let mut small = [0u8; 10];
    assert!(matches!(
        server.recv(&mut small).await,
        Err(Error::BufferTooSmall {
            needed: 300_000,
            capacity: 10
        })
    ));
    assert_eq!(server.recv_vec().await.unwrap(), Some(big));
    assert_eq!(server.recv(&mut small).await.unwrap(), Some(5));
    assert_eq!(&small[..5], b"small");
    assert_eq!(server.peer().sid(), Some(me().as_str()));
    let _client = sending.await.unwrap();
    // Shutting down reads wakes a waiting receive with the end.
    let server = Arc::new(server);
    let waiting = tokio::spawn({
        let server = server.clone();
        async move { server.recv_vec().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.disconnect().unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), None);
}

#[tokio::test]
async fn vectored_writes_go_out_whole_and_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("vectored");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let big = vec![7u8; 300 * 1024];
    let parts: [&[u8]; 5] = [b"head ", b"", b"middle ", &big, b" tail"];
    let expected: Vec<u8> = parts.concat();
    let len = expected.len();
    let reader = tokio::spawn(async move {
        let mut stream = listener.accept().await.unwrap();
        let mut received = vec![0u8; len];
        stream.read_exact(&mut received).await.unwrap();
        received
    });
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    assert!(tokio::io::AsyncWrite::is_write_vectored(&client));
    let mut rest: Vec<&[u8]> = parts.to_vec();
    while !rest.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> =
            rest.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut written = client.write_vectored(&slices).await.unwrap();
        assert!(written > 0);
        while written > 0 {
            if written >= rest[0].len() {
                written -= rest[0].len();
                rest.remove(0);
            } else {
                rest[0] = &rest[0][written..];
                written = 0;
            }
        }
    }
    client.flush().await.unwrap();
    assert!(reader.await.unwrap() == expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    wine,
    ignore = "Wine 8's FlushFileBuffers does not wait on a handle bound to a completion port, as tokio's pipes are"
)]
async fn tokio_byte_streams_wait_for_the_peer_to_drain_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("drainasync");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let mut server = listener.accept().await.unwrap();
    client.write_all(&[3u8; 1000]).await.unwrap();
    let err = client
        .wait_for_drain(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    let mut buf = vec![0u8; 1000];
    server.read_exact(&mut buf).await.unwrap();
    client
        .wait_for_drain(Some(Duration::from_secs(5)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_message_streams_wait_for_the_peer_to_drain_them() {
    let name = unique("drainmsg");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let server = listener.accept().await.unwrap();
    client.send(b"unread").await.unwrap();
    let err = client
        .wait_for_drain(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(server.recv_vec().await.unwrap(), Some(b"unread".to_vec()));
    client
        .wait_for_drain(Some(Duration::from_secs(5)))
        .await
        .unwrap();
}
