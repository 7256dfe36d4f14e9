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
    // the channel sends it again on a new connection. Or the call may be
    // written into the dead connection before the client sees the hang-up:
    // then it was sent, is not sent again, and fails (see
    // `a_call_that_meets_a_dead_connection_is_sent_again_and_answered`).
    let second = Server::start(&name, TestService::labelled("second"));
    match echo(&mut client, "two").await {
        Ok(reply) => assert_eq!(reply, "second: two"),
        Err(status) => assert_sent_into_a_dead_connection(&status),
    }
    assert_eq!(echo(&mut client, "three").await.unwrap(), "second: three");
    second.stop().await;
}

/// The one way a call may fail when its server has just died: it was being
/// written into the dead connection (a broken pipe), so it was sent, and a
/// sent call is never sent again.
fn assert_sent_into_a_dead_connection(status: &tonic::Status) {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            assert!(
                matches!(
                    io.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{status:?}"
            );
            return;
        }
        source = err.source();
    }
    panic!("a call failed for another reason than a broken connection: {status:?}");
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

/// The transparent retry, seen happen.
mod retry {
    use super::*;

    /// Everything the crate logs at debug level, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn retries(&self) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .matches("retrying a call the closed connection never sent")
                .count()
        }
    }

    /// The transparent retry itself: a call that meets its connection dead
    /// before anything of it was sent goes again, once, on a new connection,
    /// and its answer comes from the new server.
    ///
    /// Whether a call meets the dead connection (rather than the client
    /// reconnecting first, or writing the call into the dead connection) is
    /// a matter of which of hyper's tasks runs first, so the test arranges
    /// it: the server dies while the client's runtime is held, and the
    /// client's connection then learns of the hang-up in the same turn as
    /// the call is made. On a current-thread runtime the order that follows
    /// is fixed: the connection reads its end, the call is queued on it, and
    /// the connection's dispatcher closes with the call unsent.
    #[tokio::test]
    async fn a_call_that_meets_a_dead_connection_is_sent_again_and_answered() {
        let captured = Captured::default();
        let writer = captured.clone();
        let _log = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(move || writer.clone())
                .finish(),
        );
        let name = unique("retry");
        let first = Server::start(&name, TestService::labelled("first"));
        let connector = SeverableConnector::new(&name);
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector_lazy(connector.clone());
        let mut client = PipetestClient::new(PipeChannel::new(channel));
        assert_eq!(echo(&mut client, "before").await.unwrap(), "first: before");

        // The server dies and a new one takes the name, all without this
        // runtime running: the client has not noticed.
        first.kill_blocking();
        let second = Server::start(&name, TestService::labelled("second"));
        connector.sever_current();

        assert_eq!(echo(&mut client, "again").await.unwrap(), "second: again");
        assert_eq!(captured.retries(), 1, "the call was sent again, once");
        assert_eq!(connector.dials(), 2, "one reconnection");
        assert_eq!(echo(&mut client, "after").await.unwrap(), "second: after");
        assert_eq!(
            captured.retries(),
            1,
            "a call on a live connection is sent once"
        );
        second.stop().await;
    }

    /// Dials like [`PipeConnector`] and keeps a handle on the newest
    /// connection, so that the test can make the client see it end.
    #[derive(Clone)]
    struct SeverableConnector {
        inner: PipeConnector,
        connections: Arc<std::sync::Mutex<Vec<Arc<Cut>>>>,
    }

    impl SeverableConnector {
        fn new(name: &str) -> Self {
            Self {
                inner: PipeConnector::new(name, ConnectOptions::new()).unwrap(),
                connections: Arc::default(),
            }
        }

        fn dials(&self) -> usize {
            self.connections.lock().unwrap().len()
        }

        fn sever_current(&self) {
            let newest = self.connections.lock().unwrap().last().cloned();
            newest.expect("a connection was made").sever();
        }
    }

    impl Service<Uri> for SeverableConnector {
        type Response = hyper_util::rt::TokioIo<Severable>;
        type Error = pipeway::Error;
        type Future = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
        >;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _uri: Uri) -> Self::Future {
            let this = self.clone();
            Box::pin(async move {
                let stream = this.inner.connect().await?;
                let cut = Arc::new(Cut::default());
                this.connections.lock().unwrap().push(cut.clone());
                Ok(hyper_util::rt::TokioIo::new(Severable { stream, cut }))
            })
        }
    }

    /// Whether a connection has been cut, and whom to wake when it is.
    #[derive(Default)]
    struct Cut {
        cut: std::sync::atomic::AtomicBool,
        reader: std::sync::Mutex<Option<std::task::Waker>>,
    }

    impl Cut {
        fn sever(&self) {
            self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(reader) = self.reader.lock().unwrap().take() {
                reader.wake();
            }
        }

        fn is_cut(&self) -> bool {
            self.cut.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// A pipe stream that, once cut, behaves as one whose server has gone
    /// and whose hang-up the runtime has seen: reads end, writes fail.
    struct Severable {
        stream: pipeway::tokio::PipeStream,
        cut: Arc<Cut>,
    }

    impl tokio::io::AsyncRead for Severable {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            *self.cut.reader.lock().unwrap() = Some(cx.waker().clone());
            if self.cut.is_cut() {
                return Poll::Ready(Ok(()));
            }
            std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Severable {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
            bytes: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.cut.is_cut() {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
            std::pin::Pin::new(&mut self.stream).poll_write(cx, bytes)
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.stream).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
        }
    }
}
