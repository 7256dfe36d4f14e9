//! The shared-memory channel against raw Unix sockets (and iceoryx2 with
//! the `iceoryx2` feature), process to process: `cargo bench -p
//! pipeway-bench --bench shm` or `pipeway bench --shm`.
//!
//! Every case runs its server in a separate process: this binary started
//! again with [`PEER_ENV`] set, which [`serve_if_peer`] (called first
//! thing in `main`) turns into a peer. Cases:
//!
//! - round trips of 64 B and 4 KiB, **spinning**: the client on CPU 0 and
//!   the server on CPU 1 (two spinning ends cannot share one CPU), the
//!   channel told to spin for ever; the socket baseline is placed the same.
//! - the same, **sleeping**: both ends on CPU 0, the channel told not to
//!   spin at all (every wait sleeps on the futex).
//! - a 1 MiB request answered with 8 bytes: the client copies its message
//!   in (one copy, as a socket write is), the server reads it in place.
//! - throughput of 64 KiB messages one way.
//! - the CPU an idle server uses, waiting for a request for 2 s.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipeway::shm::{ShmChannel, ShmChannelOptions, ShmListener};
use pipeway::{ConnectOptions, ListenOptions};

use crate::{Table, median_per_op, pin_to_cpu};

/// Set in a peer process: what it serves (see [`Peer::start`]).
pub const PEER_ENV: &str = "PIPEWAY_BENCH_SHM_PEER";

/// How long the benchmark runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Batches per case (the median is reported).
    pub batches: usize,
    /// Round trips per batch for small messages.
    pub round_trips: usize,
    /// Operations per batch for 1 MiB and 64 KiB messages.
    pub big_ops: usize,
    /// How long the idle server is watched.
    pub idle: Duration,
}

impl Settings {
    /// About a minute.
    pub fn full() -> Self {
        Self {
            batches: 15,
            round_trips: 20_000,
            big_ops: 200,
            idle: Duration::from_secs(2),
        }
    }

    /// A few seconds; noisier.
    pub fn quick() -> Self {
        Self {
            batches: 5,
            round_trips: 2_000,
            big_ops: 30,
            idle: Duration::from_secs(2),
        }
    }
}

/// Spinning "for ever": long enough that a benchmark's waits never sleep.
const SPIN_FOREVER: Duration = Duration::from_secs(3600);
/// Each ring: 4 MiB, so a 1 MiB message travels in place.
const RING: u32 = 4 << 20;
const BIG: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

/// If this process is a benchmark peer, serves and exits; returns otherwise.
pub fn serve_if_peer() {
    if let Ok(spec) = std::env::var(PEER_ENV) {
        let code = match peer(&spec) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("benchmark peer {spec:?}: {err}");
                1
            }
        };
        std::process::exit(code);
    }
}

type PeerResult = Result<(), Box<dyn std::error::Error>>;

/// `role|endpoint|cpu|size|spin_us`.
fn peer(spec: &str) -> PeerResult {
    let fields: Vec<&str> = spec.split('|').collect();
    let [role, endpoint, cpu, size, spin] = fields[..] else {
        return Err(format!("bad peer spec {spec:?}").into());
    };
    pin_to_cpu(cpu.parse()?);
    let size: usize = size.parse()?;
    let spin = Duration::from_micros(spin.parse()?);
    match role {
        "socket-echo" | "socket-ack" | "socket-sink" => {
            let listener = UnixListener::bind(endpoint)?;
            ready();
            let (mut stream, _) = listener.accept()?;
            let _ = std::fs::remove_file(endpoint);
            let mut buf = vec![0u8; size];
            loop {
                if stream.read_exact(&mut buf).is_err() {
                    return Ok(());
                }
                match role {
                    "socket-echo" => stream.write_all(&buf)?,
                    "socket-ack" => stream.write_all(&[1u8; 8])?,
                    _ => {}
                }
            }
        }
        "shm-echo" | "shm-ack" | "shm-sink" | "shm-idle" => {
            let options = ShmChannelOptions::new().ring_size(RING).spin(spin);
            let listener = ShmListener::bind_with(endpoint, &ListenOptions::new(), &options)?;
            ready();
            let mut channel = listener.accept()?;
            let mut copy = Vec::with_capacity(size);
            loop {
                let Some(message) = channel.recv_borrowed()? else {
                    return Ok(());
                };
                match role {
                    "shm-echo" => {
                        copy.clear();
                        copy.extend_from_slice(&message);
                        drop(message);
                        channel.send(&copy)?;
                    }
                    "shm-ack" => {
                        drop(message);
                        channel.send(&[1u8; 8])?;
                    }
                    _ => {}
                }
            }
        }
        #[cfg(feature = "iceoryx2")]
        "ice-echo" | "ice-ack" => crate::shm_iceoryx::serve(endpoint, size, role == "ice-ack")
            .map_err(|err| err.to_string().into()),
        other => Err(format!("unknown peer role {other}").into()),
    }
}

fn ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

/// A peer process, killed when dropped.
struct Peer {
    child: Child,
}

impl Peer {
    fn start(role: &str, endpoint: &str, cpu: usize, size: usize, spin: Duration) -> Peer {
        let spec = format!("{role}|{endpoint}|{cpu}|{size}|{}", spin.as_micros());
        let mut child = Command::new(std::env::current_exe().expect("this program's path"))
            .env(PEER_ENV, &spec)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start a benchmark peer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the peer's ready line");
        assert_eq!(line.trim(), "ready", "peer {spec:?} did not start");
        Peer { child }
    }

    /// CPU time the peer has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/schedstat", self.child.id()))
            .unwrap_or_default();
        let nanos = stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Duration::from_nanos(nanos)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwbench-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn socket_path(tag: &str) -> String {
    std::env::temp_dir()
        .join(unique(tag))
        .to_string_lossy()
        .into_owned()
}

/// Where each end runs, and how the channel waits.
#[derive(Clone, Copy)]
struct Placement {
    client_cpu: usize,
    server_cpu: usize,
    spin: Duration,
}

const SPINNING: Placement = Placement {
    client_cpu: 0,
    server_cpu: 1,
    spin: SPIN_FOREVER,
};
const SLEEPING: Placement = Placement {
    client_cpu: 0,
    server_cpu: 0,
    spin: Duration::ZERO,
};

fn socket_case(
    role: &str,
    size: usize,
    reply: usize,
    at: Placement,
    ops: usize,
    batches: usize,
) -> Duration {
    let path = socket_path("sock");
    let _peer = Peer::start(role, &path, at.server_cpu, size, Duration::ZERO);
    pin_to_cpu(at.client_cpu);
    let mut stream = UnixStream::connect(&path).expect("connect to the socket peer");
    let message = vec![7u8; size];
    let mut answer = vec![0u8; reply];
    median_per_op(batches, ops, || {
        stream.write_all(&message).unwrap();
        if reply > 0 {
            stream.read_exact(&mut answer).unwrap();
        }
    })
}

fn shm_case(
    role: &str,
    size: usize,
    reply: bool,
    at: Placement,
    ops: usize,
    batches: usize,
) -> Duration {
    let name = unique("shm");
    let _peer = Peer::start(role, &name, at.server_cpu, size, at.spin);
    pin_to_cpu(at.client_cpu);
    let options = ShmChannelOptions::new().spin(at.spin);
    let mut channel = ShmChannel::connect_with(&name, &ConnectOptions::new(), &options)
        .expect("connect to the shm peer");
    let message = vec![7u8; size];
    median_per_op(batches, ops, || {
        channel.send(&message).unwrap();
        if reply {
            drop(channel.recv_borrowed().unwrap().unwrap());
        }
    })
}

fn round_trips(settings: &Settings, size: usize, at: Placement, label: &str) -> Table {
    let (n, b) = (settings.round_trips, settings.batches);
    let mut table = Table::latency(format!("{} round trip, {label}", size_label(size)));
    table.add(
        "raw Unix socket",
        socket_case("socket-echo", size, size, at, n, b),
    );
    table.add(
        "pipeway shm channel",
        shm_case("shm-echo", size, true, at, n, b),
    );
    #[cfg(feature = "iceoryx2")]
    if at.spin == SPIN_FOREVER {
        table.add(
            "iceoryx2 (spinning)",
            crate::shm_iceoryx::round_trip(size, false, at.client_cpu, at.server_cpu, n, b),
        );
    }
    table
}

/// Runs every case and returns its tables.
pub fn run(settings: &Settings) -> Vec<Table> {
    let mut tables = Vec::new();
    for size in [64, 4096] {
        tables.push(round_trips(
            settings,
            size,
            SPINNING,
            "spinning (client CPU 0, server CPU 1)",
        ));
        tables.push(round_trips(
            settings,
            size,
            SLEEPING,
            "sleeping (both on CPU 0)",
        ));
    }
    let (n, b) = (settings.big_ops, settings.batches);
    let mut big = Table::latency("1 MiB message answered with 8 B, spinning (CPUs 0 and 1)");
    big.add(
        "raw Unix socket",
        socket_case("socket-ack", BIG, 8, SPINNING, n, b),
    );
    big.add(
        "pipeway shm channel",
        shm_case("shm-ack", BIG, true, SPINNING, n, b),
    );
    #[cfg(feature = "iceoryx2")]
    big.add(
        "iceoryx2 (spinning)",
        crate::shm_iceoryx::round_trip(BIG, true, 0, 1, n, b),
    );
    tables.push(big);
    let mut big_asleep =
        Table::latency("1 MiB message answered with 8 B, sleeping (both on CPU 0)");
    big_asleep.add(
        "raw Unix socket",
        socket_case("socket-ack", BIG, 8, SLEEPING, n, b),
    );
    big_asleep.add(
        "pipeway shm channel",
        shm_case("shm-ack", BIG, true, SLEEPING, n, b),
    );
    tables.push(big_asleep);
    let mut flow = Table::throughput("64 KiB messages one way (CPUs 0 and 1)", CHUNK as u64);
    let ops = settings.big_ops * 20;
    flow.add(
        "raw Unix socket",
        socket_case("socket-sink", CHUNK, 0, SPINNING, ops, b),
    );
    let default_wait = Placement {
        spin: pipeway::shm::DEFAULT_SPIN,
        ..SPINNING
    };
    flow.add(
        "pipeway shm channel",
        shm_case("shm-sink", CHUNK, false, default_wait, ops, b),
    );
    tables.push(flow);
    tables.push(idle_cpu(settings));
    tables
}

/// The CPU an idle server burns: a channel with the default options, its
/// server waiting in `recv` with nothing coming, watched for `settings.idle`.
fn idle_cpu(settings: &Settings) -> Table {
    let name = unique("idle");
    let peer = Peer::start("shm-idle", &name, 0, 64, pipeway::shm::DEFAULT_SPIN);
    let channel = ShmChannel::connect(&name).expect("connect to the idle peer");
    std::thread::sleep(Duration::from_millis(100));
    let before = peer.cpu_time();
    std::thread::sleep(settings.idle);
    let used = peer.cpu_time().saturating_sub(before);
    drop(channel);
    let mut table = Table::new(
        format!(
            "idle server: CPU time used in {:?} = {:.4}% of one CPU",
            settings.idle,
            used.as_secs_f64() / settings.idle.as_secs_f64() * 100.0
        ),
        crate::Kind::Latency,
    );
    table.add("CPU time while idle", used);
    table
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
