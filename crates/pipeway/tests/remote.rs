//! Remote pipes through the same API as local ones: `\\host\pipe\name`
//! served by a real Samba host (smbd in its own network namespace), with
//! pipe servers behind it on Samba's np hand-off. In CI a missing Samba
//! fails these tests; elsewhere they are skipped with a message.
#![cfg(all(target_os = "linux", feature = "remote"))]

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pipeway::{ConnectOptions, Credentials, Error, MessageStream, PipeStream};
use pipeway_testbed::{PipeServer, Placement, Role, SambaHost, SambaOptions};

fn samba(options: &SambaOptions) -> Option<SambaHost> {
    pipeway_testbed::needs::samba(options)
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn options(host: &SambaHost) -> ConnectOptions {
    let user = host.user();
    ConnectOptions::new()
        .credentials(Credentials::new(&user.name, user.password.as_str()))
        .smb_port(host.port())
}

fn unc(host: &SambaHost, pipe: &str) -> String {
    format!(r"\\{}\pipe\{pipe}", host.address())
}

#[test]
fn a_byte_stream_reaches_a_pipe_on_another_host() {
    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("bytes");
    let _server = PipeServer::start(&host, &name, Role::EchoBytes);
    let mut stream = PipeStream::connect_with(unc(&host, &name), &options(&host)).unwrap();
    let remote = stream.peer().remote_host().expect("a remote peer");
    assert_eq!(remote.host(), host.address().to_string());
    assert_eq!(remote.server_name(), Some("PWTESTHOST"));
    assert!(remote.protection().starts_with("encrypted"), "{remote}");
    assert_eq!(stream.peer().pid(), None);
    stream.write_all(b"over the wire").unwrap();
    let mut buf = [0u8; 13];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"over the wire");

    // The slash form names the same pipe.
    let slash = format!("//{}/pipe/{name}", host.address());
    let mut again = PipeStream::connect_with(slash, &options(&host)).unwrap();
    again.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    again.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"x");
}

#[test]
fn a_message_stream_keeps_boundaries_and_transacts() {
    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("msgs");
    let _server = PipeServer::start(&host, &name, Role::EchoMessages);
    let stream = MessageStream::connect_with(unc(&host, &name), &options(&host)).unwrap();
    stream.send(b"first").unwrap();
    stream.send(b"second").unwrap();
    assert_eq!(stream.recv_vec().unwrap().unwrap(), b"first");
    let mut small = [0u8; 3];
    match stream.recv(&mut small) {
        Err(Error::BufferTooSmall {
            needed: 6,
            capacity: 3,
        }) => {}
        other => panic!("expected BufferTooSmall, got {other:?}"),
    }
    let mut buf = [0u8; 16];
    assert_eq!(stream.recv(&mut buf).unwrap(), Some(6));
    assert_eq!(&buf[..6], b"second");
    assert_eq!(stream.transact(b"request").unwrap(), b"request");
    match stream.send(&vec![0u8; 65_536]) {
        Err(Error::MessageTooLarge {
            len: 65_536,
            max: 65_535,
        }) => {}
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert_eq!(stream.max_message_size(), 65_535);
    // SMB cannot close one direction: said, not silently ignored.
    let err = stream.close_write().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[test]
fn deadlines_time_out_and_lose_nothing() {
    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("hold");
    let _server = PipeServer::start(&host, &name, Role::Hold);
    let stream = MessageStream::connect_with(unc(&host, &name), &options(&host)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let err = stream.recv_vec().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(start.elapsed() >= Duration::from_millis(200));
    stream.set_read_timeout(None).unwrap();
    stream.send(b"go").unwrap();
    assert_eq!(stream.recv_vec().unwrap().unwrap(), b"late");
}

#[test]
fn remote_errors_are_typed() {
    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("missing");
    let bad = options(&host).credentials(Credentials::new(&host.user().name, "wrong"));
    let err = PipeStream::connect_with(unc(&host, &name), &bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(
        err.to_string().contains("wrong user name or password"),
        "{err}"
    );

    let quick = options(&host).timeout(Duration::from_millis(200));
    let err = PipeStream::connect_with(unc(&host, &name), &quick).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(matches!(err, Error::Remote(_)), "{err:?}");

    // No credentials anywhere: a clear refusal before any traffic.
    if std::env::var_os("PIPEWAY_USER").is_none() {
        let err = PipeStream::connect_with(unc(&host, &name), &ConnectOptions::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("PIPEWAY_PASSWORD"), "{err}");
    }

    // Nothing listens on this port of the host.
    let err = PipeStream::connect_with(unc(&host, &name), &options(&host).smb_port(1)).unwrap_err();
    assert!(
        err.to_string().contains(&format!("{}:1", host.address())),
        "{err}"
    );
}

#[test]
fn a_host_by_dns_name_or_ipv6_literal_on_its_own_port() {
    let Some(host) = samba(&SambaOptions {
        placement: Some(Placement::Loopback),
        extra_global: vec!["interfaces = 127.0.0.1/8 ::1/128".into()],
        ..SambaOptions::default()
    }) else {
        return;
    };
    let name = unique("named");
    let _server = PipeServer::start(&host, &name, Role::EchoMessages);
    for written in [
        format!(r"\\localhost\pipe\{name}"),
        format!(r"\\[::1]\pipe\{name}"),
    ] {
        let stream = MessageStream::connect_with(&written, &options(&host))
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(stream.transact(b"hi").unwrap(), b"hi", "{written}");
    }
}

#[tokio::test]
async fn the_tokio_face_reads_writes_splits_and_cancels() {
    use pipeway::tokio::{MessageStream, PipeStream, timeout};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let bytes = unique("abytes");
    let _echo = PipeServer::start(&host, &bytes, Role::EchoBytes);
    let stream = PipeStream::connect_with(unc(&host, &bytes), &options(&host))
        .await
        .unwrap();
    assert!(stream.peer().remote_host().is_some());
    let (mut reader, mut writer) = stream.into_split();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let sent = data.clone();
    let send = tokio::spawn(async move {
        writer.write_all(&sent).await.unwrap();
        writer.flush().await.unwrap();
        writer
    });
    let mut got = vec![0u8; data.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert!(got == data);
    let mut writer = send.await.unwrap();
    assert_eq!(
        writer.shutdown().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );

    let held = unique("ahold");
    let _hold = PipeServer::start(&host, &held, Role::Hold);
    let stream = MessageStream::connect_with(unc(&host, &held), &options(&host))
        .await
        .unwrap();
    // A receive given up on (its future dropped) sends CANCEL for the READ
    // the host holds; what comes later still arrives.
    let err = timeout(Duration::from_millis(200), stream.recv_vec())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(stream.transact(b"go").await.unwrap(), b"late");
    stream.send(b"go").await.unwrap();
    assert_eq!(stream.recv_vec().await.unwrap().unwrap(), b"late");
}

#[test]
fn many_streams_share_one_session_and_survive_a_restart_by_reconnecting() {
    let Some(mut host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("many");
    let _server = PipeServer::start(&host, &name, Role::EchoMessages);
    let streams: Vec<MessageStream> = (0..10)
        .map(|_| MessageStream::connect_with(unc(&host, &name), &options(&host)).unwrap())
        .collect();
    for (i, s) in streams.iter().enumerate() {
        assert_eq!(
            s.transact(format!("{i}").as_bytes()).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    host.restart().unwrap();
    let err = streams[0].transact(b"lost").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let fresh = MessageStream::connect_with(unc(&host, &name), &options(&host)).unwrap();
    assert_eq!(fresh.transact(b"back").unwrap(), b"back");
}
