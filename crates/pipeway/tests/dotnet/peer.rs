//! A .NET peer for the interop tests: `Peer.cs`, compiled with Mono's
//! `mcs` and run with `mono`. Mono implements System.IO.Pipes with .NET
//! Core's Unix code, so this is what a .NET program on Linux does. Shared by
//! the pipeway crate's tests and the command's (`#[path]`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The peer's source, built into the test's temporary directory.
const SOURCE: &str = include_str!("Peer.cs");

/// The compiled peer, or `None` when Mono is missing and this is not CI.
pub fn peer() -> Option<&'static Path> {
    static PEER: OnceLock<Option<PathBuf>> = OnceLock::new();
    PEER.get_or_init(|| {
        let installed = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !(installed("mcs") && installed("mono")) {
            pipeway_testbed::needs::missing(
                "Mono (mcs, mono; the packages mono-mcs, mono-runtime and \
                 libmono-system-core4.0-cil) is not installed",
            );
            return None;
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Built under a name of this process's, then renamed into place, so
        // that test runs at the same time never run a half-written program.
        let source = dir.join(format!("pipeway-dotnet-peer-{}.cs", std::process::id()));
        std::fs::write(&source, SOURCE).unwrap();
        let building = source.with_extension("exe");
        let output = Command::new("mcs")
            .arg(format!("-out:{}", building.display()))
            .arg("-r:System.Core.dll")
            .arg(&source)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mcs failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let _ = std::fs::remove_file(&source);
        let exe = dir.join("pipeway-dotnet-peer.exe");
        std::fs::rename(&building, &exe).unwrap();
        Some(exe)
    })
    .as_deref()
}

/// A running .NET peer; its stdout read line by line.
pub struct Dotnet {
    /// The socket file a .NET server binds (and removes only once it has
    /// accepted a client): removed here if the server is killed first.
    server_socket: Option<PathBuf>,
    child: Child,
    stdout: Receiver<String>,
}

impl Dotnet {
    pub fn start(peer: &Path, role: &str, name: &str, act: &str) -> Dotnet {
        let mut child = Command::new("mono")
            .arg(peer)
            .args([role, name, act])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stdout) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let server_socket = (role == "server").then(|| {
            let dir = std::env::var_os("TMPDIR")
                .filter(|dir| !dir.is_empty())
                .unwrap_or_else(|| "/tmp".into());
            Path::new(&dir).join(format!("CoreFxPipe_{name}"))
        });
        Dotnet {
            server_socket,
            child,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (up to 30 s) for a line on stdout that contains `text`.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("no {text:?} from the .NET peer"),
            }
        }
    }

    /// Waits (up to 30 s) for the peer to exit: its exit code, the rest of
    /// its stdout and its stderr.
    pub fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the .NET peer did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stdout = String::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut stderr).unwrap();
        }
        (status.code().unwrap_or(-1), stdout, stderr)
    }
}

impl Drop for Dotnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(socket) = &self.server_socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}
