//! Remote pipes over SMB: pipeway's client against impacket (the complete
//! Linux client, Python) doing the same calls in the same run, against a
//! real Samba host in its own network namespace (`pipeway-testbed`), signed
//! and encrypted; and the log-on.
//!
//! The pipe servers behind Samba's np hand-off are the test bed's, running
//! as threads of the harness; smbd and impacket are processes of their own.
//! Every process started here inherits the harness's CPU pinning.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use pipeway::{ConnectOptions, Credentials, MessageStream, PipeStream};
use pipeway_smb::client::{self as smb, ClientOptions, Session};
use pipeway_testbed::{Encryption, PipeServer, Role, SambaHost, SambaOptions};

use crate::cases::common::runtime;
use crate::verify::{Pattern, mismatch};
use crate::{Context, Group, Peer, Subject, Table, size_label};

/// The group.
pub fn group() -> Group {
    Group::new(
        "smb",
        "remote pipes over SMB (Samba in a network namespace): pipeway against impacket, signed and encrypted, and the log-on",
        tables,
    )
}

const IMPACKET: &str = "impacket (Python)";
const BLOCKING: &str = "pipeway (blocking)";
const TOKIO: &str = "pipeway (tokio)";
const SIGNED: &str = "pipeway, signed (AES-GMAC)";
const SEALED: &str = "pipeway, encrypted (AES-128-GCM)";
const STREAMED: &str = "pipeway, written while read back";

fn tables() -> Vec<Table> {
    let mut tables = Vec::new();
    for (what, op) in [("transact", Op::Transact), ("write+read", Op::WriteRead)] {
        for size in [64, 4096] {
            tables.push(
                Table::latency(
                    format!("SMB {what}, {} (signed)", size_label(size)),
                    size,
                    200,
                )
                .row(IMPACKET, move |cx| impacket(cx, op, size))
                .row_vs(BLOCKING, &[IMPACKET], move |cx| {
                    pipeway(cx, op, size, Face::Blocking, Protect::Signed)
                })
                .row_vs(TOKIO, &[IMPACKET], move |cx| {
                    pipeway(cx, op, size, Face::Tokio, Protect::Signed)
                }),
            );
        }
    }
    let big = 60_000;
    tables.push(
        Table::latency("SMB transact, 60 KB (signed)", big, 50)
            .row(IMPACKET, move |cx| impacket(cx, Op::Transact, big))
            .row_vs(BLOCKING, &[IMPACKET], move |cx| {
                pipeway(cx, Op::Transact, big, Face::Blocking, Protect::Signed)
            }),
    );
    let mib = 1 << 20;
    tables.push(
        Table::throughput(
            "SMB 1 MiB echoed through a byte pipe (signed)",
            mib,
            mib as u64,
            4,
        )
        .row(IMPACKET, move |cx| impacket(cx, Op::Bytes, mib))
        .row_vs(BLOCKING, &[IMPACKET], move |cx| {
            pipeway(cx, Op::Bytes, mib, Face::Blocking, Protect::Signed)
        })
        .row_vs(STREAMED, &[IMPACKET], move |cx| {
            pipeway(cx, Op::Streamed, mib, Face::Blocking, Protect::Signed)
        }),
    );
    for size in [64, 60_000] {
        tables.push(
            Table::latency(
                format!(
                    "SMB transact, {}, encrypted against signed",
                    size_label(size)
                ),
                size,
                300,
            )
            .row(SIGNED, move |cx| {
                pipeway(cx, Op::Transact, size, Face::Blocking, Protect::Signed)
            })
            .row_vs(SEALED, &[SIGNED], move |cx| {
                pipeway(cx, Op::Transact, size, Face::Blocking, Protect::Encrypted)
            }),
        );
    }
    tables.push(
        Table::latency("SMB log-on (negotiate, session setup, IPC$)", 0, 10)
            .row(IMPACKET, move |cx| impacket(cx, Op::Login, 0))
            .row_vs(BLOCKING, &[IMPACKET], move |cx| {
                pipeway(cx, Op::Login, 0, Face::Blocking, Protect::Signed)
            }),
    );
    tables
}

/// What a batch does.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// FSCTL_PIPE_TRANSCEIVE on a message pipe.
    Transact,
    /// A WRITE, then a READ, on a message pipe.
    WriteRead,
    /// `size` bytes written to a byte pipe in 64 KiB pieces, each read
    /// back before the next (all a blocking client like impacket can do).
    Bytes,
    /// `size` bytes written by one thread while another reads them back.
    Streamed,
    /// A new session: NEGOTIATE, SESSION_SETUP, TREE_CONNECT, then LOGOFF.
    Login,
}

#[derive(Clone, Copy, Debug)]
enum Face {
    Blocking,
    Tokio,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Protect {
    /// `server smb encrypt = off`: every request signed.
    Signed,
    /// `desired`: the session encrypted.
    Encrypted,
}

/// Two Samba hosts (one signing, one encrypting) with an echo pipe of each
/// kind, shared by a table's rows and stopped when the last row finishes.
struct Hosts {
    signed: Host,
    encrypted: Host,
}

struct Host {
    samba: SambaHost,
    message_pipe: PipeServer,
    byte_pipe: PipeServer,
}

impl Host {
    fn start(cx: &Context, encryption: Encryption) -> io::Result<Self> {
        let samba = SambaHost::start_with(&SambaOptions {
            encryption,
            ..SambaOptions::default()
        })?;
        let message_pipe = PipeServer::start(&samba, &cx.unique("smbmsg"), Role::EchoMessages);
        let byte_pipe = PipeServer::start(&samba, &cx.unique("smbbytes"), Role::EchoBytes);
        Ok(Self {
            samba,
            message_pipe,
            byte_pipe,
        })
    }

    fn unc(&self, pipe: &PipeServer) -> String {
        format!(r"\\{}\pipe\{}", self.samba.address(), pipe.name)
    }

    fn options(&self) -> ConnectOptions {
        let user = self.samba.user();
        ConnectOptions::new()
            .credentials(Credentials::new(&user.name, user.password.as_str()))
            .smb_port(self.samba.port())
    }
}

fn hosts(cx: &Context) -> io::Result<Arc<Hosts>> {
    static SHARED: Mutex<Weak<Hosts>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(hosts) = shared.upgrade() {
        return Ok(hosts);
    }
    let hosts = Arc::new(Hosts {
        signed: Host::start(cx, Encryption::Off)?,
        encrypted: Host::start(cx, Encryption::Desired)?,
    });
    *shared = Arc::downgrade(&hosts);
    Ok(hosts)
}

// ---------------------------------------------------------------------------
// impacket.

struct Impacket {
    peer: Option<Peer>,
    op: Op,
    size: usize,
    _hosts: Arc<Hosts>,
}

fn impacket(cx: &Context, op: Op, size: usize) -> io::Result<Box<dyn Subject>> {
    let hosts = hosts(cx)?;
    let script = cx.dir().join("smb_impacket.py");
    std::fs::write(&script, include_str!("smb_impacket.py"))?;
    let host = &hosts.signed;
    let user = host.samba.user();
    let args = [
        script.display().to_string(),
        host.samba.address().to_string(),
        host.samba.port().to_string(),
        user.name.clone(),
        user.password.clone(),
        host.message_pipe.name.clone(),
        host.byte_pipe.name.clone(),
    ];
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let mut peer = Peer::command(std::path::Path::new("python3"), &args)?;
    peer.expect_line("ready").map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "impacket did not start ({e}); scripts/test.sh installs it (pip install impacket)"
            ),
        )
    })?;
    Ok(Box::new(Impacket {
        peer: Some(peer),
        op,
        size,
        _hosts: hosts,
    }))
}

impl Subject for Impacket {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let peer = self.peer.as_mut().expect("running until finish");
        let cmd = match self.op {
            Op::Transact => "transact",
            Op::WriteRead => "writeread",
            Op::Bytes | Op::Streamed => "bytes",
            Op::Login => "login",
        };
        peer.send_line(&format!("{cmd} {} {ops}", self.size))?;
        let line = peer.read_line()?;
        let ns: u64 = line
            .parse()
            .map_err(|_| mismatch(format!("impacket answered {line:?}")))?;
        Ok(Duration::from_nanos(ns))
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.peer.take().expect("finished once").finish()
    }
}

// ---------------------------------------------------------------------------
// pipeway.

enum Client {
    Messages(MessageStream),
    Bytes(PipeStream),
    AsyncMessages(tokio::runtime::Runtime, pipeway::tokio::MessageStream),
    Login(ClientOptions, String),
}

struct Pipeway {
    client: Client,
    op: Op,
    pattern: Pattern,
    _hosts: Arc<Hosts>,
}

fn pipeway(
    cx: &Context,
    op: Op,
    size: usize,
    face: Face,
    protect: Protect,
) -> io::Result<Box<dyn Subject>> {
    let hosts = hosts(cx)?;
    let host = match protect {
        Protect::Signed => &hosts.signed,
        Protect::Encrypted => &hosts.encrypted,
    };
    let client = match (op, face) {
        (Op::Login, _) => {
            let user = host.samba.user();
            let mut options =
                ClientOptions::new(smb::Credentials::new(&user.name, user.password.as_str()));
            options.port = host.samba.port();
            Client::Login(options, host.samba.address().to_string())
        }
        (Op::Bytes | Op::Streamed, _) => Client::Bytes(PipeStream::connect_with(
            host.unc(&host.byte_pipe),
            &host.options(),
        )?),
        (_, Face::Blocking) => Client::Messages(MessageStream::connect_with(
            host.unc(&host.message_pipe),
            &host.options(),
        )?),
        (_, Face::Tokio) => {
            let rt = runtime()?;
            let stream = rt.block_on(pipeway::tokio::MessageStream::connect_with(
                host.unc(&host.message_pipe),
                &host.options(),
            ))?;
            Client::AsyncMessages(rt, stream)
        }
    };
    let expected = match protect {
        Protect::Signed => "signed",
        Protect::Encrypted => "encrypted",
    };
    if let Client::Messages(s) = &client {
        let shown = s.peer().to_string();
        if !shown.contains(expected) {
            return Err(mismatch(format!(
                "wanted a {expected} session, got {shown}"
            )));
        }
    }
    Ok(Box::new(Pipeway {
        client,
        op,
        pattern: Pattern::new(size.max(1)),
        _hosts: hosts,
    }))
}

impl Subject for Pipeway {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let started = Instant::now();
        for _ in 0..ops {
            let (message, reply) = self.pattern.stamp_next();
            let got = match (&mut self.client, self.op) {
                (Client::Messages(s), Op::Transact) => s.transact(message)?,
                (Client::Messages(s), _) => {
                    s.send(message)?;
                    s.recv_vec()?.unwrap_or_default()
                }
                (Client::AsyncMessages(rt, s), Op::Transact) => rt.block_on(s.transact(message))?,
                (Client::AsyncMessages(rt, s), _) => rt.block_on(async {
                    s.send(message).await?;
                    Ok::<_, pipeway::Error>(s.recv_vec().await?.unwrap_or_default())
                })?,
                (Client::Bytes(s), Op::Bytes) => {
                    let mut s: &PipeStream = s;
                    for (piece, back) in message.chunks(64 << 10).zip(reply.chunks_mut(64 << 10)) {
                        s.write_all(piece)?;
                        s.read_exact(back)?;
                    }
                    reply.to_vec()
                }
                (Client::Bytes(s), _) => {
                    let s: &PipeStream = s;
                    std::thread::scope(|scope| -> io::Result<()> {
                        let writer = scope.spawn(|| {
                            let mut w = s;
                            w.write_all(message)
                        });
                        let mut r = s;
                        r.read_exact(reply)?;
                        writer.join().expect("the writer panicked")
                    })?;
                    reply.to_vec()
                }
                (Client::Login(options, host), _) => {
                    let session = Session::connect(host, options).map_err(io::Error::from)?;
                    drop(session);
                    message.to_vec()
                }
            };
            self.pattern.check_len(got.len())?;
            self.pattern.reply_mut().copy_from_slice(&got);
            self.pattern.check()?;
        }
        Ok(started.elapsed())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}
