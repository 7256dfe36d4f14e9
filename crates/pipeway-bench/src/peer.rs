//! Peers: the other end of a case, in a process of its own.
//!
//! A peer is this same program run again with `PIPEWAY_BENCH_PEER` naming a
//! role (a function a [`Group`](crate::Group) registered) and the role's
//! arguments on the command line. The program's `main` calls
//! [`serve_peer_if_asked`] first, which runs the role and exits. A role
//! binds its endpoint, says so with [`ready`] (one line on stdout), serves,
//! and exits 0; a role that saw something wrong exits non-zero, which fails
//! the row. Peers inherit this process's CPU affinity, and pin themselves
//! again to the CPU in `PIPEWAY_BENCH_CPU`.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Registry;

/// The variable that makes a run of the program a peer.
pub const PEER_VAR: &str = "PIPEWAY_BENCH_PEER";
/// The CPU a peer pins itself to.
pub const CPU_VAR: &str = "PIPEWAY_BENCH_CPU";

/// A role's entry point: its arguments, as given to [`Peer::spawn`].
pub type Role = fn(&[String]) -> io::Result<()>;

/// Runs the peer role named in `PIPEWAY_BENCH_PEER`, if there is one, and
/// exits; returns at once otherwise. Call it first thing in `main` of any
/// program that runs the benchmark.
pub fn serve_peer_if_asked(registry: &Registry) {
    let Some(role) = std::env::var_os(PEER_VAR) else {
        return;
    };
    let role = role.to_string_lossy().into_owned();
    if let Some(cpu) = std::env::var(CPU_VAR).ok().and_then(|c| c.parse().ok()) {
        crate::pin_to_cpu(cpu);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match registry.role(&role) {
        Some(serve) => match serve(&args) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("bench peer {role}: {err}");
                1
            }
        },
        None => {
            eprintln!("bench peer: no role {role:?} in this program");
            2
        }
    };
    std::process::exit(code);
}

/// Tells the harness that this peer is listening: call once the endpoint is
/// bound, before serving.
pub fn ready() -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()
}

/// A peer process, seen from the harness: started, waited for until it is
/// ready, and ended by [`finish`](Self::finish).
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Runs the role `role` of this program with `args` on CPU `cpu`, and
    /// waits until it says it is ready.
    pub fn spawn(role: &str, args: &[String], cpu: usize) -> io::Result<Peer> {
        let program = std::env::current_exe()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env(PEER_VAR, role)
            .env(CPU_VAR, cpu.to_string());
        let mut peer = Self::start(role, command)?;
        peer.expect_line("ready")?;
        Ok(peer)
    }

    /// Runs another program as a peer (a C server, the `pipeway` command),
    /// with its stdin and stdout piped to this process; stderr is discarded
    /// unless `PIPEWAY_BENCH_VERBOSE` is set. It does not wait for it.
    pub fn command(program: &Path, args: &[OsString]) -> io::Result<Peer> {
        let mut command = Command::new(program);
        command.args(args);
        Self::start(&program.display().to_string(), command)
    }

    fn start(name: &str, mut command: Command) -> io::Result<Peer> {
        let verbose = std::env::var_os("PIPEWAY_BENCH_VERBOSE").is_some();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let mut child = command
            .spawn()
            .map_err(|err| io::Error::new(err.kind(), format!("cannot start {name}: {err}")))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Peer {
            name: name.to_owned(),
            child,
            stdin,
            stdout,
        })
    }

    /// The peer's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends one line to the peer's stdin.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("the peer's stdin is closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// Reads one line from the peer's stdout, without its newline; an
    /// error if the peer ended first.
    pub fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ended ({status}) before answering", self.name),
            ));
        }
        Ok(line.trim_end().to_owned())
    }

    /// Reads a line and checks it is `expected`.
    pub fn expect_line(&mut self, expected: &str) -> io::Result<()> {
        let line = self.read_line()?;
        if line != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} said {line:?}, not {expected:?}", self.name),
            ));
        }
        Ok(())
    }

    /// Closes the peer's stdin (a signal to stop for roles that serve until
    /// it closes), waits up to 10 s for it to exit, and fails if it exited
    /// non-zero. A peer still running after that is killed.
    pub fn finish(mut self) -> io::Result<()> {
        drop(self.stdin.take());
        let status = self.wait(Duration::from_secs(10))?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("{} failed: {status}", self.name)))
        }
    }

    /// Asks the peer to stop with SIGTERM (how `pipeway serve` stops), then
    /// as [`finish`](Self::finish).
    #[cfg(unix)]
    pub fn terminate(self) -> io::Result<()> {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        self.finish()
    }

    fn wait(&mut self, limit: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                self.child.wait()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not exit within {limit:?}; killed", self.name),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Never leave a process behind, whatever failed on the way here.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// For roles that serve until the harness is done with them: exits the
/// process when stdin closes (the harness's [`Peer::finish`]).
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = io::Read::read_to_end(&mut io::stdin().lock(), &mut sink);
        std::process::exit(0);
    });
}
