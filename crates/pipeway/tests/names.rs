//! Names are not lost or stolen: binding over live, stale and foreign files,
//! cleanup on drop, invalid names, and connect's waiting rules.

mod common;

use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::unique;
#[cfg(unix)]
use common::{Identity, Squatter, require_root, socket_path};
#[cfg(unix)]
use pipeway::unix::{ListenerExt, PipeNameExt};
use pipeway::{ConnectOptions, Error, NameError, PipeListener, PipeStream};
#[cfg(unix)]
use pipeway::{ListenOptions, PipeName};

#[cfg(unix)]
fn quick() -> ConnectOptions {
    ConnectOptions::new().timeout(Duration::from_millis(300))
}

#[cfg(unix)]
#[test]
fn a_local_name_binds_at_the_dotnet_path_with_owner_only_mode() {
    let name = unique("path");
    let listener = PipeListener::bind(&name).unwrap();
    let path = socket_path(&name);
    assert_eq!(listener.socket_path(), path);
    assert_eq!(
        PipeName::parse(&name).unwrap().socket_path(),
        Some(path.as_path())
    );
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn every_spelling_of_a_local_name_reaches_the_same_pipe() {
    let name = unique("spell");
    let listener = PipeListener::bind(format!(r"\\.\pipe\{name}")).unwrap();
    for spelling in [name.clone(), format!("//./pipe/{name}")] {
        let mut client = PipeStream::connect(&spelling).unwrap();
        let mut server_end = listener.accept().unwrap();
        client.write_all(b"x").unwrap();
        let mut byte = [0u8];
        server_end.read_exact(&mut byte).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn an_absolute_path_is_used_verbatim() {
    let dir = std::env::temp_dir().join(unique("dir"));
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("ctl.sock");
    let listener = PipeListener::bind(path.to_str().unwrap()).unwrap();
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    let _client = PipeStream::connect(path.as_path()).unwrap();
    let _server_end = listener.accept().unwrap();
    drop(listener);
    assert!(!path.exists(), "the listener removes its socket file");
    std::fs::remove_dir(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_stale_socket_file_is_reclaimed() {
    let name = unique("stale");
    let path = socket_path(&name);
    // A server that died without cleaning up: bound, then closed.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let listener = PipeListener::bind(&name).unwrap();
    let _client = PipeStream::connect(&name).unwrap();
    let _server_end = listener.accept().unwrap();
}

#[cfg(unix)]
#[test]
fn first_instance_refuses_even_a_stale_file() {
    let name = unique("first");
    let path = socket_path(&name);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err =
        PipeListener::bind_with(&name, &ListenOptions::new().first_instance(true)).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    std::fs::remove_file(&path).unwrap();
    PipeListener::bind_with(&name, &ListenOptions::new().first_instance(true)).unwrap();
}

#[cfg(unix)]
#[test]
fn binding_a_live_name_fails_and_names_the_holder() {
    let name = unique("live");
    let _holder = PipeListener::bind(&name).unwrap();
    let err = PipeListener::bind(&name).unwrap_err();
    match &err {
        Error::InUse { holder, .. } => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("expected InUse, got {other}"),
    }
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    // The holder still works.
    let _client = PipeStream::connect(&name).unwrap();
}

#[cfg(unix)]
#[test]
fn another_users_live_pipe_is_not_stolen() {
    if !require_root() {
        return;
    }
    let name = unique("theirs");
    let path = socket_path(&name);
    let squatter = Squatter::start(&Identity::nobody(), &path);
    match PipeListener::bind(&name).unwrap_err() {
        Error::InUse { holder, .. } => {
            assert!(
                holder.contains(&format!("pid {}", squatter.pid)),
                "{holder}"
            );
            assert!(holder.contains("uid 65534"), "{holder}");
        }
        other => panic!("expected InUse, got {other}"),
    }
}

#[cfg(unix)]
#[test]
fn a_file_that_is_not_a_socket_is_never_touched() {
    let name = unique("regular");
    let path = socket_path(&name);
    std::fs::write(&path, b"precious").unwrap();
    let err = PipeListener::bind(&name).unwrap_err();
    assert!(
        matches!(&err, Error::NotASocket { path: p } if *p == path),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    // A client does not take it for a pipe either, and leaves it alone.
    let err = PipeStream::connect_with(&name, &quick()).unwrap_err();
    assert!(matches!(err, Error::NotListening { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();

    std::fs::create_dir(&path).unwrap();
    assert!(matches!(
        PipeListener::bind(&name),
        Err(Error::NotASocket { .. })
    ));
    assert!(path.is_dir());
    std::fs::remove_dir(&path).unwrap();
}

#[cfg(unix)]
#[test]
fn dropping_a_listener_removes_its_own_file_and_no_one_elses() {
    let name = unique("drop");
    let path = socket_path(&name);
    let listener = PipeListener::bind(&name).unwrap();
    drop(listener);
    assert!(!path.exists());

    // Someone replaced the file while the listener ran: it stays.
    let listener = PipeListener::bind(&name).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"theirs").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    std::fs::remove_file(&path).unwrap();
}

#[cfg(unix)]
#[test]
fn a_name_too_long_for_sun_path_is_refused_with_the_limit_and_path() {
    let name = "n".repeat(120);
    let err = PipeListener::bind(name.as_str()).unwrap_err();
    match &err {
        Error::Name(NameError::TooLong { path, len, max }) => {
            assert_eq!(*max, 107);
            assert_eq!(*len, path.as_os_str().len());
            assert!(path.to_string_lossy().ends_with(&name));
        }
        other => panic!("expected TooLong, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("107") && message.contains(&name),
        "{message}"
    );
    assert!(matches!(
        PipeStream::connect(name.as_str()),
        Err(Error::Name(NameError::TooLong { .. }))
    ));
}

#[test]
fn dropping_a_listener_ends_its_name() {
    let name = unique("vanish");
    let listener = PipeListener::bind(&name).unwrap();
    let endpoint = listener.endpoint().to_owned();
    drop(listener);
    let quick = ConnectOptions::new().timeout(Duration::from_millis(300));
    match PipeStream::connect_with(&name, &quick).unwrap_err() {
        Error::NotFound { path, .. } => assert_eq!(path, endpoint),
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
    let first = pipeway::ListenOptions::new().first_instance(true);
    let err = PipeListener::bind_with(&name, &first).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}

#[test]
fn a_served_pipe_is_inspected_without_a_connection_and_goes_with_its_listener() {
    let name = unique("inspected");
    let listener = PipeListener::bind(&name).unwrap();
    let inspected = pipeway::inspect(&name).unwrap();
    assert_eq!(inspected.path, listener.endpoint());
    assert!(matches!(inspected.state, pipeway::PipeState::Live { .. }));
    #[cfg(unix)]
    assert_eq!(
        inspected.owner,
        pipeway::unix::PrincipalExt::uid(&pipeway::Principal::current().unwrap())
    );
    drop(listener);
    assert!(matches!(
        pipeway::inspect(&name),
        Err(Error::NotFound { .. })
    ));
}

#[test]
#[cfg_attr(
    wine,
    ignore = r"Wine 8 cannot list \\.\pipe\ (FindFirstFileW fails with ERROR_BAD_DEV_TYPE)"
)]
fn a_served_pipe_is_listed_and_goes_with_its_listener() {
    let name = unique("listed");
    let listener = PipeListener::bind(&name).unwrap();
    let pipes = pipeway::local_pipes().unwrap();
    let listed = pipes
        .iter()
        .find(|pipe| pipe.name == name)
        .unwrap_or_else(|| panic!("{name} not in {pipes:?}"));
    assert_eq!(listed.path, listener.endpoint());
    assert!(matches!(listed.state, pipeway::PipeState::Live { .. }));
    drop(listener);
    let listed_after = pipeway::local_pipes().unwrap();
    assert!(!listed_after.iter().any(|pipe| pipe.name == name));
}

#[test]
fn invalid_names_are_refused_at_bind_and_connect() {
    for bad in [
        "",
        "anonymous",
        "Anonymous",
        "a/b",
        "a\0b",
        r"\\srv\share\x",
        "relative/path",
    ] {
        assert!(
            matches!(PipeListener::bind(bad), Err(Error::Name(_))),
            "bind {bad:?}"
        );
        assert!(
            matches!(PipeStream::connect(bad), Err(Error::Name(_))),
            "connect {bad:?}"
        );
    }
    #[cfg(unix)]
    assert!(matches!(
        PipeListener::bind("/tmp/ends-in-slash/"),
        Err(Error::Name(NameError::TrailingSlash(_)))
    ));
    // Windows has no socket paths at all.
    #[cfg(windows)]
    assert!(matches!(
        PipeListener::bind("/tmp/ctl.sock"),
        Err(Error::Name(NameError::Unsupported(_)))
    ));
}

#[test]
fn remote_names_are_recognised_and_refused_clearly() {
    // A listener serves local pipes only.
    let err = PipeListener::bind("//fileserver/pipe/x").unwrap_err();
    assert!(matches!(err, Error::RemoteNotSupported { .. }), "{err}");
    assert!(err.to_string().contains("another host"), "{err}");
    // A client reaches remote pipes (tests/remote.rs), but not without
    // credentials: it says where to give them, before any traffic.
    #[cfg(all(unix, feature = "remote"))]
    if std::env::var_os("PIPEWAY_USER").is_none() {
        let err = PipeStream::connect(r"\\fileserver\pipe\spoolss").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("PIPEWAY_PASSWORD"), "{err}");
    }
    #[cfg(all(unix, not(feature = "remote")))]
    assert!(matches!(
        PipeStream::connect(r"\\fileserver\pipe\spoolss"),
        Err(Error::RemoteNotSupported { .. })
    ));
}

#[test]
fn connecting_to_a_missing_pipe_fails_with_not_found_within_the_timeout() {
    let name = unique("missing");
    let timeout = Duration::from_millis(400);
    let started = Instant::now();
    let err = PipeStream::connect_with(&name, &ConnectOptions::new().timeout(timeout)).unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(waited >= timeout, "gave up early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_secs(1),
        "overstayed: {waited:?}"
    );
}

#[test]
fn a_zero_timeout_tries_once() {
    let name = unique("once");
    let started = Instant::now();
    let err = PipeStream::connect_with(&name, &ConnectOptions::new().timeout(Duration::ZERO))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[test]
fn a_connect_that_starts_before_the_server_binds_succeeds_once_it_does() {
    let name = unique("early");
    let client = {
        let name = name.clone();
        std::thread::spawn(move || {
            PipeStream::connect_with(
                &name,
                &ConnectOptions::new().timeout(Duration::from_secs(5)),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let listener = PipeListener::bind(&name).unwrap();
    let mut server_end = listener.accept().unwrap();
    let mut client = client.join().unwrap().unwrap();
    client.write_all(b"late but fine").unwrap();
    let mut buf = [0u8; 13];
    server_end.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late but fine");
}

#[tokio::test]
async fn an_async_connect_waits_for_the_server_too() {
    let name = unique("earlyasync");
    let client = tokio::spawn({
        let name = name.clone();
        async move { pipeway::tokio::PipeStream::connect(&name).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let _server_end = listener.accept().await.unwrap();
    client.await.unwrap().unwrap();
}

#[cfg(unix)]
#[test]
fn a_stale_file_makes_a_client_wait_then_fail_as_not_listening() {
    let name = unique("stalewait");
    let path = socket_path(&name);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err = PipeStream::connect_with(&name, &quick()).unwrap_err();
    assert!(matches!(err, Error::NotListening { .. }), "{err}");
    std::fs::remove_file(&path).unwrap();
}

#[cfg(unix)]
#[test]
fn the_listing_shows_live_and_stale_pipes_without_connecting() {
    let live = unique("listlive");
    let framed = unique("listframed");
    let stale = unique("liststale");
    let listener = PipeListener::bind(&live).unwrap();
    let _messages = pipeway::MessageListener::bind(&framed).unwrap();
    drop(std::os::unix::net::UnixListener::bind(socket_path(&stale)).unwrap());
    let pipes = pipeway::unix::local_pipes().unwrap();
    let find = |name: &str| pipes.iter().find(|p| p.name == name).cloned();
    let live_entry = find(&live).expect("the live pipe is listed");
    assert_eq!(
        live_entry.state,
        pipeway::unix::PipeState::Live {
            pid: Some(std::process::id())
        }
    );
    assert_eq!(live_entry.mode, 0o600);
    assert_eq!(live_entry.wire, Some(pipeway::unix::Wire::Plain));
    assert_eq!(
        find(&framed).expect("the message pipe is listed").wire,
        Some(pipeway::unix::Wire::Framed)
    );
    let stale_entry = find(&stale).expect("the stale pipe is listed");
    assert_eq!(stale_entry.state, pipeway::unix::PipeState::Stale);
    assert_eq!(stale_entry.wire, None);
    std::fs::remove_file(socket_path(&stale)).unwrap();
    // Listing did not connect: the first client the listener accepts is the
    // one connecting now, not a probe left queued by the listing.
    let mut client = PipeStream::connect(&live).unwrap();
    client.write_all(b"real").unwrap();
    let mut first = listener.accept().unwrap();
    let mut buf = [0u8; 4];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"real");
}

/// What a scoped tracing subscriber wrote, for tests that check a warning.
#[cfg(unix)]
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(unix)]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl Captured {
    /// Runs `f` with warnings from this thread captured, and returns them.
    fn warnings(f: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }
}

#[cfg(unix)]
#[test]
fn a_pipe_in_a_world_writable_directory_without_the_sticky_bit_is_warned_about_once() {
    let open = std::env::temp_dir().join(unique("open-dir"));
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let logs = Captured::warnings(|| {
        let first = open.join("first.sock");
        let listener = PipeListener::bind(first.as_path()).unwrap();
        let _client = PipeStream::connect(first.as_path()).unwrap();
        let _second = PipeListener::bind(open.join("second.sock").as_path()).unwrap();
        drop(listener);
    });
    assert_eq!(
        logs.matches("world-writable without the sticky bit")
            .count(),
        1,
        "one warning for the directory: {logs}"
    );
    assert!(logs.contains(&open.display().to_string()), "{logs}");

    // A connect alone warns too; a sticky directory (as /tmp is) does not.
    let connect_only = std::env::temp_dir().join(unique("open-dir"));
    std::fs::create_dir(&connect_only).unwrap();
    std::fs::set_permissions(&connect_only, std::fs::Permissions::from_mode(0o777)).unwrap();
    let sticky = std::env::temp_dir().join(unique("sticky-dir"));
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let logs = Captured::warnings(|| {
        let missing = connect_only.join("nobody.sock");
        let _ = PipeStream::connect_with(missing.as_path(), &quick());
        let _listener = PipeListener::bind(sticky.join("fine.sock").as_path()).unwrap();
    });
    assert!(logs.contains(&connect_only.display().to_string()), "{logs}");
    assert!(!logs.contains(&sticky.display().to_string()), "{logs}");
    for dir in [open, connect_only, sticky] {
        std::fs::remove_dir(&dir).unwrap();
    }
}
