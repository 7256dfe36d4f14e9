//! `pipeway serve`: a pipe server for the shell.
//!
//! Clients are served concurrently. What they send goes to stdout (bytes as
//! they come; messages one per line), or back to them with `--echo`. On an
//! outbound pipe, where clients only read, each line of stdin goes to every
//! connected client. Connects and disconnects are reported on stderr with
//! the peer's identity and executable. SIGINT and SIGTERM stop the server cleanly, which
//! removes its socket file.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Args;
use pipeway::unix::{ListenerExt, PeerIdentityExt};
use pipeway::{Direction, PeerIdentity, PeerProcess, ProcessError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::{AccessArgs, ModeArgs, Result};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The pipe to serve (`echo`, `\\.\pipe\echo`, or a socket path).
    name: String,
    /// Send everything each client sends back to it.
    #[arg(long)]
    echo: bool,
    #[command(flatten)]
    mode: ModeArgs,
    #[command(flatten)]
    access: AccessArgs,
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.echo && !args.mode.message && args.mode.direction().is_none() {
        // A byte echo runs on the blocking face (see `crate::echo` for why).
        let options = crate::listen_options(&args.mode, &args.access);
        return crate::echo::run(&args.name, &options, &shape(&args.mode, &args.access));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// The pipe as the first line describes it: mode, direction, instances.
fn shape(mode: &ModeArgs, access: &AccessArgs) -> String {
    format!(
        "{}, {}{}",
        if mode.message {
            "message mode"
        } else {
            "byte mode"
        },
        mode.direction().unwrap_or_default(),
        access
            .max_instances
            .map(|n| format!(", at most {n} clients"))
            .unwrap_or_default()
    )
}

/// A peer as the connect lines show it: who, and what program it runs.
pub(crate) fn describe(peer: &PeerIdentity) -> String {
    let pid = peer
        .pid()
        .map_or_else(|| "?".to_owned(), |pid| pid.to_string());
    let who = match peer.user_name() {
        Some(user) => format!("pid {pid}, uid {} ({user}), gid {}", peer.uid(), peer.gid()),
        None => format!("pid {pid}, uid {}, gid {}", peer.uid(), peer.gid()),
    };
    format!("{who}, exe {}", executable(peer))
}

/// The client's program, read through its process handle (so never the
/// program of a process that took the pid of a client already gone).
fn executable(peer: &PeerIdentity) -> String {
    match peer.process().and_then(PeerProcess::exe) {
        Ok(path) => path.display().to_string(),
        Err(ProcessError::Exited { .. }) => "? (the client has exited)".to_owned(),
        Err(err) => format!("? ({err})"),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let options = crate::listen_options(&args.mode, &args.access);
    let direction = args.mode.direction().unwrap_or_default();
    if args.echo && direction != Direction::Duplex {
        return Err("--echo needs a duplex pipe (it reads and writes)".into());
    }
    // What an outbound server sends: stdin, line by line, to every client.
    let lines = (direction == Direction::Outbound).then(|| {
        let (sender, _) = broadcast::channel::<Arc<Vec<u8>>>(1024);
        tokio::spawn(read_stdin_lines(sender.clone()));
        sender
    });
    let mut stop = Shutdown::new()?;
    let ids = AtomicU64::new(1);
    let shape = shape(&args.mode, &args.access);

    let listener = Listener::bind(&args.name, args.mode.message, &options)?;
    eprintln!(
        "serving {} at {} ({shape})",
        listener.name(),
        listener.socket_path().display()
    );
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = stop.requested() => break,
        };
        let id = ids.fetch_add(1, Ordering::Relaxed);
        // Subscribed before the line announces the client: a stdin line sent
        // once the announcement is seen must reach it.
        let lines = lines.as_ref().map(broadcast::Sender::subscribe);
        eprintln!("client {id} connected: {}", describe(client.peer()));
        tokio::spawn(async move {
            let reason = match client {
                Client::Bytes(stream) => serve_bytes(stream, args.echo, lines).await,
                Client::Messages(stream) => serve_messages(&stream, args.echo, lines).await,
            };
            eprintln!("client {id} disconnected: {reason}");
        });
    }
    eprintln!("stopped");
    Ok(())
}

/// A byte or a message listener: the one accept loop serves either.
enum Listener {
    Bytes(pipeway::tokio::PipeListener),
    Messages(pipeway::tokio::MessageListener),
}

enum Client {
    Bytes(pipeway::tokio::PipeStream),
    // Boxed: a message stream carries its framing state and is much larger.
    Messages(Box<pipeway::tokio::MessageStream>),
}

impl Listener {
    fn bind(name: &str, messages: bool, options: &pipeway::ListenOptions) -> pipeway::Result<Self> {
        Ok(if messages {
            Listener::Messages(pipeway::tokio::MessageListener::bind_with(name, options)?)
        } else {
            Listener::Bytes(pipeway::tokio::PipeListener::bind_with(name, options)?)
        })
    }

    async fn accept(&self) -> pipeway::Result<Client> {
        Ok(match self {
            Listener::Bytes(listener) => Client::Bytes(listener.accept().await?),
            Listener::Messages(listener) => Client::Messages(Box::new(listener.accept().await?)),
        })
    }

    fn name(&self) -> &pipeway::PipeName {
        match self {
            Listener::Bytes(listener) => listener.name(),
            Listener::Messages(listener) => listener.name(),
        }
    }

    fn socket_path(&self) -> &std::path::Path {
        match self {
            Listener::Bytes(listener) => listener.socket_path(),
            Listener::Messages(listener) => listener.socket_path(),
        }
    }
}

impl Client {
    fn peer(&self) -> &PeerIdentity {
        match self {
            Client::Bytes(stream) => stream.peer(),
            Client::Messages(stream) => stream.peer(),
        }
    }
}

async fn serve_bytes(
    stream: pipeway::tokio::PipeStream,
    echo: bool,
    lines: Option<broadcast::Receiver<Arc<Vec<u8>>>>,
) -> String {
    let (mut reader, mut writer) = stream.into_split();
    if let Some(mut lines) = lines {
        loop {
            match lines.recv().await {
                Ok(line) => {
                    if let Err(err) = writer.write_all(&line).await {
                        return err.to_string();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("a slow client missed {n} lines");
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return "the server's input ended".into();
                }
            }
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) if echo => {
                if let Err(err) = writer.write_all(&buf[..n]).await {
                    return err.to_string();
                }
            }
            Ok(n) => {
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return "stdout closed".into();
                }
            }
            Err(err) => return err.to_string(),
        }
    }
    if echo {
        let _ = writer.shutdown().await;
    }
    "end of stream".into()
}

async fn serve_messages(
    stream: &pipeway::tokio::MessageStream,
    echo: bool,
    lines: Option<broadcast::Receiver<Arc<Vec<u8>>>>,
) -> String {
    if let Some(mut lines) = lines {
        loop {
            match lines.recv().await {
                Ok(line) => {
                    let message = line.strip_suffix(b"\n").unwrap_or(&line);
                    if let Err(err) = stream.send(message).await {
                        return err.to_string();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("a slow client missed {n} messages");
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return "the server's input ended".into();
                }
            }
        }
    }
    loop {
        match stream.recv_vec().await {
            Ok(Some(message)) if echo => {
                if let Err(err) = stream.send(&message).await {
                    return err.to_string();
                }
            }
            Ok(Some(message)) => {
                let mut stdout = std::io::stdout().lock();
                let printed = stdout
                    .write_all(&message)
                    .and_then(|()| stdout.write_all(b"\n"))
                    .and_then(|()| stdout.flush());
                if printed.is_err() {
                    return "stdout closed".into();
                }
            }
            Ok(None) => {
                if echo {
                    let _ = stream.close_write().await;
                }
                return "end of messages".into();
            }
            Err(err) => return err.to_string(),
        }
    }
}

async fn read_stdin_lines(lines: broadcast::Sender<Arc<Vec<u8>>>) {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let _ = lines.send(Arc::new(line.clone()));
            }
        }
    }
}

/// SIGINT or SIGTERM: stop accepting, so the listener is dropped and its
/// socket file removed.
pub(crate) struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    pub(crate) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub(crate) async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
