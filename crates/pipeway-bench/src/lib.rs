//! pipeway's benchmark: every case against its fair baseline, measured in
//! the same run, process to process.
//!
//! - **Peers in separate processes.** A case's server runs in a process of
//!   its own (this same program run again as a [`Peer`]); its client runs
//!   in the harness. Threads of one process hide costs that separate
//!   processes pay (a 1 MiB message once cost the same as raw bytes
//!   in-process and 1.9× across processes).
//! - **One CPU.** Every process of a run is pinned to the same CPU: on the
//!   2-vCPU machines this project is measured on, where the scheduler puts
//!   the two ends decides a round trip.
//! - **Fair baselines in the same table.** Message mode against raw
//!   `SOCK_SEQPACKET`, tokio cases against raw tokio, the channel against
//!   raw byte echoes of the same size, broadcast against batched raw
//!   writes, `pipeway serve --echo` against a C echo server.
//! - **Interleaved rounds.** A table's rows are all started, then measured
//!   in rounds of one batch each (the order rotating), so that load from
//!   elsewhere falls on every row alike; a row's figure is the median of its
//!   rounds. The reference rows are measured again at the end and the drift
//!   is shown; rows whose rounds disagree by more than 10% (interquartile
//!   range over median) are flagged.
//! - **Verified.** Every echoed message carries a stamp unique to its round
//!   trip, checked on every reply; the last reply of each batch is compared
//!   in full; transfers are stamped per chunk and checked by the receiver.
//!   A wrong byte fails the row instead of giving a figure.
//!
//! `pipeway bench [GROUP...] [--quick] [--json | --markdown]` runs it, as
//! does `cargo run --release -p pipeway-bench -- …` and
//! `cargo bench -p pipeway-bench`. `--json` prints one object per case
//! ([`report::json`] lists the fields).
//!
//! # Adding a case
//!
//! A group is a module of [`cases`] with a `group()` function, and one line
//! in [`cases::all`]. A table's rows each start a [`Subject`]: usually a
//! client connected to a server [`Peer`] that the same module serves as a
//! role. A complete group with one table of two rows:
//!
//! ```no_run
//! # #[cfg(unix)] // the raw row is a Unix socket
//! # mod example {
//! use std::io::{self, Read, Write};
//! use std::os::unix::net::{UnixListener, UnixStream};
//!
//! use pipeway_bench::cases::common::{Bytes, Echo, arg, serve_echo};
//! use pipeway_bench::{Context, Group, Peer, Subject, Table, peer};
//!
//! pub fn group() -> Group {
//!     Group::new("example", "raw sockets against pipeway, 64 B", || {
//!         vec![
//!             Table::latency("Example round trip, 64 B", 64, 2000)
//!                 .row("raw", |cx| start(cx, false))
//!                 .row_vs("pipeway", &["raw"], |cx| start(cx, true)),
//!         ]
//!     })
//!     .role("example-server", serve)
//! }
//!
//! fn start(cx: &Context, pipeway: bool) -> io::Result<Box<dyn Subject>> {
//!     let endpoint = if pipeway {
//!         cx.unique("example")
//!     } else {
//!         cx.socket_path("example").display().to_string()
//!     };
//!     let args = [pipeway.to_string(), endpoint.clone()];
//!     let server = Peer::spawn("example-server", &args, cx.cpu())?;
//!     Ok(if pipeway {
//!         Echo::boxed(Bytes(pipeway::PipeStream::connect(endpoint.as_str())?), 64, server)
//!     } else {
//!         Echo::boxed(Bytes(UnixStream::connect(&endpoint)?), 64, server)
//!     })
//! }
//!
//! /// Runs in the peer process: bind, say ready, serve one client.
//! fn serve(args: &[String]) -> io::Result<()> {
//!     let endpoint: String = arg(args, 1)?;
//!     if arg::<bool>(args, 0)? {
//!         let listener = pipeway::PipeListener::bind(endpoint.as_str())?;
//!         peer::ready()?;
//!         serve_echo(listener.accept()?, 64)
//!     } else {
//!         let listener = UnixListener::bind(&endpoint)?;
//!         peer::ready()?;
//!         serve_echo(listener.accept()?.0, 64)
//!     }
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! A program that runs the harness calls [`serve_peer_if_asked`] first
//! thing in `main`, so that it can be its own peer.

pub mod cases;
mod cli;
mod cpu;
pub mod peer;
mod pin;
mod registry;
pub mod report;
mod runner;
mod table;
mod verify;

pub use cli::{BenchArgs, run, standalone_main};
pub use cpu::cpu_time;
pub use peer::{Peer, serve_peer_if_asked};
pub use pin::pin_to_cpu;
pub use registry::{Group, Registry};
pub use runner::{Context, RowResult, SPREAD_WARNING, Settings, TableResult, run_table};
pub use table::{Kind, Row, Start, Subject, Table, size_label};
pub use verify::{Pattern, StreamCheck, mismatch};

#[cfg(unix)]
pub use cases::cli_echo::find_cli;
