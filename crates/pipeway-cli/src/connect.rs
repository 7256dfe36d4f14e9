//! `pipeway connect`: a stdio relay to a pipe, like `nc -U`.
//!
//! Byte mode copies stdin to the pipe and the pipe to stdout; at the end of
//! stdin it shuts down its write side (the server sees end-of-file) and
//! exits once the pipe ends too. Message mode sends each stdin line as one
//! message and prints each message it receives on its own line.

use std::io::{BufRead, Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use pipeway::{Direction, MessageStream, PipeStream};

use crate::{ModeArgs, Result};

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// The pipe (`echo`, `\\.\pipe\echo`, or a socket path).
    name: String,
    /// How long to wait for the pipe to exist, listen, and have a free instance.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    mode: ModeArgs,
}

pub(crate) fn run(args: ConnectArgs) -> Result<ExitCode> {
    let options = crate::connect_options(&args.mode, args.timeout);
    if args.mode.message {
        relay_messages(MessageStream::connect_with(&args.name, &options)?)?;
    } else {
        relay_bytes(PipeStream::connect_with(&args.name, &options)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Which halves this client uses, given the pipe's direction.
fn halves(direction: Direction) -> (bool, bool) {
    // (writes, reads), from the client's side.
    (direction.server_reads(), direction.server_writes())
}

fn relay_bytes(stream: PipeStream) -> Result<()> {
    let (writes, reads) = halves(stream.direction());
    std::thread::scope(|scope| -> Result<()> {
        let sender = scope.spawn(|| -> std::io::Result<()> {
            if writes {
                std::io::copy(&mut std::io::stdin().lock(), &mut &stream)?;
                stream.shutdown(Shutdown::Write)?;
            }
            Ok(())
        });
        if reads {
            let mut stdout = std::io::stdout().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = (&stream).read(&mut buf)?;
                if n == 0 {
                    break;
                }
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

fn relay_messages(stream: MessageStream) -> Result<()> {
    let (writes, reads) = halves(stream.direction());
    std::thread::scope(|scope| -> Result<()> {
        let sender = scope.spawn(|| -> pipeway::Result<()> {
            if writes {
                for line in std::io::stdin().lock().split(b'\n') {
                    stream.send(&line?)?;
                }
                stream.close_write()?;
            }
            Ok(())
        });
        if reads {
            let mut stdout = std::io::stdout().lock();
            while let Some(message) = stream.recv_vec()? {
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
