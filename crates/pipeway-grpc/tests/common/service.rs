//! The `pipetest` service the tests and the benchmark serve: one call of
//! each kind, plus `Whoami` (the caller's identity) and `Hang` (for
//! deadlines).

use std::pin::Pin;

use pipeway_grpc::PipeConnectInfo;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

#[allow(dead_code, clippy::all)]
pub mod pipetest {
    // Generated from proto/pipetest.proto; tests/generated.rs checks it.
    include!("pipetest.rs");
}

use pipetest::pipetest_server::{Pipetest, PipetestServer};
use pipetest::{Caller, Chunk, Empty, Number, StreamRequest, Text};

type Answers<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The service. `label`, when set, prefixes each echo, so a test can tell
/// two servers apart.
#[derive(Clone, Debug, Default)]
pub struct TestService {
    pub label: Option<String>,
}

impl TestService {
    pub fn labelled(label: &str) -> Self {
        Self {
            label: Some(label.to_owned()),
        }
    }

    pub fn server(self) -> PipetestServer<Self> {
        PipetestServer::new(self)
    }
}

#[tonic::async_trait]
impl Pipetest for TestService {
    async fn echo(&self, request: Request<Text>) -> Result<Response<Text>, Status> {
        let text = request.into_inner().text;
        Ok(Response::new(Text {
            text: match &self.label {
                Some(label) => format!("{label}: {text}"),
                None => text,
            },
        }))
    }

    type CountStream = Answers<Number>;

    async fn count(&self, request: Request<Number>) -> Result<Response<Self::CountStream>, Status> {
        let count = request.into_inner().value;
        if count < 0 {
            return Err(Status::invalid_argument("a negative count"));
        }
        let numbers = tokio_stream::iter((1..=count).map(|value| Ok(Number { value })));
        Ok(Response::new(Box::pin(numbers)))
    }

    async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
        let mut numbers = request.into_inner();
        let mut total = 0i64;
        while let Some(number) = numbers.next().await {
            total += number?.value;
        }
        Ok(Response::new(Number { value: total }))
    }

    type ShoutStream = Answers<Text>;

    async fn shout(
        &self,
        request: Request<Streaming<Text>>,
    ) -> Result<Response<Self::ShoutStream>, Status> {
        let answers = request.into_inner().map(|text| {
            text.map(|t| Text {
                text: t.text.to_uppercase(),
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn whoami(&self, request: Request<Empty>) -> Result<Response<Caller>, Status> {
        let info = request
            .extensions()
            .get::<PipeConnectInfo>()
            .ok_or_else(|| Status::failed_precondition("not called over a pipe"))?;
        #[allow(unused_mut)] // set further on Unix only
        let mut caller = Caller {
            pid: info.pid().unwrap_or(0),
            user_name: info.user_name().unwrap_or_default().to_owned(),
            principal: info.principal().map(|p| p.id()).unwrap_or_default(),
            exe: info
                .process()
                .and_then(pipeway::PeerProcess::exe)
                .map(|exe| exe.display().to_string())
                .unwrap_or_default(),
            ..Caller::default()
        };
        #[cfg(unix)]
        {
            caller.uid = info.uid();
            caller.gid = info.gid();
        }
        Ok(Response::new(caller))
    }

    async fn hang(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        std::future::pending().await
    }

    type ChunksStream = Answers<Chunk>;

    async fn chunks(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<Self::ChunksStream>, Status> {
        let StreamRequest { count, size } = request.into_inner();
        let data = prost::bytes::Bytes::from(vec![0x5a; size as usize]);
        let chunks = tokio_stream::iter((0..count).map(move |_| Ok(Chunk { data: data.clone() })));
        Ok(Response::new(Box::pin(chunks)))
    }
}
