//! The `pipeway` command, run as a user would run it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const PIPEWAY: &str = env!("CARGO_BIN_EXE_pipeway");

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwcli-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `pipeway serve` child, its stderr read line by line.
struct Server {
    name: String,
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// `args[0]` is the pipe's name.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(PIPEWAY)
            .arg("serve")
            .args(args)
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
            name: args[0].to_owned(),
            child,
            stderr,
            seen: Vec::new(),
        };
        server.wait_for("serving ");
        server
    }

    /// Waits (up to 10 s) for a stderr line containing `text` and returns it.
    fn wait_for(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(10)) {
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

    /// Stops the server with SIGTERM, as a service manager would, and
    /// returns what it printed on stdout.
    fn stop(mut self) -> Output {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Server {
    /// Stops the server as a user would (SIGTERM: it removes its socket
    /// file), and only if it does not go within 5 s, kills it and removes
    /// the file itself, so no test leaves a socket behind.
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(socket_path(&self.name));
    }
}

fn pipeway(args: &[&str], stdin: &[u8]) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn socket_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var("TMPDIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    std::path::Path::new(&dir).join(format!("CoreFxPipe_{name}"))
}

#[test]
fn connect_relays_stdin_to_an_echo_server_and_back() {
    let name = unique("echo");
    let _server = Server::start(&[&name, "--echo"]);
    let out = pipeway(&["connect", &name], b"hello\nworld\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\nworld\n");
}

#[test]
fn serve_prints_what_clients_send_and_reports_who_they_are() {
    let name = unique("print");
    let mut server = Server::start(&[&name]);
    let out = pipeway(&["connect", &name], b"a line for the server\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let connected = server.wait_for("client 1 connected");
    assert!(
        connected.contains("pid ") && connected.contains("uid "),
        "{connected}"
    );
    server.wait_for("client 1 disconnected");
    let output = server.stop();
    assert_eq!(text(&output.stdout), "a line for the server\n");
}

#[test]
fn serve_names_the_executable_each_client_runs() {
    let name = unique("exe");
    let mut server = Server::start(&[&name]);
    // A client that stays connected (its stdin open) until the line is seen.
    let mut client = Command::new(PIPEWAY)
        .args(["connect", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let connected = server.wait_for("client 1 connected");
    let exe = std::fs::canonicalize(PIPEWAY).unwrap();
    assert!(
        connected.contains(&format!(
            "pid {}, uid {}",
            client.id(),
            // SAFETY: getuid has no preconditions.
            unsafe { libc::getuid() }
        )),
        "{connected}"
    );
    assert!(
        connected.ends_with(&format!(", exe {}", exe.display())),
        "{connected}"
    );
    drop(client.stdin.take());
    assert!(client.wait().unwrap().success());
    server.wait_for("client 1 disconnected");
}

#[test]
fn message_mode_sends_a_message_per_line_and_prints_one_per_line() {
    let name = unique("msg");
    let _server = Server::start(&[&name, "--message", "--echo"]);
    let out = pipeway(&["connect", &name, "--message"], b"first\n\nthird\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "first\n\nthird\n");
}

#[test]
fn a_client_beyond_max_instances_exits_non_zero_saying_busy() {
    let name = unique("busy");
    let mut server = Server::start(&[&name, "--echo", "--max-instances", "1"]);
    // The first client holds the only instance while its stdin stays open.
    let mut first = Command::new(PIPEWAY)
        .args(["connect", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    server.wait_for("client 1 connected");
    let out = pipeway(&["connect", &name, "--timeout", "300ms"], b"");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("busy"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    drop(first.stdin.take());
    first.wait().unwrap();
}

#[test]
fn connecting_to_a_missing_pipe_fails_with_one_clear_line() {
    let out = pipeway(&["connect", &unique("missing"), "--timeout", "100ms"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("pipeway: ") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    let out = pipeway(&["connect", "a/b"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("contains '/'"));
}

#[test]
fn an_inbound_pipe_takes_data_from_clients_only() {
    let name = unique("inbound");
    let mut server = Server::start(&[&name, "--inbound"]);
    let out = pipeway(&["connect", &name, "--inbound"], b"report\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.wait_for("client 1 disconnected");
    assert_eq!(text(&server.stop().stdout), "report\n");
}

#[test]
fn an_outbound_server_sends_its_stdin_to_connected_clients() {
    let name = unique("outbound");
    let mut server = Server::start(&[&name, "--outbound", "--message"]);
    let mut client = Command::new(PIPEWAY)
        .args(["connect", &name, "--message"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for("client 1 connected");
    let mut stdin = server.child.stdin.take().unwrap();
    stdin.write_all(b"news for all\n").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(client.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "news for all\n");
    client.kill().unwrap();
    client.wait().unwrap();
}

#[test]
fn list_and_info_show_a_live_pipe_and_its_server() {
    let name = unique("listed");
    let server = Server::start(&[&name]);
    let pid = server.child.id().to_string();

    let out = pipeway(&["list"], b"");
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(row.contains(&format!("live (pid {pid})")), "{row}");
    assert!(row.contains("rw-------"), "{row}");
    assert!(
        row.contains(&socket_path(&name).display().to_string()),
        "{row}"
    );

    let out = pipeway(&["info", &name], b"");
    assert!(out.status.success());
    let info = text(&out.stdout);
    assert!(
        info.contains(&format!("path:   {}", socket_path(&name).display())),
        "{info}"
    );
    assert!(info.contains("mode:   0600"), "{info}");
    assert!(info.contains("live:   yes"), "{info}");
    assert!(info.contains(&format!("server: pid {pid}")), "{info}");
}

#[test]
fn stopping_serve_removes_its_socket_file() {
    let name = unique("cleanup");
    let server = Server::start(&[&name]);
    assert!(socket_path(&name).exists());
    let output = server.stop();
    assert!(output.status.success());
    assert!(!socket_path(&name).exists());
}

#[test]
fn info_reports_a_stale_pipe() {
    let name = unique("stale");
    drop(std::os::unix::net::UnixListener::bind(socket_path(&name)).unwrap());
    let out = pipeway(&["info", &name], b"");
    assert!(
        text(&out.stdout).contains("live:   no"),
        "{}",
        text(&out.stdout)
    );
    std::fs::remove_file(socket_path(&name)).unwrap();
}
