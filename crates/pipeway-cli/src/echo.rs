//! `pipeway serve --echo` on a byte pipe: the blocking face, a thread per
//! client, each reading what comes and writing it straight back.
//!
//! Why not tokio, as the rest of `serve`: an echo is one read and one write
//! per round trip, and a blocking thread does exactly that, where the tokio
//! server adds an epoll wait and a task wake-up to each (on a multi-thread
//! runtime, a hand-off between workers too). Measured with `pipeway bench
//! cli` (a C client, every process on one CPU, CPU time per round trip): the
//! tokio echo took 1.36× a C echo server's time at 64 B; the blocking one
//! takes what the C server takes (the figures are in the commit that made
//! this change and in the README's benchmark).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pipeway::unix::ListenerExt;
use pipeway::{ListenOptions, PipeListener, PipeStream};

use crate::Result;

/// Stack for each client's thread: the echo loop needs little, and a
/// server with thousands of clients should not reserve gigabytes for them.
const CLIENT_STACK: usize = 256 << 10;

/// Serves `name` with `options`, echoing, until SIGINT or SIGTERM; `shape`
/// describes the pipe for the first line, as `serve` words it.
pub(crate) fn run(name: &str, options: &ListenOptions, shape: &str) -> Result<ExitCode> {
    let listener = Arc::new(PipeListener::bind_with(name, options)?);
    // Before the first line, which tells clients to come: with an instance
    // limit the library accepts in the background, and clients arriving
    // first could take the descriptors the signal handling needs.
    let signals = stop_on_signal(listener.clone())?;
    eprintln!(
        "serving {} at {}{} ({shape}){}",
        listener.name(),
        listener.socket_path().display(),
        crate::serve::smb_note(listener.smb_socket_path()),
        crate::serve::stdin_note(pipeway::Direction::Duplex)
    );
    let mut next_id = 1u64;
    loop {
        let stream = match listener.accept() {
            Ok(stream) => stream,
            Err(pipeway::Error::ListenerClosed) => break,
            // Running short of descriptors the library waits out itself;
            // whatever else fails one accept must not end the server.
            Err(err) => {
                eprintln!("cannot accept a client: {err}; serving on");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        eprintln!(
            "client {id} connected: {}",
            crate::serve::describe(stream.peer())
        );
        let spawned = std::thread::Builder::new()
            .name(format!("echo client {id}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                let reason = echo(stream);
                eprintln!("client {id} disconnected: {reason}");
            });
        if let Err(err) = spawned {
            eprintln!("client {id} dropped: cannot start a thread for it: {err}");
        }
    }
    // The signal thread's handle on the listener goes first, then ours:
    // dropping the last one removes the socket file.
    let _ = signals.join();
    drop(listener);
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Writes back whatever `stream` sends until it ends; says why it ended.
fn echo(mut stream: PipeStream) -> String {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                // What was echoed is delivered, then end-of-file.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                return "end of stream".into();
            }
            Ok(n) => {
                if let Err(err) = stream.write_all(&buf[..n]) {
                    return err.to_string();
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return err.to_string(),
        }
    }
}

/// SIGINT or SIGTERM stops accepting: the accept loop ends, the listener
/// is dropped and its socket file removed. Clients being served are left
/// to finish as the process exits.
fn stop_on_signal(listener: Arc<PipeListener>) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered here, before the first client, so no signal is missed.
    let mut stop = runtime.block_on(async { crate::serve::Shutdown::new() })?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(stop.requested());
            let _ = listener.shutdown();
        })
}
