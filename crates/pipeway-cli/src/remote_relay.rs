//! `pipeway connect` to a pipe on another host, or to any pipe on Windows.
//! Neither SMB nor Windows can end one direction of a pipe, so at the end of
//! stdin the relay does not shut down its write side: it keeps printing what
//! arrives until the pipe has been quiet for `--linger`, then closes the pipe
//! (CLOSE) and exits. A pipe this side only writes (an inbound Windows pipe)
//! is closed once the server has read all of stdin; one it only reads (an
//! outbound one) is printed to its end.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pipeway::{MessageStream, PipeStream};

use crate::Result;
use crate::connect::exit_now;

/// How often the reader looks up from a quiet pipe.
const LOOK_UP: Duration = Duration::from_millis(100);

/// When stdin ended and when the pipe last brought something.
struct Quiet {
    stdin_ended: Mutex<Option<Instant>>,
    last_data: Mutex<Instant>,
    linger: Duration,
}

impl Quiet {
    fn new(linger: Duration) -> Self {
        Self {
            stdin_ended: Mutex::new(None),
            last_data: Mutex::new(Instant::now()),
            linger,
        }
    }
    fn stdin_ended(&self) {
        *self.stdin_ended.lock().unwrap() = Some(Instant::now());
    }
    fn data(&self) {
        *self.last_data.lock().unwrap() = Instant::now();
    }
    /// Stdin has ended and nothing came for `linger` since then or since
    /// the last data, whichever is later.
    fn done(&self) -> bool {
        let Some(ended) = *self.stdin_ended.lock().unwrap() else {
            return false;
        };
        let last = (*self.last_data.lock().unwrap()).max(ended);
        last.elapsed() >= self.linger
    }
}

/// How long a relay that only writes waits for the server to read it all.
const DRAIN: Duration = Duration::from_secs(10);

/// Closes a pipe this side only writes once the server has read everything
/// (or after [`DRAIN`]), then exits.
fn close_when_read(
    drain: impl FnOnce() -> std::io::Result<()>,
    disconnect: impl FnOnce() -> std::io::Result<()>,
) -> Result<()> {
    if let Err(err) = drain() {
        eprintln!("pipeway: the server did not read everything sent: {err}");
    }
    let _ = disconnect();
    exit_now()
}

/// The byte relay.
pub(crate) fn bytes(stream: PipeStream, linger: Duration) -> Result<()> {
    let direction = stream.direction();
    if !direction.server_writes() {
        std::io::copy(&mut std::io::stdin().lock(), &mut &stream)?;
        return close_when_read(
            || stream.wait_for_drain(Some(DRAIN)),
            || stream.disconnect(),
        );
    }
    let quiet = Quiet::new(linger);
    stream.set_read_timeout(Some(LOOK_UP))?;
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(|| -> std::io::Result<()> {
            // A pipe the server does not read is printed to its end.
            if direction.server_reads() {
                std::io::copy(&mut std::io::stdin().lock(), &mut &stream)?;
                quiet.stdin_ended();
            }
            Ok(())
        });
        let mut stdout = std::io::stdout().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match (&stream).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    quiet.data();
                    stdout.write_all(&buf[..n])?;
                    stdout.flush()?;
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    if quiet.done() {
                        let _ = stream.disconnect();
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        exit_now()
    })
}

/// The message relay: one message per stdin line, one line per message.
pub(crate) fn messages(stream: MessageStream, linger: Duration) -> Result<()> {
    let direction = stream.direction();
    let send_stdin = || -> pipeway::Result<()> {
        for line in std::io::stdin().lock().split(b'\n') {
            stream.send(&line?)?;
        }
        Ok(())
    };
    if !direction.server_writes() {
        send_stdin()?;
        return close_when_read(
            || stream.wait_for_drain(Some(DRAIN)),
            || stream.disconnect(),
        );
    }
    let quiet = Quiet::new(linger);
    stream.set_read_timeout(Some(LOOK_UP))?;
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(|| -> pipeway::Result<()> {
            // A pipe the server does not read is printed to its end.
            if direction.server_reads() {
                send_stdin()?;
                quiet.stdin_ended();
            }
            Ok(())
        });
        let mut stdout = std::io::stdout().lock();
        loop {
            match stream.recv_vec() {
                Ok(Some(message)) => {
                    quiet.data();
                    stdout.write_all(&message)?;
                    stdout.write_all(b"\n")?;
                    stdout.flush()?;
                }
                Ok(None) => break,
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    if quiet.done() {
                        let _ = stream.disconnect();
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        exit_now()
    })
}
