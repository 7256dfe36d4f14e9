//! `pipeway serve`: a pipe server for the shell.
//!
//! Clients are served concurrently. What they send goes to stdout (bytes as
//! they come, messages one per line; with `--prefix`, line by line, each
//! line after its client's number), or back to them with `--echo`. Only an
//! outbound pipe reads stdin: see [`crate::outbound`]. Connects and
//! disconnects are reported on stderr with the peer's identity and
//! executable. SIGINT and SIGTERM stop the server cleanly, which removes its
//! socket file.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use pipeway::{Direction, PeerIdentity, PeerProcess, ProcessError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::outbound::{Line, Outbound};
use crate::{AccessArgs, ModeArgs, Result, plural};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The pipe to serve (`echo`, `\\.\pipe\echo`, or a socket path).
    name: String,
    /// Send everything each client sends back to it.
    #[arg(long)]
    echo: bool,
    /// Print what clients send line by line, each line after its client's
    /// number (`2: hello`), so that clients can be told apart.
    #[arg(long, conflicts_with = "echo")]
    prefix: bool,
    #[command(flatten)]
    mode: ModeArgs,
    #[command(flatten)]
    access: AccessArgs,
    #[cfg(unix)]
    #[command(flatten)]
    smb: SmbArgs,
}

/// Serving SMB clients from other hosts, through Samba (Unix only).
#[cfg(unix)]
#[derive(Args, Debug)]
struct SmbArgs {
    /// Also serve SMB clients of other hosts (\\thishost\pipe\NAME), through
    /// Samba's named-pipe hand-off; needs root (or see --smb-dir). The access
    /// rules apply to them too: --allow-user takes DOMAIN\user or a SID.
    #[arg(long)]
    smb: bool,
    /// Find Samba's np directory in this smb.conf instead of the default one.
    #[arg(
        long,
        value_name = "FILE",
        requires = "smb",
        conflicts_with = "smb_dir"
    )]
    smb_conf: Option<std::path::PathBuf>,
    /// Bind the SMB socket in this directory: Samba's np directory, or one of
    /// the service's own that a root-placed symlink in it points into.
    #[arg(long, value_name = "DIR", requires = "smb")]
    smb_dir: Option<std::path::PathBuf>,
}

#[cfg(unix)]
impl SmbArgs {
    fn apply(&self, options: pipeway::ListenOptions) -> pipeway::ListenOptions {
        use pipeway::smb::SmbOptions;
        use pipeway::unix::ListenOptionsExt;
        if !self.smb {
            return options;
        }
        let smb = match (&self.smb_conf, &self.smb_dir) {
            (_, Some(dir)) => SmbOptions::new().socket_dir(dir),
            (Some(conf), None) => SmbOptions::new().smb_conf(conf),
            (None, None) => SmbOptions::new(),
        };
        options.serve_smb(smb)
    }
}

/// The listen options the arguments ask for, SMB clients included.
fn listen_options(args: &ServeArgs) -> pipeway::ListenOptions {
    let options = crate::listen_options(&args.mode, &args.access);
    #[cfg(unix)]
    let options = args.smb.apply(options);
    options
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    #[cfg(unix)]
    if args.echo && !args.mode.message && args.mode.direction().is_none() {
        // A byte echo runs on the blocking face (see `crate::echo` for why).
        let options = listen_options(&args);
        return crate::echo::run(&args.name, &options, &shape(&args.mode, &args.access));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve(args));
    // A read of stdin may still be blocked in a thread of the runtime's:
    // leave it behind rather than wait for input that is not needed.
    runtime.shutdown_background();
    served?;
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
            .map(|n| format!(", at most {}", plural(n, "client")))
            .unwrap_or_default()
    )
}

/// What the first line says about SMB clients, when the pipe serves them.
pub(crate) fn smb_note(socket: Option<&std::path::Path>) -> String {
    socket
        .map(|path| format!(", and to SMB clients through Samba at {}", path.display()))
        .unwrap_or_default()
}

/// What the first line says about stdin.
pub(crate) fn stdin_note(direction: Direction) -> &'static str {
    if direction == Direction::Outbound {
        "; stdin goes to every client once one is connected"
    } else {
        "; stdin is not read (only --outbound sends it to clients)"
    }
}

/// A peer as the connect lines show it: who, and what program it runs.
pub(crate) fn describe(peer: &PeerIdentity) -> String {
    // `pid 12, uid 1000 (ann), gid 1000`, as the library shows a peer.
    format!("{peer}, exe {}", executable(peer))
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

/// Why the accept loop ended.
enum Ended {
    /// SIGINT or SIGTERM.
    Signal,
    /// An outbound server's stdin ended.
    Input,
}

async fn serve(args: ServeArgs) -> Result<()> {
    let options = listen_options(&args);
    let direction = args.mode.direction().unwrap_or_default();
    if args.echo && direction != Direction::Duplex {
        return Err("--echo needs a duplex pipe (it reads and writes)".into());
    }
    let mut stop = Shutdown::new()?;
    let shape = shape(&args.mode, &args.access);

    let listener = Listener::bind(&args.name, args.mode.message, &options)?;
    let smb = smb_note(listener.smb_socket_path());
    eprintln!(
        "serving {} at {}{smb} ({shape}){}",
        listener.name(),
        listener.endpoint().display(),
        stdin_note(direction)
    );
    let outbound = (direction == Direction::Outbound).then(Outbound::start);
    let input_ended = async {
        match &outbound {
            Some(outbound) => outbound.ended().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(input_ended);
    let printer = Printer {
        prefix: args.prefix,
    };
    let mut clients = JoinSet::new();
    let mut next_id = 1u64;
    let ended = loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(client) => client,
                // The library waits out running short of descriptors or
                // memory itself; whatever else fails one accept must not
                // end the server either.
                Err(err) => {
                    eprintln!("cannot accept a client: {err}; serving on");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.requested() => break Ended::Signal,
            () = &mut input_ended => break Ended::Input,
            Some(_) = clients.join_next(), if !clients.is_empty() => continue,
        };
        let id = next_id;
        next_id += 1;
        // Joined before the line announces the client, as a reader of the
        // announcement would expect (stdin is read only once one has joined).
        let lines = outbound.as_ref().map(Outbound::join);
        eprintln!("client {id} connected: {}", describe(client.peer()));
        let echo = args.echo;
        clients.spawn(async move {
            let reason = match client {
                Client::Bytes(stream) => serve_bytes(stream, id, echo, lines, printer).await,
                Client::Messages(stream) => serve_messages(&stream, id, echo, lines, printer).await,
            };
            eprintln!("client {id} disconnected: {reason}");
        });
    };
    // No new clients from here on; the socket file goes.
    drop(listener);
    if let Ended::Input = ended {
        eprintln!(
            "stdin ended: sending the rest to {}, then end-of-file",
            plural(clients.len(), "client")
        );
        tokio::select! {
            () = async { while clients.join_next().await.is_some() {} } => {}
            () = stop.requested() => {}
        }
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

    fn endpoint(&self) -> &std::path::Path {
        match self {
            Listener::Bytes(listener) => listener.endpoint(),
            Listener::Messages(listener) => listener.endpoint(),
        }
    }

    /// Where smbd hands SMB clients over, when the pipe serves them.
    #[cfg(unix)]
    fn smb_socket_path(&self) -> Option<&std::path::Path> {
        use pipeway::unix::ListenerExt;
        match self {
            Listener::Bytes(listener) => listener.smb_socket_path(),
            Listener::Messages(listener) => listener.smb_socket_path(),
        }
    }

    /// Windows serves no SMB clients of its own (the system does).
    #[cfg(windows)]
    fn smb_socket_path(&self) -> Option<&std::path::Path> {
        None
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

/// Where clients' data goes when it is not echoed: stdout, as it comes, or
/// with `--prefix` line by line after the client's number. Each write is
/// made under one lock of stdout, so clients' lines never mix.
#[derive(Clone, Copy)]
struct Printer {
    prefix: bool,
}

impl Printer {
    /// Bytes from client `id`; `pending` holds its unfinished line.
    fn bytes(self, id: u64, pending: &mut Vec<u8>, data: &[u8]) -> std::io::Result<()> {
        if !self.prefix {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(data)?;
            return stdout.flush();
        }
        pending.extend_from_slice(data);
        let Some(last) = pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let rest = pending.split_off(last + 1);
        let complete = std::mem::replace(pending, rest);
        let mut stdout = std::io::stdout().lock();
        for line in complete.split_inclusive(|&b| b == b'\n') {
            write!(stdout, "{id}: ")?;
            stdout.write_all(line)?;
        }
        stdout.flush()
    }

    /// The end of client `id`'s bytes: its unfinished line, if any.
    fn end_of_bytes(self, id: u64, pending: &[u8]) -> std::io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{id}: ")?;
        stdout.write_all(pending)?;
        stdout.write_all(b"\n")?;
        stdout.flush()
    }

    /// One message from client `id`, on a line of its own.
    fn message(self, id: u64, message: &[u8]) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.prefix {
            write!(stdout, "{id}: ")?;
        }
        stdout.write_all(message)?;
        stdout.write_all(b"\n")?;
        stdout.flush()
    }
}

async fn serve_bytes(
    stream: pipeway::tokio::PipeStream,
    id: u64,
    echo: bool,
    lines: Option<mpsc::Receiver<Line>>,
    printer: Printer,
) -> String {
    let (mut reader, mut writer) = stream.into_split();
    if let Some(mut lines) = lines {
        while let Some(line) = lines.recv().await {
            if let Err(err) = writer.write_all(&line).await {
                return err.to_string();
            }
        }
        let _ = writer.shutdown().await;
        return "the server's input ended".into();
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) if echo => {
                if let Err(err) = writer.write_all(&buf[..n]).await {
                    return err.to_string();
                }
            }
            Ok(n) => {
                if printer.bytes(id, &mut pending, &buf[..n]).is_err() {
                    return "stdout closed".into();
                }
            }
            Err(err) => return err.to_string(),
        }
    }
    if echo {
        let _ = writer.shutdown().await;
    }
    if printer.end_of_bytes(id, &pending).is_err() {
        return "stdout closed".into();
    }
    "end of stream".into()
}

async fn serve_messages(
    stream: &pipeway::tokio::MessageStream,
    id: u64,
    echo: bool,
    lines: Option<mpsc::Receiver<Line>>,
    printer: Printer,
) -> String {
    if let Some(mut lines) = lines {
        while let Some(line) = lines.recv().await {
            let message = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Err(err) = stream.send(message).await {
                return err.to_string();
            }
        }
        let _ = stream.close_write().await;
        return "the server's input ended".into();
    }
    loop {
        match stream.recv_vec().await {
            Ok(Some(message)) if echo => {
                if let Err(err) = stream.send(&message).await {
                    return err.to_string();
                }
            }
            Ok(Some(message)) => {
                if printer.message(id, &message).is_err() {
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

/// SIGINT or SIGTERM (Ctrl+C or Ctrl+Break on Windows): stop accepting, so
/// the listener is dropped and its socket file removed.
#[cfg(unix)]
pub(crate) struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
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

#[cfg(windows)]
pub(crate) struct Shutdown {
    interrupt: tokio::signal::windows::CtrlC,
    terminate: tokio::signal::windows::CtrlBreak,
}

#[cfg(windows)]
impl Shutdown {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: tokio::signal::windows::ctrl_c()?,
            terminate: tokio::signal::windows::ctrl_break()?,
        })
    }

    pub(crate) async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
