//! The SMB socket when the process is out of descriptors: the hand-off
//! thread pauses rather than spins, and takes the waiting hand-off once
//! descriptors are free again. (Its own test binary: the descriptor limit
//! is the whole process's.)
#![cfg(all(target_os = "linux", feature = "remote"))]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pipeway::smb::SmbOptions;
use pipeway::unix::{ListenOptionsExt, ListenerExt};
use pipeway::{ListenOptions, PipeListener};
use pipeway_smb::np::{self, AuthRequest};

/// This process's CPU time (user and system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one rusage into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The lowest descriptor number not in use: as the limit, it leaves no
/// descriptor to open (the limit bounds numbers, not how many are open).
fn lowest_free_descriptor() -> u64 {
    (0..)
        .find(|fd| !std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists())
        .unwrap()
}

#[test]
fn out_of_descriptors_the_hand_off_thread_pauses_then_carries_on() {
    let dir = std::env::temp_dir().join(format!("pwnofile{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let options = ListenOptions::new()
        .allow_everyone()
        .serve_smb(SmbOptions::new().socket_dir(&dir));
    let listener = PipeListener::bind_with("pwnofile", &options).unwrap();
    let path = listener.smb_socket_path().unwrap().to_owned();
    let request = AuthRequest::example(7, "alice", 1000).encode().unwrap();

    // No descriptor left for the hand-off thread to accept with: the
    // client's socket is made first, and connects once the limit is down.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    let lowered = rustix::process::Rlimit {
        current: Some(lowest_free_descriptor()),
        maximum: limit.maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, lowered).unwrap();
    rustix::net::connect(&socket, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
    let mut smbd = UnixStream::from(socket);
    smbd.write_all(&request).unwrap();
    let before = cpu_time();
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_time() - before;
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    assert!(
        spent < Duration::from_millis(50),
        "the process spent {spent:?} of CPU in 500 ms out of descriptors: the accept loop spins"
    );

    // With descriptors back, the waiting hand-off goes through.
    smbd.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = [0u8; np::REPLY_LEN];
    smbd.read_exact(&mut reply).unwrap();
    assert_eq!(np::decode_reply(&reply).unwrap().status, 0);
    assert!(listener.accept().unwrap().peer().smb().is_some());
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}
