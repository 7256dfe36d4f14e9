//! One pipeway echo server reached locally and from another host through
//! Samba (`pipeway bench smb-serve`; root, Samba and impacket, which
//! `scripts/test.sh` installs; a group run only when named).
//!
//! The server serves local and SMB clients on one listener; the other host
//! is a network namespace with smbd (pipeway-testbed), and impacket is the
//! SMB client. The local rows are a Python client, so that the SMB rows
//! compare with a client of the same language, and pipeway's own client,
//! which also crosses Samba as the remote client (`\\host\pipe\name`):
//! the fair pair for what Samba adds, with no Python on either side.
//! impacket spends milliseconds of its own CPU on each call (SMB signing
//! and encryption in Python), so the `net` rows take each client's CPU
//! time off: what is left is what the path itself costs (for SMB: TCP over
//! the veth pair, smbd, the hand-off socket). Every process, smbd's
//! included, is pinned to the run's CPU.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pipeway::smb::SmbOptions;
use pipeway::unix::ListenOptionsExt;
use pipeway::{ListenOptions, PipeListener};
use pipeway_testbed::SambaHost;

use crate::cases::common::{Bytes, Echo, arg, serve_echo};
use crate::verify::mismatch;
use crate::{Context, Group, Peer, Subject, Table, peer};

const SIZE: usize = 64;
const SERVER: &str = "smb-serve-server";
const CLIENT_SOURCE: &str = include_str!("smb_serve_client.py");

const PYTHON_LOCAL: &str = "Python client, local";
const PIPEWAY_LOCAL: &str = "pipeway client, local";
const PIPEWAY_REMOTE: &str = "pipeway remote client through Samba";
const TRANSACT: &str = "impacket through Samba, transact";
const WRITE_READ: &str = "impacket through Samba, write + read";
const PYTHON_LOCAL_NET: &str = "Python client, local, less its CPU";
const TRANSACT_NET: &str = "impacket through Samba, transact, less its CPU";

/// The group.
pub fn group() -> Group {
    Group::new(
        "smb-serve",
        "a pipeway server reached locally and through Samba (root, Samba, impacket)",
        tables,
    )
    .only_when_named()
    .role(SERVER, serve)
}

fn tables() -> Vec<Table> {
    vec![
        Table::latency(
            "Round trip to one pipeway server, through Samba, 64 B",
            SIZE,
            200,
        )
        .row(PYTHON_LOCAL, |cx| start(cx, Client::Python { net: false }))
        .row_vs(PIPEWAY_LOCAL, &[PYTHON_LOCAL], |cx| {
            start(cx, Client::Pipeway)
        })
        .row_vs(PIPEWAY_REMOTE, &[PIPEWAY_LOCAL], |cx| {
            start(cx, Client::PipewayRemote)
        })
        .row_vs(TRANSACT, &[PYTHON_LOCAL], |cx| {
            start(
                cx,
                Client::Impacket {
                    transact: true,
                    net: false,
                },
            )
        })
        .row_vs(WRITE_READ, &[PYTHON_LOCAL], |cx| {
            start(
                cx,
                Client::Impacket {
                    transact: false,
                    net: false,
                },
            )
        })
        .row(PYTHON_LOCAL_NET, |cx| {
            start(cx, Client::Python { net: true })
        })
        .row_vs(TRANSACT_NET, &[PYTHON_LOCAL_NET], |cx| {
            start(
                cx,
                Client::Impacket {
                    transact: true,
                    net: true,
                },
            )
        }),
    ]
}

#[derive(Clone, Copy)]
enum Client {
    Pipeway,
    /// pipeway's remote client, dialing `\\host\pipe\name`.
    PipewayRemote,
    Python {
        net: bool,
    },
    Impacket {
        transact: bool,
        net: bool,
    },
}

/// The Samba host the rows of a run share; made by the first row that
/// needs it, gone (smbd stopped, namespace and users removed) when the
/// last one finishes.
fn samba() -> io::Result<Arc<SambaHost>> {
    static HOST: Mutex<Weak<SambaHost>> = Mutex::new(Weak::new());
    let mut slot = HOST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(host) = slot.upgrade() {
        return Ok(host);
    }
    let impacket = std::process::Command::new("python3")
        .args(["-c", "import impacket.smbconnection"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !impacket {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "impacket is not installed (pip install impacket)",
        ));
    }
    let host = Arc::new(SambaHost::start()?);
    *slot = Arc::downgrade(&host);
    Ok(host)
}

/// Pins smbd's processes (those in the host's namespace) to `cpu`.
fn pin_smbd(host: &SambaHost, cpu: usize) {
    for pid in host.namespace().map(|ns| ns.pids()).unwrap_or_default() {
        let _ = std::process::Command::new("taskset")
            .args(["-a", "-cp", &cpu.to_string(), &pid.to_string()])
            .output();
    }
}

fn start(cx: &Context, client: Client) -> io::Result<Box<dyn Subject>> {
    let host = samba()?;
    let pipe = cx.unique("smbserve");
    let user = host.user().clone();
    let server = Peer::spawn(
        SERVER,
        &[
            pipe.clone(),
            host.np_dir().display().to_string(),
            user.name.clone(),
        ],
        cx.cpu(),
    )?;
    pin_smbd(&host, cx.cpu());
    let (net, mut args): (bool, Vec<String>) = match client {
        Client::Pipeway => {
            let stream = pipeway::PipeStream::connect(pipe.as_str())?;
            return Ok(Box::new(Holding {
                subject: Echo::boxed(Bytes(stream), SIZE, server),
                _host: host,
            }));
        }
        Client::PipewayRemote => {
            let options = pipeway::ConnectOptions::new()
                .credentials(pipeway::Credentials::new(
                    &user.name,
                    user.password.as_str(),
                ))
                .smb_port(host.port());
            let unc = format!(r"\\{}\pipe\{pipe}", host.address());
            let stream = pipeway::PipeStream::connect_with(unc, &options)?;
            return Ok(Box::new(Holding {
                subject: Echo::boxed(Bytes(stream), SIZE, server),
                _host: host,
            }));
        }
        Client::Python { net } => {
            let path = pipeway::PipeName::parse(&pipe).map_err(pipeway::Error::from)?;
            let path = pipeway::unix::PipeNameExt::socket_path(&path)
                .expect("a local name has a socket path")
                .display()
                .to_string();
            (net, vec!["local".into(), path])
        }
        Client::Impacket { transact, net } => (
            net,
            vec![
                if transact { "transact" } else { "writeread" }.into(),
                host.address().to_string(),
                host.port().to_string(),
                user.name.clone(),
                user.password.clone(),
                pipe.clone(),
            ],
        ),
    };
    if net {
        args.insert(0, "net".into());
    }
    args.push(SIZE.to_string());
    let script = cx.dir().join("smb_serve_client.py");
    if !script.is_file() {
        std::fs::write(&script, CLIENT_SOURCE)?;
    }
    let mut command: Vec<OsString> = vec![
        "-c".into(),
        cx.cpu().to_string().into(),
        "python3".into(),
        script.into_os_string(),
    ];
    command.extend(args.into_iter().map(OsString::from));
    let mut driver = Peer::command(Path::new("taskset"), &command)?;
    driver.expect_line("ready")?;
    Ok(Box::new(PythonClient {
        driver,
        server,
        _host: host,
    }))
}

/// A subject that keeps the Samba host up while it runs.
struct Holding {
    subject: Box<dyn Subject>,
    _host: Arc<SambaHost>,
}

impl Subject for Holding {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        self.subject.run(ops)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.subject.finish()
    }
}

/// A Python client (`smb_serve_client.py`), timing batches on the harness's word.
struct PythonClient {
    driver: Peer,
    server: Peer,
    _host: Arc<SambaHost>,
}

impl Subject for PythonClient {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        self.driver.send_line(&ops.to_string())?;
        let line = self.driver.read_line()?;
        match line.parse::<u64>() {
            Ok(ns) => Ok(Duration::from_nanos(ns)),
            Err(_) => Err(mismatch(format!("the Python client: {line}"))),
        }
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let driver = self.driver.finish();
        driver.and(self.server.finish())
    }
}

/// Runs in the peer process: serves `pipe` locally and to SMB clients of
/// the host whose np directory and user the arguments name, an echo per
/// client, until the harness closes stdin.
fn serve(args: &[String]) -> io::Result<()> {
    let pipe: String = arg(args, 0)?;
    let np_dir: String = arg(args, 1)?;
    let user: String = arg(args, 2)?;
    let options = ListenOptions::new()
        .allow_user(user)
        .serve_smb(SmbOptions::new().socket_dir(np_dir));
    let listener = PipeListener::bind_with(pipe.as_str(), &options)?;
    peer::ready()?;
    peer::exit_when_stdin_closes();
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || serve_echo(stream, SIZE));
    }
    Ok(())
}
