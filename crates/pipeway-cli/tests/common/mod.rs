//! What the command-line tests share: unique names, a `pipeway serve`
//! child whose stderr is read line by line, and one-shot runs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

pub const PIPEWAY: &str = env!("CARGO_BIN_EXE_pipeway");

pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwcli-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `pipeway serve` child, its stderr read line by line.
pub struct Server {
    pub name: String,
    pub child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
    /// Already waited for: nothing left to stop.
    exited: bool,
}

impl Server {
    /// `args[0]` is the pipe's name.
    pub fn start(args: &[&str]) -> Server {
        let mut command = Command::new(PIPEWAY);
        command.arg("serve").args(args);
        Server::spawn(args[0], command)
    }

    /// Like [`start`](Self::start), in a process that may hold at most
    /// `limit` open descriptors (`RLIMIT_NOFILE`).
    #[cfg(unix)]
    pub fn start_with_descriptor_limit(args: &[&str], limit: u64) -> Server {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(PIPEWAY);
        command.arg("serve").args(args);
        // SAFETY: setrlimit is async-signal-safe and touches only this
        // (forked, not yet exec'd) process.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Server::spawn(args[0], command)
    }

    fn spawn(name: &str, mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stderr) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            name: name.to_owned(),
            child,
            stderr,
            seen: Vec::new(),
            exited: false,
        };
        server.wait_for("serving ");
        server
    }

    /// Waits (up to 10 s) for a stderr line containing `text` and returns it.
    pub fn wait_for(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no {text:?} on the server's stderr; saw {:?}", self.seen),
            }
        }
    }

    /// Every stderr line so far (waiting a moment for more).
    pub fn stderr_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// Writes `bytes` to the server's stdin.
    pub fn send_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Ends the server's stdin.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits (up to 20 s) for the server to exit by itself.
    pub fn wait_for_exit(mut self) -> Output {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.output();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "the server did not exit by itself; stderr: {:?}",
            self.stderr_lines()
        );
    }

    /// Stops the server as a service manager would (SIGTERM on Unix; on
    /// Windows the process ends, and its pipe with it), and returns what it
    /// printed on stdout.
    pub fn stop(mut self) -> Output {
        terminate(&mut self.child);
        self.output()
    }

    /// Its stdout to the end, and how it exited.
    fn output(&mut self) -> Output {
        let mut stdout = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_end(&mut out, &mut stdout).unwrap();
        }
        let status = self.child.wait().unwrap();
        self.exited = true;
        Output {
            status,
            stdout,
            stderr: Vec::new(),
        }
    }
}

/// Asks a server to stop: SIGTERM on Unix, where it removes its socket file;
/// on Windows it is ended (no signal reaches another console process; its
/// pipe goes with it).
pub fn terminate(child: &mut Child) {
    #[cfg(unix)]
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM)
    };
    #[cfg(windows)]
    let _ = child.kill();
}

impl Drop for Server {
    /// Stops the server as a user would (SIGTERM: it removes its socket
    /// file), and only if it does not go within 5 s, kills it and removes
    /// the file itself, so no test leaves a socket behind.
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        terminate(&mut self.child);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        #[cfg(unix)]
        let _ = std::fs::remove_file(endpoint(&self.name));
    }
}

pub fn pipeway(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(PIPEWAY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where a pipe lives: its socket file on Unix, `\\.\pipe\name` on Windows.
pub fn endpoint(name: &str) -> std::path::PathBuf {
    if cfg!(windows) {
        return format!(r"\\.\pipe\{name}").into();
    }
    let dir = std::env::var("TMPDIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    std::path::Path::new(&dir).join(format!("CoreFxPipe_{name}"))
}

/// A `pipeway connect` child with piped stdio: its stdout and stderr are
/// read line by line as they come.
pub struct Client {
    pub child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (lines, receiver) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

impl Client {
    /// `pipeway connect ARGS...`.
    pub fn start(args: &[&str]) -> Client {
        let mut child = Command::new(PIPEWAY)
            .arg("connect")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Client {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line on stdout (with its newline), waiting up to 20 s.
    pub fn read_line(&self) -> String {
        self.stdout
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from the client within 20 s")
    }

    /// The next line on stderr, waiting up to 20 s.
    pub fn read_error_line(&self) -> String {
        self.stderr
            .recv_timeout(Duration::from_secs(20))
            .expect("a line on the client's stderr within 20 s")
    }

    pub fn send_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits (up to 20 s) for the client to exit; returns its status and
    /// the rest of its stdout and stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the client did not exit within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let rest = |lines: &Receiver<String>| {
            let mut text = String::new();
            while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
                text.push_str(&line);
            }
            text
        };
        (status, rest(&self.stdout), rest(&self.stderr))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cell under `name` in an aligned table's `row`, `header` being its
/// first line.
pub fn column<'a>(header: &str, row: &'a str, name: &str) -> &'a str {
    let start = header.find(name).expect("the column exists");
    row.get(start..)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("")
}
