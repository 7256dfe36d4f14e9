//! `pipeway serve --echo` against a C echo server, both answering the same
//! C client (small C programs in `c/`, built with the machine's `cc` when
//! the group runs; `CC` chooses another compiler).

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::verify::mismatch;
use crate::{Context, Group, Peer, Subject, Table, size_label};

/// The group.
pub fn group() -> Group {
    Group::new(
        "cli",
        "`pipeway serve --echo` against a C echo server, for a C client",
        tables,
    )
}

const C_SERVER: &str = "C echo server";
const PIPEWAY_SERVE: &str = "pipeway serve --echo";

const SERVER_SOURCE: &str = include_str!("../../c/echo_server.c");
const CLIENT_SOURCE: &str = include_str!("../../c/echo_client.c");

fn tables() -> Vec<Table> {
    [(64, 2000), (4096, 2000)]
        .into_iter()
        .map(|(size, ops)| {
            Table::latency(
                format!("Echo server, {} round trip, C client", size_label(size)),
                size,
                ops,
            )
            .row(C_SERVER, move |cx| start(cx, Server::C, size))
            .row_vs(PIPEWAY_SERVE, &[C_SERVER], move |cx| {
                start(cx, Server::Pipeway, size)
            })
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    C,
    Pipeway,
}

fn start(cx: &Context, server: Server, size: usize) -> io::Result<Box<dyn Subject>> {
    let path = cx.socket_path("cli");
    let server = match server {
        Server::C => {
            let program = cx.build_c("echo_server", SERVER_SOURCE)?;
            let mut peer = Peer::command(&program, &[path.clone().into()])?;
            peer.expect_line("ready")?;
            (peer, false)
        }
        Server::Pipeway => {
            let cli = cx.cli().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "this program does not know where the pipeway command is: \
                     run `pipeway bench cli`, or set PIPEWAY_BIN",
                )
            })?;
            let args: Vec<OsString> = vec!["serve".into(), "--echo".into(), path.clone().into()];
            (Peer::command(cli, &args)?, true)
        }
    };
    let client = cx.build_c("echo_client", CLIENT_SOURCE)?;
    let mut client = Peer::command(&client, &[path.into(), size.to_string().into()])?;
    // The client retries its connect until the server listens.
    client.expect_line("ready")?;
    Ok(Box::new(CClient {
        client,
        server: server.0,
        terminate: server.1,
    }))
}

/// The C client, timing batches on the harness's word.
struct CClient {
    client: Peer,
    server: Peer,
    /// `pipeway serve` serves until SIGTERM; the C server ends with its client.
    terminate: bool,
}

impl Subject for CClient {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        self.client.send_line(&ops.to_string())?;
        let line = self.client.read_line()?;
        match line.parse::<u64>() {
            Ok(ns) => Ok(Duration::from_nanos(ns)),
            Err(_) => Err(mismatch(format!("the C client: {line}"))),
        }
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.client.id(), self.server.id()])
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let client = self.client.finish();
        let server = if self.terminate {
            self.server.terminate()
        } else {
            self.server.finish()
        };
        client.and(server)
    }
}

/// Where the `pipeway` command is, for a program that is not it:
/// `PIPEWAY_BIN`, else a `pipeway` next to this program or one directory up
/// (Cargo's `target/<profile>/` for a bench or test binary in `deps/`).
pub fn find_cli() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("PIPEWAY_BIN") {
        return Some(path.into());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir, dir.parent().unwrap_or(dir)]
        .iter()
        .map(|d| d.join("pipeway"))
        .find(|candidate| Path::new(candidate).is_file())
}
