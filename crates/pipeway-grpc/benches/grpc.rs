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
//! decide the result; each figure is the median of many batches, and each
//! table gives ratios to TCP loopback measured in the same run.

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

fn unary(rt: &Runtime, client: &mut PipetestClient<impl Transport>) -> Duration {
    let text = "x".repeat(MESSAGE);
    median_per_op(31, 500, || {
        let reply = rt
            .block_on(client.echo(Text { text: text.clone() }))
            .unwrap();
        assert_eq!(reply.get_ref().text.len(), MESSAGE);
    })
}

fn streaming(rt: &Runtime, client: &mut PipetestClient<impl Transport>) -> Duration {
    median_per_op(21, 8, || {
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
    let (mut tcp, mut uds, mut pipe, mut pipe_bare) = rt.block_on(async {
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
        let pipe_bare = pipeway_grpc::connect(addresses.pipe.as_str())
            .await
            .unwrap()
            .into_channel();
        (
            PipetestClient::new(tcp),
            PipetestClient::new(uds),
            PipetestClient::new(pipe),
            PipetestClient::new(pipe_bare),
        )
    });

    let mut round_trip = Table::latency(format!("gRPC unary round trip, {MESSAGE} B message"));
    round_trip.add("tonic, TCP loopback", unary(&rt, &mut tcp));
    round_trip.add("tonic, tokio UnixStream", unary(&rt, &mut uds));
    round_trip.add("pipeway-grpc pipe (PipeChannel)", unary(&rt, &mut pipe));
    round_trip.add(
        "pipeway-grpc pipe (bare tonic Channel)",
        unary(&rt, &mut pipe_bare),
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
    stream.add("tonic, TCP loopback", streaming(&rt, &mut tcp));
    stream.add("tonic, tokio UnixStream", streaming(&rt, &mut uds));
    stream.add("pipeway-grpc pipe (PipeChannel)", streaming(&rt, &mut pipe));
    stream.add(
        "pipeway-grpc pipe (bare tonic Channel)",
        streaming(&rt, &mut pipe_bare),
    );
    stream.print();

    drop((tcp, uds, pipe, pipe_bare));
    drop(rt);
    stop.send(()).unwrap();
    server.join().unwrap();
}
