//! `pipeway`: serve, connect to, list and inspect named pipes, and see what
//! they can do (`demo`, `bench`).

mod bench;
mod connect;
mod demo;
mod echo;
mod inspect;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
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
    Serve(serve::ServeArgs),
    /// Connect to a pipe and relay stdin to it and it to stdout, like `nc -U`.
    Connect(connect::ConnectArgs),
    /// List the local pipes: name, state, owner, mode, path.
    List,
    /// Show one pipe: path, owner, mode, whether it is live, the server's pid.
    Info {
        /// The pipe (`echo`, `\\.\pipe\echo`, or a socket path).
        name: String,
    },
    /// Start a server and clients, show an exchange, the peer identity and
    /// a small latency table.
    Demo,
    /// Measure pipeway against fair baselines, process to process: round
    /// trips and throughput of byte and message pipes, the echo server,
    /// channels, gRPC.
    Bench(bench::BenchArgs),
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

fn main() -> ExitCode {
    // `pipeway bench` runs this program again as the peers of its cases.
    pipeway_bench::serve_peer_if_asked(&bench::registry());
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
        Command::List => inspect::list(),
        Command::Info { name } => inspect::info(&name),
        Command::Demo => demo::run(),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pipeway: {err}");
            ExitCode::FAILURE
        }
    }
}
