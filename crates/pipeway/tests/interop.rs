//! Peers not written in Rust, at the path .NET uses: socat and Python, each
//! as a client of a pipeway server and as the server of a pipeway client.
//! (Unix sockets; windows.rs has Win32 peers.)
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{socket_path, unique};
use pipeway::{ConnectOptions, PipeListener, PipeStream};
use pipeway_testbed::Reaped;

/// The program, or `None` when it is missing and this is not CI (in CI a
/// missing peer fails the test rather than skipping it).
fn tool(program: &str) -> Option<&str> {
    let found = Command::new(program)
        .arg(if program == "socat" {
            "-V"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(program);
    }
    pipeway_testbed::needs::missing(&format!("{program} is not installed"));
    None
}

/// Serves one client with a pipeway echo server, on a thread.
fn pipeway_echo_server(name: &str) -> std::thread::JoinHandle<()> {
    let listener = PipeListener::bind(name).unwrap();
    std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
            }
        }
        stream.shutdown(Shutdown::Write).unwrap();
    })
}

/// Asks a pipeway client to echo through whatever serves `name`.
fn pipeway_client_round_trip(name: &str) {
    let mut client = PipeStream::connect_with(
        name,
        &ConnectOptions::new().timeout(Duration::from_secs(10)),
    )
    .unwrap();
    client.write_all(b"from pipeway\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "from pipeway\n");
}

#[test]
fn socat_as_client_of_a_pipeway_server() {
    let Some(socat) = tool("socat") else { return };
    let name = unique("socatclient");
    let server = pipeway_echo_server(&name);
    let mut child = Command::new(socat)
        .arg("-")
        .arg(format!("UNIX-CONNECT:{}", socket_path(&name).display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from socat\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, b"hello from socat\n");
    server.join().unwrap();
}

#[test]
fn socat_as_server_for_a_pipeway_client() {
    let Some(socat) = tool("socat") else { return };
    let name = unique("socatserver");
    let path = socket_path(&name);
    let _socat = Reaped(
        Command::new(socat)
            .arg(format!("UNIX-LISTEN:{},fork", path.display()))
            .arg("EXEC:cat")
            .spawn()
            .unwrap(),
    );
    // No sleep: the client waits for the pipe to appear, like WaitNamedPipe.
    pipeway_client_round_trip(&name);
    let _ = std::fs::remove_file(&path);
}

const PYTHON_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"hello from python\n")
s.shutdown(socket.SHUT_WR)
reply = b""
while chunk := s.recv(4096):
    reply += chunk
sys.stdout.buffer.write(reply)
"#;

const PYTHON_SERVER: &str = r#"
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
conn, _ = s.accept()
data = b""
while chunk := conn.recv(4096):
    data += chunk
conn.sendall(data)
conn.close()
os.unlink(path)
"#;

#[test]
fn python_as_client_of_a_pipeway_server() {
    let Some(python) = tool("python3") else {
        return;
    };
    let name = unique("pyclient");
    let server = pipeway_echo_server(&name);
    let output = Command::new(python)
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(socket_path(&name))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"hello from python\n");
    server.join().unwrap();
}

#[test]
fn python_as_server_for_a_pipeway_client() {
    let Some(python) = tool("python3") else {
        return;
    };
    let name = unique("pyserver");
    let mut server = Reaped(
        Command::new(python)
            .arg("-c")
            .arg(PYTHON_SERVER)
            .arg(socket_path(&name))
            .spawn()
            .unwrap(),
    );
    pipeway_client_round_trip(&name);
    assert!(server.0.wait().unwrap().success());
}
