//! Every kind of gRPC call over a pipe, deadlines, the caller's identity in
//! handlers, and the client's typed errors.

mod common;

use std::time::Duration;

use common::pipetest::{Empty, Number, Text};
use common::{PipetestClient, Server, TestService, socket_path, unique};
use pipeway::ListenOptions;
use pipeway::tokio::PipeStream;
use pipeway_grpc::{PipeChannel, PipeEndpoint};
use tokio::io::AsyncReadExt;
#[cfg(unix)]
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;
use tonic::Code;

async fn client(name: &str) -> PipetestClient<PipeChannel> {
    PipetestClient::new(pipeway_grpc::connect(name).await.expect("connects"))
}

fn text(text: &str) -> Text {
    Text {
        text: text.to_owned(),
    }
}

#[tokio::test]
async fn unary_call_over_a_pipe() {
    let name = unique("unary");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    let reply = client.echo(text("hello, pipe")).await.unwrap();
    assert_eq!(reply.into_inner().text, "hello, pipe");

    // A second call reuses the connection.
    let reply = client.echo(text("again")).await.unwrap();
    assert_eq!(reply.into_inner().text, "again");
    server.stop().await;
}

#[tokio::test]
async fn server_streaming_over_a_pipe() {
    let name = unique("server-stream");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    let mut numbers = client
        .count(Number { value: 100 })
        .await
        .unwrap()
        .into_inner();
    let mut received = Vec::new();
    while let Some(number) = numbers.next().await {
        received.push(number.unwrap().value);
    }
    assert_eq!(received, (1..=100).collect::<Vec<i64>>());
    server.stop().await;
}

#[tokio::test]
async fn client_streaming_over_a_pipe() {
    let name = unique("client-stream");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    let numbers = tokio_stream::iter((1..=1000).map(|value| Number { value }));
    let total = client.sum(numbers).await.unwrap().into_inner().value;
    assert_eq!(total, 500_500);
    server.stop().await;
}

#[tokio::test]
async fn bidirectional_streaming_over_a_pipe() {
    let name = unique("bidi");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    // Each answer is read before the next text is sent: the two directions
    // really interleave on the one pipe.
    let (outgoing, texts) = tokio::sync::mpsc::channel(1);
    let mut answers = client
        .shout(tokio_stream::wrappers::ReceiverStream::new(texts))
        .await
        .unwrap()
        .into_inner();
    for word in ["named", "pipes", "carry", "grpc"] {
        outgoing.send(text(word)).await.unwrap();
        let answer = answers.next().await.expect("an answer").unwrap();
        assert_eq!(answer.text, word.to_uppercase());
    }
    drop(outgoing);
    assert!(
        answers.next().await.is_none(),
        "the server ends its stream after ours"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_handler_slower_than_the_deadline_is_deadline_exceeded() {
    let name = unique("deadline");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    let mut request = tonic::Request::new(Empty {});
    request.set_timeout(Duration::from_millis(100));
    let status = client.hang(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    // The connection survives a call that timed out.
    let reply = client.echo(text("still here")).await.unwrap();
    assert_eq!(reply.into_inner().text, "still here");
    server.stop().await;
}

#[tokio::test]
async fn without_transparent_retry_calls_and_deadlines_work_the_same() {
    let name = unique("no-retry");
    let server = Server::start(&name, TestService::default());
    let channel = pipeway_grpc::connect(&name)
        .await
        .unwrap()
        .transparent_retry(false);
    let mut client = PipetestClient::new(channel);

    let reply = client.echo(text("plain")).await.unwrap();
    assert_eq!(reply.into_inner().text, "plain");
    let mut request = tonic::Request::new(Empty {});
    request.set_timeout(Duration::from_millis(100));
    let status = client.hang(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_channel_wide_timeout_is_deadline_exceeded_too() {
    let name = unique("channel-timeout");
    let server = Server::start(&name, TestService::default());
    let channel = PipeEndpoint::new(&name)
        .unwrap()
        .configure(|endpoint| endpoint.timeout(Duration::from_millis(100)))
        .connect()
        .await
        .unwrap();
    let mut client = PipetestClient::new(channel);

    let status = client.hang(Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_handler_sees_the_callers_pid_user_and_executable() {
    let name = unique("whoami");
    let server = Server::start(&name, TestService::default());
    let mut client = client(&name).await;

    let caller = client.whoami(Empty {}).await.unwrap().into_inner();
    let me = pipeway::Principal::current().unwrap();
    assert_eq!(caller.pid, std::process::id());
    assert_eq!(caller.principal, me.id());
    assert!(
        me.account_name()
            .is_some_and(|account| account.ends_with(&caller.user_name)),
        "{} is not {me}",
        caller.user_name
    );
    // Read through the caller's process handle (here, this process).
    let exe = std::env::current_exe().unwrap();
    assert_eq!(caller.exe, exe.display().to_string());
    #[cfg(unix)]
    {
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!(caller.uid, uid);
        assert_eq!(caller.gid, gid);
        if uid == 0 {
            assert_eq!(caller.user_name, "root");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn requests_served_off_a_pipe_carry_no_pipe_identity() {
    // The same service over TCP: `PipeConnectInfo` is not there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TestService::default().server())
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let mut client = PipetestClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let status = client.whoami(Empty {}).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    drop(client);
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn eager_connect_to_a_missing_pipe_is_a_typed_not_found() {
    let name = unique("missing");
    let err = PipeEndpoint::new(&name)
        .unwrap()
        .connect_timeout(Duration::from_millis(50))
        .connect()
        .await
        .unwrap_err();
    match err {
        pipeway_grpc::Error::Pipe(pipeway::Error::NotFound { path, .. }) => {
            assert_eq!(path, socket_path(&name));
        }
        other => panic!("expected a pipe NotFound, got {other:?}"),
    }
}

/// (Unix: a socket path's limit; Windows takes names up to 256 characters.)
#[cfg(unix)]
#[tokio::test]
async fn a_name_too_long_for_a_socket_is_a_typed_error() {
    let name = "x".repeat(200);
    let err = PipeEndpoint::new(name.as_str()).unwrap_err();
    assert!(matches!(err, pipeway::Error::Name(_)), "{err:?}");
    let err = pipeway_grpc::PipeIncoming::bind(name.as_str()).unwrap_err();
    assert!(matches!(err, pipeway::Error::Name(_)), "{err:?}");
}

#[tokio::test]
async fn a_failed_call_names_its_pipe_error() {
    // A lazy channel to a pipe nobody serves: the call fails with
    // Unavailable, and the pipe's own error is behind it.
    let name = unique("unserved");
    let channel = PipeEndpoint::new(&name)
        .unwrap()
        .connect_timeout(Duration::from_millis(50))
        .connect_lazy();
    let status = PipetestClient::new(channel)
        .echo(text("anyone?"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        matches!(
            pipeway_grpc::pipe_error(&status),
            Some(pipeway::Error::NotFound { .. })
        ),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_lazy_channel_connects_on_its_first_call() {
    let name = unique("lazy");
    let channel = pipeway_grpc::connect_lazy(&name).unwrap();
    assert!(!socket_path(&name).exists(), "nothing serves the pipe yet");

    let server = Server::start(&name, TestService::default());
    let reply = PipetestClient::new(channel)
        .echo(text("late"))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "late");
    server.stop().await;
}

/// (Unix: one misbehaving client half-closes, which Windows pipes cannot.)
#[cfg(unix)]
#[tokio::test]
async fn misbehaving_clients_do_not_stop_the_server() {
    let name = unique("garbage");
    let server = Server::start(&name, TestService::default());

    // One client sends bytes that are not HTTP/2 and hangs up; another
    // connects and leaves at once; a third stays connected, silent.
    let mut garbage = PipeStream::connect(&name).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.0\r\n\r\n\0\0\0garbage")
        .await
        .unwrap();
    garbage.shutdown().await.unwrap();
    drop(PipeStream::connect(&name).await.unwrap());
    let silent = PipeStream::connect(&name).await.unwrap();

    let mut client = client(&name).await;
    let reply = client.echo(text("fine")).await.unwrap();
    assert_eq!(reply.into_inner().text, "fine");
    drop((garbage, silent));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_hung_up_on_and_does_not_hold_up_shutdown() {
    let name = unique("silent");
    let server = Server::start_full(
        &name,
        &ListenOptions::new(),
        Duration::from_millis(100),
        |builder| builder.add_service(TestService::default().server()),
    );
    let mut silent = PipeStream::connect(&name).await.unwrap();

    // The server hangs up on it once the handshake timeout passes (the
    // server's own SETTINGS frame may come first)...
    let mut received = Vec::new();
    silent.read_to_end(&mut received).await.unwrap();
    // ... and a graceful stop does not wait for it.
    server.stop().await;
    drop(silent);
}

#[tokio::test]
async fn a_pipe_with_limited_instances_carries_grpc_too() {
    // max_instances puts the pipe on pipeway's framed wire; a pipeway client
    // reaches it all the same.
    let name = unique("instances");
    let options = ListenOptions::new().max_instances(2);
    let server = Server::start_with(&name, &options, |builder| {
        builder.add_service(TestService::default().server())
    });
    let mut client = client(&name).await;
    let numbers = tokio_stream::iter((1..=10).map(|value| Number { value }));
    assert_eq!(client.sum(numbers).await.unwrap().into_inner().value, 55);
    let reply = client.echo(text("framed")).await.unwrap();
    assert_eq!(reply.into_inner().text, "framed");
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn stopping_the_server_removes_its_socket_file() {
    let name = unique("cleanup");
    let server = Server::start(&name, TestService::default());
    assert!(server.path.exists());
    let path = server.path.clone();
    server.stop().await;
    assert!(!path.exists(), "{path:?} left behind");
}
