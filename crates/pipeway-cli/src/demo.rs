//! `pipeway demo`: what pipeway does, in one run. Starts a server, connects
//! a blocking and a tokio client, shows the exchange both ways and who is
//! at each end, then message mode, a typed channel with its events, a gRPC
//! call, and a small latency table.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use pipeway::{MessageListener, MessageStream, PeerIdentity, PipeListener, PipeStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Result;

fn who(peer: &PeerIdentity) -> String {
    format!(
        "pid {}, {}, user {}",
        peer.pid().map_or_else(|| "?".into(), |p| p.to_string()),
        peer.principal()
            .map_or_else(|| "?".into(), |principal| principal.to_string()),
        peer.user_name().unwrap_or("?")
    )
}

/// How the latency table is printed: aligned text for people, Markdown
/// (as the README quotes it) or JSON for machines.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Print the latency table in Markdown.
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Print the latency table as JSON, one object per case, alone on
    /// stdout (the narration goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Set when stdout carries JSON: the narration goes to stderr.
static NARRATION_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Narration: a line on stdout, or on stderr when stdout carries JSON.
macro_rules! say {
    ($($arg:tt)*) => {
        if NARRATION_TO_STDERR.load(Ordering::Relaxed) {
            eprintln!($($arg)*)
        } else {
            println!($($arg)*)
        }
    };
}

fn heading(title: &str) {
    say!("\n== {title}");
}

pub(crate) fn run(args: DemoArgs) -> Result<ExitCode> {
    NARRATION_TO_STDERR.store(args.json, Ordering::Relaxed);
    let name = format!("pipeway-demo-{}", std::process::id());
    bytes(&name)?;
    messages(&format!("{name}-messages"))?;
    channel(&format!("{name}-channel"))?;
    grpc(&format!("{name}-grpc"))?;
    latency(&args)?;
    Ok(ExitCode::SUCCESS)
}

/// A byte-mode echo server, a blocking client and a tokio client.
fn bytes(name: &str) -> Result<()> {
    heading("Byte mode: one server, a blocking client and a tokio client");
    let listener = PipeListener::bind(name)?;
    say!(
        "server: listening on {name} at {}",
        listener.endpoint().display()
    );
    let server = std::thread::spawn(move || -> pipeway::Result<()> {
        for _ in 0..2 {
            let mut stream = listener.accept()?;
            say!("server: accepted a client: {}", who(stream.peer()));
            let mut request = String::new();
            stream.read_to_string(&mut request)?;
            say!("server: received {request:?}");
            let reply = format!("echo: {request}");
            stream.write_all(reply.as_bytes())?;
            stream.shutdown(Shutdown::Write)?;
        }
        Ok(())
    });

    let mut client = PipeStream::connect(name)?;
    say!(
        "blocking client: connected; the server is {}",
        who(client.peer())
    );
    client.write_all(b"hello from a blocking client")?;
    client.shutdown(Shutdown::Write)?;
    let mut reply = String::new();
    client.read_to_string(&mut reply)?;
    say!("blocking client: got {reply:?}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = pipeway::tokio::PipeStream::connect(name).await?;
        say!(
            "tokio client: connected; the server is {}",
            who(client.peer())
        );
        client.write_all(b"hello from a tokio client").await?;
        client.shutdown().await?;
        let mut reply = String::new();
        client.read_to_string(&mut reply).await?;
        say!("tokio client: got {reply:?}");
        Ok::<_, pipeway::Error>(())
    })?;
    server.join().expect("the demo server panicked")?;
    Ok(())
}

/// Message mode: boundaries kept, an empty message included.
fn messages(name: &str) -> Result<()> {
    heading("Message mode: every send arrives as one message");
    let listener = MessageListener::bind(name)?;
    let client = MessageStream::connect(name)?;
    let server = listener.accept()?;
    for message in [&b"first"[..], b"", b"third, after an empty one"] {
        client.send(message)?;
    }
    client.close_write()?;
    while let Some(message) = server.recv_vec()? {
        say!(
            "server: message of {} bytes: {:?}",
            message.len(),
            String::from_utf8_lossy(&message)
        );
    }
    say!("server: the client closed its side (no more messages)");
    Ok(())
}

/// Typed messages with events: connects, a broadcast, a request and its
/// reply, and a hostile client dropped alone.
fn channel(name: &str) -> Result<()> {
    heading("Channels: typed messages, events, broadcast, request/response");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(pipeway_channel::demo::chat(name, |line| say!("{line}")))?;
    Ok(())
}

/// gRPC over a pipe: `MyService.Buy` (buy.proto, the ASP.NET Core
/// gRPC-over-named-pipes example service), served by tonic, with the
/// caller's identity in the handler.
fn grpc(name: &str) -> Result<()> {
    heading("gRPC: MyService.Buy over a pipe (tonic), the caller's identity in the handler");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let order = pipeway_grpc::buy::BuyRequest {
        id: "apple".into(),
        quantity: 3,
        price: 120,
    };
    let outcome = runtime.block_on(pipeway_grpc::buy::demo(name, order))?;
    say!(
        "client: Buy(apple, 3, 120) -> {:?}",
        outcome.response.result
    );
    say!("server: the handler saw {}", who(outcome.caller.peer()));
    Ok(())
}

fn latency(args: &DemoArgs) -> Result<()> {
    heading(
        "Latency: 64 B round trips, client and server in two processes on one CPU (`pipeway bench` for the full set)",
    );
    let settings = pipeway_bench::Settings {
        rounds: 5,
        ..pipeway_bench::Settings::quick()
    };
    pipeway_bench::pin_to_cpu(settings.cpu);
    let registry = crate::bench::registry();
    let cx = pipeway_bench::Context::new(settings, None)?;
    let tables = registry
        .group("pipes")
        .map(|g| g.tables())
        .unwrap_or_default();
    for table in tables
        .iter()
        .filter(|t| t.title() == "Byte round trip, 64 B")
    {
        let result = pipeway_bench::run_table("pipes", table, &cx);
        if args.json {
            for case in pipeway_bench::report::json(&result) {
                println!("{case}");
            }
        } else if args.markdown {
            print!("{}", pipeway_bench::report::markdown(&result));
        } else {
            print!("{}", pipeway_bench::report::text(&result));
        }
    }
    Ok(())
}
