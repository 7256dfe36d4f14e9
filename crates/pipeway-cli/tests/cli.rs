//! The `pipeway` command, run as a user would run it: each test starts the
//! command in processes of its own (a server and its clients), on Unix and
//! on Windows (under Wine).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{PIPEWAY, Server, endpoint, pipeway, text, unique};

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
    // The client's user: a uid on Unix, a SID on Windows.
    let user = if cfg!(windows) { "sid S-1-" } else { "uid " };
    assert!(
        connected.contains("pid ") && connected.contains(user),
        "{connected}"
    );
    server.wait_for("client 1 disconnected");
    let output = server.stop();
    assert_eq!(text(&output.stdout), "a line for the server\n");
}

/// (Unix: the uid; under Wine the executable's path is a Windows path.)
#[cfg(unix)]
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
#[cfg_attr(
    wine,
    ignore = r"Wine 8 cannot list \\.\pipe\ (FindFirstFileW fails with ERROR_BAD_DEV_TYPE)"
)]
fn list_shows_a_live_pipe_and_its_server() {
    let name = unique("listed");
    let server = Server::start(&[&name]);
    let pid = server.child.id().to_string();

    let out = pipeway(&["list"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{listing}"));
    let header = listing.lines().next().unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["NAME", "STATE", "OWNER", "PERMISSIONS", "TYPE", "PATH"]
    );
    assert!(
        row.contains(&endpoint(&name).display().to_string()),
        "{row}"
    );
    if cfg!(unix) {
        assert!(row.contains(&format!("live (pid {pid})")), "{row}");
        assert!(row.contains("rw-------"), "{row}");
        // The type column says what the socket shows: a byte pipe here.
        assert_eq!(common::column(header, row, "TYPE"), "byte", "{row}");
    } else {
        // Windows tells a pipe's server pid only to a connected client.
        assert!(row.contains("live"), "{row}");
    }
}

#[test]
fn info_shows_a_live_pipe_and_its_server() {
    let name = unique("inspected");
    let server = Server::start(&[&name]);
    let pid = server.child.id().to_string();

    let out = pipeway(&["info", &name], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info = text(&out.stdout);
    assert!(
        info.contains(&format!("path:        {}", endpoint(&name).display())),
        "{info}"
    );
    assert!(info.contains("live:        yes"), "{info}");
    if cfg!(unix) {
        assert!(info.contains("permissions: 0600 (rw-------)"), "{info}");
        assert!(info.contains("type:        byte"), "{info}");
        assert!(info.contains(&format!("server:      pid {pid}")), "{info}");
    }
}

#[cfg(unix)]
#[test]
fn stopping_serve_removes_its_socket_file() {
    let name = unique("cleanup");
    let server = Server::start(&[&name]);
    assert!(endpoint(&name).exists());
    let output = server.stop();
    assert!(output.status.success());
    assert!(!endpoint(&name).exists());
}

#[cfg(unix)]
#[test]
fn info_reports_a_stale_pipe() {
    let name = unique("stale");
    drop(std::os::unix::net::UnixListener::bind(endpoint(&name)).unwrap());
    let out = pipeway(&["info", &name], b"");
    assert!(
        text(&out.stdout).contains("live:        no"),
        "{}",
        text(&out.stdout)
    );
    std::fs::remove_file(endpoint(&name)).unwrap();
}

/// (Unix: the test stops the server with SIGTERM and looks for its socket.)
#[cfg(unix)]
#[test]
fn mailslot_serve_prints_each_message_sent_on_its_own_line() {
    let name = unique("mailslot");
    let mut server = Command::new(PIPEWAY)
        .args(["mailslot", "serve", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("serving mailslot"), "{line}");
    let sent = pipeway(&["mailslot", "send", &name, "one", "two words"], b"");
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let sent = pipeway(
        &["mailslot", "send", &format!(r"\\.\mailslot\{name}")],
        b"three\nfour\n",
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    assert_eq!(lines, ["one", "two words", "three", "four"]);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    assert!(server.wait().unwrap().success());
    let path = std::env::temp_dir().join(format!("pipeway_mailslot_{name}"));
    assert!(!path.exists(), "stopping removes the mailslot's socket");
    let missing = pipeway(&["mailslot", "send", &name, "x"], b"");
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("not found"),
        "{}",
        text(&missing.stderr)
    );
}

#[cfg(unix)]
#[test]
fn list_shows_shared_memory_and_its_creator() {
    let name = unique("shm");
    let memory = pipeway::shm::SharedMemory::create(&name, 12288).unwrap();
    let out = pipeway(&["list"], b"");
    let listing = text(&out.stdout);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{name} not in\n{listing}"));
    assert!(
        row.contains(&format!("live (pid {})", std::process::id())),
        "{row}"
    );
    assert!(row.contains("12288") && row.contains("rw-------"), "{row}");
    drop(memory);
}
