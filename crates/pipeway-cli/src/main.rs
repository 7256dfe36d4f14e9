//! `pipeway`: serve, connect to, list and inspect named pipes, and see what
//! they can do (`demo`, `bench`).

mod bench;
mod connect;
mod demo;
#[cfg(unix)]
mod echo;
mod inspect;
mod mailslot;
mod outbound;
mod remote;
mod remote_relay;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use pipeway::{ConnectOptions, Direction, ListenOptions};

#[derive(Parser)]
#[command(
    name = "pipeway",
    version,
    about = "Named pipes for Unix, the Windows way"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a pipe: print what clients send (or echo it back), with
    /// connect and disconnect lines on stderr.
    ///
    /// Clients are served at once, each on its own. Stdin is read only on an
    /// --outbound pipe, as `nc -lU` reads it: once a client is connected, each
    /// line goes to every connected client (in message mode, as one message),
    /// and at the end of stdin every client gets what was sent, then
    /// end-of-file, and the server exits 0. SIGINT or SIGTERM stops the
    /// server and removes its socket file.
    Serve(serve::ServeArgs),
    /// Connect to a pipe and relay stdin to it and it to stdout, like `nc -U`.
    ///
    /// Exits 0 once the pipe is done both ways. A byte pipe's direction shows
    /// as it is used: the client of an inbound pipe sends all of stdin and
    /// ends; the client of an outbound pipe prints what the server sends and
    /// says once that the pipe does not read its input.
    Connect(connect::ConnectArgs),
    /// List the local pipes: name, state, owner, file permissions, type, path.
    ///
    /// TYPE is what the socket shows without connecting: `byte` (a plain
    /// stream socket) or `framed` (pipeway's framed wire, which message pipes
    /// and byte pipes with an instance limit use); `-` when not known.
    List,
    /// Show one pipe: path, owner, file permissions, type, whether it is
    /// live, the server's pid; for `\\HOST\pipe\NAME`, the host, SMB
    /// dialect, signing and cipher.
    Info(remote::InfoArgs),
    /// Start a server and clients, show an exchange, the peer identity and
    /// a small latency table.
    Demo(demo::DemoArgs),
    /// Measure pipeway against fair baselines, process to process: round
    /// trips and throughput of byte and message pipes, the echo server,
    /// channels, gRPC.
    Bench(bench::BenchArgs),
    /// Mailslots: one-way messages from any number of writers to one reader.
    #[command(subcommand)]
    Mailslot(mailslot::MailslotCommand),
}

/// The pipe's shape, shared by `serve` and `connect`.
#[derive(Args, Clone, Debug)]
pub(crate) struct ModeArgs {
    /// Message mode: each line is one message (an empty line, an empty message).
    #[arg(long)]
    message: bool,
    /// Inbound: clients write, the server reads.
    #[arg(long, conflicts_with = "outbound")]
    inbound: bool,
    /// Outbound: the server writes, clients read.
    #[arg(long)]
    outbound: bool,
}

impl ModeArgs {
    fn direction(&self) -> Option<Direction> {
        match (self.inbound, self.outbound) {
            (true, _) => Some(Direction::Inbound),
            (_, true) => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// Who may connect, for `serve`.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct AccessArgs {
    /// At most N clients at once; more wait, then fail as busy.
    #[arg(long, value_name = "N")]
    max_instances: Option<usize>,
    /// Also admit this user (repeatable).
    #[arg(long, value_name = "USER")]
    allow_user: Vec<String>,
    /// Also admit members of this group (repeatable).
    #[arg(long, value_name = "GROUP")]
    allow_group: Vec<String>,
    /// Admit every user.
    #[arg(long)]
    allow_everyone: bool,
    /// Refuse this user, whatever else admits them (repeatable).
    #[arg(long, value_name = "USER")]
    deny_user: Vec<String>,
    /// Refuse members of this group (repeatable).
    #[arg(long, value_name = "GROUP")]
    deny_group: Vec<String>,
}

pub(crate) fn listen_options(mode: &ModeArgs, access: &AccessArgs) -> ListenOptions {
    let mut options = ListenOptions::new().direction(mode.direction().unwrap_or_default());
    if let Some(n) = access.max_instances {
        options = options.max_instances(n);
    }
    for user in &access.allow_user {
        options = options.allow_user(user);
    }
    for group in &access.allow_group {
        options = options.allow_group(group);
    }
    if access.allow_everyone {
        options = options.allow_everyone();
    }
    for user in &access.deny_user {
        options = options.deny_user(user);
    }
    for group in &access.deny_group {
        options = options.deny_group(group);
    }
    options
}

pub(crate) fn connect_options(mode: &ModeArgs, timeout: Duration) -> ConnectOptions {
    let mut options = ConnectOptions::new().timeout(timeout);
    if let Some(direction) = mode.direction() {
        options = options.direction(direction);
    }
    options
}

pub(crate) type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// `1 client`, `2 clients`.
pub(crate) fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn main() -> ExitCode {
    // `pipeway bench` runs this program again as the peers of its cases.
    pipeway_bench::serve_peer_if_asked(&bench::registry());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    // The demo narrates what happens, the bad client it drops included: log
    // lines would only interrupt it.
    let level = match cli.command {
        Command::Demo(_) => tracing_subscriber::filter::LevelFilter::ERROR,
        _ => tracing_subscriber::filter::LevelFilter::WARN,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_max_level(level)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
        Command::List => inspect::list(),
        Command::Info(args) => remote::info(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Mailslot(command) => mailslot::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pipeway: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused, in one line (clap's own report spans
/// several: the error, a usage line, a tip); help and the version print as
/// clap prints them.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(err.exit_code() as u8);
    }
    let rendered = err.render().to_string();
    // The error is the first paragraph (a list of missing arguments
    // continues it on indented lines); usage and tips follow a blank line.
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let command = std::env::args()
        .nth(1)
        .filter(|word| Cli::command().find_subcommand(word).is_some());
    let help = match command {
        Some(command) => format!("pipeway {command} --help"),
        None => "pipeway --help".to_owned(),
    };
    eprintln!("pipeway: {message} (see {help})");
    ExitCode::from(2)
}
