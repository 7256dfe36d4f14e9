//! Byte-mode pipes: round trips across both faces, large transfers,
//! many clients, graceful close, and closing a listener.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::{finish_exchange, finish_exchange_async, unique, within};
use pipeway::{PipeListener, PipeStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes every byte until end-of-file, then shuts down its write side.
fn echo_blocking(mut stream: PipeStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

async fn echo_async(stream: pipeway::tokio::PipeStream) {
    let (mut reader, mut writer) = stream.into_split();
    let _ = tokio::io::copy(&mut reader, &mut writer).await;
    let _ = writer.shutdown().await;
}

#[test]
fn blocking_client_and_blocking_server_round_trip() {
    let name = unique("bb");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || echo_blocking(listener.accept().unwrap()));
    let mut client = PipeStream::connect(&name).unwrap();
    client.write_all(b"hello, pipe").unwrap();
    let reply = finish_exchange(&mut client, 11);
    assert_eq!(reply, b"hello, pipe");
    drop(client);
    server.join().unwrap();
}

#[tokio::test]
async fn tokio_client_and_blocking_server_round_trip() {
    let name = unique("tb");
    let listener = PipeListener::bind(&name).unwrap();
    let server = std::thread::spawn(move || echo_blocking(listener.accept().unwrap()));
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    client.write_all(b"async to blocking").await.unwrap();
    let reply = finish_exchange_async(&mut client, 17).await;
    assert_eq!(reply, b"async to blocking");
    drop(client);
    // Not `join` on the runtime's thread: on Windows a tokio pipe's handle
    // closes when the runtime next polls, which a blocked thread never does.
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_and_tokio_server_round_trip() {
    let name = unique("bt");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let server = tokio::spawn(async move { echo_async(listener.accept().await.unwrap()).await });
    let reply = tokio::task::spawn_blocking(move || {
        let mut client = PipeStream::connect(&name).unwrap();
        client.write_all(b"blocking to async").unwrap();
        finish_exchange(&mut client, 17)
    })
    .await
    .unwrap();
    assert_eq!(reply, b"blocking to async");
    server.await.unwrap();
}

/// A simple checksum that notices lost, repeated and reordered bytes.
fn fnv1a(data: &[u8], mut hash: u64) -> u64 {
    for &byte in data {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    hash
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn a_64_mib_transfer_arrives_intact() {
    const TOTAL: usize = 64 << 20;
    const CHUNK: usize = 1 << 20;
    let name = unique("big");
    let listener = PipeListener::bind(&name).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut hash = 0xcbf2_9ce4_8422_2325;
        let mut total = 0;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hash = fnv1a(&buf[..n], hash);
            total += n;
        }
        (total, hash)
    });
    let mut client = PipeStream::connect(&name).unwrap();
    let mut expected = 0xcbf2_9ce4_8422_2325;
    for offset in (0..TOTAL).step_by(CHUNK) {
        let chunk = pattern(offset, CHUNK);
        expected = fnv1a(&chunk, expected);
        client.write_all(&chunk).unwrap();
    }
    // Closing delivers everything written before it, then end-of-file.
    drop(client);
    let (total, hash) = receiver.join().unwrap();
    assert_eq!(total, TOTAL);
    assert_eq!(hash, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_transfer_arrives_intact_async() {
    const TOTAL: usize = 64 << 20;
    let name = unique("bigasync");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let receiver = tokio::spawn(async move {
        let mut stream = listener.accept().await.unwrap();
        let mut hash = 0xcbf2_9ce4_8422_2325;
        let mut total = 0;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            hash = fnv1a(&buf[..n], hash);
            total += n;
        }
        (total, hash)
    });
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let data = pattern(0, TOTAL);
    let expected = fnv1a(&data, 0xcbf2_9ce4_8422_2325);
    client.write_all(&data).await.unwrap();
    client.flush().await.unwrap();
    drop(client);
    let (total, hash) = receiver.await.unwrap();
    assert_eq!(total, TOTAL);
    assert_eq!(hash, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_each_get_their_own_answers() {
    const CLIENTS: usize = 200;
    let name = unique("many");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let server = tokio::spawn(async move {
        loop {
            let stream = listener.accept().await.unwrap();
            tokio::spawn(echo_async(stream));
        }
    });
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let name = name.clone();
        clients.push(tokio::spawn(async move {
            let mut stream = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
            let mine = format!("client {id} says {}", "x".repeat(id));
            for _ in 0..3 {
                stream.write_all(mine.as_bytes()).await.unwrap();
                let mut reply = vec![0u8; mine.len()];
                stream.read_exact(&mut reply).await.unwrap();
                assert_eq!(
                    reply,
                    mine.as_bytes(),
                    "client {id} got someone else's bytes"
                );
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    server.abort();
}

#[test]
fn shutting_down_the_write_side_delivers_everything_written_before_it() {
    let name = unique("graceful");
    let listener = PipeListener::bind(&name).unwrap();
    let payload = pattern(0, 3 << 20);
    let sent = payload.clone();
    let server = std::thread::spawn(move || {
        let stream = listener.accept().unwrap();
        (&stream).write_all(&sent).unwrap();
        // Close right away: nothing written may be lost.
        drop(stream);
    });
    let mut client = PipeStream::connect(&name).unwrap();
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    server.join().unwrap();
    assert_eq!(received.len(), payload.len());
    assert!(received == payload);
}

#[test]
fn the_peer_identity_matches_the_connecting_process() {
    let name = unique("whoami");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let server_end = listener.accept().unwrap();
    let me = std::process::id();
    let user = pipeway::Principal::current().unwrap();
    for peer in [server_end.peer(), client.peer()] {
        assert_eq!(peer.pid(), Some(me));
        // The portable principal: the same user on both ends, with a name.
        assert_eq!(peer.principal().as_ref(), Some(&user));
    }
    let account = user.account_name().expect("this user has an account name");
    assert!(
        account.ends_with(server_end.peer().user_name().unwrap()),
        "{account}"
    );
    #[cfg(unix)]
    {
        use pipeway::unix::{PeerIdentityExt, PrincipalExt};
        assert_eq!(user.uid(), server_end.peer().uid());
        assert_eq!(user.id(), user.uid().to_string());
        assert_eq!(user.to_string(), format!("uid {}", user.uid()));
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        for peer in [server_end.peer(), client.peer()] {
            assert_eq!(peer.uid(), uid);
            assert_eq!(peer.gid(), gid);
        }
        let expected_name = std::env::var("USER").ok();
        let name = server_end.peer().user_name().map(str::to_owned);
        if uid == 0 {
            assert_eq!(name.as_deref(), Some("root"));
        } else if let Some(user) = expected_name {
            assert_eq!(name, Some(user));
        }
    }
    #[cfg(windows)]
    {
        use pipeway::windows::{PeerIdentityExt, PrincipalExt};
        let sid = pipeway::windows::current_user_sid().unwrap();
        assert_eq!(user.sid(), sid);
        assert_eq!(user.id(), sid);
        assert_eq!(user.account_name(), server_end.peer().account_name());
        // The server sees the client's user; the client, the pipe's owner.
        for peer in [server_end.peer(), client.peer()] {
            assert_eq!(peer.sid(), Some(sid.as_str()));
        }
        let user = std::env::var("USERNAME").unwrap();
        assert!(
            server_end
                .peer()
                .user_name()
                .is_some_and(|name| name.eq_ignore_ascii_case(&user)),
            "{:?} is not {user}",
            server_end.peer().user_name()
        );
        let account = server_end.peer().account_name().unwrap();
        assert!(account.ends_with(&format!(r"\{}", server_end.peer().user_name().unwrap())));
    }
}

#[test]
fn shutting_down_a_listener_wakes_a_blocked_accept() {
    let name = unique("wake");
    let listener = std::sync::Arc::new(PipeListener::bind(&name).unwrap());
    let waiting = {
        let listener = listener.clone();
        std::thread::spawn(move || listener.accept().map(|_| ()))
    };
    std::thread::sleep(Duration::from_millis(50));
    listener.shutdown().unwrap();
    let result = within(Duration::from_secs(5), move || waiting.join().unwrap());
    assert!(
        matches!(result, Err(pipeway::Error::ListenerClosed)),
        "{result:?}"
    );
    // New clients are refused from now on.
    let refused = PipeStream::connect_with(
        &name,
        &pipeway::ConnectOptions::new().timeout(Duration::ZERO),
    );
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_a_tokio_listener_wakes_its_accepts_and_ends_incoming() {
    use futures_core::Stream;
    // A byte pipe on the plain wire, and one with an instance limit (the
    // framed wire on Unix, whose clients are admitted ahead of accept).
    for options in [
        pipeway::ListenOptions::new(),
        pipeway::ListenOptions::new().max_instances(2),
    ] {
        let name = unique("wakeasync");
        let listener =
            std::sync::Arc::new(pipeway::tokio::PipeListener::bind_with(&name, &options).unwrap());
        let waiting = {
            let listener = listener.clone();
            tokio::spawn(async move { listener.accept().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        listener.shutdown().unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the accept woke")
            .unwrap();
        assert!(
            matches!(result, Err(pipeway::Error::ListenerClosed)),
            "{result:?}"
        );
        let mut incoming = listener.incoming();
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut incoming).poll_next(cx)).await;
        assert!(next.is_none(), "a shut listener's stream has ended");
        let quick = pipeway::ConnectOptions::new().timeout(Duration::ZERO);
        assert!(
            pipeway::tokio::PipeStream::connect_with(&name, &quick)
                .await
                .is_err()
        );
    }
}

#[test]
fn closing_a_stream_wakes_a_blocked_read_on_it() {
    let name = unique("wakeread");
    let listener = PipeListener::bind(&name).unwrap();
    let client = std::sync::Arc::new(PipeStream::connect(&name).unwrap());
    let _server_end = listener.accept().unwrap();
    let reader = {
        let client = client.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16];
            (&*client).read(&mut buf)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    client.shutdown(Shutdown::Read).unwrap();
    let read = within(Duration::from_secs(5), move || reader.join().unwrap());
    assert_eq!(read.unwrap(), 0);
}

#[test]
fn a_peer_that_vanishes_gives_end_of_file_then_broken_pipe() {
    let name = unique("vanish");
    let listener = PipeListener::bind(&name).unwrap();
    let mut client = PipeStream::connect(&name).unwrap();
    drop(listener.accept().unwrap());
    let mut buf = [0u8; 8];
    assert_eq!(client.read(&mut buf).unwrap(), 0);
    // No SIGPIPE: an error the caller can handle.
    let mut result = Ok(());
    for _ in 0..4 {
        result = client.write_all(&[0u8; 4096]);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framed_byte_pipe_carries_a_large_transfer_intact_async() {
    // An instance limit puts a byte pipe on the framed wire (records); the
    // sender fills the socket buffer, so it waits for writability there.
    const TOTAL: usize = 16 << 20;
    let name = unique("framedbig");
    let listener = pipeway::tokio::PipeListener::bind_with(
        &name,
        &pipeway::ListenOptions::new().max_instances(2),
    )
    .unwrap();
    let receiver = tokio::spawn(async move {
        let mut stream = listener.accept().await.unwrap();
        let mut received = Vec::with_capacity(TOTAL);
        // Odd-sized reads split records across calls.
        let mut buf = vec![0u8; 1000];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        received
    });
    let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let data = pattern(0, TOTAL);
    client.write_all(&data).await.unwrap();
    #[cfg(unix)]
    client.shutdown().await.unwrap();
    drop(client);
    let received = receiver.await.unwrap();
    assert_eq!(received.len(), TOTAL);
    assert!(received == data);
}

/// Writes every part with `write_vectored`, resuming after partial writes.
async fn write_all_vectored(stream: &mut pipeway::tokio::PipeStream, parts: &[&[u8]]) {
    let mut parts: Vec<&[u8]> = parts.to_vec();
    while !parts.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> =
            parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut written = stream.write_vectored(&slices).await.unwrap();
        assert!(written > 0);
        while written > 0 {
            if written >= parts[0].len() {
                written -= parts[0].len();
                parts.remove(0);
            } else {
                parts[0] = &parts[0][written..];
                written = 0;
            }
        }
    }
}

#[tokio::test]
async fn vectored_writes_deliver_every_buffer_in_order() {
    let big = vec![7u8; 300 * 1024];
    let parts: [&[u8]; 5] = [b"head ", b"", b"middle ", &big, b" tail"];
    let expected: Vec<u8> = parts.concat();
    // Unix: the plain wire writes all buffers in one sendmsg and says so;
    // the framed one (a limited pipe) writes records, one buffer at a time,
    // and says it is not vectored. Windows gathers the buffers into one
    // write on any pipe. Every byte arrives in order.
    for (options, vectored) in [
        (pipeway::ListenOptions::new(), true),
        (
            pipeway::ListenOptions::new().max_instances(2),
            cfg!(windows),
        ),
    ] {
        let name = unique("vectored");
        let listener = pipeway::tokio::PipeListener::bind_with(&name, &options).unwrap();
        let len = expected.len();
        let reader = tokio::spawn(async move {
            let mut stream = listener.accept().await.unwrap();
            let mut received = vec![0u8; len];
            stream.read_exact(&mut received).await.unwrap();
            received
        });
        let mut client = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
        assert_eq!(tokio::io::AsyncWrite::is_write_vectored(&client), vectored);
        write_all_vectored(&mut client, &parts).await;
        assert!(reader.await.unwrap() == expected);
    }
}

#[tokio::test]
async fn halves_reunite_only_with_their_own_and_the_stream_goes_on_whole() {
    let name = unique("reunite");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let first = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let mut first_server = listener.accept().await.unwrap();
    let second = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let _second_server = listener.accept().await.unwrap();
    let (first_read, first_write) = first.into_split();
    let (second_read, second_write) = second.into_split();
    let pipeway::tokio::ReuniteError(first_read, second_write) =
        first_read.reunite(second_write).unwrap_err();
    drop((second_read, second_write));
    let mut first = first_read.reunite(first_write).unwrap();
    // Reuniting did not shut the write side, as dropping the half would.
    first.write_all(b"still").await.unwrap();
    let mut buf = [0u8; 5];
    first_server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still");
    // Nothing to read: try_read says so at once.
    let err = first.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

/// `try_write` tries the pipe itself: it writes at once on a fresh stream
/// (no `writable().await` first), says `WouldBlock` once the pipe is full,
/// and a full pipe leaves `writable()` waiting (a readiness that outlived a
/// full pipe would make the usual `writable` / `try_write` loop spin) until
/// the reader makes room.
#[cfg(unix)]
#[tokio::test]
async fn try_write_writes_at_once_and_a_full_pipe_makes_writable_wait() {
    let name = unique("try-write");
    let listener = pipeway::tokio::PipeListener::bind(&name).unwrap();
    let write = pipeway::tokio::PipeStream::connect(&name).await.unwrap();
    let mut server = listener.accept().await.unwrap();
    assert_eq!(write.try_write(b"at once").unwrap(), 7);
    let mut buf = [0u8; 7];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"at once");

    let chunk = vec![7u8; 64 * 1024];
    for round in 0..2 {
        // Round 0 fills the pipe before anything waited for writability;
        // round 1 after, when the runtime has seen the pipe writable.
        let mut sent = 0;
        loop {
            match write.try_write(&chunk) {
                Ok(n) => sent += n,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("round {round}: {err}"),
            }
        }
        assert!(sent > 0, "round {round}: nothing was written");
        let waited = tokio::time::timeout(Duration::from_millis(100), write.writable()).await;
        assert!(
            waited.is_err(),
            "round {round}: writable() with the pipe full"
        );
        let mut drained = vec![0u8; sent];
        server.read_exact(&mut drained).await.unwrap();
        assert!(drained.iter().all(|&b| b == 7));
        tokio::time::timeout(Duration::from_secs(10), write.writable())
            .await
            .expect("writable once the reader made room")
            .unwrap();
        assert!(
            write.try_write(b"x").unwrap() == 1,
            "round {round}: room again"
        );
        server.read_exact(&mut buf[..1]).await.unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_stream_lends_its_socket_for_as_long_as_it_lives() {
    use std::os::fd::{AsFd, AsRawFd};
    let name = unique("asfd");
    let listener = PipeListener::bind(&name).unwrap();
    let client = PipeStream::connect(&name).unwrap();
    let _server = listener.accept().unwrap();
    let fd = client.as_fd().as_raw_fd();
    assert_eq!(fd, client.as_raw_fd());
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `kind` and `len` are valid for the option's size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(
        (rc, kind),
        (0, libc::SOCK_STREAM),
        "a plain byte pipe's socket"
    );
    client.disconnect().unwrap();
    // Disconnecting shuts the socket down; it stays open until the drop.
    // SAFETY: F_GETFD only reads the descriptor's flags.
    assert_ne!(
        unsafe { libc::fcntl(client.as_fd().as_raw_fd(), libc::F_GETFD) },
        -1
    );
}
