//! What an end of a pipe waits for and tells, on the portable API: drain,
//! disconnect, buffer sizes, `PipeInfo`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use common::{unique, within};
use pipeway::{Direction, ListenOptions, MessageListener, MessageStream, PipeListener, PipeStream};

#[test]
fn wait_for_drain_waits_until_the_peer_has_read_everything() {
    let name = unique("drain");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server_end = listener.accept().unwrap();
    // Less than any pipe buffer here (Windows' default is 64 KiB), so the
    // write returns before the peer reads.
    server_end.write_all(&[1u8; 60_000]).unwrap();
    let err = server_end
        .wait_for_drain(Some(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 60_000];
        client.read_exact(&mut buf).unwrap();
        client
    });
    within(Duration::from_secs(10), move || {
        server_end.wait_for_drain(None)
    })
    .unwrap();
    reader.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    wine,
    ignore = "Wine 8's FlushFileBuffers does not wait on a handle bound to a completion port, as tokio's pipes are"
)]
async fn tokio_byte_streams_wait_for_the_peer_to_drain_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("drainasync");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let mut server = listener.accept().await.unwrap();
    client.write_all(&[3u8; 1000]).await.unwrap();
    let err = client
        .wait_for_drain(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    let mut buf = vec![0u8; 1000];
    server.read_exact(&mut buf).await.unwrap();
    client
        .wait_for_drain(Some(Duration::from_secs(5)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_message_streams_wait_for_the_peer_to_drain_them() {
    let name = unique("drainmsg");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let server = listener.accept().await.unwrap();
    client.send(b"unread").await.unwrap();
    let err = client
        .wait_for_drain(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(server.recv_vec().await.unwrap(), Some(b"unread".to_vec()));
    client
        .wait_for_drain(Some(Duration::from_secs(5)))
        .await
        .unwrap();
}

#[test]
fn a_server_side_disconnect_ends_the_client_after_what_was_written() {
    let name = unique("disconnect");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server_end = listener.accept().unwrap();
    server_end.write_all(b"bye").unwrap();
    server_end.disconnect().unwrap();
    let mut got = String::new();
    client.read_to_string(&mut got).unwrap();
    assert_eq!(got, "bye");
    assert!(server_end.write_all(b"x").is_err());
}

#[test]
fn pipe_info_tells_the_type_direction_buffers_and_instances() {
    let name = unique("info");
    let options = ListenOptions::new()
        .direction(Direction::Inbound)
        .max_instances(3)
        .in_buffer_size(32 * 1024)
        .out_buffer_size(32 * 1024);
    let listener = MessageListener::bind_with(&name, &options).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();

    let info = server.info().unwrap();
    assert_eq!(info.mode, pipeway::PipeMode::Message);
    assert_eq!(info.end, pipeway::End::Server);
    assert_eq!(info.direction, Direction::Inbound);
    assert_eq!(info.max_instances, Some(3));
    assert!(
        info.instances.is_some_and(|n| (1..=3).contains(&n)),
        "{info:?}"
    );
    assert!(info.in_buffer_size >= 4096, "{info:?}");

    let info = client.info().unwrap();
    assert_eq!(info.mode, pipeway::PipeMode::Message);
    assert_eq!(info.end, pipeway::End::Client);
    assert_eq!(info.direction, Direction::Inbound);
    if cfg!(windows) {
        // Windows tells every end the pipe's instances.
        assert_eq!(info.max_instances, Some(3));
        assert!(info.instances.is_some());
    } else {
        // A Unix client cannot see the server's limit.
        assert_eq!((info.instances, info.max_instances), (None, None));
    }
}

/// A write-only server end: described on Unix; on Windows its handle may
/// not read the pipe's attributes, and `info` says so.
#[test]
fn a_write_only_server_end_is_described_where_the_platform_lets_it() {
    let name = unique("infoout");
    let options = ListenOptions::new().direction(Direction::Outbound);
    let listener = MessageListener::bind_with(&name, &options).unwrap();
    let _client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    let described = server.info();
    #[cfg(unix)]
    {
        let info = described.unwrap();
        assert_eq!(info.direction, Direction::Outbound);
        assert!(info.out_buffer_size >= 4096, "{info:?}");
    }
    #[cfg(windows)]
    {
        let err = described.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

#[test]
fn buffer_sizes_reach_the_kernel() {
    let name = unique("buffers");
    let listener = PipeListener::bind_with(
        &name,
        &ListenOptions::new()
            .in_buffer_size(256 * 1024)
            .out_buffer_size(128 * 1024),
    )
    .unwrap();
    let _client = PipeStream::connect(&name).unwrap();
    let server_end = listener.accept().unwrap();
    let (recv, send) = server_end.buffer_sizes().unwrap();
    // Linux doubles what it is given, within net.core.{r,w}mem_max.
    assert!(recv >= 256 * 1024, "receive buffer {recv}");
    assert!(
        (128 * 1024..=2 * 128 * 1024).contains(&send),
        "send buffer {send}"
    );
}
