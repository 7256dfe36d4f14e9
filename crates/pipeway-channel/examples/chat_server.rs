//! A chat server: prints every event, broadcasts each line a client says,
//! and answers requests by shouting the line back.
//!
//! ```sh
//! cargo run -p pipeway-channel --example chat_server [NAME]      # default name: pipeway-chat
//! cargo run -p pipeway-channel --example chat_client [NAME]      # in other terminals
//! ```
//!
//! Stop it with Ctrl-C: it shuts down gracefully, delivering what is queued.

use pipeway_channel::demo::{Heard, Say};
use pipeway_channel::{Event, Server};

#[tokio::main]
async fn main() -> pipeway_channel::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "pipeway-chat".into());
    let (server, mut events) = Server::<Say, Heard>::bind(name.as_str())?;
    println!("serving chat on {name}; Ctrl-C to stop");

    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                println!("shutting down");
                server.shutdown().await;
                continue;
            }
        };
        match event {
            Event::Connected { client, peer } => {
                println!("{client} connected ({peer})");
                let _ = server.broadcast(&Heard {
                    from: "server".into(),
                    text: format!("{client} joined"),
                });
            }
            Event::Message { client, message } => {
                println!("{client}: {}", message.text);
                let report = server.broadcast(&Heard {
                    from: client.to_string(),
                    text: message.text,
                })?;
                for slow in report.full {
                    println!("{slow} is not keeping up and was dropped");
                }
            }
            Event::Request {
                client,
                message,
                responder,
            } => {
                println!("{client} asks: {}", message.text);
                responder.reply(&Heard {
                    from: "server".into(),
                    text: message.text.to_uppercase(),
                })?;
            }
            Event::Disconnected { client, reason } => println!("{client} left: {reason}"),
            Event::Error { client, error } => println!("{client} sent something wrong: {error}"),
            _ => {}
        }
    }
    Ok(())
}
