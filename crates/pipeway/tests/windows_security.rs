//! Windows: what pipeway gives a pipe and checks of it: the security
//! descriptor built from the access rules, the check at accept, the pipe's
//! owner as a client trusts it, directions as pipe access, no half-close
//! (and go-winio's convention), and message limits without a handshake.
//! Tests that show what Wine does not emulate are ignored under Wine
//! (`--cfg wine`, set by scripts/test-windows.sh), each with its reason.
#![cfg(windows)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{unique, win32};
use pipeway::windows::{
    ConnectOptionsExt, ImpersonationLevel, ListenOptionsExt, ListenerExt, PeerIdentityExt,
};
use pipeway::{
    ConnectOptions, Direction, Error, ListenOptions, MessageListener, MessageStream, PipeListener,
    PipeStream,
};

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
// Security descriptors.

#[test]
fn the_default_descriptor_admits_the_owner_and_system_only() {
    let name = unique("sddl");
    let listener = PipeListener::bind(&name).unwrap();
    let me = me();
    let expected = format!("O:{me}D:P(A;;FA;;;{me})(A;;FA;;;SY)");
    assert_eq!(listener.security_descriptor(), expected);
    // It is what the pipe has.
    let client = win32::client(&name, 0).unwrap();
    assert_eq!(win32::security_of(&client), win32::normalized(&expected));
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
    let client = win32::client(&name, 0).unwrap();
    assert_eq!(win32::security_of(&client), win32::normalized(&expected));
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
    let err = win32::as_someone_else(|| PipeStream::connect_with(&name, &quick()));
    assert!(matches!(err, Err(Error::AccessDenied { .. })), "{err:?}");

    let open = unique("daclopen");
    let _listener = PipeListener::bind_with(&open, &ListenOptions::new().allow_everyone()).unwrap();
    let connected = win32::as_someone_else(|| PipeStream::connect_with(&open, &quick()));
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
        win32::client(&name, 0).unwrap_err().kind(),
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
// Limits.

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

// ---------------------------------------------------------------------------
// A descriptor given as SDDL; acting as the client.

/// The DACL part of a descriptor in SDDL.
fn dacl(sddl: &str) -> &str {
    &sddl[sddl.find("D:").expect("a DACL")..]
}

#[test]
fn a_security_descriptor_given_as_sddl_is_the_pipes() {
    let name = unique("sddlgiven");
    let sddl = "D:P(A;;FA;;;WD)";
    let options = ListenOptions::new().security_descriptor(sddl);
    let listener = PipeListener::bind_with(&name, &options).unwrap();
    assert_eq!(listener.security_descriptor(), sddl);
    let client = win32::client(&name, 0).unwrap();
    // Windows gives the pipe an owner of its choosing; the DACL is ours.
    assert_eq!(
        dacl(&win32::security_of(&client)),
        dacl(&win32::normalized(sddl))
    );
    let _stream = listener.accept().unwrap();

    let err = PipeListener::bind_with(
        unique("badsddl"),
        &ListenOptions::new().security_descriptor("D:(not sddl"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("D:(not sddl"), "{err}");
}

/// The impersonation level of the calling thread's token; `None` when the
/// thread has none of its own (it is not impersonating anyone).
fn thread_impersonation_level() -> Option<i32> {
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::Security::{GetTokenInformation, TOKEN_QUERY, TokenImpersonationLevel};
    use windows_sys::Win32::System::Threading::{GetCurrentThread, OpenThreadToken};
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this thread needs no closing; `token` is
    // a valid out pointer, owned at once on success.
    if unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) } == 0 {
        return None;
    }
    // SAFETY: a token handle just opened, owned here alone.
    let token = unsafe { OwnedHandle::from_raw_handle(token as _) };
    let mut level = 0i32;
    let mut len = 0u32;
    // SAFETY: `level` holds the SECURITY_IMPERSONATION_LEVEL asked for.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle() as HANDLE,
            TokenImpersonationLevel,
            (&mut level as *mut i32).cast(),
            4,
            &mut len,
        )
    };
    assert_ne!(ok, 0, "GetTokenInformation failed");
    Some(level)
}

/// The server thread acts as the client with the `level` the client
/// allowed; another thread keeps its identity meanwhile, and the thread is
/// itself again afterwards.
fn a_server_thread_acts_as_its_client_at(level: ImpersonationLevel, expected: i32) {
    use std::sync::mpsc;

    // Another thread of the server, asked for its token while the server
    // thread acts as the client.
    let (ask, asked) = mpsc::channel::<()>();
    let (answer, answered) = mpsc::channel();
    let bystander = std::thread::spawn(move || {
        while asked.recv().is_ok() {
            answer.send(thread_impersonation_level()).unwrap();
        }
    });

    let name = unique("runas");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect_with(&name, &quick().impersonation_level(level)).unwrap();
    let server = listener.accept().unwrap();
    assert_eq!(thread_impersonation_level(), None);
    let (inside, other) = server
        .run_as_client(|| {
            ask.send(()).unwrap();
            (thread_impersonation_level(), answered.recv().unwrap())
        })
        .unwrap();
    assert_eq!(inside, Some(expected), "{level:?}");
    assert_eq!(other, None, "another thread keeps its own identity");
    assert_eq!(
        thread_impersonation_level(),
        None,
        "the thread is itself again"
    );
    // A client end cannot act as its server.
    let err = client.run_as_client(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    drop(ask);
    bystander.join().unwrap();
}

#[test]
fn a_server_thread_acts_as_a_client_that_allows_impersonation() {
    use windows_sys::Win32::Security::SecurityImpersonation;
    a_server_thread_acts_as_its_client_at(ImpersonationLevel::Impersonation, SecurityImpersonation);
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 ignores the client's impersonation level: the server's token is always SecurityImpersonation"
)]
fn a_server_thread_only_identifies_a_client_that_allows_identification() {
    use windows_sys::Win32::Security::SecurityIdentification;
    a_server_thread_acts_as_its_client_at(
        ImpersonationLevel::Identification,
        SecurityIdentification,
    );
}
