//! The shared-memory channel (`pipeway::shm`) against raw Unix sockets,
//! and iceoryx2 with the `iceoryx2` feature: round trips of 64 B, 4 KiB and
//! 1 MiB, 1 MiB messages one way, and the CPU an idle server uses.
//!
//! Two placements:
//! - **sleeping, one CPU**: both ends on the run's CPU, as every other
//!   group; the channel does not spin at all (each wait sleeps on its
//!   futex), which is what an idle-then-busy service sees.
//! - **spinning, two CPUs**: the server on the other CPU, the channel
//!   spinning up to 1 ms before it sleeps (two ends spinning on one CPU
//!   would only take turns); the socket baseline is placed the same. The
//!   spin is bounded, so a row's server sleeps while other rows measure.

#[cfg(feature = "iceoryx2")]
mod iceoryx;
mod in_place;

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use pipeway::shm::{ShmChannel, ShmChannelOptions, ShmListener};
use pipeway::{ConnectOptions, ListenOptions};

use crate::cases::common::{
    Bytes, Echo, Exchange, STREAM_SALT, arg, corrupt_echo_asked, serve_echo_with,
};
use crate::verify::{StreamCheck, mismatch};
use crate::{Context, Group, Peer, Subject, Table, peer};

/// Each ring: 2 MiB, so a 1 MiB message travels in place, and always at
/// the ring's start (the next one does not fit behind it), in memory the
/// last round trip left in the cache.
const RING: u32 = 2 << 20;
/// The spinning placement's spin: far longer than a round trip, short
/// enough that an idle row's server sleeps.
const SPIN: Duration = Duration::from_millis(1);
const MIB: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Placement {
    Sleeping,
    Spinning,
}

impl Placement {
    fn server_cpu(self, cx: &Context) -> usize {
        match self {
            Placement::Sleeping => cx.cpu(),
            Placement::Spinning => other_cpu(cx.cpu()),
        }
    }

    fn spin(self) -> Duration {
        match self {
            Placement::Sleeping => Duration::ZERO,
            Placement::Spinning => SPIN,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Placement::Sleeping => "sleeping, one CPU",
            Placement::Spinning => "spinning, two CPUs",
        }
    }
}

/// The machine's next online CPU after `cpu` (the same one on a 1-CPU
/// machine).
///
/// Not `available_parallelism`: it counts the CPUs this process may run on,
/// and the harness has pinned itself to one, so it answers 1 and both ends of
/// a "two CPUs" row would share one CPU.
fn other_cpu(cpu: usize) -> usize {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let cpus = online_cpus(&online);
    cpus.iter()
        .copied()
        .find(|&c| c > cpu)
        .or_else(|| cpus.first().copied())
        .unwrap_or(cpu)
}

/// The CPUs of a kernel CPU list such as `0-3,6` (`/sys/devices/system/cpu/online`).
fn online_cpus(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
            cpus.extend(first..=last.min(first + 4096));
        }
    }
    cpus
}

/// The group.
pub fn group() -> Group {
    Group::new(
        "shm",
        "the shared-memory channel against raw Unix sockets (and iceoryx2), sleeping and spinning",
        tables,
    )
    .role("shm-socket-echo", serve_socket_echo)
    .role("shm-echo", serve_shm_echo)
    .role("shm-reply-echo", in_place::serve)
    .role("shm-sink", serve_shm_sink)
    .role("shm-idle", serve_shm_echo)
    .role("shm-iceoryx-echo", serve_iceoryx)
}

fn tables() -> Vec<Table> {
    let mut tables = Vec::new();
    for (size, ops) in [(64, 20_000), (4096, 10_000), (MIB, 100)] {
        for at in [Placement::Sleeping, Placement::Spinning] {
            tables.push(round_trips(size, ops, at));
        }
    }
    tables.push(
        Table::throughput(
            "Shared memory: 1 MiB messages one way, spinning, two CPUs",
            MIB,
            16 * MIB as u64,
            20,
        )
        .row("raw socket", move |cx| {
            socket_transfer(cx, Placement::Spinning)
        })
        .row_vs("pipeway shm", &["raw socket"], move |cx| {
            shm_transfer(cx, Placement::Spinning)
        }),
    );
    tables.push(
        Table::latency(
            "Shared memory: CPU time an idle server uses per 1 ms idle (1000 µs would be a whole CPU)",
            0,
            200,
        )
        .row("pipeway shm, default options", idle),
    );
    tables
}

fn round_trips(size: usize, ops: usize, at: Placement) -> Table {
    let title = format!(
        "Shared memory round trip, {}, {}",
        crate::table::size_label(size),
        at.label()
    );
    let table = Table::latency(title, size, ops)
        .row("raw socket", move |cx| socket_echo(cx, size, at))
        .row_vs("pipeway shm", &["raw socket"], move |cx| {
            shm_echo(cx, size, at)
        })
        .row_vs("pipeway shm, in place", &["raw socket"], move |cx| {
            in_place::start(cx, size, at)
        })
        .row_vs(
            "floor: the two copies an echo makes, no peer",
            &["raw socket"],
            move |_| Ok(in_place::copies_floor(size)),
        );
    #[cfg(feature = "iceoryx2")]
    let table = match at {
        Placement::Spinning => table.row_vs("iceoryx2, spinning", &["raw socket"], move |cx| {
            iceoryx::start(cx, size, at.server_cpu(cx))
        }),
        Placement::Sleeping => table,
    };
    table
}

fn socket_echo(cx: &Context, size: usize, at: Placement) -> io::Result<Box<dyn Subject>> {
    let path = cx.socket_path("shm-sock").display().to_string();
    let args = [path.clone(), size.to_string(), "echo".into()];
    let server = Peer::spawn("shm-socket-echo", &args, at.server_cpu(cx))?;
    Ok(Echo::boxed(
        Bytes(UnixStream::connect(&path)?),
        size,
        server,
    ))
}

fn connect(cx: &Context, role: &str, size: usize, at: Placement) -> io::Result<(ShmChannel, Peer)> {
    let name = cx.unique("shm");
    let args = [
        name.clone(),
        size.to_string(),
        at.spin().as_micros().to_string(),
    ];
    let server = Peer::spawn(role, &args, at.server_cpu(cx))?;
    let options = ShmChannelOptions::new().spin(at.spin());
    let channel = ShmChannel::connect_with(name.as_str(), &ConnectOptions::new(), &options)
        .map_err(io::Error::from)?;
    Ok((channel, server))
}

fn shm_echo(cx: &Context, size: usize, at: Placement) -> io::Result<Box<dyn Subject>> {
    let (channel, server) = connect(cx, "shm-echo", size, at)?;
    Ok(Echo::boxed(ShmExchange(channel), size, server))
}

/// A round trip on the channel: the message copied into the ring, the
/// reply read in place and copied out (as a socket's read copies it).
struct ShmExchange(ShmChannel);

impl Exchange for ShmExchange {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        self.0.send(message)?;
        let answer = self
            .0
            .recv_borrowed()?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let len = answer.len().min(reply.len());
        reply[..len].copy_from_slice(&answer[..len]);
        Ok(answer.len())
    }
}

/// Peer: `path size`; a raw socket echo (or sink, with a third argument `sink`).
fn serve_socket_echo(args: &[String]) -> io::Result<()> {
    let path: String = arg(args, 0)?;
    let size: usize = arg(args, 1)?;
    let listener = UnixListener::bind(&path)?;
    peer::ready()?;
    let (stream, _) = listener.accept()?;
    let _ = std::fs::remove_file(&path);
    if args.get(2).is_some_and(|a| a == "sink") {
        return crate::cases::common::serve_sink(stream, 16 * MIB, size);
    }
    serve_echo_with(stream, size, corrupt_echo_asked())
}

fn listen(args: &[String]) -> io::Result<ShmListener> {
    let name: String = arg(args, 0)?;
    let spin = Duration::from_micros(arg(args, 2)?);
    let options = ShmChannelOptions::new().ring_size(RING).spin(spin);
    let listener = ShmListener::bind_with(name.as_str(), &ListenOptions::new(), &options)
        .map_err(io::Error::from)?;
    peer::ready()?;
    Ok(listener)
}

/// Peer: `name size spin_us`; echoes each message until the client closes.
fn serve_shm_echo(args: &[String]) -> io::Result<()> {
    let mut channel = listen(args)?.accept().map_err(io::Error::from)?;
    let corrupt = corrupt_echo_asked();
    let mut copy = Vec::new();
    loop {
        let Some(message) = channel.recv_borrowed().map_err(io::Error::from)? else {
            return Ok(());
        };
        copy.clear();
        copy.extend_from_slice(&message);
        drop(message);
        if corrupt && !copy.is_empty() {
            let middle = copy.len() / 2;
            copy[middle] ^= 0x20;
        }
        channel.send(&copy).map_err(io::Error::from)?;
    }
}

/// Peer: `name size spin_us`; receives 16 MiB in `size` messages, checks
/// their stamps in place, answers 1 byte (1: all good); until the end.
fn serve_shm_sink(args: &[String]) -> io::Result<()> {
    let size: usize = arg(args, 1)?;
    let mut channel = listen(args)?.accept().map_err(io::Error::from)?;
    let mut stamps = StreamCheck::new(size, STREAM_SALT);
    loop {
        let mut ok = true;
        let mut got = 0;
        while got < 16 * MIB {
            let Some(message) = channel.recv_borrowed().map_err(io::Error::from)? else {
                return Ok(());
            };
            ok &= stamps.check(&message).is_ok();
            got += message.len();
        }
        channel.send(&[u8::from(ok)]).map_err(io::Error::from)?;
    }
}

fn socket_transfer(cx: &Context, at: Placement) -> io::Result<Box<dyn Subject>> {
    let path = cx.socket_path("shm-sock").display().to_string();
    let args = [path.clone(), MIB.to_string(), "sink".into()];
    let server = Peer::spawn("shm-socket-echo", &args, at.server_cpu(cx))?;
    Ok(crate::cases::common::Transfer::boxed(
        UnixStream::connect(&path)?,
        16 * MIB,
        MIB,
        server,
    ))
}

fn shm_transfer(cx: &Context, at: Placement) -> io::Result<Box<dyn Subject>> {
    let (channel, server) = connect(cx, "shm-sink", MIB, at)?;
    Ok(Box::new(ShmTransfer {
        channel: Some(channel),
        chunk: vec![0x5a; MIB],
        stamps: StreamCheck::new(MIB, STREAM_SALT),
        server,
    }))
}

/// 16 MiB in 1 MiB messages per operation, then the receiver's answer.
struct ShmTransfer {
    channel: Option<ShmChannel>,
    chunk: Vec<u8>,
    stamps: StreamCheck,
    server: Peer,
}

impl Subject for ShmTransfer {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let channel = self.channel.as_mut().expect("connected until finish");
        let started = Instant::now();
        for _ in 0..ops {
            for _ in 0..16 {
                self.stamps.fill(&mut self.chunk);
                channel.send(&self.chunk).map_err(io::Error::from)?;
            }
            let answer = channel.recv().map_err(io::Error::from)?;
            if answer.as_deref() != Some(&[1u8][..]) {
                return Err(mismatch(
                    "the receiver found wrong stamps in the messages".into(),
                ));
            }
        }
        Ok(started.elapsed())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        drop(self.channel.take());
        self.server.finish()
    }
}

/// The idle server: a channel with the default options, its server waiting
/// in `recv` with nothing coming. Each operation sleeps 1 ms; the figure is
/// the server's CPU time over the batch (from `/proc/PID/schedstat`).
fn idle(cx: &Context) -> io::Result<Box<dyn Subject>> {
    let name = cx.unique("shm-idle");
    let spin = pipeway::shm::DEFAULT_SPIN.as_micros().to_string();
    let server = Peer::spawn("shm-idle", &[name.clone(), "64".into(), spin], cx.cpu())?;
    let channel = ShmChannel::connect(name.as_str()).map_err(io::Error::from)?;
    Ok(Box::new(Idle {
        channel: Some(channel),
        server,
    }))
}

struct Idle {
    channel: Option<ShmChannel>,
    server: Peer,
}

fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("unreadable schedstat"))?;
    Ok(Duration::from_nanos(nanos))
}

impl Subject for Idle {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let before = cpu_time(self.server.id())?;
        std::thread::sleep(Duration::from_millis(ops as u64));
        Ok(cpu_time(self.server.id())?.saturating_sub(before))
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        drop(self.channel.take());
        self.server.finish()
    }
}

/// Peer: iceoryx2's echo (only with the `iceoryx2` feature).
fn serve_iceoryx(args: &[String]) -> io::Result<()> {
    #[cfg(feature = "iceoryx2")]
    return iceoryx::serve(args);
    #[cfg(not(feature = "iceoryx2"))]
    {
        let _ = args;
        Err(io::Error::other("built without the iceoryx2 feature"))
    }
}

#[cfg(test)]
mod tests {
    use super::online_cpus;

    #[test]
    fn kernel_cpu_lists_are_read_whole() {
        assert_eq!(online_cpus("0-1\n"), vec![0, 1]);
        assert_eq!(online_cpus("0,2-3,6"), vec![0, 2, 3, 6]);
        assert_eq!(online_cpus(""), Vec::<usize>::new());
        assert_eq!(online_cpus("x"), Vec::<usize>::new());
    }

    #[test]
    fn the_other_cpu_is_another_one_where_there_is_one() {
        let cpus = online_cpus(&std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap());
        if cpus.len() > 1 {
            assert_ne!(super::other_cpu(cpus[0]), cpus[0]);
        }
    }
}
