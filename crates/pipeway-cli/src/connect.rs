//! `pipeway connect`: a stdio relay to a pipe, like `nc -U`.
//!
//! Byte mode copies stdin to the pipe and the pipe to stdout; at the end of
//! stdin it shuts down its write side (the server sees end-of-file) and
//! exits once the pipe ends too. Message mode sends each stdin line as one
//! message and prints each message it receives on its own line.
//!
//! A remote pipe (`\\HOST\pipe\NAME`, over SMB) cannot be half-closed: at
//! the end of stdin the relay keeps printing what arrives until the pipe has
//! been quiet for `--linger`, then closes it.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use pipeway::{Direction, MessageStream, PipeName, PipeStream};

use crate::remote::RemoteArgs;
use crate::{ModeArgs, Result};

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// The pipe (`echo`, `\\.\pipe\echo`, a socket path, or `\\HOST\pipe\NAME`).
    name: String,
    /// How long to wait for the pipe to exist, listen, and have a free instance.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    mode: ModeArgs,
    /// Remote pipes: after stdin ends, how long the pipe must stay quiet
    /// before the relay closes it (SMB has no half-close).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    linger: Duration,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub(crate) fn run(args: ConnectArgs) -> Result<ExitCode> {
    let options = args
        .remote
        .apply(crate::connect_options(&args.mode, args.timeout))?;
    let end = match PipeName::parse(&args.name)?.is_local() {
        true => End::HalfClose,
        false => End::Linger(args.linger),
    };
    if args.mode.message {
        relay_messages(MessageStream::connect_with(&args.name, &options)?, end)?;
    } else {
        relay_bytes(PipeStream::connect_with(&args.name, &options)?, end)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How the relay ends its side when stdin ends.
#[derive(Clone, Copy)]
enum End {
    /// Shut down the write side: the server sees the end.
    HalfClose,
    /// Wait for the pipe to be quiet this long, then close it.
    Linger(Duration),
}

/// When stdin ended and when the pipe last brought something: the reader
/// decides from these when a lingering relay is done.
struct Quiet {
    stdin_done: Mutex<bool>,
    last_data: Mutex<Instant>,
    linger: Duration,
}

/// How often a lingering reader looks up from a quiet pipe.
const LOOK_UP: Duration = Duration::from_millis(100);

impl Quiet {
    fn new(end: End) -> Self {
        Self {
            stdin_done: Mutex::new(false),
            last_data: Mutex::new(Instant::now()),
            linger: match end {
                End::Linger(d) => d,
                End::HalfClose => Duration::MAX,
            },
        }
    }
    fn stdin_ended(&self) {
        *self.stdin_done.lock().unwrap() = true;
        *self.last_data.lock().unwrap() = Instant::now();
    }
    fn data(&self) {
        *self.last_data.lock().unwrap() = Instant::now();
    }
    fn done(&self) -> bool {
        *self.stdin_done.lock().unwrap() && self.last_data.lock().unwrap().elapsed() >= self.linger
    }
}

/// Which halves this client uses, given the pipe's direction.
fn halves(direction: Direction) -> (bool, bool) {
    // (writes, reads), from the client's side.
    (direction.server_reads(), direction.server_writes())
}

fn relay_bytes(stream: PipeStream, end: End) -> Result<()> {
    let (writes, reads) = halves(stream.direction());
    let quiet = Quiet::new(end);
    if let End::Linger(_) = end {
        stream.set_read_timeout(Some(LOOK_UP))?;
    }
    std::thread::scope(|scope| -> Result<()> {
        let sender = scope.spawn(|| -> std::io::Result<()> {
            if writes {
                std::io::copy(&mut std::io::stdin().lock(), &mut &stream)?;
                match end {
                    End::HalfClose => stream.shutdown(Shutdown::Write)?,
                    End::Linger(_) => quiet.stdin_ended(),
                }
            }
            Ok(())
        });
        if reads {
            let mut stdout = std::io::stdout().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match (&stream).read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        if quiet.done() {
                            // CLOSE the remote pipe before leaving.
                            let _ = stream.disconnect();
                            break;
                        }
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                if n == 0 {
                    break;
                }
                quiet.data();
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
            // The pipe has ended: done, even if stdin has more to give.
            exit_now();
        }
        sender.join().expect("the stdin relay panicked")?;
        Ok(())
    })
}

fn relay_messages(stream: MessageStream, end: End) -> Result<()> {
    let (writes, reads) = halves(stream.direction());
    let quiet = Quiet::new(end);
    if let End::Linger(_) = end {
        stream.set_read_timeout(Some(LOOK_UP))?;
    }
    std::thread::scope(|scope| -> Result<()> {
        let sender = scope.spawn(|| -> pipeway::Result<()> {
            if writes {
                for line in std::io::stdin().lock().split(b'\n') {
                    stream.send(&line?)?;
                }
                match end {
                    End::HalfClose => stream.close_write()?,
                    End::Linger(_) => quiet.stdin_ended(),
                }
            }
            Ok(())
        });
        if reads {
            let mut stdout = std::io::stdout().lock();
            loop {
                let message = match stream.recv_vec() {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        if quiet.done() {
                            // CLOSE the remote pipe before leaving.
                            let _ = stream.disconnect();
                            break;
                        }
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                quiet.data();
                stdout.write_all(&message)?;
                stdout.write_all(b"\n")?;
                stdout.flush()?;
            }
            exit_now();
        }
        sender.join().expect("the stdin relay panicked")?;
        Ok(())
    })
}

/// Ends the process once the pipe is done. The thread still blocked reading
/// stdin cannot be woken portably, so it is not waited for.
fn exit_now() -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}
