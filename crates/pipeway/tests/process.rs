//! The peer's process as a pidfd (Linux): a server can tell whether the
//! process it talks to is still the one that connected, what it runs, wait
//! for it and signal it, and a pid handed to a newer process never fools it.
//! The peers are separate processes: this test binary again, running only
//! [`child`] with a role in its environment.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::unique;
use pipeway::unix::PeerProcessExt;
use pipeway::{PeerIdentity, PeerProcess, PipeListener, PipeStream, ProcessError};

const ROLE: &str = "PIPEWAY_TEST_ROLE";
const PIPE: &str = "PIPEWAY_TEST_PIPE";

/// Long enough for any child here to start and do its part on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Starts this test binary again, running only [`child`] as `role`.
fn spawn_child(role: &str, pipe: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PIPE, pipe)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Not a test of its own: the other process's part. Does nothing unless
/// started by one of the tests below.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let pipe = std::env::var(PIPE).unwrap();
    match role.as_str() {
        // Connects, then waits for one byte (or the end) and exits.
        "client" => {
            let mut stream = PipeStream::connect(&pipe).unwrap();
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
        }
        // Serves one client until it hangs up or sends a byte.
        "server" => {
            let listener = PipeListener::bind(&pipe).unwrap();
            let mut stream = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
        }
        // Runs out of descriptors just as it accepts: the connection still
        // works, and the missing process handle says why.
        "few-descriptors" => {
            let listener = PipeListener::bind(&pipe).unwrap();
            let mut client = PipeStream::connect(&pipe).unwrap();
            // SAFETY: F_DUPFD_CLOEXEC of stdin gives the lowest free
            // descriptor, closed again at once; setrlimit (the soft limit
            // only) then lets this process open that one descriptor and no
            // other; `limit` is a valid rlimit for both calls.
            unsafe {
                let lowest = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0);
                assert!(lowest >= 0);
                libc::close(lowest);
                let mut limit: libc::rlimit = std::mem::zeroed();
                assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
                limit.rlim_cur = lowest as libc::rlim_t + 1;
                assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
            }
            let mut server = listener.accept().unwrap();
            match server.peer().process() {
                Err(ProcessError::Io(err)) => assert_eq!(err.raw_os_error(), Some(libc::EMFILE)),
                other => panic!("expected EMFILE, got {other:?}"),
            }
            client.write_all(b"still works").unwrap();
            let mut got = [0u8; 11];
            server.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"still works");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Whether this kernel gives a socket's peer as a pidfd (`SO_PEERPIDFD`,
/// Linux 6.5+). Where it does not, the tests fail in CI and skip elsewhere.
fn supported() -> bool {
    let name = unique("proc-probe");
    let listener = PipeListener::bind(&name).unwrap();
    let _client = PipeStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    match server.peer().process() {
        Ok(_) => true,
        Err(ProcessError::Unsupported(why)) if !pipeway_testbed::needs::in_ci() => {
            eprintln!("skipped: {why}");
            false
        }
        Err(err) => panic!("no handle to the peer's process: {err}"),
    }
}

fn process_of(peer: &PeerIdentity) -> PeerProcess {
    peer.process()
        .expect("no handle to the peer's process")
        .clone()
}

fn reap(mut child: Child) -> std::process::ExitStatus {
    common::within(PATIENCE, move || child.wait().unwrap())
}

#[test]
fn a_live_clients_process_is_alive_and_runs_its_real_executable() {
    if !supported() {
        return;
    }
    let name = unique("proc-live");
    let listener = PipeListener::bind(&name).unwrap();
    let child = spawn_child("client", &name);
    let mut stream = listener.accept().unwrap();
    let process = process_of(stream.peer());
    assert_eq!(process.pid(), child.id());
    assert_eq!(stream.peer().pid(), Some(child.id()));
    assert!(process.is_alive().unwrap());
    assert_eq!(process.exe().unwrap(), std::env::current_exe().unwrap());
    // Not exited yet: a bounded wait says so.
    assert!(!process.wait_timeout(Duration::from_millis(50)).unwrap());

    stream.write_all(b"x").unwrap();
    assert!(
        process.wait_timeout(PATIENCE).unwrap(),
        "the client did not exit"
    );
    assert!(!process.is_alive().unwrap(), "exited, even before reaping");
    assert!(matches!(process.exe(), Err(ProcessError::Exited { pid }) if pid == child.id()));
    assert!(reap(child).success());
    assert!(!process.is_alive().unwrap());
    assert!(matches!(process.exe(), Err(ProcessError::Exited { .. })));
    process.wait().unwrap();
}

#[test]
fn clones_of_an_identity_share_one_process_handle() {
    if !supported() {
        return;
    }
    use std::os::fd::{AsFd, AsRawFd};
    let name = unique("proc-clone");
    let listener = PipeListener::bind(&name).unwrap();
    let _client = PipeStream::connect(&name).unwrap();
    let stream = listener.accept().unwrap();
    let process = process_of(stream.peer());
    let copy = stream.peer().clone();
    assert_eq!(
        copy.process().unwrap().as_fd().as_raw_fd(),
        process.as_fd().as_raw_fd(),
        "a clone holds the same pidfd, not a duplicate"
    );
}

#[test]
fn a_client_sees_the_servers_process_and_its_exit() {
    if !supported() {
        return;
    }
    let name = unique("proc-server");
    let child = spawn_child("server", &name);
    let client =
        PipeStream::connect_with(&name, &pipeway::ConnectOptions::new().timeout(PATIENCE)).unwrap();
    let process = process_of(client.peer());
    assert_eq!(process.pid(), child.id());
    assert_eq!(process.exe().unwrap(), std::env::current_exe().unwrap());
    assert!(process.is_alive().unwrap());
    drop(client);
    assert!(process.wait_timeout(PATIENCE).unwrap());
    assert!(reap(child).success());
    assert!(!process.is_alive().unwrap());
}

#[test]
fn a_signal_reaches_the_client_process() {
    if !supported() {
        return;
    }
    let name = unique("proc-signal");
    let listener = PipeListener::bind(&name).unwrap();
    let child = spawn_child("client", &name);
    let stream = listener.accept().unwrap();
    let process = process_of(stream.peer());
    process.send_signal(libc::SIGTERM).unwrap();
    assert!(process.wait_timeout(PATIENCE).unwrap());
    let status = reap(child);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
    // Gone: a second signal is refused rather than sent anywhere.
    assert!(matches!(
        process.send_signal(libc::SIGTERM),
        Err(ProcessError::Exited { .. })
    ));
    // A number that names no signal is refused before any system call.
    let err = process.send_signal(12345).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn out_of_descriptors_at_accept_costs_the_process_handle_not_the_connection() {
    if !supported() {
        return;
    }
    let child = spawn_child("few-descriptors", &unique("proc-fds"));
    let status = reap(child);
    assert!(status.success(), "the child failed: {status}");
}

#[tokio::test]
async fn the_tokio_face_waits_for_the_clients_exit_in_two_places_at_once() {
    if !supported() {
        return;
    }
    use pipeway::tokio::PipeListener;
    use tokio::io::AsyncWriteExt;

    let name = unique("proc-tokio");
    let listener = PipeListener::bind(&name).unwrap();
    let child = spawn_child("client", &name);
    let mut stream = listener.accept().await.unwrap();
    let process = process_of(stream.peer());
    let other = stream.peer().clone();
    let early = tokio::time::timeout(Duration::from_millis(50), process.exited()).await;
    assert!(early.is_err(), "the client has not been told to exit yet");

    let first = process.exited();
    let second = async { other.process().unwrap().exited().await };
    stream.write_all(b"x").await.unwrap();
    let (first, second) = tokio::time::timeout(PATIENCE, async { tokio::join!(first, second) })
        .await
        .expect("the client's exit was not seen");
    first.unwrap();
    second.unwrap();
    assert!(!process.is_alive().unwrap());
    assert!(reap(child).success());
    // Waiting for a process long gone returns at once.
    tokio::time::timeout(PATIENCE, process.exited())
        .await
        .unwrap()
        .unwrap();
}

/// Makes a process with a chosen pid: `clone3` with `set_tid` (root only),
/// then `execve` of `program`. The kernel gives exactly that pid or fails
/// (`EEXIST` if something holds it).
mod reuse {
    use std::ffi::CString;
    use std::io;

    pub struct Process {
        pub pid: libc::pid_t,
    }

    pub fn spawn_with_pid(pid: libc::pid_t, program: &str, arg: &str) -> io::Result<Process> {
        // Everything the child touches is made before the clone: between
        // clone and exec, only async-signal-safe calls are allowed.
        let path = CString::new(program).unwrap();
        let arg0 = CString::new(program).unwrap();
        let arg1 = CString::new(arg).unwrap();
        let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null()];
        let tids = [pid];
        // SAFETY: an all-zero `clone_args` is valid: no flags, no stack.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.exit_signal = libc::SIGCHLD as u64;
        args.set_tid = tids.as_ptr() as u64;
        args.set_tid_size = 1;
        // SAFETY: with no CLONE_VM the child gets a copy of this address
        // space, like fork; it calls only execve and _exit, which are
        // async-signal-safe, on data made above.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const libc::clone_args,
                std::mem::size_of::<libc::clone_args>(),
            )
        };
        match rc {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                // SAFETY: the child: exec, or end without running any Rust
                // cleanup of the parent's copied state.
                unsafe {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                    libc::_exit(127)
                }
            }
            child => Ok(Process {
                pid: child as libc::pid_t,
            }),
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            // SAFETY: `pid` is this process's own child, not yet reaped.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// The heart of it: the client exits, its pid is handed to another program
/// (`sleep`), and the server's handle reports the client gone, never the
/// newcomer, while the bare pid shows how a pid-based check is fooled.
#[test]
fn a_client_whose_pid_was_reused_is_reported_gone_never_as_the_new_process() {
    if !supported() {
        return;
    }
    if !common::require_root() {
        return;
    }
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("no sleep program");
    // Another process may take the freed pid first: then try again with a
    // new client.
    for attempt in 1..=5 {
        let name = unique("proc-reuse");
        let listener = PipeListener::bind(&name).unwrap();
        let child = spawn_child("client", &name);
        let mut stream = listener.accept().unwrap();
        let process = process_of(stream.peer());
        let pid = process.pid();
        assert_eq!(process.exe().unwrap(), std::env::current_exe().unwrap());
        stream.write_all(b"x").unwrap();
        assert!(reap(child).success());

        let newcomer = match reuse::spawn_with_pid(pid as libc::pid_t, sleep, "60") {
            Ok(newcomer) => newcomer,
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {
                eprintln!("attempt {attempt}: pid {pid} was taken before the test could take it");
                continue;
            }
            Err(err) => panic!("clone3 with set_tid failed: {err}"),
        };
        assert_eq!(newcomer.pid as u32, pid);
        // The pid now names `sleep`: what a check by pid would believe.
        let by_pid = wait_for_exe(pid, sleep);
        assert_eq!(by_pid, std::fs::canonicalize(sleep).unwrap());

        // The handle knows better.
        assert!(!process.is_alive().unwrap());
        match process.exe() {
            Err(ProcessError::Exited { pid: gone }) => assert_eq!(gone, pid),
            other => panic!("the reused pid was taken for the client: {other:?}"),
        }
        assert!(matches!(
            process.send_signal(libc::SIGKILL),
            Err(ProcessError::Exited { .. })
        ));
        assert!(process.wait_timeout(Duration::ZERO).unwrap());
        // And the newcomer was not touched: still there, still `sleep`.
        assert_eq!(wait_for_exe(pid, sleep), by_pid);
        // SAFETY: signal 0 checks for existence only.
        assert_eq!(
            unsafe { libc::kill(newcomer.pid, 0) },
            0,
            "sleep was killed"
        );
        return;
    }
    panic!("the client's pid was taken by other processes in every attempt");
}

/// `/proc/PID/exe` once the new process has finished its `execve`.
fn wait_for_exe(pid: u32, program: &str) -> std::path::PathBuf {
    let want = std::fs::canonicalize(program).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) if exe == want => return exe,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} never ran {program}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
