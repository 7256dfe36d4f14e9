//! Windows pipe semantics on the portable API: direction, instance limits
//! and deadlines (drain, disconnect and what an end tells: `ends.rs`).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::unique;
#[cfg(unix)]
use common::{RawSeqpacket, RawSeqpacketListener, socket_path, welcome_hello};
use pipeway::{
    ConnectOptions, Direction, Error, ListenOptions, MessageListener, MessageStream, PipeListener,
    PipeStream,
};

fn direction_error(err: &std::io::Error) -> Option<(&'static str, Direction)> {
    match Error::from_io(err)? {
        Error::WrongDirection { op, direction } => Some((op, *direction)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Direction.

#[test]
fn an_inbound_pipe_carries_data_from_clients_to_the_server_only() {
    let name = unique("inbound");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().direction(Direction::Inbound))
            .unwrap();
    // A client that knows the pipe is inbound refuses to read, locally.
    let mut client =
        PipeStream::connect_with(&name, &ConnectOptions::new().direction(Direction::Inbound))
            .unwrap();
    let mut server_end = listener.accept().unwrap();
    assert_eq!(server_end.direction(), Direction::Inbound);
    client.write_all(b"to the server").unwrap();
    let mut buf = [0u8; 13];
    server_end.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to the server");

    let err = server_end.write(b"back").unwrap_err();
    assert_eq!(
        direction_error(&err),
        Some(("write", Direction::Inbound)),
        "{err}"
    );
    let err = client.read(&mut buf).unwrap_err();
    assert_eq!(
        direction_error(&err),
        Some(("read", Direction::Inbound)),
        "{err}"
    );
}

// Unix only: Windows pipes have no half-close, and there a client that
// does not say learns the direction from the pipe itself (windows.rs).
#[cfg(unix)]
#[test]
fn a_client_that_does_not_say_sees_the_servers_half_closed() {
    // On the plain wire a client cannot learn the direction; the server's
    // half-shutdown still gives it a clear signal at once.
    let name = unique("outbound");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().direction(Direction::Outbound))
            .unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server_end = listener.accept().unwrap();
    server_end.write_all(b"news").unwrap();
    server_end.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    client.read_to_string(&mut got).unwrap();
    assert_eq!(got, "news");
    let mut buf = [0u8; 1];
    let err = server_end.read(&mut buf).unwrap_err();
    assert_eq!(direction_error(&err), Some(("read", Direction::Outbound)));
    // The client's writes fail: nobody reads them.
    let err = client.write_all(b"ignored").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

/// Whether an error says the peer does not read, and which peer.
#[cfg(unix)]
fn peer_not_reading(err: &std::io::Error) -> Option<(&'static str, bool)> {
    match Error::from_io(err)? {
        Error::PeerNotReading {
            peer,
            may_have_closed,
        } => Some((peer, *may_have_closed)),
        _ => None,
    }
}

// Unix only: on the plain wire the client learns the direction only when it
// writes; on Windows the pipe tells it at connect.
#[cfg(unix)]
#[test]
fn writing_to_an_outbound_byte_pipe_fails_saying_the_server_does_not_read() {
    let name = unique("outwrite");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().direction(Direction::Outbound))
            .unwrap();

    // A client that did not say which way it goes.
    let mut duplex = PipeStream::connect(&name).unwrap();
    let server_end = listener.accept().unwrap();
    let err = duplex.write_all(b"unheard").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert_eq!(peer_not_reading(&err), Some(("server", false)), "{err}");
    assert!(
        err.to_string()
            .starts_with("the server does not read this pipe"),
        "{err}"
    );
    // Its reads still work: it is the server's pipe to write.
    (&server_end).write_all(b"news").unwrap();
    server_end.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    duplex.read_to_string(&mut got).unwrap();
    assert_eq!(got, "news");

    // A write-only client (it shut its own read side) gets the same error;
    // not reading itself, it cannot tell a closed server from this one.
    let mut write_only =
        PipeStream::connect_with(&name, &ConnectOptions::new().direction(Direction::Inbound))
            .unwrap();
    let _server_end = listener.accept().unwrap();
    let err = write_only.write_all(b"unheard").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert_eq!(peer_not_reading(&err), Some(("server", true)), "{err}");

    // And the tokio face.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
        let _server_end = listener.accept().unwrap();
        let err = client.write_all(b"unheard").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        assert_eq!(peer_not_reading(&err), Some(("server", false)), "{err}");
    });
}

/// A server writing to a client that shut its read side (a .NET
/// `PipeDirection.Out` client does) is told the client does not read.
#[cfg(unix)]
#[test]
fn writing_to_a_client_that_shut_its_read_side_says_so() {
    let name = unique("clientnoread");
    let listener = PipeListener::bind(&name).unwrap();
    let client = std::os::unix::net::UnixStream::connect(socket_path(&name)).unwrap();
    client.shutdown(Shutdown::Read).unwrap();
    let mut server_end = listener.accept().unwrap();
    let err = server_end.write_all(b"unheard").unwrap_err();
    assert_eq!(peer_not_reading(&err), Some(("client", false)), "{err}");
}

/// A broken pipe is not blamed on direction when the peer has simply gone.
#[cfg(unix)]
#[test]
fn writing_to_a_server_that_closed_is_a_plain_broken_pipe() {
    let name = unique("closedpeer");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    drop(listener.accept().unwrap());
    let err = client.write_all(b"too late").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert_eq!(peer_not_reading(&err), None, "{err}");
}

#[test]
fn a_framed_pipe_tells_clients_its_direction() {
    let name = unique("msgdir");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().direction(Direction::Outbound))
            .unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server_end = listener.accept().unwrap();
    assert_eq!(client.direction(), Direction::Outbound);
    server_end.send(b"update").unwrap();
    assert_eq!(client.recv_vec().unwrap(), Some(b"update".to_vec()));
    assert!(matches!(
        client.send(b"no"),
        Err(Error::WrongDirection { op: "write", .. })
    ));
    assert!(matches!(
        server_end.recv_vec(),
        Err(Error::WrongDirection { op: "read", .. })
    ));

    // A client that needs to write is refused at connect, as Windows refuses
    // GENERIC_WRITE on an outbound pipe.
    let err =
        MessageStream::connect_with(&name, &ConnectOptions::new().direction(Direction::Duplex))
            .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DirectionMismatch {
                requested: Direction::Duplex,
                actual: Direction::Outbound,
                ..
            }
        ),
        "{err}"
    );
    // A duplex pipe serves a one-way client.
    let duplex = unique("msgduplex");
    let _listener = MessageListener::bind(&duplex).unwrap();
    let one_way = MessageStream::connect_with(
        &duplex,
        &ConnectOptions::new().direction(Direction::Inbound),
    )
    .unwrap();
    assert_eq!(one_way.direction(), Direction::Inbound);
}

/// .NET's `NamedPipeClientStream` with `PipeDirection.In` shuts down its
/// write half right after connecting. That is not a disconnect: the server
/// must still deliver everything it sends.
#[cfg(unix)]
#[test]
fn a_dotnet_style_read_only_client_is_served_after_its_half_shutdown() {
    let name = unique("dotnetin");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = std::os::unix::net::UnixStream::connect(socket_path(&name)).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut server_end = listener.accept().unwrap();
    // The server reads end-of-file from the client...
    let mut buf = [0u8; 8];
    assert_eq!(server_end.read(&mut buf).unwrap(), 0);
    // ...and can still send it all it has.
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    let sender = {
        let payload = payload.clone();
        std::thread::spawn(move || {
            server_end.write_all(&payload).unwrap();
            server_end.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    sender.join().unwrap();
    assert!(received == payload);
}

/// And a `PipeDirection.Out` client shuts down its read half: the server
/// reads everything it writes.
#[cfg(unix)]
#[test]
fn a_dotnet_style_write_only_client_is_served_after_its_half_shutdown() {
    let name = unique("dotnetout");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = std::os::unix::net::UnixStream::connect(socket_path(&name)).unwrap();
    client.shutdown(Shutdown::Read).unwrap();
    let mut server_end = listener.accept().unwrap();
    client.write_all(b"one-way report").unwrap();
    drop(client);
    let mut got = String::new();
    server_end.read_to_string(&mut got).unwrap();
    assert_eq!(got, "one-way report");
}

// ---------------------------------------------------------------------------
// Instances.

#[test]
fn a_client_beyond_max_instances_fails_busy_after_its_timeout() {
    let name = unique("busy");
    let listener = PipeListener::bind_with(&name, &ListenOptions::new().max_instances(1)).unwrap();
    let _first = PipeStream::connect(&name).unwrap();
    let _first_server_end = listener.accept().unwrap();
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = PipeStream::connect_with(&name, &ConnectOptions::new().timeout(timeout)).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(err.to_string().contains("busy"), "{err}");
    assert_eq!(err.kind(), ErrorKind::ResourceBusy);
    assert!(started.elapsed() >= timeout);
}

#[test]
fn a_waiting_client_gets_the_instance_that_frees() {
    let name = unique("waiting");
    let listener = PipeListener::bind_with(&name, &ListenOptions::new().max_instances(1)).unwrap();
    let mut first = PipeStream::connect(&name).unwrap();
    let first_server_end = listener.accept().unwrap();
    let second = {
        let name = name.clone();
        std::thread::spawn(move || {
            PipeStream::connect_with(
                &name,
                &ConnectOptions::new().timeout(Duration::from_secs(10)),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // The first client leaves; its instance frees once the server drops it.
    first.shutdown(Shutdown::Both).unwrap();
    drop(first_server_end);
    let mut second = second.join().unwrap().unwrap();
    let mut second_server_end = listener.accept().unwrap();
    second.write_all(b"my turn").unwrap();
    let mut buf = [0u8; 7];
    second_server_end.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"my turn");
    let mut eof = [0u8; 1];
    assert_eq!(first.read(&mut eof).unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_limits_hold_for_tokio_listeners_and_messages() {
    let name = unique("busyasync");
    let listener = Arc::new(
        pipeway::tokio::MessageListener::bind_with(&name, &ListenOptions::new().max_instances(2))
            .unwrap(),
    );
    let a = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let b = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let options = ConnectOptions::new().timeout(Duration::from_millis(300));
    let err = pipeway::tokio::MessageStream::connect_with(&name, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    // Serve and release one instance: the next client gets in.
    let served = listener.accept().await.unwrap();
    let _other = listener.accept().await.unwrap();
    a.send(b"hi").await.unwrap();
    assert_eq!(served.recv_vec().await.unwrap(), Some(b"hi".to_vec()));
    drop(served);
    drop(a);
    let c = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let c_server = listener.accept().await.unwrap();
    c.send(b"third").await.unwrap();
    assert_eq!(c_server.recv_vec().await.unwrap(), Some(b"third".to_vec()));
    drop(b);
}

#[test]
fn clients_need_no_accept_call_to_connect_while_instances_are_free() {
    // As on Windows, where a client connects to any instance waiting for
    // one: connect first, accept later, on one thread.
    let name = unique("eager");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().max_instances(3)).unwrap();
    let clients: Vec<_> = (0..3)
        .map(|_| MessageStream::connect(&name).unwrap())
        .collect();
    for (i, client) in clients.iter().enumerate() {
        client.send(format!("client {i}").as_bytes()).unwrap();
    }
    let mut got: Vec<String> = (0..3)
        .map(|_| {
            String::from_utf8(listener.accept().unwrap().recv_vec().unwrap().unwrap()).unwrap()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["client 0", "client 1", "client 2"]);
}

#[test]
fn no_client_finds_the_pipe_busy_between_accepts() {
    // go-winio's listener makes its next instance only when Accept is
    // called again, so a client arriving while the server is busy with the
    // last one finds no instance. pipeway always keeps one waiting: clients
    // that try once (a zero timeout) all get in, though the server is slow
    // to come back to accept.
    const CLIENTS: usize = 100;
    let name = unique("between");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..CLIENTS {
            let mut stream = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(2));
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).unwrap();
            stream.write_all(&byte).unwrap();
        }
    });
    let once = ConnectOptions::new().timeout(Duration::ZERO);
    for i in 0..CLIENTS {
        let mut client = PipeStream::connect_with(&name, &once)
            .unwrap_or_else(|err| panic!("client {i} did not get in: {err}"));
        client.write_all(&[i as u8]).unwrap();
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], i as u8);
    }
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// Deadlines.

#[test]
fn a_read_timeout_fires_and_leaves_the_stream_usable() {
    let name = unique("readtimeout");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    let mut server_end = listener.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(
        client.read_timeout().unwrap(),
        Some(Duration::from_millis(100))
    );
    let mut buf = [0u8; 5];
    let err = client.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    server_end.write_all(b"later").unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"later");
    assert!(
        client.set_read_timeout(Some(Duration::ZERO)).is_err(),
        "zero is not a timeout"
    );
}

#[test]
fn a_write_timeout_fires_and_nothing_written_is_lost() {
    let name = unique("writetimeout");
    let listener =
        PipeListener::bind_with(&name, &ListenOptions::new().in_buffer_size(4096)).unwrap();
    let mut client =
        PipeStream::connect_with(&name, &ConnectOptions::new().out_buffer_size(4096)).unwrap();
    let mut server_end = listener.accept().unwrap();
    client
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // Write until the peer's buffer is full and the timeout fires.
    let mut written = 0usize;
    let timed_out = loop {
        match client.write(&[7u8; 1024]) {
            Ok(n) => written += n,
            Err(err) => break err,
        }
    };
    assert_eq!(timed_out.kind(), ErrorKind::TimedOut);
    // Still usable: one more write after the reader catches up.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        server_end.read_to_end(&mut all).unwrap();
        all
    });
    client.set_write_timeout(None).unwrap();
    client.write_all(b"end").unwrap();
    // Closing ends the reader's read_to_end after everything written.
    drop(client);
    let all = reader.join().unwrap();
    assert_eq!(all.len(), written + 3);
    assert!(all[..written].iter().all(|&b| b == 7));
    assert_eq!(&all[written..], b"end");
}

// Unix only: the hand-written framed-wire server sends half a message;
// Windows pipes deliver a message whole.
#[cfg(unix)]
#[test]
fn a_message_read_timeout_mid_message_keeps_what_arrived() {
    let name = unique("midtimeout");
    let path = socket_path(&name);
    let raw: RawSeqpacketListener = RawSeqpacket::listen(&path).unwrap();
    // A hand-written server: half a message, a pause, then the rest.
    let server = std::thread::spawn(move || {
        let peer = raw.accept().unwrap();
        peer.send(&welcome_hello(true, 0, 1 << 20)).unwrap();
        peer.send_message_start(300, &[1u8; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(400));
        peer.send(&[2u8; 200]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let client = MessageStream::connect(&name).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = vec![0u8; 1000];
    let err = client.recv(&mut buf).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::TimedOut),
        "{err}"
    );
    client.set_read_timeout(None).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), Some(300));
    assert!(buf[..100].iter().all(|&b| b == 1) && buf[100..300].iter().all(|&b| b == 2));
    server.join().unwrap();
}

#[test]
fn a_message_write_timeout_mid_message_finishes_the_message_first() {
    let name = unique("sendtimeout");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().in_buffer_size(8192)).unwrap();
    let client =
        MessageStream::connect_with(&name, &ConnectOptions::new().out_buffer_size(8192)).unwrap();
    let server_end = listener.accept().unwrap();
    client
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let err = client.send(&big).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::TimedOut),
        "{err}"
    );
    // The reader catches up; the rest of the big message goes out before "next".
    let reader = std::thread::spawn(move || {
        (
            server_end.recv_vec().unwrap(),
            server_end.recv_vec().unwrap(),
        )
    });
    client.set_write_timeout(None).unwrap();
    client.send(b"next").unwrap();
    let (first, second) = reader.join().unwrap();
    assert!(
        first.unwrap() == big,
        "the interrupted message arrived whole"
    );
    assert_eq!(second.unwrap(), b"next");
}

#[tokio::test]
async fn tokio_reads_take_a_timeout_and_stay_usable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("asynctimeout");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let mut server_end = listener.accept().await.unwrap();
    let mut buf = [0u8; 4];
    let err = pipeway::tokio::timeout(Duration::from_millis(50), client.read_exact(&mut buf))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    server_end.write_all(b"data").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"data");
}

#[test]
fn a_timed_out_message_receive_loses_nothing() {
    let name = unique("readtimeout");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = server.recv_vec().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    client.send(b"after the timeout").unwrap();
    assert_eq!(
        server.recv_vec().unwrap(),
        Some(b"after the timeout".to_vec())
    );
}
