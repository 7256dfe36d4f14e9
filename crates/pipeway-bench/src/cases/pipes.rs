//! Byte mode: pipeway's byte pipes against raw Unix stream sockets, both
//! ends the same kind (blocking against blocking std, tokio against tokio).

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};

use crate::cases::common::{
    AsyncBytes, AsyncEcho, AsyncTransfer, Bytes, Echo, Transfer, arg, corrupt_echo_asked, runtime,
    serve_echo, serve_echo_async, serve_echo_with, serve_sink, serve_sink_async,
};
use crate::{Context, Group, Peer, Subject, Table, peer, size_label};

/// The group.
pub fn group() -> Group {
    Group::new(
        "pipes",
        "byte mode: round trips and throughput against raw Unix stream sockets",
        tables,
    )
    .role(ROLE, serve)
}

const ROLE: &str = "pipes-server";

/// Rows, and what each compares with.
pub(crate) const RAW_STD: &str = "raw std UnixStream";
pub(crate) const RAW_TOKIO: &str = "raw tokio UnixStream";
const PIPEWAY: &str = "pipeway PipeStream (blocking)";
const PIPEWAY_TOKIO: &str = "pipeway PipeStream (tokio)";

/// The transfer: 64 MiB per operation in 64 KiB writes.
const TOTAL: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

fn tables() -> Vec<Table> {
    let mut tables: Vec<Table> = [(64, 2000), (4096, 2000), (1 << 20, 40)]
        .into_iter()
        .map(|(size, ops)| {
            rows(
                Table::latency(format!("Byte round trip, {}", size_label(size)), size, ops),
                Op::Echo(size),
            )
        })
        .collect();
    tables.push(rows(
        Table::throughput(
            format!("Byte throughput, {} writes", size_label(CHUNK)),
            CHUNK,
            TOTAL as u64,
            1,
        ),
        Op::Sink(TOTAL, CHUNK),
    ));
    tables
}

fn rows(table: Table, op: Op) -> Table {
    let table = table
        .row(RAW_STD, move |cx| start(cx, Kind::Std, op))
        .row_vs(PIPEWAY, &[RAW_STD], move |cx| start(cx, Kind::Pipeway, op));
    #[cfg(feature = "interprocess")]
    let table = table.row_vs("interprocess local socket", &[RAW_STD], move |cx| {
        start(cx, Kind::Interprocess, op)
    });
    table
        .row_vs(RAW_TOKIO, &[RAW_STD], move |cx| start(cx, Kind::Tokio, op))
        .row_vs(PIPEWAY_TOKIO, &[RAW_TOKIO, RAW_STD], move |cx| {
            start(cx, Kind::PipewayTokio, op)
        })
}

/// What a case does: echo round trips of a size, or transfers of a total
/// in chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Echo(usize),
    Sink(usize, usize),
}

impl Op {
    fn args(self) -> Vec<String> {
        match self {
            Op::Echo(size) => vec!["echo".into(), size.to_string(), "0".into()],
            Op::Sink(total, chunk) => vec!["sink".into(), total.to_string(), chunk.to_string()],
        }
    }

    fn parse(args: &[String]) -> io::Result<Op> {
        match args.first().map(String::as_str) {
            Some("echo") => Ok(Op::Echo(arg(args, 1)?)),
            Some("sink") => Ok(Op::Sink(arg(args, 1)?, arg(args, 2)?)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "echo or sink")),
        }
    }
}

/// Which implementation both ends use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Std,
    Pipeway,
    Tokio,
    PipewayTokio,
    #[cfg(feature = "interprocess")]
    Interprocess,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Std => "std",
            Kind::Pipeway => "pipeway",
            Kind::Tokio => "tokio",
            Kind::PipewayTokio => "pipeway-tokio",
            #[cfg(feature = "interprocess")]
            Kind::Interprocess => "interprocess",
        }
    }

    fn parse(key: &str) -> io::Result<Kind> {
        Ok(match key {
            "std" => Kind::Std,
            "pipeway" => Kind::Pipeway,
            "tokio" => Kind::Tokio,
            "pipeway-tokio" => Kind::PipewayTokio,
            #[cfg(feature = "interprocess")]
            "interprocess" => Kind::Interprocess,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no byte pipe kind {other}"),
                ));
            }
        })
    }

    /// Where its server listens: a socket path, or a pipe name.
    fn endpoint(self, cx: &Context) -> String {
        match self {
            Kind::Pipeway | Kind::PipewayTokio => cx.unique("bytes"),
            _ => cx.socket_path("bytes").display().to_string(),
        }
    }
}

/// Starts the server of `kind` in a peer and connects a client of the same kind.
pub(crate) fn start(cx: &Context, kind: Kind, op: Op) -> io::Result<Box<dyn Subject>> {
    let endpoint = kind.endpoint(cx);
    let mut args = vec![kind.key().to_owned(), endpoint.clone()];
    args.extend(op.args());
    let peer = Peer::spawn(ROLE, &args, cx.cpu())?;
    let name = endpoint.as_str();
    match (kind, op) {
        (Kind::Std, Op::Echo(size)) => {
            Ok(Echo::boxed(Bytes(UnixStream::connect(name)?), size, peer))
        }
        (Kind::Std, Op::Sink(total, chunk)) => Ok(Transfer::boxed(
            UnixStream::connect(name)?,
            total,
            chunk,
            peer,
        )),
        (Kind::Pipeway, Op::Echo(size)) => Ok(Echo::boxed(
            Bytes(pipeway::PipeStream::connect(name)?),
            size,
            peer,
        )),
        (Kind::Pipeway, Op::Sink(total, chunk)) => Ok(Transfer::boxed(
            pipeway::PipeStream::connect(name)?,
            total,
            chunk,
            peer,
        )),
        (Kind::Tokio, Op::Echo(size)) => AsyncEcho::boxed(
            || async { Ok(AsyncBytes(tokio::net::UnixStream::connect(name).await?)) },
            size,
            peer,
        ),
        (Kind::Tokio, Op::Sink(total, chunk)) => {
            AsyncTransfer::boxed(|| tokio::net::UnixStream::connect(name), total, chunk, peer)
        }
        (Kind::PipewayTokio, Op::Echo(size)) => AsyncEcho::boxed(
            || async { Ok(AsyncBytes(pipeway::tokio::PipeStream::connect(name).await?)) },
            size,
            peer,
        ),
        (Kind::PipewayTokio, Op::Sink(total, chunk)) => AsyncTransfer::boxed(
            || async { Ok(pipeway::tokio::PipeStream::connect(name).await?) },
            total,
            chunk,
            peer,
        ),
        #[cfg(feature = "interprocess")]
        (Kind::Interprocess, op) => {
            use interprocess::local_socket::{GenericFilePath, prelude::*};
            let stream =
                interprocess::local_socket::Stream::connect(name.to_fs_name::<GenericFilePath>()?)?;
            Ok(match op {
                Op::Echo(size) => Echo::boxed(Bytes(stream), size, peer),
                Op::Sink(total, chunk) => Transfer::boxed(stream, total, chunk, peer),
            })
        }
    }
}

/// The server role: `KIND ENDPOINT echo SIZE 0` or `KIND ENDPOINT sink TOTAL CHUNK`.
fn serve(args: &[String]) -> io::Result<()> {
    let kind = Kind::parse(args.first().map_or("", String::as_str))?;
    let endpoint: String = arg(args, 1)?;
    let op = Op::parse(&args[2..])?;
    match kind {
        Kind::Std => {
            let listener = UnixListener::bind(&endpoint)?;
            peer::ready()?;
            let stream = listener.accept()?.0;
            match op {
                Op::Echo(size) => serve_echo_with(stream, size, corrupt_echo_asked()),
                op => serve_blocking(stream, op),
            }
        }
        Kind::Pipeway => {
            let listener = pipeway::PipeListener::bind(endpoint.as_str())?;
            peer::ready()?;
            serve_blocking(listener.accept()?, op)
        }
        #[cfg(feature = "interprocess")]
        Kind::Interprocess => {
            use interprocess::local_socket::{GenericFilePath, ListenerOptions, prelude::*};
            let listener = ListenerOptions::new()
                .name(endpoint.as_str().to_fs_name::<GenericFilePath>()?)
                .create_sync()?;
            peer::ready()?;
            serve_blocking(listener.accept()?, op)
        }
        Kind::Tokio => runtime()?.block_on(async {
            let listener = tokio::net::UnixListener::bind(&endpoint)?;
            peer::ready()?;
            let (stream, _) = listener.accept().await?;
            serve_async(stream, op).await
        }),
        Kind::PipewayTokio => runtime()?.block_on(async {
            let listener = pipeway::tokio::PipeListener::bind(endpoint.as_str())?;
            peer::ready()?;
            let stream = listener.accept().await?;
            serve_async(stream, op).await
        }),
    }
}

fn serve_blocking<S: io::Read + io::Write>(stream: S, op: Op) -> io::Result<()> {
    match op {
        Op::Echo(size) => serve_echo(stream, size),
        Op::Sink(total, chunk) => serve_sink(stream, total, chunk),
    }
}

async fn serve_async<S>(stream: S, op: Op) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match op {
        Op::Echo(size) => serve_echo_async(stream, size).await,
        Op::Sink(total, chunk) => serve_sink_async(stream, total, chunk).await,
    }
}
