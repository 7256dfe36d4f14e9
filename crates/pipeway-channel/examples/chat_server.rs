//! A chat server: prints every event, broadcasts each line a client says,
//! and answers requests by shouting the line back.
//!
//! ```sh
//! cargo run -p pipeway-channel --example chat_server -- [NAME]   # default name: pipeway-chat
//! cargo run -p pipeway-channel --example chat_client -- [NAME]   # in other terminals
//! ```
//!
//! Nothing a client does stops it: each failure is about one client or one
//! message, so it is printed and the server carries on. Ctrl-C or SIGTERM
//! shuts it down gracefully, delivering what is queued and removing the
//! pipe's socket.

use std::process::ExitCode;

use pipeway_channel::demo::{Heard, Say};
use pipeway_channel::{Event, Server};

const USAGE: &str = "usage: chat_server [NAME]

Serves a chat on the pipe NAME (default: pipeway-chat) until Ctrl-C or SIGTERM.
Clients' lines are broadcast to everyone; requests are answered in capitals.";

#[tokio::main]
async fn main() -> ExitCode {
    let name = match name_from_args(USAGE, "pipeway-chat") {
        Ok(name) => name,
        Err(code) => return code,
    };
    let (server, mut events) = match Server::<Say, Heard>::bind(name.as_str()) {
        Ok(bound) => bound,
        Err(error) => {
            eprintln!("chat_server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("serving chat on {name}; Ctrl-C to stop");

    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                // Shut down and every client's last event delivered.
                None => break,
            },
            () = &mut stop, if !server.is_shut_down() => {
                println!("shutting down");
                server.shutdown().await;
                continue;
            }
        };
        match event {
            Event::Connected { client, peer } => {
                println!("{client} connected ({peer})");
                let joined = Heard {
                    from: "server".into(),
                    text: format!("{client} joined"),
                };
                if let Err(error) = server.broadcast(&joined) {
                    println!("could not announce {client}: {error}");
                }
            }
            Event::Message { client, message } => {
                println!("{client}: {}", shown(&message.text));
                let heard = Heard {
                    from: client.to_string(),
                    text: message.text,
                };
                // A message may be too large to pass on (a broadcast adds
                // the sender's name): that is this message's failure only.
                match server.broadcast(&heard) {
                    Ok(report) => {
                        for slow in report.full {
                            println!("{slow} is not keeping up and was dropped");
                        }
                    }
                    Err(error) => println!("could not pass on what {client} said: {error}"),
                }
            }
            Event::Request {
                client,
                message,
                responder,
            } => {
                println!("{client} asks: {}", shown(&message.text));
                let shout = Heard {
                    from: "server".into(),
                    text: message.text.to_uppercase(),
                };
                // A client that has already left is not an error here.
                if let Err(error) = responder.reply(&shout) {
                    println!("could not answer {client}: {error}");
                }
            }
            Event::Disconnected { client, reason } => println!("{client} left: {reason}"),
            Event::Error { client, error } => println!("{client} sent something wrong: {error}"),
            Event::Refused { client, error, .. } => println!("{client} refused: {error}"),
            _ => {}
        }
    }
    ExitCode::SUCCESS
}

/// `text` for the log: long texts are cut (a client may send megabytes, and
/// a terminal or a log file should not get them all).
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 200;
    match text.char_indices().nth(SHOWN) {
        None => text.into(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()).into(),
    }
}

/// The pipe name from the command line, or the default; `--help` prints
/// `usage` (exit 0), anything else unexpected prints it as an error (exit 2).
fn name_from_args(usage: &str, default: &str) -> Result<String, ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(default.to_owned()),
        [help] if help == "-h" || help == "--help" => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        [name] if !name.starts_with('-') => Ok(name.clone()),
        _ => {
            eprintln!("{usage}");
            Err(ExitCode::from(2))
        }
    }
}

/// Resolves at Ctrl-C (SIGINT) or SIGTERM, what `kill` and service managers
/// send: either way the server shuts down and frees its name.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => drop(tokio::signal::ctrl_c().await),
        }
    }
    #[cfg(not(unix))]
    drop(tokio::signal::ctrl_c().await);
}
