//! Message mode: boundaries, empty messages, limits, small buffers,
//! concurrent senders, hostile and vanishing peers, and mode mismatches.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::unique;
#[cfg(unix)]
use common::{RawSeqpacket, RawSeqpacketListener, socket_path};
use pipeway::{
    ConnectOptions, Error, ListenOptions, MessageListener, MessageStream, PipeListener, PipeStream,
};

/// Deterministic message sizes: mostly small, some large, a few empty.
fn sizes(count: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            match (state >> 33) % 20 {
                0 => 0,
                1 => 300_000 + (state >> 40) as usize % 100_000,
                2 => 1 << 20,
                3..=6 => 4096 + (state >> 45) as usize % 8192,
                _ => 1 + (state >> 50) as usize % 200,
            }
        })
        .collect()
}

fn body(index: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (index.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8)
        .collect()
}

#[test]
fn thousands_of_interleaved_small_and_large_messages_keep_their_boundaries() {
    let name = unique("boundaries");
    let listener = MessageListener::bind(&name).unwrap();
    // The server echoes every message back, unchanged, until the client leaves.
    let server = std::thread::spawn(move || {
        let stream = listener.accept().unwrap();
        let mut count = 0;
        while let Some(message) = stream.recv_vec().unwrap() {
            stream.send(&message).unwrap();
            count += 1;
        }
        count
    });
    let client = Arc::new(MessageStream::connect(&name).unwrap());
    let plan = sizes(3000, 7);
    let receiver = {
        let client = client.clone();
        let plan = plan.clone();
        std::thread::spawn(move || {
            // Receive into a reused buffer, the zero-copy path.
            let mut buf = vec![0u8; 2 << 20];
            for (index, &len) in plan.iter().enumerate() {
                let got = client
                    .recv(&mut buf)
                    .unwrap()
                    .expect("a message, not the end");
                assert_eq!(got, len, "message {index} has the wrong length");
                assert!(
                    buf[..got] == body(index, len)[..],
                    "message {index} is garbled"
                );
            }
        })
    };
    for (index, &len) in plan.iter().enumerate() {
        client.send(&body(index, len)).unwrap();
    }
    receiver.join().unwrap();
    // The receiver's handle is gone: this closes the client.
    drop(client);
    assert_eq!(server.join().unwrap(), plan.len());
}

#[test]
fn zero_length_messages_are_messages() {
    let name = unique("empties");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    for message in [&b""[..], b"", b"x", b""] {
        client.send(message).unwrap();
    }
    drop(client);
    let mut got = Vec::new();
    while let Some(message) = server.recv_vec().unwrap() {
        got.push(message);
    }
    assert_eq!(got, vec![vec![], vec![], b"x".to_vec(), vec![]]);
}

// Windows pipes have no half-close: close_write there is go-winio's
// convention, tested in windows.rs.
#[cfg(unix)]
#[test]
fn zero_length_messages_are_messages_and_close_write_ends_the_stream() {
    let name = unique("empty");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    client.send(b"").unwrap();
    client.send(b"").unwrap();
    client.send(b"x").unwrap();
    client.send(b"").unwrap();
    client.close_write().unwrap();
    let mut got = Vec::new();
    while let Some(message) = server.recv_vec().unwrap() {
        got.push(message);
    }
    assert_eq!(got, vec![vec![], vec![], b"x".to_vec(), vec![]]);
    // The other direction still works after close_write.
    server.send(b"still here").unwrap();
    assert_eq!(client.recv_vec().unwrap(), Some(b"still here".to_vec()));
}

// The framed wire's hello tells a client the server's limit; Windows pipes
// have no handshake (see windows.rs for the limits there).
#[cfg(unix)]
#[test]
fn a_send_over_the_servers_limit_fails_typed_and_sends_nothing() {
    let name = unique("oversend");
    let listener =
        MessageListener::bind_with(&name, &ListenOptions::new().max_message_size(1000)).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    assert_eq!(client.peer_max_message_size(), 1000);
    let err = client.send(&[1u8; 1001]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MessageTooLarge {
                len: 1001,
                max: 1000
            }
        ),
        "{err}"
    );
    client.send(&[2u8; 1000]).unwrap();
    // The refused message left no trace: the next message is the first one.
    assert_eq!(server.recv_vec().unwrap(), Some(vec![2u8; 1000]));
}

#[cfg(unix)]
#[test]
fn a_hostile_peer_announcing_a_huge_length_is_refused_before_allocation() {
    for announced in [u64::MAX, 1 << 40, (16 << 20) + 1] {
        let name = unique("hostile");
        let listener = MessageListener::bind(&name).unwrap();
        let hostile = RawSeqpacket::connect(&socket_path(&name)).unwrap();
        let server = listener.accept().unwrap();
        let mut hello = [0u8; 64];
        assert_eq!(hostile.recv(&mut hello).unwrap(), 24);
        hostile.send_message_start(announced, b"tiny").unwrap();
        // Allocating u64::MAX bytes would abort the test process: the error
        // is raised first.
        match server.recv_vec().unwrap_err() {
            Error::MessageTooLarge { len, max } => {
                assert_eq!(len as u64, announced);
                assert_eq!(max, 16 << 20);
            }
            other => panic!("expected MessageTooLarge, got {other}"),
        }
        // The boundaries are gone: the stream refuses to go on guessing.
        assert!(matches!(server.recv_vec(), Err(Error::Protocol(_))));
    }
}

#[cfg(unix)]
#[test]
fn garbage_records_are_a_protocol_error_not_a_crash() {
    let name = unique("garbage");
    let listener = MessageListener::bind(&name).unwrap();
    let peer = RawSeqpacket::connect(&socket_path(&name)).unwrap();
    let server = listener.accept().unwrap();
    peer.send(b"abc").unwrap(); // shorter than a message header
    let err = server.recv_vec().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
}

#[cfg(unix)]
#[test]
fn a_peer_that_vanishes_mid_message_is_an_unexpected_eof() {
    let name = unique("midway");
    let listener = MessageListener::bind(&name).unwrap();
    // One peer reads its hello before vanishing (the server sees end-of-file);
    // the other does not (the server sees a reset). Both are the same error.
    for read_hello in [true, false] {
        let peer = RawSeqpacket::connect(&socket_path(&name)).unwrap();
        let server = listener.accept().unwrap();
        if read_hello {
            let mut hello = [0u8; 64];
            peer.recv(&mut hello).unwrap();
        }
        peer.send_message_start(1000, &[5u8; 10]).unwrap();
        drop(peer);
        match server.recv_vec().unwrap_err() {
            Error::Io(err) => {
                assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
                assert!(err.to_string().contains("1000-byte message"), "{err}");
            }
            other => panic!("expected an unexpected EOF, got {other}"),
        }
        // The stream has ended, as on Windows: the next receive says so.
        assert_eq!(server.recv_vec().unwrap(), None);
        let mut buf = [0u8; 16];
        assert_eq!(server.recv(&mut buf).unwrap(), None);
    }
}

#[test]
fn a_buffer_too_small_reports_the_size_and_keeps_the_message() {
    let name = unique("small");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    let big = body(1, 500_000);
    let sender = {
        let big = big.clone();
        std::thread::spawn(move || {
            client.send(&big).unwrap();
            client.send(b"after").unwrap();
            client
        })
    };
    let mut small = [0u8; 100];
    match server.recv(&mut small).unwrap_err() {
        Error::BufferTooSmall { needed, capacity } => {
            assert_eq!(needed, big.len());
            assert_eq!(capacity, 100);
        }
        other => panic!("expected BufferTooSmall, got {other}"),
    }
    // Asking again with the same buffer says the same; nothing is lost.
    assert!(matches!(
        server.recv(&mut small),
        Err(Error::BufferTooSmall {
            needed: 500_000,
            ..
        })
    ));
    let mut large = vec![0u8; big.len()];
    assert_eq!(server.recv(&mut large).unwrap(), Some(big.len()));
    assert!(large == big);
    assert_eq!(server.recv(&mut small).unwrap(), Some(5));
    assert_eq!(&small[..5], b"after");
    sender.join().unwrap();
}

#[test]
fn a_peer_that_closes_without_reading_still_delivers_everything_it_sent() {
    let name = unique("closeunread");
    let listener = MessageListener::bind(&name).unwrap();
    let client = MessageStream::connect(&name).unwrap();
    let server = listener.accept().unwrap();
    // The client never reads this, so its close looks like a reset...
    server.send(b"never read").unwrap();
    for message in [&b"one"[..], b"", b"three"] {
        client.send(message).unwrap();
    }
    drop(client);
    // ...and yet every message it sent arrives, then the end.
    let mut got = Vec::new();
    while let Some(message) = server.recv_vec().unwrap() {
        got.push(message);
    }
    assert_eq!(got, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
}

#[test]
fn concurrent_senders_on_one_stream_never_interleave() {
    const SENDERS: usize = 4;
    const EACH: usize = 150;
    let name = unique("concurrent");
    let listener = MessageListener::bind(&name).unwrap();
    let client = Arc::new(MessageStream::connect(&name).unwrap());
    let server = listener.accept().unwrap();
    let senders: Vec<_> = (0..SENDERS)
        .map(|id| {
            let client = client.clone();
            std::thread::spawn(move || {
                for (n, len) in sizes(EACH, id as u64 + 100).into_iter().enumerate() {
                    let mut message = vec![id as u8; len.max(1)];
                    message[0] = id as u8;
                    let _ = n;
                    client.send(&message).unwrap();
                }
            })
        })
        .collect();
    let mut expected: Vec<std::collections::VecDeque<usize>> = (0..SENDERS)
        .map(|id| {
            sizes(EACH, id as u64 + 100)
                .into_iter()
                .map(|len| len.max(1))
                .collect()
        })
        .collect();
    for _ in 0..SENDERS * EACH {
        let message = server.recv_vec().unwrap().unwrap();
        let id = message[0] as usize;
        assert!(
            message.iter().all(|&b| b as usize == id),
            "a message mixes senders"
        );
        assert_eq!(
            Some(message.len()),
            expected[id].pop_front(),
            "sender {id}'s messages out of order"
        );
    }
    for sender in senders {
        sender.join().unwrap();
    }
}

#[test]
fn messages_larger_than_the_socket_buffers_work() {
    let name = unique("tinybuf");
    let options = ListenOptions::new()
        .in_buffer_size(4096)
        .out_buffer_size(4096);
    let listener = MessageListener::bind_with(&name, &options).unwrap();
    let client = MessageStream::connect_with(
        &name,
        &ConnectOptions::new()
            .in_buffer_size(4096)
            .out_buffer_size(4096),
    )
    .unwrap();
    let server = listener.accept().unwrap();
    let big = body(9, 3 << 20);
    let expected = big.clone();
    let sender = std::thread::spawn(move || client.send(&big).unwrap());
    assert!(server.recv_vec().unwrap().unwrap() == expected);
    sender.join().unwrap();
}

#[test]
fn a_message_client_refuses_a_byte_pipe_and_a_byte_client_of_a_message_pipe_reads_bytes_on_windows()
{
    let message_pipe = unique("msgpipe");
    let listener = MessageListener::bind(&message_pipe).unwrap();
    let connected = PipeStream::connect(&message_pipe);
    if cfg!(windows) {
        // Byte read mode, as every Windows byte client reads a message pipe:
        // the messages run together, and each write is one message.
        let mut client = connected.unwrap();
        let server = listener.accept().unwrap();
        server.send(b"ab").unwrap();
        server.send(b"cd").unwrap();
        let mut buf = [0u8; 4];
        std::io::Read::read_exact(&mut client, &mut buf).unwrap();
        assert_eq!(&buf, b"abcd");
        std::io::Write::write_all(&mut client, b"one").unwrap();
        assert_eq!(server.recv_vec().unwrap(), Some(b"one".to_vec()));
    } else {
        // pipeway's framed wire: only a message stream reads it.
        let err = connected.unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongMode {
                    expected: pipeway::PipeMode::Byte,
                    actual: pipeway::PipeMode::Message,
                    ..
                }
            ),
            "{err}"
        );
    }

    let byte_pipe = unique("bytepipe");
    let _listener = PipeListener::bind(&byte_pipe).unwrap();
    let err = MessageStream::connect(&byte_pipe).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongMode {
                actual: pipeway::PipeMode::Byte,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("byte-mode"), "{err}");

    // A byte pipe on the framed wire (it has an instance limit) says so in its hello.
    let framed_bytes = unique("framedbytes");
    let _listener =
        PipeListener::bind_with(&framed_bytes, &ListenOptions::new().max_instances(4)).unwrap();
    let err = MessageStream::connect(&framed_bytes).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongMode {
                actual: pipeway::PipeMode::Byte,
                ..
            }
        ),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_client_checks_the_hello_of_what_it_connects_to() {
    let name = unique("fakeserver");
    let path = socket_path(&name);
    let raw: RawSeqpacketListener = RawSeqpacket::listen(&path).unwrap();
    let server = std::thread::spawn(move || {
        let peer = raw.accept().unwrap();
        peer.send(b"HTTP/1.1 200 OK\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let err = MessageStream::connect(&name).unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(why) if why.contains("not a pipeway hello")),
        "{err}"
    );
    server.join().unwrap();
}

#[tokio::test]
async fn async_message_streams_keep_boundaries_and_recv_is_cancel_safe() {
    let name = unique("asyncmsg");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let server = listener.accept().await.unwrap();

    // A receive that times out loses nothing.
    let waited = pipeway::tokio::timeout(Duration::from_millis(50), server.recv_vec()).await;
    assert_eq!(waited.unwrap_err().kind(), std::io::ErrorKind::TimedOut);

    let plan = sizes(300, 3);
    let sending = async {
        for (index, &len) in plan.iter().enumerate() {
            client.send(&body(index, len)).await.unwrap();
        }
    };
    let receiving = async {
        for (index, &len) in plan.iter().enumerate() {
            let message = server.recv_vec().await.unwrap().unwrap();
            assert_eq!(message.len(), len);
            assert!(message == body(index, len), "message {index} garbled");
        }
    };
    tokio::join!(sending, receiving);
    drop(client);
    assert_eq!(server.recv_vec().await.unwrap(), None);
}

#[tokio::test]
async fn async_message_receives_keep_big_messages_for_a_bigger_buffer() {
    let name = unique("asyncbig");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    let server = listener.accept().await.unwrap();
    let big = vec![4u8; 300_000];
    // Larger than the pipe's buffer: the send ends when the server reads.
    let sending = tokio::spawn({
        let big = big.clone();
        async move {
            client.send(&big).await.unwrap();
            client.send(b"small").await.unwrap();
            client
        }
    });
    let mut small = [0u8; 10];
    assert!(matches!(
        server.recv(&mut small).await,
        Err(Error::BufferTooSmall {
            needed: 300_000,
            capacity: 10
        })
    ));
    assert_eq!(server.recv_vec().await.unwrap(), Some(big));
    assert_eq!(server.recv(&mut small).await.unwrap(), Some(5));
    assert_eq!(&small[..5], b"small");
    assert_eq!(server.peer().pid(), Some(std::process::id()));
    let _client = sending.await.unwrap();
    // Shutting down reads wakes a waiting receive with the end.
    let server = Arc::new(server);
    let waiting = tokio::spawn({
        let server = server.clone();
        async move { server.recv_vec().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.disconnect().unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_blocking_message_ends_talk() {
    let name = unique("mixmsg");
    let listener = pipeway::tokio::MessageListener::bind(&name).unwrap();
    let server = tokio::spawn(async move {
        let stream = listener.accept().await.unwrap();
        while let Some(message) = stream.recv_vec().await.unwrap() {
            stream.send(&message).await.unwrap();
        }
    });
    tokio::task::spawn_blocking(move || {
        let client = MessageStream::connect(&name).unwrap();
        for len in [0, 1, 70_000, 1 << 20] {
            let message = body(len, len);
            client.send(&message).unwrap();
            assert_eq!(client.recv_vec().unwrap(), Some(message));
        }
        // Leaving ends the server's loop.
        drop(client);
    })
    .await
    .unwrap();
    server.await.unwrap();
}

// Unix only: a hand-written framed-wire server sends half a message.
#[cfg(unix)]
#[tokio::test]
async fn a_tokio_receive_cancelled_mid_message_loses_nothing() {
    let name = unique("cancelrecv");
    let path = socket_path(&name);
    let raw: RawSeqpacketListener = RawSeqpacket::listen(&path).unwrap();
    let (more, go) = std::sync::mpsc::channel::<()>();
    // A hand-written server: half a message, then the rest when told.
    let server = std::thread::spawn(move || {
        let peer = raw.accept().unwrap();
        peer.send(&common::welcome_hello(true, 0, 1 << 20)).unwrap();
        peer.send_message_start(300, &[1u8; 100]).unwrap();
        go.recv().unwrap();
        peer.send(&[2u8; 200]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    let client = pipeway::tokio::MessageStream::connect(&name).await.unwrap();
    // The future is dropped with 100 bytes in `first`...
    let mut first = vec![0u8; 300];
    let waited = pipeway::tokio::timeout(Duration::from_millis(100), client.recv(&mut first)).await;
    assert_eq!(waited.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    drop(first);
    more.send(()).unwrap();
    // ...and a receive into another buffer gets the whole message.
    let mut second = vec![0u8; 1000];
    assert_eq!(client.recv(&mut second).await.unwrap(), Some(300));
    assert!(second[..100].iter().all(|&b| b == 1) && second[100..300].iter().all(|&b| b == 2));
    server.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_send_cancelled_mid_message_is_finished_before_the_next() {
    let name = unique("cancelsend");
    let listener = pipeway::tokio::MessageListener::bind_with(
        &name,
        &ListenOptions::new().in_buffer_size(8192),
    )
    .unwrap();
    let client = pipeway::tokio::MessageStream::connect_with(
        &name,
        &ConnectOptions::new().out_buffer_size(8192),
    )
    .await
    .unwrap();
    let server = listener.accept().await.unwrap();
    let big = body(5, 1 << 20);
    // Nobody reads yet: the send stops part way and its future is dropped.
    let waited = pipeway::tokio::timeout(Duration::from_millis(100), client.send(&big)).await;
    assert_eq!(waited.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    let reader = tokio::spawn(async move {
        let first = server.recv_vec().await.unwrap().unwrap();
        let second = server.recv_vec().await.unwrap().unwrap();
        (first, second)
    });
    client.send(b"next").await.unwrap();
    let (first, second) = reader.await.unwrap();
    assert!(first == big, "the interrupted message arrived whole");
    assert_eq!(second, b"next");
}
