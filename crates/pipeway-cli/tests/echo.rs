//! `pipeway serve --echo` on a byte pipe (served on the blocking face, a
//! thread per client): clients at once, the lines on stderr, and a clean
//! stop on SIGTERM with clients still connected.
//!
//! (Unix only: the blocking echo is Unix's, and the test signals the server
//! and connects to its socket file.)

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// Waits up to 10 s for a line containing `text`.
fn wait_for(lines: &Receiver<String>, text: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(err) => panic!("no line with {text:?} on stderr: {err}"),
        }
    }
}

#[test]
fn serve_echo_answers_clients_at_once_and_stops_on_sigterm_with_clients_connected() {
    let dir = std::env::temp_dir().join(format!("pwcli-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let mut server = Command::new(env!("CARGO_BIN_EXE_pipeway"))
        .args(["serve", "--echo"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, lines) = channel();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let banner = wait_for(&lines, "serving ");
    assert!(banner.contains("byte mode, duplex"), "{banner}");

    let mut first = UnixStream::connect(&path).unwrap();
    let mut second = UnixStream::connect(&path).unwrap();
    wait_for(&lines, "client 1 connected: pid");
    wait_for(&lines, "client 2 connected: pid");
    // Both are served at once: the second is answered while the first waits.
    first.write_all(b"one").unwrap();
    second.write_all(b"two").unwrap();
    let mut reply = [0u8; 3];
    second.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"two");
    first.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"one");

    // A client that closes its side gets what it sent, then end-of-file.
    first.write_all(b"last").unwrap();
    first.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"last");
    wait_for(&lines, "client 1 disconnected: end of stream");

    // SIGTERM with the second client still connected: a clean stop.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    wait_for(&lines, "stopped");
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "the socket file is removed");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
