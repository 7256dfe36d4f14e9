//! A client outlives its server: after a restart, the same channel reaches
//! the new server.

mod common;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::pipetest::Text;
use common::{PipetestClient, Server, TestService, unique};
use pipeway::ConnectOptions;
use pipeway_grpc::{PipeChannel, PipeConnector};
use tokio::sync::watch;
use tonic::transport::{Endpoint, Uri};
use tower_service::Service;

async fn echo(
    client: &mut PipetestClient<PipeChannel>,
    text: &str,
) -> Result<String, tonic::Status> {
    let reply = client
        .echo(Text {
            text: text.to_owned(),
        })
        .await?;
    Ok(reply.into_inner().text)
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts() {
    let name = unique("restart");
    let first = Server::start(&name, TestService::labelled("first"));
    let mut client = PipetestClient::new(pipeway_grpc::connect(&name).await.unwrap());
    assert_eq!(echo(&mut client, "one").await.unwrap(), "first: one");

    // The server dies with the connection open, as a crashed process
    // would, and leaves its socket file behind (a stale one, here made by
    // hand: the test server's drop removed the real one).
    let path = first.path.clone();
    first.kill().await;
    #[cfg(unix)]
    {
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
    }
    #[cfg(windows)]
    let _ = path; // Windows pipes go with their server: nothing is left.

    // The new server reclaims the name. The client's next call may find its
    // old connection dead before noticing it: the call was never sent, so
    // the channel sends it again on a new connection.
    let second = Server::start(&name, TestService::labelled("second"));
    assert_eq!(echo(&mut client, "two").await.unwrap(), "second: two");
    assert_eq!(echo(&mut client, "three").await.unwrap(), "second: three");
    second.stop().await;
}

/// A [`PipeConnector`] that counts its dials, so that a test knows when a
/// reconnection has begun.
#[derive(Clone)]
struct CountingConnector {
    inner: PipeConnector,
    dials: Arc<watch::Sender<usize>>,
}

impl Service<Uri> for CountingConnector {
    type Response = <PipeConnector as Service<Uri>>::Response;
    type Error = <PipeConnector as Service<Uri>>::Error;
    type Future = <PipeConnector as Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.dials.send_modify(|dials| *dials += 1);
        self.inner.call(uri)
    }
}

#[tokio::test]
async fn a_call_made_while_the_server_is_down_waits_for_its_restart() {
    let name = unique("down");
    let first = Server::start(&name, TestService::labelled("first"));
    // A generous connect timeout: the restart below happens well within it.
    let options = ConnectOptions::new().timeout(Duration::from_secs(60));
    let (dials, _) = watch::channel(0usize);
    let dials = Arc::new(dials);
    let connector = CountingConnector {
        inner: PipeConnector::new(&name, options).unwrap(),
        dials: dials.clone(),
    };
    let channel = Endpoint::from_static("http://localhost").connect_with_connector_lazy(connector);
    let mut client = PipetestClient::new(PipeChannel::new(channel));
    assert_eq!(echo(&mut client, "before").await.unwrap(), "first: before");
    assert_eq!(*dials.borrow(), 1);

    // Stopped gracefully this time: the client is told the connection ends.
    first.stop().await;

    // A call goes out while no server exists: its reconnection dials and
    // waits for the pipe, like WaitNamedPipe...
    let mut caller = client.clone();
    let call = tokio::spawn(async move { echo(&mut caller, "during").await });
    let mut dialed = dials.subscribe();
    dialed.wait_for(|dials| *dials >= 2).await.unwrap();
    // ... and lands on the server started after it began waiting.
    let second = Server::start(&name, TestService::labelled("second"));
    assert_eq!(call.await.unwrap().unwrap(), "second: during");
    assert_eq!(echo(&mut client, "after").await.unwrap(), "second: after");
    assert_eq!(*dials.borrow(), 2, "one reconnection served both calls");
    second.stop().await;
}
