//! The SMB socket against a peer that is not a well-behaved smbd: this
//! test plays smbd itself (with pipeway-smb's encoder), so no Samba is
//! needed. A silent, slow, malformed or oversized hand-off is closed
//! without a reply and never holds up the listener or other hand-offs.
#![cfg(all(target_os = "linux", feature = "remote"))]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use pipeway::smb::SmbOptions;
use pipeway::unix::{ListenOptionsExt, ListenerExt};
use pipeway::{ListenOptions, MessageListener, PipeListener};
use pipeway_smb::np::{self, AuthRequest, FileType};

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    format!(
        "pwh{tag}{}x{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory standing in for Samba's np directory.
struct NpDir(std::path::PathBuf);

impl NpDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("np"));
        std::fs::create_dir_all(&dir).unwrap();
        NpDir(dir)
    }
}

impl Drop for NpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(dir: &NpDir, handshake: Duration) -> ListenOptions {
    ListenOptions::new().allow_everyone().serve_smb(
        SmbOptions::new()
            .socket_dir(&dir.0)
            .handshake_timeout(handshake),
    )
}

/// Plays smbd: connects, sends `request`, returns the socket.
fn hand_off(path: &Path, request: &[u8]) -> UnixStream {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.write_all(request).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn read_reply(stream: &mut UnixStream) -> np::AuthReply {
    let mut reply = [0u8; np::REPLY_LEN];
    stream.read_exact(&mut reply).unwrap();
    np::decode_reply(&reply).unwrap()
}

/// Whether the server closed without a word.
fn closed_without_reply(stream: &mut UnixStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0))
}

fn request(level: u32) -> Vec<u8> {
    AuthRequest::example(level, "alice", 4321).encode().unwrap()
}

#[test]
fn every_level_is_answered_with_its_level_and_the_pipes_type() {
    let dir = NpDir::new();
    let pipe = unique("lvl");
    let listener =
        MessageListener::bind_with(pipe.as_str(), &options(&dir, Duration::from_secs(5))).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();
    for level in np::LEVELS {
        let mut smbd = hand_off(&path, &request(level));
        let reply = read_reply(&mut smbd);
        assert_eq!(
            (reply.level, reply.file_type, reply.status),
            (level, FileType::Message, 0)
        );
        let stream = listener.accept().unwrap();
        let caller = stream.peer().smb().unwrap();
        assert_eq!((caller.account(), caller.level()), ("alice", level));
        // Messages after 2-byte lengths, both ways.
        smbd.write_all(&[3, 0, b'a', b'b', b'c']).unwrap();
        assert_eq!(stream.recv_vec().unwrap().unwrap(), b"abc");
        stream.send(b"xy").unwrap();
        let mut back = [0u8; 4];
        smbd.read_exact(&mut back).unwrap();
        assert_eq!(back, [2, 0, b'x', b'y']);
    }
}

#[test]
fn a_silent_peer_holds_up_neither_other_hand_offs_nor_local_clients() {
    let dir = NpDir::new();
    let pipe = unique("silent");
    let listener =
        PipeListener::bind_with(pipe.as_str(), &options(&dir, Duration::from_millis(500))).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();
    // Connects and says nothing; another sends half a request and stops.
    let mut silent = UnixStream::connect(&path).unwrap();
    let mut half = UnixStream::connect(&path).unwrap();
    half.write_all(&request(7)[..100]).unwrap();

    let started = Instant::now();
    let mut good = hand_off(&path, &request(8));
    assert_eq!(read_reply(&mut good).level, 8);
    assert!(listener.accept().unwrap().peer().smb().is_some());
    let _local = pipeway::PipeStream::connect(pipe.as_str()).unwrap();
    assert!(listener.accept().unwrap().peer().smb().is_none());
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "waited for the silent ones"
    );

    // Past the deadline both are closed, without a reply.
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(closed_without_reply(&mut silent));
    assert!(closed_without_reply(&mut half));
}

#[test]
fn malformed_oversized_and_unknown_hand_offs_are_closed_without_a_reply() {
    let dir = NpDir::new();
    let pipe = unique("bad");
    let listener =
        PipeListener::bind_with(pipe.as_str(), &options(&dir, Duration::from_secs(5))).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();

    let mut unknown_level = request(7);
    unknown_level[8..16].copy_from_slice(&[9, 0, 0, 0, 9, 0, 0, 0]);
    let mut garbage = request(7);
    for byte in &mut garbage[16..] {
        *byte = 0xff;
    }
    let mut bad_magic = request(7);
    bad_magic[4..8].copy_from_slice(b"XXXX");
    let oversized = u32::MAX.to_be_bytes().to_vec();
    for bad in [unknown_level, garbage, bad_magic, oversized] {
        let mut smbd = hand_off(&path, &bad);
        assert!(closed_without_reply(&mut smbd));
    }
    // A caller the rules refuse: anonymous.
    let mut anonymous = AuthRequest::example(7, "ANONYMOUS", 65534);
    anonymous.session.token.as_mut().unwrap().sids = vec!["S-1-5-7".parse().unwrap()];
    let mut smbd = hand_off(&path, &anonymous.encode().unwrap());
    assert!(closed_without_reply(&mut smbd));

    // The listener goes on.
    let mut smbd = hand_off(&path, &request(7));
    assert_eq!(read_reply(&mut smbd).status, 0);
    let mut stream = listener.accept().unwrap();
    smbd.write_all(b"still serving").unwrap();
    let mut got = [0u8; 13];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still serving");
}

/// Connects to `path` as uid/gid 65534 (nobody) in a forked child, sends
/// `request`, and says whether the server closed without a reply.
fn hand_off_as_nobody(path: &Path, request: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the child calls only async-signal-safe functions on memory
    // prepared before the fork, then _exits.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let code = (|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return 3;
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                if libc::connect(fd, (&raw const addr).cast(), len) != 0 {
                    return 4;
                }
                // Hung up on before the request was written, end-of-file,
                // or a reset (closed with the request unread): all refusals.
                if libc::write(fd, request.as_ptr().cast(), request.len()) != request.len() as isize
                {
                    return 0;
                }
                let mut buf = [0u8; 64];
                match libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) {
                    n if n > 0 => 1,
                    _ => 0,
                }
            })();
            libc::_exit(code);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        let code = libc::WEXITSTATUS(status);
        assert!(
            code <= 1,
            "the child failed before its hand-off (code {code})"
        );
        code == 0
    }
}

#[test]
fn only_root_or_the_listeners_user_may_hand_clients_over() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to connect as another user");
        return;
    }
    let dir = NpDir::new();
    let pipe = unique("who");
    let listener =
        PipeListener::bind_with(pipe.as_str(), &options(&dir, Duration::from_secs(5))).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Opened up by hand, the socket still takes hand-offs only from root
    // (smbd) and the listener's own user.
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(
        hand_off_as_nobody(&path, &request(7)),
        "nobody handed a client over"
    );
    let mut smbd = hand_off(&path, &request(7));
    assert_eq!(read_reply(&mut smbd).status, 0);
    drop(listener);
    assert!(!path.exists(), "the listener removed its SMB socket");
}

#[test]
fn a_closed_stream_lingers_until_smbd_has_read_everything() {
    let dir = NpDir::new();
    let pipe = unique("linger");
    let listener =
        PipeListener::bind_with(pipe.as_str(), &options(&dir, Duration::from_secs(5))).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();
    let mut smbd = hand_off(&path, &request(7));
    read_reply(&mut smbd);
    let mut stream = listener.accept().unwrap();
    let payload = vec![7u8; 300_000];
    let writer = thread::spawn(move || {
        stream.write_all(&payload).unwrap();
        drop(stream);
    });
    // Reads slowly: the socket stays open (no end-of-file) until it has
    // all been read and a moment has passed.
    let mut got = 0;
    let mut buf = vec![0u8; 10_000];
    while got < 300_000 {
        thread::sleep(Duration::from_millis(2));
        let n = smbd.read(&mut buf).unwrap();
        assert!(n > 0, "end-of-file after {got} bytes");
        got += n;
    }
    writer.join().unwrap();
    let drained = Instant::now();
    assert_eq!(smbd.read(&mut buf).unwrap(), 0, "then end-of-file");
    assert!(
        drained.elapsed() >= Duration::from_millis(200),
        "the end came too soon"
    );
}
