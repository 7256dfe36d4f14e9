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
                        let mut reader = tokio::io::BufReader::new(reader);
                        reader.read_line(&mut line).await.unwrap();
                        writer.write_all(line.as_bytes()).await.unwrap();
                        // Keep the descriptor until the client leaves.
                        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
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

/// Echoes a line, then keeps the connection (and so its descriptor) until
/// the client leaves.
fn echo_a_line(stream: pipeway::PipeStream) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (&stream).write_all(line.as_bytes()).unwrap();
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
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
/// send a line, read it back. The client stays connected, holding the
/// server's descriptor for it, until the caller drops the stream returned.
fn ping(pipe: String, line: &'static str) -> std::thread::JoinHandle<(String, PipeStream)> {
    std::thread::spawn(move || {
        let patient = ConnectOptions::new().timeout(Duration::from_secs(60));
        let mut stream = PipeStream::connect_with(&pipe, &patient).unwrap();
        stream.write_all(line.as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut echo = vec![0u8; line.len()];
        stream.read_exact(&mut echo).unwrap();
        (String::from_utf8(echo).unwrap(), stream)
    })
}

fn a_listener_out_of_descriptors_keeps_serving(role: &str) {
    let pipe = unique(role);
    let mut server = Server::start(role, &pipe);
    // The server's descriptor table is full, but a thread blocked in
    // accept(2) before it filled holds a descriptor for its next client:
    // Linux reserves it when accept starts (the framed wire's acceptor
    // thread may be there). So the first client is either waiting or
    // served and kept; either way the next accept finds no descriptor.
    let first = ping(pipe.clone(), "first\n");
    let warning = server.wait_for("cannot accept a client now");
    assert!(warning.contains("Too many open files"), "{warning}");
    // This client waits in the kernel's queue: nothing frees a descriptor.
    let waiting = ping(pipe.clone(), "second\n");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "the second client finished (served or failed) while the server had no descriptor for it"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {:?}",
        server.all_stderr()
    );
    // Descriptors free (as when other clients leave): both are served.
    server.release_descriptors();
    for (client, line) in [(waiting, "second\n"), (first, "first\n")] {
        let echo = client.join().ok();
        assert!(
            echo.as_ref().is_some_and(|(echo, _)| echo == line),
            "the waiting client {line:?} was not served: {:?}; server: {:?}",
            echo.map(|(echo, _)| echo),
            server.all_stderr()
        );
    }
    // And the listener goes on.
    assert_eq!(ping(pipe, "third\n").join().unwrap().0, "third\n");
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
