//! gRPC: the same tonic service (`buy.proto`'s `MyService.Buy`, answered
//! identically on every transport) over TCP loopback, a plain tokio Unix
//! socket and a pipe; server in a peer, client in the harness, each on a
//! current-thread runtime.

use std::io;
use std::time::{Duration, Instant};

use pipeway_grpc::buy::my_service_client::MyServiceClient;
use pipeway_grpc::buy::my_service_server::{MyService, MyServiceServer};
use pipeway_grpc::buy::{BuyRequest, BuyResponse, answer};
use tonic::transport::{Endpoint, Server, server::TcpIncoming};
use tonic::{Request, Response, Status};

use crate::cases::common::{arg, runtime};
use crate::verify::mismatch;
use crate::{Context, Group, Peer, Subject, Table, peer};

/// The group.
pub fn group() -> Group {
    Group::new(
        "grpc",
        "gRPC unary calls over a pipe against tonic over TCP loopback and a Unix socket",
        tables,
    )
    .role(ROLE, serve)
}

const ROLE: &str = "grpc-server";

const TCP: &str = "tonic, TCP loopback";
const UDS: &str = "tonic, tokio UnixStream";
const PIPE: &str = "pipeway-grpc pipe (PipeChannel)";
const PIPE_NO_RETRY: &str = "pipeway-grpc pipe (PipeChannel, no transparent retry)";
const PIPE_BARE: &str = "pipeway-grpc pipe (bare tonic Channel)";
/// The same, the server's `:authority` fix off: the fix's cost on calls
/// that need no fix (decoding each header block).
const PIPE_UNFIXED: &str = "pipeway-grpc pipe, server's :authority fix off";

/// The order's id: with the answer, about 64 bytes each way.
const ID: &str = "apple-of-a-kind-grown-in-the-orchard-by-the-pipe";

fn tables() -> Vec<Table> {
    vec![
        Table::latency("gRPC unary call, MyService.Buy", ID.len(), 1000)
            .row(TCP, |cx| Calls::start(cx, Transport::Tcp))
            .row_vs(UDS, &[TCP], |cx| Calls::start(cx, Transport::Uds))
            .row_vs(PIPE, &[TCP, UDS], |cx| Calls::start(cx, Transport::Pipe))
            .row_vs(PIPE_NO_RETRY, &[TCP, UDS], |cx| {
                Calls::start(cx, Transport::PipeNoRetry)
            })
            .row_vs(PIPE_BARE, &[TCP, UDS], |cx| {
                Calls::start(cx, Transport::PipeBare)
            })
            .row_vs(PIPE_UNFIXED, &[TCP, PIPE], |cx| {
                Calls::start(cx, Transport::PipeUnfixed)
            }),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Uds,
    Pipe,
    PipeNoRetry,
    PipeBare,
    PipeUnfixed,
}

/// The service every transport serves: `buy.proto`'s answer, nothing else.
struct Shop;

#[tonic::async_trait]
impl MyService for Shop {
    async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
        Ok(Response::new(answer(request.get_ref())))
    }
}

/// A client of either channel type.
enum Stub {
    Tonic(MyServiceClient<tonic::transport::Channel>),
    Pipe(MyServiceClient<pipeway_grpc::PipeChannel>),
}

impl Stub {
    async fn buy(&mut self, order: BuyRequest) -> Result<BuyResponse, Status> {
        Ok(match self {
            Stub::Tonic(client) => client.buy(order).await?,
            Stub::Pipe(client) => client.buy(order).await?,
        }
        .into_inner())
    }
}

struct Calls {
    rt: tokio::runtime::Runtime,
    stub: Option<Stub>,
    quantity: i32,
    peer: Peer,
}

fn grpc_error(err: impl std::fmt::Display) -> io::Error {
    io::Error::other(err.to_string())
}

impl Calls {
    fn start(cx: &Context, transport: Transport) -> io::Result<Box<dyn Subject>> {
        let (key, endpoint) = match transport {
            Transport::Tcp => ("tcp", "127.0.0.1:0".to_owned()),
            Transport::Uds => ("uds", cx.socket_path("grpc").display().to_string()),
            Transport::Pipe | Transport::PipeNoRetry | Transport::PipeBare => {
                ("pipe", cx.unique("grpc"))
            }
            Transport::PipeUnfixed => ("pipe-unfixed", cx.unique("grpc")),
        };
        let mut peer = Peer::spawn(ROLE, &[key.into(), endpoint.clone()], cx.cpu())?;
        let rt = runtime()?;
        let stub = rt.block_on(async {
            io::Result::Ok(match transport {
                Transport::Tcp => {
                    let address = peer.read_line()?;
                    let channel = Endpoint::from_shared(format!("http://{address}"))
                        .map_err(grpc_error)?
                        .tcp_nodelay(true)
                        .connect()
                        .await
                        .map_err(grpc_error)?;
                    Stub::Tonic(MyServiceClient::new(channel))
                }
                Transport::Uds => {
                    let channel = Endpoint::from_shared(format!("unix:{endpoint}"))
                        .map_err(grpc_error)?
                        .connect()
                        .await
                        .map_err(grpc_error)?;
                    Stub::Tonic(MyServiceClient::new(channel))
                }
                Transport::Pipe | Transport::PipeUnfixed => Stub::Pipe(MyServiceClient::new(
                    pipeway_grpc::connect(endpoint.as_str())
                        .await
                        .map_err(grpc_error)?,
                )),
                Transport::PipeNoRetry => Stub::Pipe(MyServiceClient::new(
                    pipeway_grpc::connect(endpoint.as_str())
                        .await
                        .map_err(grpc_error)?
                        .transparent_retry(false),
                )),
                Transport::PipeBare => Stub::Tonic(MyServiceClient::new(
                    pipeway_grpc::connect(endpoint.as_str())
                        .await
                        .map_err(grpc_error)?
                        .into_channel(),
                )),
            })
        })?;
        Ok(Box::new(Self {
            rt,
            stub: Some(stub),
            quantity: 0,
            peer,
        }))
    }
}

impl Subject for Calls {
    fn run(&mut self, ops: usize) -> io::Result<Duration> {
        let Self {
            rt, stub, quantity, ..
        } = self;
        let stub = stub.as_mut().expect("connected until finish");
        rt.block_on(async {
            let started = Instant::now();
            for _ in 0..ops {
                *quantity = quantity.wrapping_add(1);
                let order = BuyRequest {
                    id: ID.into(),
                    quantity: *quantity,
                    price: 120,
                };
                let expected = answer(&order);
                let reply = stub.buy(order).await.map_err(grpc_error)?;
                if reply != expected {
                    return Err(mismatch(format!("{expected:?} answered with {reply:?}")));
                }
            }
            Ok(started.elapsed())
        })
    }

    fn peer_pids(&self) -> Option<Vec<u32>> {
        Some(vec![self.peer.id()])
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let stub = self.stub.take();
        self.rt.block_on(async move { drop(stub) });
        self.peer.finish()
    }
}

/// The role: `tcp|uds|pipe|pipe-unfixed ENDPOINT`; serves until stdin closes. The TCP
/// server prints its address after `ready`.
fn serve(args: &[String]) -> io::Result<()> {
    let key: String = arg(args, 0)?;
    let endpoint: String = arg(args, 1)?;
    peer::exit_when_stdin_closes();
    runtime()?.block_on(async {
        let router = Server::builder().add_service(MyServiceServer::new(Shop));
        match key.as_str() {
            "tcp" => {
                let address = endpoint.parse().map_err(grpc_error)?;
                let incoming = TcpIncoming::bind(address)?.with_nodelay(Some(true));
                let bound = incoming.local_addr()?;
                peer::ready()?;
                println!("{bound}");
                router.serve_with_incoming(incoming).await
            }
            "uds" => {
                let listener = tokio::net::UnixListener::bind(&endpoint)?;
                peer::ready()?;
                router
                    .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
                    .await
            }
            "pipe" | "pipe-unfixed" => {
                let incoming = pipeway_grpc::PipeIncoming::bind(endpoint.as_str())
                    .map_err(grpc_error)?
                    .normalize_authority(key == "pipe");
                peer::ready()?;
                router.serve_with_incoming(incoming).await
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no gRPC transport {other}"),
                ));
            }
        }
        .map_err(grpc_error)
    })
}
