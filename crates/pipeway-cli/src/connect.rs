//! `pipeway connect`: a stdio relay to a pipe, like `nc -U`.
//!
//! Byte mode copies stdin to the pipe and the pipe to stdout; at the end of
//! stdin it shuts down its write side (the server sees end-of-file), and it
//! exits once the pipe is done both ways: when the server has closed, or
//! has stopped sending and this side has sent all of stdin. So the client
//! of an inbound byte pipe (whose server never writes) still sends all of
//! stdin, and the client of an outbound one (whose server never reads)
//! prints all it is sent and says once that its input goes nowhere. Message
//! mode sends each stdin line as one message and prints each message it
//! receives on its own line.
//!
//! A remote pipe (`\\HOST\pipe\NAME`, over SMB) cannot be half-closed, nor
//! can any pipe on Windows: their relay (`crate::remote_relay`) keeps
//! printing what arrives after stdin ends until the pipe has been quiet for
//! `--linger`, then closes it.

use std::io::{BufRead, Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
#[cfg(unix)]
use pipeway::unix::PipeStreamExt;
use pipeway::{Direction, MessageStream, PipeName, PipeStream};

use crate::remote::RemoteArgs;
use crate::{ModeArgs, Result};

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// The pipe (`echo`, `\\.\pipe\echo`, a socket path, or `\\HOST\pipe\NAME`).
    name: String,
    /// How long to wait for the pipe to exist, listen, and have a free
    /// instance: seconds (`2`, `0.5`, like `nc -w`) or a duration (`1500ms`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    timeout: Duration,
    #[command(flatten)]
    mode: ModeArgs,
    /// Remote pipes, and every pipe on Windows: after stdin ends, how long
    /// the pipe must stay quiet before the relay closes it (SMB and Windows
    /// pipes have no half-close).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_timeout)]
    linger: Duration,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub(crate) fn run(args: ConnectArgs) -> Result<ExitCode> {
    let options = args
        .remote
        .apply(crate::connect_options(&args.mode, args.timeout))?;
    if cfg!(windows) || !PipeName::parse(&args.name)?.is_local() {
        if args.mode.message {
            let stream = MessageStream::connect_with(&args.name, &options)?;
            crate::remote_relay::messages(stream, args.linger)?;
        } else {
            let stream = PipeStream::connect_with(&args.name, &options)?;
            crate::remote_relay::bytes(stream, args.linger)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.mode.message {
        relay_messages(MessageStream::connect_with(&args.name, &options)?)?;
    } else {
        relay_bytes(PipeStream::connect_with(&args.name, &options)?, &args.name)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Which halves this client uses, given the pipe's direction.
fn halves(direction: Direction) -> (bool, bool) {
    // (writes, reads), from the client's side.
    (direction.server_reads(), direction.server_writes())
}

fn relay_bytes(stream: PipeStream, name: &str) -> Result<()> {
    let (writes, reads) = halves(stream.direction());
    std::thread::scope(|scope| -> Result<()> {
        let sender = scope.spawn(|| send_stdin(&stream, name, reads));
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
            // The server has stopped sending. If it still reads (the server
            // of an inbound pipe never sends) and stdin is not all sent yet,
            // wait for that; end as soon as the server has gone.
            #[cfg(unix)]
            if writes && !sender.is_finished() {
                stream.wait_for_hangup(None)?;
            }
            // (Windows pipes take the lingering relay: none comes here.)
            #[cfg(windows)]
            let _ = writes;
            if !sender.is_finished() {
                // Still waiting for stdin, which nothing needs any more.
                exit_now();
            }
        }
        sender.join().expect("the stdin relay panicked")?;
        Ok(())
    })
}

/// Copies stdin to the pipe, then shuts down the write side. A pipe whose
/// server does not read (an outbound byte pipe, which the client learns only
/// when it writes) is said once, on stderr; if this side reads the pipe,
/// that is no failure.
fn send_stdin(stream: &PipeStream, name: &str, reads: bool) -> Result<()> {
    if !halves(stream.direction()).0 {
        return Ok(());
    }
    match std::io::copy(&mut std::io::stdin().lock(), &mut &*stream) {
        Ok(_) => {
            stream.shutdown(Shutdown::Write)?;
            Ok(())
        }
        Err(err) => match pipeway::Error::from_io(&err) {
            Some(pipeway::Error::PeerNotReading { .. }) if reads => {
                eprintln!(
                    "pipeway: the server of {name} does not read this pipe (it is outbound, \
                     or shut its read side): stdin is not sent"
                );
                Ok(())
            }
            _ => Err(err.into()),
        },
    }
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
pub(crate) fn exit_now() -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// `--timeout`: a bare number is seconds, as `nc -w` takes it; anything else
/// is a duration (`1500ms`, `2s`, `1m`).
fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|err| format!("{text}: {err}"));
    }
    humantime::parse_duration(text).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_seconds_and_a_duration_is_read_as_written() {
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
