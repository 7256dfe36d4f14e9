//! A chat client: each line typed is said to everyone; `/shout LINE` is a
//! request the server answers; what others say is printed as it comes, with
//! the connection's state changes. Restart the server and the client
//! reconnects, sending what was typed meanwhile.
//!
//! ```sh
//! cargo run -p pipeway-channel --example chat_client -- [NAME]   # default name: pipeway-chat
//! ```

use pipeway_channel::demo::{Heard, Say};
use pipeway_channel::{Client, ClientEvent};
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "usage: chat_client [NAME]

Joins the chat on the pipe NAME (default: pipeway-chat): each line typed is
said to everyone, `/shout LINE` asks the server to shout it back; Ctrl-D leaves.";

#[tokio::main]
async fn main() -> pipeway_channel::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = match args.as_slice() {
        [] => "pipeway-chat".to_owned(),
        [help] if help == "-h" || help == "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        [name] if !name.starts_with('-') => name.clone(),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let (client, mut incoming) = Client::<Say, Heard>::connect(name.as_str()).await?;
    println!("connected to {name}; type lines, /shout LINE, or Ctrl-D to leave");

    tokio::spawn(async move {
        while let Some(event) = incoming.recv().await {
            match event {
                ClientEvent::Message(heard) => println!("{}: {}", heard.from, heard.text),
                ClientEvent::Disconnected {
                    reason,
                    reconnecting,
                } => {
                    println!("-- disconnected: {reason}; reconnecting: {reconnecting}")
                }
                ClientEvent::ReconnectFailed { attempt, error } => {
                    println!("-- reconnect attempt {attempt} failed: {error}")
                }
                ClientEvent::Reconnected { attempts } => {
                    println!("-- reconnected after {attempts} attempts")
                }
                ClientEvent::Error(error) => println!("-- error: {error}"),
                _ => {}
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let result = match line.strip_prefix("/shout ") {
            Some(text) => client
                .request(&Say { text: text.into() })
                .await
                .map(|reply| println!("{}: {}", reply.from, reply.text)),
            None => client.send(&Say { text: line }).await,
        };
        if let Err(error) = result {
            println!("-- not sent: {error}");
        }
    }
    client.close().await
}
