//! Message mode: pipeway's message pipes against raw `SOCK_SEQPACKET`
//! (blocking against blocking, also with the raw calls made from functions
//! as a library makes them; tokio against tokio), and a 1 MiB message
//! against a 1 MiB raw byte-stream round trip; and the table that chose
//! the framed wire's record size.

use std::io;
use std::path::Path;

use crate::cases::common::{AsyncEcho, AsyncExchange, Echo, Exchange, arg, runtime};
use crate::cases::pipes::{self, RAW_STD, RAW_TOKIO};
use crate::cases::seqpacket::{self, AsyncRecords, CalledRecords, Records};
use crate::{Context, Group, Peer, Subject, Table, peer, size_label};

/// The group.
pub fn group() -> Group {
    Group::new(
        "message",
        "message mode: round trips against raw SOCK_SEQPACKET, and 1 MiB against raw bytes",
        tables,
    )
    .role(ROLE, serve)
}

const ROLE: &str = "message-server";

const SEQPACKET: &str = "raw SOCK_SEQPACKET";
const SEQPACKET_CALLED: &str = "raw SOCK_SEQPACKET, calls in functions";
const SEQPACKET_TOKIO: &str = "raw SOCK_SEQPACKET (tokio)";
const PIPEWAY: &str = "pipeway MessageStream (blocking)";
const PIPEWAY_TOKIO: &str = "pipeway MessageStream (tokio)";

/// One record: larger than any message of the small tables.
const WHOLE: usize = usize::MAX;

fn tables() -> Vec<Table> {
    let mut tables: Vec<Table> = [(64, 2000), (4096, 2000)]
        .into_iter()
        .map(|(size, ops)| {
            Table::latency(
                format!("Message round trip, {}", size_label(size)),
                size,
                ops,
            )
            .row(SEQPACKET, move |cx| start(cx, Kind::Seqpacket(WHOLE), size))
            .row_vs(SEQPACKET_CALLED, &[SEQPACKET], move |cx| {
                start(cx, Kind::SeqpacketCalled, size)
            })
            .row_vs(PIPEWAY, &[SEQPACKET, SEQPACKET_CALLED], move |cx| {
                start(cx, Kind::Pipeway, size)
            })
            .row_vs(format!("{RAW_STD} (bytes)"), &[SEQPACKET], move |cx| {
                pipes::start(cx, pipes::Kind::Std, pipes::Op::Echo(size))
            })
            .row_vs(SEQPACKET_TOKIO, &[SEQPACKET], move |cx| {
                start(cx, Kind::SeqpacketTokio(WHOLE), size)
            })
            .row_vs(PIPEWAY_TOKIO, &[SEQPACKET_TOKIO], move |cx| {
                start(cx, Kind::PipewayTokio, size)
            })
        })
        .collect();

    let size = 1 << 20;
    let std_bytes = format!("{RAW_STD} (bytes)");
    let tokio_bytes = format!("{RAW_TOKIO} (bytes)");
    tables.push(
        Table::latency("Message round trip, 1 MiB", size, 40)
            .row(std_bytes.clone(), move |cx| {
                pipes::start(cx, pipes::Kind::Std, pipes::Op::Echo(size))
            })
            .row_vs(PIPEWAY, &[&std_bytes], move |cx| {
                start(cx, Kind::Pipeway, size)
            })
            .row_vs(tokio_bytes.clone(), &[&std_bytes], move |cx| {
                pipes::start(cx, pipes::Kind::Tokio, pipes::Op::Echo(size))
            })
            .row_vs(PIPEWAY_TOKIO, &[&tokio_bytes, &std_bytes], move |cx| {
                start(cx, Kind::PipewayTokio, size)
            }),
    );

    // How a 1 MiB message fares as raw records of each size, with the
    // default socket buffers: what the framed wire's record size rests on.
    let mut records = Table::latency("1 MiB as raw SOCK_SEQPACKET records", size, 40)
        .row(std_bytes.clone(), move |cx| {
            pipes::start(cx, pipes::Kind::Std, pipes::Op::Echo(size))
        });
    for record in [16 << 10, 32 << 10, 64 << 10, 128 << 10, 192 << 10] {
        records = records.row_vs(
            format!("{SEQPACKET}, {} records", size_label(record)),
            &[&std_bytes],
            move |cx| start(cx, Kind::Seqpacket(record), size),
        );
    }
    tables.push(records);
    tables
}

/// Which implementation both ends use; raw seqpacket with its record size.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Seqpacket(usize),
    /// Whole-record messages, each system call in a function of its own.
    SeqpacketCalled,
    SeqpacketTokio(usize),
    Pipeway,
    PipewayTokio,
}

impl Kind {
    fn args(self) -> [String; 2] {
        match self {
            Kind::Seqpacket(record) => ["seqpacket".into(), record.to_string()],
            Kind::SeqpacketCalled => ["seqpacket-called".into(), "0".into()],
            Kind::SeqpacketTokio(record) => ["seqpacket-tokio".into(), record.to_string()],
            Kind::Pipeway => ["pipeway".into(), "0".into()],
            Kind::PipewayTokio => ["pipeway-tokio".into(), "0".into()],
        }
    }

    fn parse(key: &str, record: usize) -> io::Result<Kind> {
        Ok(match key {
            "seqpacket" => Kind::Seqpacket(record),
            "seqpacket-called" => Kind::SeqpacketCalled,
            "seqpacket-tokio" => Kind::SeqpacketTokio(record),
            "pipeway" => Kind::Pipeway,
            "pipeway-tokio" => Kind::PipewayTokio,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no message pipe kind {other}"),
                ));
            }
        })
    }
}

/// A blocking pipeway message stream as an [`Exchange`].
struct Messages(pipeway::MessageStream);

impl Exchange for Messages {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        self.0.send(message)?;
        self.0
            .recv(reply)?
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }
}

/// A tokio pipeway message stream as an [`AsyncExchange`].
struct AsyncMessages(pipeway::tokio::MessageStream);

impl AsyncExchange for AsyncMessages {
    async fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        self.0.send(message).await?;
        self.0
            .recv(reply)
            .await?
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }
}

fn start(cx: &Context, kind: Kind, size: usize) -> io::Result<Box<dyn Subject>> {
    let endpoint = match kind {
        Kind::Seqpacket(_) | Kind::SeqpacketCalled | Kind::SeqpacketTokio(_) => {
            cx.socket_path("seqpacket").display().to_string()
        }
        Kind::Pipeway | Kind::PipewayTokio => cx.unique("message"),
    };
    let [key, record] = kind.args();
    let peer = Peer::spawn(
        ROLE,
        &[key, endpoint.clone(), size.to_string(), record],
        cx.cpu(),
    )?;
    let name = endpoint.as_str();
    match kind {
        Kind::Seqpacket(record) => {
            let fd = seqpacket::connect(Path::new(name), false)?;
            Ok(Echo::boxed(Records { fd, record }, size, peer))
        }
        Kind::SeqpacketCalled => {
            let fd = seqpacket::connect(Path::new(name), false)?;
            Ok(Echo::boxed(CalledRecords(fd), size, peer))
        }
        Kind::SeqpacketTokio(record) => AsyncEcho::boxed(
            || async { AsyncRecords::new(seqpacket::connect(Path::new(name), true)?, record) },
            size,
            peer,
        ),
        Kind::Pipeway => Ok(Echo::boxed(
            Messages(pipeway::MessageStream::connect(name)?),
            size,
            peer,
        )),
        Kind::PipewayTokio => AsyncEcho::boxed(
            || async {
                Ok(AsyncMessages(
                    pipeway::tokio::MessageStream::connect(name).await?,
                ))
            },
            size,
            peer,
        ),
    }
}

/// The server role: `KIND ENDPOINT SIZE RECORD`.
fn serve(args: &[String]) -> io::Result<()> {
    let key: String = arg(args, 0)?;
    let endpoint: String = arg(args, 1)?;
    let size: usize = arg(args, 2)?;
    let kind = Kind::parse(&key, arg(args, 3)?)?;
    match kind {
        Kind::Seqpacket(record) => {
            let listener = seqpacket::listen(Path::new(&endpoint))?;
            peer::ready()?;
            seqpacket::serve(seqpacket::accept(&listener, false)?, size, record)
        }
        Kind::SeqpacketCalled => {
            let listener = seqpacket::listen(Path::new(&endpoint))?;
            peer::ready()?;
            seqpacket::serve_called(seqpacket::accept(&listener, false)?, size)
        }
        Kind::SeqpacketTokio(record) => {
            let listener = seqpacket::listen(Path::new(&endpoint))?;
            peer::ready()?;
            let fd = seqpacket::accept(&listener, true)?;
            runtime()?.block_on(async {
                seqpacket::serve_async(AsyncRecords::new(fd, record)?, size).await
            })
        }
        Kind::Pipeway => {
            let listener = pipeway::MessageListener::bind(endpoint.as_str())?;
            peer::ready()?;
            let stream = listener.accept()?;
            let mut buf = vec![0u8; size];
            while let Some(n) = stream.recv(&mut buf)? {
                stream.send(&buf[..n])?;
            }
            Ok(())
        }
        Kind::PipewayTokio => runtime()?.block_on(async {
            let listener = pipeway::tokio::MessageListener::bind(endpoint.as_str())?;
            peer::ready()?;
            let stream = listener.accept().await?;
            let mut buf = vec![0u8; size];
            while let Some(n) = stream.recv(&mut buf).await? {
                stream.send(&buf[..n]).await?;
            }
            Ok(())
        }),
    }
}
