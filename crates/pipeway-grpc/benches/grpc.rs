//! gRPC over a pipe against the same tonic service over TCP loopback (and
//! over a plain tokio Unix socket), measured in one run:
//!
//! - unary round trip with a small message (`Echo`, 64 bytes of text);
//! - server-streaming throughput (`Chunks`, 256 chunks of 16 KiB per call).
//!
//! ```text
//! cargo bench -p pipeway-grpc --bench grpc
//! ```
//!
//! The server's and the client's runtimes are current-thread runtimes on two
//! threads pinned to CPU 0, so that where the scheduler puts them does not
//! decide the result. Cases are measured round-robin, several rounds, so
//! that load from other processes falls on all of them alike; each figure
//! is a case's median round (itself a median of batches), and each table
//! gives ratios to TCP loopback measured in the same run.

#[allow(dead_code)]
#[path = "../tests/common/service.rs"]
mod service;

use std::path::PathBuf;
use std::time::Duration;

use pipeway_bench::{Table, median_per_op, pin_to_cpu};
use pipeway_grpc::{PipeChannel, PipeIncoming};
use service::TestService;
use service::pipetest::pipetest_client::PipetestClient;
use service::pipetest::{StreamRequest, Text};
use tokio::runtime::Runtime;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};

const CPU: usize = 0;
const MESSAGE: usize = 64;
const CHUNKS: u32 = 256;
const CHUNK_SIZE: u32 = 16 << 10;

/// Where the three servers listen.
struct Addresses {
    tcp: String,
    uds: PathBuf,
    pipe: String,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Serves the test service over TCP loopback, a tokio Unix socket and a
/// pipe, from one pinned current-thread runtime, until `stop` fires.
fn start_servers(
    stop: tokio::sync::oneshot::Receiver<()>,
) -> (std::thread::JoinHandle<()>, Addresses) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        pin_to_cpu(CPU);
        runtime().block_on(async move {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let tcp_address = format!("http://{}", tcp.local_addr().unwrap());
            let tcp = tokio_stream::wrappers::TcpListenerStream::new(tcp).map(|stream| {
                let stream = stream?;
                stream.set_nodelay(true)?;
                Ok::<_, std::io::Error>(stream)
            });

            let uds_path =
                std::env::temp_dir().join(format!("pwg-bench-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&uds_path);
            let uds = tokio_stream::wrappers::UnixListenerStream::new(
                tokio::net::UnixListener::bind(&uds_path).unwrap(),
            );

            let pipe_name = format!("pwg-bench-{}", std::process::id());
            let pipe = PipeIncoming::bind(pipe_name.as_str()).unwrap();

            ready_tx
                .send(Addresses {
                    tcp: tcp_address,
                    uds: uds_path.clone(),
                    pipe: pipe_name,
                })
                .unwrap();

            let router =
                || tonic::transport::Server::builder().add_service(TestService::default().server());
            let serving = async {
                tokio::try_join!(
                    router().serve_with_incoming(tcp),
                    router().serve_with_incoming(uds),
                    router().serve_with_incoming(pipe),
                )
            };
            tokio::select! {
                result = serving => { result.unwrap(); }
                _ = stop => {}
            }
            let _ = std::fs::remove_file(&uds_path);
        });
    });
    (thread, ready_rx.recv().unwrap())
}

/// Batches per measurement, calls per batch, and rounds: each round
/// measures every case once, in turn, so that a burst of load from other
/// processes lands on all cases alike; a case's figure is its median round.
const ROUNDS: usize = 7;

fn unary(rt: &Runtime, client: &mut PipetestClient<impl Transport>) -> Duration {
    let text = "x".repeat(MESSAGE);
    median_per_op(9, 300, || {
        let reply = rt
            .block_on(client.echo(Text { text: text.clone() }))
            .unwrap();
        assert_eq!(reply.get_ref().text.len(), MESSAGE);
    })
}

fn streaming(rt: &Runtime, client: &mut PipetestClient<impl Transport>) -> Duration {
    median_per_op(7, 4, || {
        let received = rt.block_on(async {
            let mut chunks = client
                .chunks(StreamRequest {
                    count: CHUNKS,
                    size: CHUNK_SIZE,
                })
                .await
                .unwrap()
                .into_inner();
            let mut received = 0usize;
            while let Some(chunk) = chunks.next().await {
                received += chunk.unwrap().data.len();
            }
            received
        });
        assert_eq!(received, (CHUNKS * CHUNK_SIZE) as usize);
    })
}

/// Measures every case `ROUNDS` times, round-robin, and adds each case's
/// median round to `table` (the first case is the baseline).
fn interleaved(table: &mut Table, cases: &mut [(&str, &mut dyn FnMut() -> Duration)]) {
    let mut rounds: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for ((_, measure), figures) in cases.iter_mut().zip(&mut rounds) {
            figures.push(measure());
        }
    }
    for ((case, _), mut figures) in cases.iter().zip(rounds) {
        figures.sort();
        table.add(*case, figures[figures.len() / 2]);
    }
}

/// What the generated client needs of its channel.
trait Transport:
    tonic::client::GrpcService<
        tonic::body::Body,
        ResponseBody = tonic::body::Body,
        Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    >
{
}

impl Transport for Channel {}
impl Transport for PipeChannel {}

fn main() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let (server, addresses) = start_servers(stopped);

    pin_to_cpu(CPU);
    let rt = runtime();
    let (mut tcp, mut uds, mut pipe, mut pipe_no_retry, mut pipe_bare) = rt.block_on(async {
        let tcp = Endpoint::from_shared(addresses.tcp.clone())
            .unwrap()
            .tcp_nodelay(true)
            .connect()
            .await
            .unwrap();
        let uds = Endpoint::from_shared(format!("unix:{}", addresses.uds.display()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let pipe = pipeway_grpc::connect(addresses.pipe.as_str())
            .await
            .unwrap();
        let pipe_no_retry = pipeway_grpc::connect(addresses.pipe.as_str())
            .await
            .unwrap()
            .transparent_retry(false);
        let pipe_bare = pipeway_grpc::connect(addresses.pipe.as_str())
            .await
            .unwrap()
            .into_channel();
        (
            PipetestClient::new(tcp),
            PipetestClient::new(uds),
            PipetestClient::new(pipe),
            PipetestClient::new(pipe_no_retry),
            PipetestClient::new(pipe_bare),
        )
    });

    const TCP: &str = "tonic, TCP loopback";
    const UDS: &str = "tonic, tokio UnixStream";
    const PIPE: &str = "pipeway-grpc pipe (PipeChannel)";
    const PIPE_NO_RETRY: &str = "pipeway-grpc pipe (PipeChannel, no transparent retry)";
    const PIPE_BARE: &str = "pipeway-grpc pipe (bare tonic Channel)";

    let mut round_trip = Table::latency(format!("gRPC unary round trip, {MESSAGE} B message"));
    interleaved(
        &mut round_trip,
        &mut [
            (TCP, &mut || unary(&rt, &mut tcp)),
            (UDS, &mut || unary(&rt, &mut uds)),
            (PIPE, &mut || unary(&rt, &mut pipe)),
            (PIPE_NO_RETRY, &mut || unary(&rt, &mut pipe_no_retry)),
            (PIPE_BARE, &mut || unary(&rt, &mut pipe_bare)),
        ],
    );
    round_trip.print();

    let bytes = u64::from(CHUNKS * CHUNK_SIZE);
    let mut stream = Table::throughput(
        format!(
            "gRPC server streaming, {CHUNKS} × {} KiB per call",
            CHUNK_SIZE >> 10
        ),
        bytes,
    );
    interleaved(
        &mut stream,
        &mut [
            (TCP, &mut || streaming(&rt, &mut tcp)),
            (UDS, &mut || streaming(&rt, &mut uds)),
            (PIPE, &mut || streaming(&rt, &mut pipe)),
            (PIPE_NO_RETRY, &mut || streaming(&rt, &mut pipe_no_retry)),
            (PIPE_BARE, &mut || streaming(&rt, &mut pipe_bare)),
        ],
    );
    stream.print();

    drop((tcp, uds, pipe, pipe_no_retry, pipe_bare));
    drop(rt);
    stop.send(()).unwrap();
    server.join().unwrap();
}
