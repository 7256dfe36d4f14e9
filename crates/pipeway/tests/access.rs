//! Access control with real second users (forked children that setuid),
//! and the client's check of the server's identity. The second users are a
//! Unix affair (Wine has but one user); windows.rs tests the Windows side.

mod common;

#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};
#[cfg(unix)]
use std::sync::{Arc, Mutex};
#[cfg(unix)]
use std::time::Duration;

use common::unique;
#[cfg(unix)]
use common::{
    Identity, NOBODY, Outcome, STRANGER, Squatter, USERS_GID, connect_as, require_root, socket_path,
};
#[cfg(unix)]
use pipeway::unix::{ConnectOptionsExt, ListenOptionsExt, PeerIdentityExt};
#[cfg(unix)]
use pipeway::{ConnectOptions, PeerIdentity, PipeStream};
use pipeway::{Error, ListenOptions, PipeListener};

/// A blocking echo server (4 bytes per client) that records who it served
/// and what it logged.
#[cfg(unix)]
struct EchoServer {
    listener: Arc<PipeListener>,
    peers: Arc<Mutex<Vec<PeerIdentity>>>,
    logs: Arc<Mutex<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(unix)]
#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

#[cfg(unix)]
impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl EchoServer {
    fn start(name: &str, options: &ListenOptions) -> EchoServer {
        let listener = Arc::new(PipeListener::bind_with(name, options).unwrap());
        let peers = Arc::new(Mutex::new(Vec::new()));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (listener, peers, logs) = (listener.clone(), peers.clone(), logs.clone());
            std::thread::spawn(move || {
                let writer = LogBuffer(logs);
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .finish();
                tracing::subscriber::with_default(subscriber, || {
                    while let Ok(mut stream) = listener.accept() {
                        peers.lock().unwrap().push(stream.peer().clone());
                        let mut buf = [0u8; 4];
                        if stream.read_exact(&mut buf).is_ok() {
                            let _ = stream.write_all(&buf);
                        }
                    }
                })
            })
        };
        EchoServer {
            listener,
            peers,
            logs,
            thread: Some(thread),
        }
    }

    fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }
}

#[cfg(unix)]
impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.listener.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This process (root in CI) is served too: a refusal never stops the listener.
#[cfg(unix)]
fn assert_still_serving(name: &str) {
    let mut client = PipeStream::connect(name).unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[cfg(unix)]
#[test]
fn another_user_is_refused_by_default() {
    if !require_root() {
        return;
    }
    let name = unique("default");
    let server = EchoServer::start(&name, &ListenOptions::new());
    let path = socket_path(&name);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (outcome, _) = connect_as(&Identity::nobody(), &path, false);
    assert_eq!(outcome, Outcome::ConnectDenied);
    let (outcome, _) = connect_as(&Identity::uid(STRANGER), &path, false);
    assert_eq!(outcome, Outcome::ConnectDenied);
    assert_still_serving(&name);
    drop(server);
}

#[cfg(unix)]
#[test]
fn an_allowed_user_is_served_and_identified_and_others_are_refused_and_logged() {
    if !require_root() {
        return;
    }
    let name = unique("allowuser");
    let server = EchoServer::start(&name, &ListenOptions::new().allow_user("nobody"));
    let path = socket_path(&name);
    let (outcome, child) = connect_as(&Identity::nobody(), &path, false);
    assert_eq!(outcome, Outcome::Echoed);
    {
        let peers = server.peers.lock().unwrap();
        let peer = peers
            .iter()
            .find(|p| p.uid() == NOBODY)
            .expect("nobody was served");
        assert_eq!(peer.pid(), Some(child));
        assert_eq!(peer.gid(), NOBODY);
        assert_eq!(peer.user_name(), Some("nobody"));
    }
    // The file cannot express "root and nobody", so it admits all and the
    // check at accept refuses the rest, before reading anything.
    let (outcome, _) = connect_as(&Identity::uid(STRANGER), &path, false);
    assert!(outcome.refused_after_connect(), "{outcome:?}");
    assert!(
        server
            .peers
            .lock()
            .unwrap()
            .iter()
            .all(|p| p.uid() != STRANGER)
    );
    let logs = server.logs();
    assert!(
        logs.contains("refused a client") && logs.contains("uid=4242"),
        "{logs}"
    );
    assert_still_serving(&name);
}

#[cfg(unix)]
#[test]
fn an_allowed_group_is_expressed_by_the_file_and_checked_at_accept() {
    if !require_root() {
        return;
    }
    let name = unique("allowgroup");
    let _server = EchoServer::start(&name, &ListenOptions::new().allow_group("users"));
    let path = socket_path(&name);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), USERS_GID);
    let member = Identity::uid(STRANGER).with_group(USERS_GID);
    assert_eq!(connect_as(&member, &path, false).0, Outcome::Echoed);
    assert_eq!(
        connect_as(&Identity::uid(STRANGER), &path, false).0,
        Outcome::ConnectDenied
    );
    assert_still_serving(&name);
}

#[cfg(unix)]
#[test]
fn everyone_admits_any_user() {
    if !require_root() {
        return;
    }
    let name = unique("everyone");
    let _server = EchoServer::start(&name, &ListenOptions::new().allow_everyone());
    let path = socket_path(&name);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o666
    );
    assert_eq!(
        connect_as(&Identity::nobody(), &path, false).0,
        Outcome::Echoed
    );
    assert_eq!(
        connect_as(&Identity::uid(STRANGER), &path, false).0,
        Outcome::Echoed
    );
}

#[cfg(unix)]
#[test]
fn denies_win_over_allows() {
    if !require_root() {
        return;
    }
    let name = unique("denyuser");
    let _server = EchoServer::start(
        &name,
        &ListenOptions::new().allow_everyone().deny_user("nobody"),
    );
    let path = socket_path(&name);
    let outcome = connect_as(&Identity::nobody(), &path, false).0;
    assert!(outcome.refused_after_connect(), "{outcome:?}");
    assert_eq!(
        connect_as(&Identity::uid(STRANGER), &path, false).0,
        Outcome::Echoed
    );

    let name = unique("denygroup");
    let _server = EchoServer::start(
        &name,
        &ListenOptions::new()
            .allow_user("nobody")
            .allow_uid(STRANGER)
            .deny_group("users"),
    );
    let path = socket_path(&name);
    let member = Identity::uid(STRANGER).with_group(USERS_GID);
    let outcome = connect_as(&member, &path, false).0;
    assert!(outcome.refused_after_connect(), "{outcome:?}");
    assert_eq!(
        connect_as(&Identity::uid(STRANGER), &path, false).0,
        Outcome::Echoed
    );
    assert_eq!(
        connect_as(&Identity::nobody(), &path, false).0,
        Outcome::Echoed
    );
    assert_still_serving(&name);
}

#[cfg(unix)]
#[test]
fn a_refused_client_of_the_framed_wire_is_told_why() {
    if !require_root() {
        return;
    }
    let name = unique("framedrefuse");
    let options = ListenOptions::new()
        .max_instances(8)
        .allow_everyone()
        .deny_uid(STRANGER);
    let _server = EchoServer::start(&name, &options);
    let path = socket_path(&name);
    assert_eq!(
        connect_as(&Identity::uid(STRANGER), &path, true).0,
        Outcome::HelloRefused
    );
    assert_eq!(
        connect_as(&Identity::nobody(), &path, true).0,
        Outcome::HelloEchoed
    );
    assert_still_serving(&name);

    // A pipeway client gets a typed error rather than a silent close.
    let name = unique("framedrefuseme");
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let _server = EchoServer::start(
        &name,
        &ListenOptions::new()
            .max_instances(8)
            .allow_everyone()
            .deny_uid(me),
    );
    let err = PipeStream::connect(&name).unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
}

#[test]
fn unknown_users_and_groups_fail_the_bind() {
    let err = PipeListener::bind_with(
        unique("nouser"),
        &ListenOptions::new().allow_user("no-such-user-here"),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::UnknownUser(ref u) if u == "no-such-user-here"),
        "{err}"
    );
    let err = PipeListener::bind_with(
        unique("nogroup"),
        &ListenOptions::new().deny_group("no-such-group-here"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownGroup(_)), "{err}");
}

#[cfg(unix)]
#[test]
fn a_squatters_pipe_is_refused_before_anything_is_sent() {
    if !require_root() {
        return;
    }
    let name = unique("squat");
    let path = socket_path(&name);
    let squatter = Squatter::start(&Identity::nobody(), &path);
    let options = ConnectOptions::new().timeout(Duration::from_secs(1));
    match PipeStream::connect_with(&name, &options).unwrap_err() {
        Error::UntrustedServer { actual, pid, .. } => {
            assert_eq!(pid, Some(squatter.pid));
            assert!(actual.contains("65534"), "{actual}");
        }
        other => panic!("expected UntrustedServer, got {other}"),
    }
    // Trusting that user on purpose works, by name or by uid.
    PipeStream::connect_with(&name, &options.clone().require_server_user("nobody")).unwrap();
    PipeStream::connect_with(&name, &options.clone().require_server_uid(NOBODY)).unwrap();
    PipeStream::connect_with(&name, &options.trust_any_server()).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_squatter_is_refused_by_the_async_client_too() {
    if !require_root() {
        return;
    }
    let name = unique("squatasync");
    let _squatter = Squatter::start(&Identity::nobody(), &socket_path(&name));
    let err = pipeway::tokio::PipeStream::connect(&name)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedServer { .. }), "{err}");
}

/// The calling thread's effective and filesystem uids, as the kernel keeps
/// them for that thread alone.
#[cfg(target_os = "linux")]
fn thread_uids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect();
    (uids[1], uids[3])
}

#[cfg(target_os = "linux")]
#[test]
fn a_server_thread_acts_as_its_client_and_no_other_thread_does() {
    use std::sync::mpsc;
    if !require_root() {
        return;
    }
    let name = unique("runas");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().allow_user("nobody")).unwrap();
    let dir = std::env::temp_dir().join(unique("runas-dir"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let root_only = dir.join("root-only");
    std::fs::create_dir(&root_only).unwrap();
    std::fs::set_permissions(&root_only, std::fs::Permissions::from_mode(0o700)).unwrap();

    // Another thread of the server, asked for its ids while the server
    // thread acts as the client.
    let (ask, asked) = mpsc::channel::<()>();
    let (answer, answered) = mpsc::channel();
    let bystander = std::thread::spawn(move || {
        while asked.recv().is_ok() {
            answer.send(thread_uids()).unwrap();
        }
    });

    let server = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let mut stream = listener.accept().unwrap();
            let before = thread_uids();
            let (inside, others, wrote, refused) = stream
                .run_as_client(|| {
                    ask.send(()).unwrap();
                    let others = answered.recv().unwrap();
                    let wrote = std::fs::write(dir.join("written-as-client"), b"x");
                    let refused = std::fs::write(dir.join("root-only/no"), b"x");
                    (thread_uids(), others, wrote, refused)
                })
                .unwrap();
            let after = thread_uids();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
            drop(ask);
            (before, inside, others, after, wrote, refused)
        })
    };
    let (outcome, _) = connect_as(&Identity::nobody(), &socket_path(&name), false);
    assert_eq!(outcome, Outcome::Echoed);
    let (before, inside, others, after, wrote, refused) = server.join().unwrap();
    bystander.join().unwrap();

    assert_eq!(before, (0, 0));
    assert_eq!(inside, (NOBODY, NOBODY), "the server thread is the client");
    assert_eq!(others, (0, 0), "another thread keeps its own ids meanwhile");
    assert_eq!(after, (0, 0), "the thread is itself again");
    wrote.unwrap();
    let owner = std::fs::metadata(dir.join("written-as-client"))
        .unwrap()
        .uid();
    assert_eq!(owner, NOBODY, "a file the client made is the client's");
    assert_eq!(
        refused.unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied,
        "what the client may not write, the server acting as it may not either"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn only_a_server_end_acts_as_its_client() {
    let name = unique("runasclient");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    let err = client.run_as_client(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // The client is this very user: acting as it changes nothing, and works
    // whether or not this process may switch users.
    assert_eq!(
        server.run_as_client(thread_uids_or_none).unwrap(),
        thread_uids_or_none()
    );
}

/// The calling thread's uids where /proc shows them.
#[cfg(unix)]
fn thread_uids_or_none() -> Option<(u32, u32)> {
    #[cfg(target_os = "linux")]
    return Some(thread_uids());
    #[cfg(not(target_os = "linux"))]
    None
}
