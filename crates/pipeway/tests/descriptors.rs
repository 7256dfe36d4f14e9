//! A listener that runs out of file descriptors keeps serving: its accept
//! fails with `EMFILE`, logs it, waits, and admits the waiting client once
//! a descriptor frees. Each face and wire is tried in a child process (this
//! test binary again, running only [`child`]) whose descriptor table is
//! full, so that nothing else in the test run is starved.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use common::unique;
use pipeway::{ConnectOptions, ListenOptions, PipeStream};

const ROLE: &str = "PIPEWAY_TEST_FD_ROLE";
const PIPE: &str = "PIPEWAY_TEST_FD_PIPE";

/// The child's soft descriptor limit: low, so that filling it is quick.
const LIMIT: u64 = 128;

/// Not a test of its own: the server process's part. Does nothing unless
/// started by one of the tests below.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let pipe = std::env::var(PIPE).unwrap();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .init();
    lower_the_descriptor_limit();
    let (face, wire) = role.split_once('-').unwrap();
    let options = match wire {
        "plain" => ListenOptions::new(),
        // An instance limit puts a byte pipe on the framed wire.
        "framed" => ListenOptions::new().max_instances(1000),
        other => panic!("unknown wire {other}"),
    };
    match face {
        "blocking" => {
            let listener = pipeway::PipeListener::bind_with(&pipe, &options).unwrap();
            let held = fill_the_descriptor_table();
            release_on_a_line_from_stdin(held);
            println!("ready");
            loop {
                let stream = listener.accept().expect("accept ended the listener");
                std::thread::spawn(move || echo_a_line(stream));
            }
        }
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = pipeway::tokio::PipeListener::bind_with(&pipe, &options).unwrap();
                let held = fill_the_descriptor_table();
                release_on_a_line_from_stdin(held);
                println!("ready");
                loop {
                    let stream = listener.accept().await.expect("accept ended the listener");
                    tokio::spawn(async move {
                        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
                        let (reader, mut writer) = stream.into_split();
                        let mut line = String::new();
                        tokio::io::BufReader::new(reader)
                            .read_line(&mut line)
                            .await
                            .unwrap();
                        writer.write_all(line.as_bytes()).await.unwrap();
                    });
                }
            });
        }
        other => panic!("unknown face {other}"),
    }
}

fn lower_the_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = LIMIT.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// Opens `/dev/null` until the process may open nothing more.
fn fill_the_descriptor_table() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(err) if err.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(err) => panic!("{err}"),
        }
    }
}

fn release_on_a_line_from_stdin(held: Vec<std::fs::File>) {
    std::thread::spawn(move || {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        drop(held);
    });
}

fn echo_a_line(stream: pipeway::PipeStream) {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    (&stream).write_all(line.as_bytes()).unwrap();
}

/// The server process, its stderr read line by line.
struct Server {
    pipe: String,
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(role: &str, pipe: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(PIPE, pipe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let ready = common::within(Duration::from_secs(30), move || {
            let mut line = String::new();
            while !line.contains("ready") {
                line.clear();
                if stdout.read_line(&mut line).unwrap() == 0 {
                    return false;
                }
            }
            true
        });
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
            pipe: pipe.to_owned(),
            child,
            stderr,
            seen: Vec::new(),
        };
        assert!(ready, "the server did not start: {:?}", server.all_stderr());
        server
    }

    /// Waits (up to 30 s) for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) -> String {
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
        panic!("no {text:?} on the server's stderr; saw {:?}", self.seen);
    }

    fn all_stderr(&mut self) -> Vec<String> {
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    fn release_descriptors(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"release\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Server {
    /// Kills the server, which cannot remove its socket file then: this does.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(common::socket_path(&self.pipe));
    }
}

/// A client's whole exchange: connect (waiting up to 60 s, for the framed
/// wire admits a client only once the server has a descriptor for it),
/// send a line, read it back.
fn ping(pipe: String, line: &'static str) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let patient = ConnectOptions::new().timeout(Duration::from_secs(60));
        let mut stream = PipeStream::connect_with(&pipe, &patient).unwrap();
        stream.write_all(line.as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut echo = vec![0u8; line.len()];
        stream.read_exact(&mut echo).unwrap();
        String::from_utf8(echo).unwrap()
    })
}

fn a_listener_out_of_descriptors_keeps_serving(role: &str) {
    let pipe = unique(role);
    let mut server = Server::start(role, &pipe);
    // This client waits in the kernel's queue: the server cannot accept it.
    let waiting = ping(pipe.clone(), "first\n");
    let warning = server.wait_for("cannot accept a client now");
    assert!(warning.contains("Too many open files"), "{warning}");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {:?}",
        server.all_stderr()
    );
    // A descriptor frees (as when another client leaves): it is served.
    server.release_descriptors();
    let echo = waiting.join();
    assert!(
        echo.as_ref().is_ok_and(|echo| echo == "first\n"),
        "the waiting client was not served: {echo:?}; server: {:?}",
        server.all_stderr()
    );
    // And the listener goes on.
    assert_eq!(ping(pipe, "second\n").join().unwrap(), "second\n");
}

#[test]
fn a_blocking_byte_listener_out_of_descriptors_keeps_serving() {
    a_listener_out_of_descriptors_keeps_serving("blocking-plain");
}

#[test]
fn a_blocking_framed_listener_out_of_descriptors_keeps_serving() {
    a_listener_out_of_descriptors_keeps_serving("blocking-framed");
}

#[test]
fn a_tokio_byte_listener_out_of_descriptors_keeps_serving() {
    a_listener_out_of_descriptors_keeps_serving("tokio-plain");
}

#[test]
fn a_tokio_framed_listener_out_of_descriptors_keeps_serving() {
    a_listener_out_of_descriptors_keeps_serving("tokio-framed");
}
