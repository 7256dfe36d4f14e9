//! pipeway at both ends of a pipe between hosts: a pipeway listener serves
//! SMB clients through a real Samba host (smbd in a network namespace, the
//! `serve_smb` option), and pipeway's own remote client dials
//! `\\host\pipe\name` from this side of the veth pair. The server sees the
//! SMB user; the client sees the host.
#![cfg(all(target_os = "linux", feature = "remote"))]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::thread;

use pipeway::smb::SmbOptions;
use pipeway::unix::ListenOptionsExt;
use pipeway::{
    ConnectOptions, Credentials, ListenOptions, MessageListener, MessageStream, PeerIdentity,
    PipeListener, PipeStream,
};
use pipeway_testbed::{SambaHost, TestUser};

use support::*;

/// Options that serve SMB clients of `host` and admit its test user.
fn smb_options(host: &SambaHost) -> ListenOptions {
    ListenOptions::new()
        .allow_user(&host.user().name)
        .serve_smb(SmbOptions::new().socket_dir(host.np_dir()))
}

/// How the remote client logs on to `host` as `user`.
fn connect_options(host: &SambaHost, user: &TestUser) -> ConnectOptions {
    ConnectOptions::new()
        .credentials(Credentials::new(&user.name, user.password.as_str()))
        .smb_port(host.port())
}

fn unc(host: &SambaHost, pipe: &str) -> String {
    format!(r"\\{}\pipe\{pipe}", host.address())
}

/// Echoes every byte of one client, then hands back who it was.
fn echo_one(listener: PipeListener) -> thread::JoinHandle<PeerIdentity> {
    thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        stream.peer().clone()
    })
}

#[test]
fn bytes_cross_intact_and_each_end_knows_the_other() {
    let Some(host) = samba_host() else { return };
    let pipe = unique_pipe("both");
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let server = echo_one(listener);

    let mut stream =
        PipeStream::connect_with(unc(&host, &pipe), &connect_options(&host, host.user())).unwrap();
    let remote = stream.peer().remote_host().expect("the client sees a host");
    assert_eq!(remote.host(), host.address().to_string());
    assert_eq!(remote.user(), host.user().name);
    stream.write_all(b"ping").unwrap();
    let mut four = [0u8; 4];
    stream.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"ping");

    // 8 MiB in 60 KiB pieces, each echoed before the next goes: every byte
    // comes back, in order.
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; data.len()];
    for (out, into) in data.chunks(60 * 1024).zip(back.chunks_mut(60 * 1024)) {
        stream.write_all(out).unwrap();
        stream.read_exact(into).unwrap();
    }
    assert!(back == data, "what came back differs from what was sent");
    drop(stream);

    let peer = server.join().unwrap();
    let user = host.user();
    assert_eq!(peer.pid(), None);
    assert_eq!(peer.user_name(), Some(user.name.as_str()));
    let smb = peer.smb().expect("the server sees an SMB caller");
    assert_eq!(smb.account(), user.name);
    assert_eq!((smb.uid(), smb.gid()), (user.uid, user.gid));
    assert_eq!(
        smb.client_address().map(|a| a.ip()),
        Some(host.client_address())
    );
}

#[test]
fn messages_keep_their_boundaries_and_transact_answers() {
    let Some(host) = samba_host() else { return };
    let pipe = unique_pipe("bothmsg");
    let listener = MessageListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let server = thread::spawn(move || {
        let stream = listener.accept().unwrap();
        stream.send(b"hello from the server").unwrap();
        let mut count = 0;
        while let Some(message) = stream.recv_vec().unwrap() {
            count += 1;
            let mut reply = message.clone();
            reply.reverse();
            stream.send(&reply).unwrap();
        }
        count
    });

    let stream =
        MessageStream::connect_with(unc(&host, &pipe), &connect_options(&host, host.user()))
            .unwrap();
    assert_eq!(stream.max_message_size(), 65_535);
    assert_eq!(
        stream.recv_vec().unwrap().unwrap(),
        b"hello from the server"
    );
    stream.send(b"abc").unwrap();
    stream.send(b"de").unwrap();
    assert_eq!(stream.recv_vec().unwrap().unwrap(), b"cba");
    assert_eq!(stream.recv_vec().unwrap().unwrap(), b"ed");
    assert_eq!(stream.transact(b"request").unwrap(), b"tseuqer");
    // The largest message Samba carries, both ways.
    let big: Vec<u8> = (0..65_535u32).map(|i| (i % 253) as u8).collect();
    let mut reversed = big.clone();
    reversed.reverse();
    assert_eq!(stream.transact(&big).unwrap(), reversed);
    drop(stream);
    assert_eq!(server.join().unwrap(), 4);
}

#[test]
fn the_last_reply_before_the_server_closes_arrives() {
    let Some(host) = samba_host() else { return };
    let pipe = unique_pipe("bothlast");
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let (asked, wait) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut request = [0u8; 16];
        let n = stream.read(&mut request).unwrap();
        let mut reply = b"reply to ".to_vec();
        reply.extend_from_slice(&request[..n]);
        stream.write_all(&reply).unwrap();
        // Dropped at once, before the client reads: the linger keeps it.
        drop(stream);
        asked.send(()).unwrap();
    });
    let mut stream =
        PipeStream::connect_with(unc(&host, &pipe), &connect_options(&host, host.user())).unwrap();
    stream.write_all(b"q").unwrap();
    wait.recv().unwrap();
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"reply to q");
    server.join().unwrap();
}

#[test]
fn a_user_the_rules_do_not_admit_cannot_open_the_pipe() {
    let Some(mut host) = samba_host() else { return };
    let stranger = host.add_user().unwrap();
    let pipe = unique_pipe("bothacl");
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let server = echo_one(listener);

    let options = connect_options(&host, &stranger);
    let err = PipeStream::connect_with(unc(&host, &pipe), &options).unwrap_err();
    // Samba reports the hand-off closed without a reply.
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(
        err.to_string().contains("STATUS_CONNECTION_DISCONNECTED"),
        "{err}"
    );

    // The admitted user still gets through.
    let mut stream =
        PipeStream::connect_with(unc(&host, &pipe), &connect_options(&host, host.user())).unwrap();
    stream.write_all(b"me").unwrap();
    let mut two = [0u8; 2];
    stream.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"me");
    drop(stream);
    assert_eq!(
        server.join().unwrap().user_name(),
        Some(host.user().name.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_faces_meet_across_hosts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(host) = samba_host() else { return };
    let pipe = unique_pipe("bothtk");
    let listener =
        pipeway::tokio::MessageListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let server = tokio::spawn(async move {
        let stream = listener.accept().await.unwrap();
        let account = stream.peer().smb().unwrap().account().to_owned();
        while let Some(message) = stream.recv_vec().await.unwrap() {
            let mut reply = format!("{account}: ").into_bytes();
            reply.extend_from_slice(&message);
            stream.send(&reply).await.unwrap();
        }
    });
    let stream = pipeway::tokio::MessageStream::connect_with(
        unc(&host, &pipe),
        &connect_options(&host, host.user()),
    )
    .await
    .unwrap();
    let reply = stream.transact(b"async").await.unwrap();
    assert_eq!(reply, format!("{}: async", host.user().name).into_bytes());
    drop(stream);
    server.await.unwrap();

    let bytes_pipe = unique_pipe("bothtkb");
    let listener =
        pipeway::tokio::PipeListener::bind_with(bytes_pipe.as_str(), &smb_options(&host)).unwrap();
    let server = tokio::spawn(async move {
        let mut stream = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            stream.write_all(&buf[..n]).await.unwrap();
        }
    });
    let mut stream = pipeway::tokio::PipeStream::connect_with(
        unc(&host, &bytes_pipe),
        &connect_options(&host, host.user()),
    )
    .await
    .unwrap();
    stream.write_all(b"bytes").await.unwrap();
    let mut five = [0u8; 5];
    stream.read_exact(&mut five).await.unwrap();
    assert_eq!(&five, b"bytes");
    drop(stream);
    server.await.unwrap();
}
