//! `pipeway mailslot serve NAME` and `pipeway mailslot send NAME MESSAGE...`.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use pipeway::mailslot::{MailslotClient, MailslotError, MailslotOptions, MailslotServer};

use crate::Result;

#[derive(Subcommand)]
pub(crate) enum MailslotCommand {
    /// Create a mailslot and print each message on its own line (stdout);
    /// SIGINT or SIGTERM stops it and removes its name.
    Serve(ServeArgs),
    /// Send one message per MESSAGE argument, or per line of stdin without any.
    Send {
        /// The mailslot (`alerts` or `\\.\mailslot\alerts`).
        name: String,
        /// The messages.
        messages: Vec<String>,
    },
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The mailslot (`alerts` or `\\.\mailslot\alerts`).
    name: String,
    /// The largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = pipeway::mailslot::DEFAULT_MAX_MAILSLOT_MESSAGE)]
    max_size: usize,
    /// Admit writers of every user (default: this user and root only).
    #[arg(long)]
    allow_everyone: bool,
}

pub(crate) fn run(command: MailslotCommand) -> Result<ExitCode> {
    match command {
        MailslotCommand::Serve(args) => serve(args),
        MailslotCommand::Send { name, messages } => send(&name, messages),
    }
}

/// How often the server looks up from reading to see whether it was told to stop.
const STOP_CHECK: Duration = Duration::from_millis(200);

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let mut options = MailslotOptions::new()
        .max_message_size(args.max_size)
        .read_timeout(Some(STOP_CHECK));
    if args.allow_everyone {
        options = options.allow_everyone();
    }
    let server = MailslotServer::create_with(&args.name, &options)?;
    let stop = stop_on_signal()?;
    eprintln!("serving mailslot {}", server.name());
    let mut out = std::io::stdout().lock();
    while !stop.load(Ordering::SeqCst) {
        match server.read() {
            Ok(message) => {
                out.write_all(&message)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Err(MailslotError::TimedOut) => {}
            // One writer's oversized message is its problem, not the server's.
            Err(err @ MailslotError::MessageTooLarge { .. }) => eprintln!("dropped: {err}"),
            Err(err) => return Err(err.into()),
        }
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A flag that SIGINT or SIGTERM (Ctrl+C on Windows) sets.
fn stop_on_signal() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let flag = stop.clone();
    std::thread::spawn(move || {
        runtime.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                if let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            flag.store(true, Ordering::SeqCst);
        })
    });
    Ok(stop)
}

fn send(name: &str, messages: Vec<String>) -> Result<ExitCode> {
    let client = MailslotClient::open(name)?;
    if messages.is_empty() {
        for line in std::io::stdin().lock().lines() {
            client.send(line?.as_bytes())?;
        }
    } else {
        for message in &messages {
            client.send(message.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
