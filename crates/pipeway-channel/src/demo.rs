//! A channel exchange with events, narrated: what `pipeway demo` shows, and
//! a short tour of the API.
//!
//! [`chat`] starts a server and two clients, Alice and Bob, on one pipe, and
//! reports each step as a line of text: the server's events as they arrive,
//! a broadcast, a request and its reply, a raw client announcing an
//! oversized frame (an `Error` event, and it alone is dropped), a client
//! with another codec refused at the handshake, the disconnections and the
//! shutdown.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pipeway_channel::Result<()> {
//! let name = format!("doc-channel-demo-{}", std::process::id());
//! pipeway_channel::demo::chat(&name, |line| println!("{line}")).await?;
//! # Ok(()) }
//! ```

use pipeway::IntoPipeName;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{Client, Event, Events, Server};

/// What a chat client sends: as a one-way message, a line for everyone; as
/// a request, a line the server shouts back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Say {
    /// The line.
    pub text: String,
}

/// What the chat server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    /// Who said it.
    pub from: String,
    /// What they said.
    pub text: String,
}

/// Runs the narrated exchange on pipe `name` and returns when it is over
/// (the server shut down, the pipe's name free again). Each step is passed
/// to `log` as one line.
pub async fn chat(name: impl IntoPipeName, mut log: impl FnMut(&str)) -> Result<()> {
    let name = name.into_pipe_name()?;
    let mut say = |who: &str, what: String| log(&format!("{who:>8} | {what}"));

    let (server, mut events) = Server::<Say, Heard>::bind(&name)?;
    say("server", format!("listening on {name} (JSON frames)"));

    let (alice, mut alice_in) = Client::<Say, Heard>::connect(&name).await?;
    let alice_id = next_event(&mut events, &mut say).await?.client();
    let (bob, mut bob_in) = Client::<Say, Heard>::connect(&name).await?;
    next_event(&mut events, &mut say).await?;
    say("server", format!("clients: {}", server.clients().len()));

    let hello = Say {
        text: "hello, Bob".into(),
    };
    say("alice", format!("sends {:?}", hello.text));
    alice.send(&hello).await?;
    if let Event::Message { client, message } = next_event(&mut events, &mut say).await? {
        let report = server.broadcast(&Heard {
            from: if client == alice_id { "alice" } else { "bob" }.into(),
            text: message.text,
        })?;
        say("server", format!("broadcast to {} clients", report.queued));
    }
    for (who, incoming) in [("bob", &mut bob_in), ("alice", &mut alice_in)] {
        match incoming.next_message().await {
            Some(heard) => say(
                who,
                format!("received {:?} from {}", heard.text, heard.from),
            ),
            None => return Err(Error::Closed),
        }
    }

    let question = Say {
        text: "can everyone hear me?".into(),
    };
    say("alice", format!("requests {:?}", question.text));
    let (reply, ()) = tokio::join!(alice.request(&question), async {
        if let Ok(Event::Request {
            message, responder, ..
        }) = next_event(&mut events, &mut say).await
        {
            let shout = message.text.to_uppercase();
            say("server", format!("replies {shout:?}"));
            let _ = responder.reply(&Heard {
                from: "server".into(),
                text: shout,
            });
        }
    });
    say("alice", format!("got the reply {:?}", reply?.text));

    #[cfg(unix)]
    {
        use pipeway::unix::PipeNameExt;
        use tokio::io::AsyncWriteExt;
        if let Some(path) = name.socket_path() {
            say(
                "mallory",
                "connects with a raw socket and announces a 4 GiB frame".into(),
            );
            let mut raw = tokio::net::UnixStream::connect(path).await?;
            let hello = crate::handshake::Hello::new(crate::handshake::Role::Client, "json", "")?;
            raw.write_all(&hello.encode()).await?;
            raw.write_all(&[0xff; 4]).await?;
            next_event(&mut events, &mut say).await?;
            next_event(&mut events, &mut say).await?;
            next_event(&mut events, &mut say).await?;
            say(
                "server",
                format!(
                    "clients: {} (alice and bob carry on)",
                    server.clients().len()
                ),
            );
        }
    }

    say("carol", "connects speaking MessagePack".into());
    let refused = Client::<Say, Heard>::builder()
        .codec(crate::codec::MessagePack)
        .no_reconnect()
        .connect(&name)
        .await;
    if let Err(error) = refused {
        say("carol", format!("refused: {error}"));
    }
    next_event(&mut events, &mut say).await?;

    say("bob", "closes".into());
    bob.close().await?;
    next_event(&mut events, &mut say).await?;
    say("alice", "closes".into());
    alice.close().await?;
    next_event(&mut events, &mut say).await?;

    server.shutdown().await;
    say("server", "shut down; the pipe's name is free".into());
    if events.recv().await.is_none() {
        say("server", "event stream ended".into());
    }
    Ok(())
}

/// Waits for the server's next event and narrates it.
async fn next_event(
    events: &mut Events<Say, Heard>,
    say: &mut impl FnMut(&str, String),
) -> Result<Event<Say, Heard>> {
    let event = events.recv().await.ok_or(Error::Closed)?;
    let line = match &event {
        Event::Connected { client, peer } => format!("event: {client} connected ({peer})"),
        Event::Message { client, message } => {
            format!("event: message from {client}: {:?}", message.text)
        }
        Event::Request {
            client, message, ..
        } => format!("event: request from {client}: {:?}", message.text),
        Event::Disconnected { client, reason } => {
            format!("event: {client} disconnected: {reason}")
        }
        Event::Error { client, error } => format!("event: error from {client}: {error}"),
        Event::Refused { client, error, .. } => format!("event: {client} refused: {error}"),
    };
    say("server", line);
    Ok(event)
}
