//! Serving pipes to another host through Samba: a real smbd in a network
//! namespace hands impacket's opens of `\\host\pipe\NAME` to a pipeway
//! listener in this process, which serves local clients at the same time.
#![cfg(all(target_os = "linux", feature = "remote"))]

mod support;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use pipeway::smb::SmbOptions;
use pipeway::unix::{ListenOptionsExt, ListenerExt};
use pipeway::{Error, ListenOptions, MessageListener, PipeListener, PipeStream};
use pipeway_testbed::SambaHost;

use support::*;

/// Options that serve SMB clients of `host` and admit its test user.
fn smb_options(host: &SambaHost) -> ListenOptions {
    ListenOptions::new()
        .allow_user(&host.user().name)
        .serve_smb(SmbOptions::new().socket_dir(host.np_dir()))
}

/// Echoes every byte of each accepted client, on its own thread.
fn byte_echo(listener: PipeListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    })
}

#[test]
fn byte_echo_write_read_and_transact_and_local_clients_on_the_same_listener() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("echo");
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    assert_eq!(
        listener.smb_socket_path(),
        Some(host.np_dir().join(&pipe).as_path())
    );
    let local_path = listener.socket_path().to_owned();
    let server = byte_echo(listener);

    let lines = impacket(
        &host,
        host.user(),
        &pipe,
        &[write(b"ping"), "read=100".into(), transact(b"hello", 100)],
    );
    assert_eq!(lines[0], "open ok");
    assert_eq!(ok_bytes(&lines[1]), b"");
    assert_eq!(ok_bytes(&lines[2]), b"ping");
    assert_eq!(ok_bytes(&lines[3]), b"hello");

    // The same listener still serves local clients at its usual path.
    let mut local = PipeStream::connect(pipe.as_str()).unwrap();
    local.write_all(b"local").unwrap();
    let mut back = [0u8; 5];
    local.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"local");
    assert!(local_path.exists());
    drop(server);
}

#[test]
fn message_echo_keeps_boundaries_and_refuses_what_samba_cannot_carry() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("msg");
    let listener = MessageListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let server = thread::spawn(move || {
        let stream = listener.accept().unwrap();
        assert!(stream.peer().smb().is_some());
        assert_eq!(stream.max_message_size(), 65_535);
        // Refused before anything is sent: too large for Samba, or empty.
        assert!(matches!(
            stream.send(&vec![1u8; 65_536]),
            Err(Error::MessageTooLarge {
                len: 65_536,
                max: 65_535
            })
        ));
        assert!(stream.send(b"").is_err());
        stream.send(b"first").unwrap();
        while let Some(message) = stream.recv_vec().unwrap() {
            stream.send(&message).unwrap();
        }
    });
    let big = vec![0x5au8; 65_535];
    let lines = impacket(
        &host,
        host.user(),
        &pipe,
        &[
            "read=100".into(),
            write(b"abc"),
            write(b"defg"),
            "read=100".into(),
            "read=100".into(),
            transact(b"xyz", 100),
            "fill=65535:5a".into(),
            "read=65535".into(),
            "close".into(),
        ],
    );
    assert_eq!(lines[0], "open ok");
    assert_eq!(ok_bytes(&lines[1]), b"first", "nothing before it was sent");
    assert_eq!(ok_bytes(&lines[4]), b"abc");
    assert_eq!(ok_bytes(&lines[5]), b"defg");
    assert_eq!(ok_bytes(&lines[6]), b"xyz");
    assert_eq!(ok_bytes(&lines[8]), big);
    server.join().unwrap();
}

#[test]
fn eight_mib_cross_intact() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("bulk");
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let _server = byte_echo(listener);
    let lines = impacket(&host, host.user(), &pipe, &["bulk=8388608:61440".into()]);
    assert_eq!(lines[0], "open ok");
    let sums: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(sums.len(), 3, "{lines:?}");
    assert_eq!(
        sums[1], sums[2],
        "what came back differs from what was sent"
    );
}

#[test]
fn the_server_sees_the_smb_user_and_where_it_came_from() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("who");
    // The np directory as Samba's configuration names it, found by testparm.
    let options = ListenOptions::new()
        .allow_user(&host.user().name)
        .serve_smb(SmbOptions::new().smb_conf(host.smb_conf()));
    let listener = PipeListener::bind_with(pipe.as_str(), &options).unwrap();
    assert_eq!(
        listener.smb_socket_path(),
        Some(host.np_dir().join(&pipe).as_path())
    );
    let server = thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let peer = stream.peer().clone();
        stream.write_all(b"seen").unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        peer
    });
    let lines = impacket(
        &host,
        host.user(),
        &pipe,
        &["read=10".into(), "close".into()],
    );
    assert_eq!(ok_bytes(&lines[1]), b"seen");
    let peer = server.join().unwrap();
    let user = host.user();
    assert_eq!(peer.pid(), None, "an SMB client has no pid here");
    assert_eq!(peer.user_name(), Some(user.name.as_str()));
    use pipeway::unix::PeerIdentityExt;
    assert_eq!((peer.uid(), peer.gid()), (user.uid, user.gid));
    let smb = peer.smb().expect("an SMB caller");
    assert_eq!(smb.account(), user.name);
    assert_eq!(smb.domain(), "PWTESTHOST");
    assert_eq!(smb.unix_name(), Some(user.name.as_str()));
    assert_eq!((smb.uid(), smb.gid()), (user.uid, user.gid));
    assert!(!smb.is_guest());
    assert!(smb.user_sid().unwrap().to_string().starts_with("S-1-5-21-"));
    assert_eq!(
        smb.client_address().map(|a| a.ip()),
        Some(host.client_address())
    );
    assert_eq!(smb.server_address().map(|a| a.port()), Some(445));
    assert!(
        peer.to_string()
            .contains(&format!(r"SMB PWTESTHOST\{}", user.name)),
        "{peer}"
    );
}

#[test]
fn users_the_rules_do_not_admit_are_refused() {
    let Some(mut host) = samba() else { return };
    let stranger = host.add_user().unwrap();
    let friend = host.add_user().unwrap();
    let pipe = unique_pipe("acl");
    // The test user by Unix name, the friend by DOMAIN\user; not the stranger.
    let options = smb_options(&host).allow_user(format!(r"PWTESTHOST\{}", friend.name));
    let listener = PipeListener::bind_with(pipe.as_str(), &options).unwrap();
    let _server = byte_echo(listener);
    let probe = [transact(b"hi", 10)];
    let refused = impacket(&host, &stranger, &pipe, &probe);
    assert_eq!(
        refused[0], "open err STATUS_CONNECTION_DISCONNECTED",
        "{refused:?}"
    );
    let admitted = impacket(&host, &friend, &pipe, &probe);
    assert_eq!(admitted[0], "open ok");
    assert_eq!(ok_bytes(&admitted[1]), b"hi");
    let admitted = impacket(&host, host.user(), &pipe, &probe);
    assert_eq!(ok_bytes(&admitted[1]), b"hi");

    // By default only the listener's own user (root, here) is admitted.
    let pipe = unique_pipe("acl");
    let options = ListenOptions::new().serve_smb(SmbOptions::new().socket_dir(host.np_dir()));
    let _server = byte_echo(PipeListener::bind_with(pipe.as_str(), &options).unwrap());
    let refused = impacket(&host, host.user(), &pipe, &probe);
    assert_eq!(refused[0], "open err STATUS_CONNECTION_DISCONNECTED");
}

#[test]
fn a_pipe_not_served_to_smb_is_not_reachable_through_samba() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("local");
    let options = ListenOptions::new().allow_everyone();
    let _server = byte_echo(PipeListener::bind_with(pipe.as_str(), &options).unwrap());
    let lines = impacket(&host, host.user(), &pipe, &[]);
    assert_eq!(lines[0], "open err STATUS_OBJECT_NAME_NOT_FOUND");
}

/// Answers one request with one reply and closes at once.
fn reply_and_close(listener: PipeListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let mut request = [0u8; 64];
        let n = stream.read(&mut request).unwrap();
        let mut reply = b"reply to ".to_vec();
        reply.extend_from_slice(&request[..n]);
        stream.write_all(&reply).unwrap();
        // Dropped here: a local client would read the reply, then end-of-file.
    })
}

#[test]
fn the_last_reply_before_close_arrives() {
    let Some(host) = samba() else { return };
    // The client reads only after the server has closed.
    let ops = [write(b"q"), "sleep=0.5".into(), "readall=100".into()];

    let pipe = unique_pipe("last");
    let server =
        reply_and_close(PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap());
    let lines = impacket(&host, host.user(), &pipe, &ops);
    server.join().unwrap();
    assert_eq!(ok_bytes(&lines[3]), b"reply to q", "{lines:?}");
    // Then the end of the pipe, as Samba reports it.
    assert!(lines[4].starts_with("err STATUS_PIPE_"), "{lines:?}");

    // Without the linger, Samba loses the reply: what the linger is for.
    let pipe = unique_pipe("last");
    let options = ListenOptions::new()
        .allow_user(&host.user().name)
        .serve_smb(
            SmbOptions::new()
                .socket_dir(host.np_dir())
                .linger(Duration::ZERO),
        );
    let server = reply_and_close(PipeListener::bind_with(pipe.as_str(), &options).unwrap());
    let lines = impacket(&host, host.user(), &pipe, &ops);
    server.join().unwrap();
    assert_eq!(
        ok_bytes(&lines[3]),
        b"",
        "Samba delivered it after all: {lines:?}"
    );
}

#[test]
fn clients_come_back_after_the_pipe_server_and_smbd_restart() {
    let Some(mut host) = samba() else { return };
    let pipe = unique_pipe("again");
    let probe = [transact(b"still here", 100)];
    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    listener.shutdown().unwrap();
    drop(listener);
    let lines = impacket(&host, host.user(), &pipe, &probe);
    assert_eq!(
        lines[0], "open err STATUS_OBJECT_NAME_NOT_FOUND",
        "the socket was removed"
    );

    let listener = PipeListener::bind_with(pipe.as_str(), &smb_options(&host)).unwrap();
    let _server = byte_echo(listener);
    let lines = impacket(&host, host.user(), &pipe, &probe);
    assert_eq!(ok_bytes(&lines[1]), b"still here");

    host.restart().unwrap();
    let lines = impacket(&host, host.user(), &pipe, &probe);
    assert_eq!(ok_bytes(&lines[1]), b"still here");
}

#[test]
fn past_the_instance_limit_smb_clients_are_refused() {
    let Some(host) = samba() else { return };
    let pipe = unique_pipe("one");
    let options = smb_options(&host).max_instances(1);
    let listener = PipeListener::bind_with(pipe.as_str(), &options).unwrap();
    // A local client holds the only instance.
    let _holder = PipeStream::connect(pipe.as_str()).unwrap();
    let held = listener.accept().unwrap();
    let lines = impacket(&host, host.user(), &pipe, &[]);
    assert_eq!(lines[0], "open err STATUS_CONNECTION_DISCONNECTED");
    drop(held);
    drop(_holder);
    let server = thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        stream.write_all(b"free").unwrap();
        let _ = stream.read_to_end(&mut Vec::new());
    });
    // The instance frees once the held stream is dropped.
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = impacket(
            &host,
            host.user(),
            &pipe,
            &["read=10".into(), "close".into()],
        );
        if lines[0] == "open ok" {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok_bytes(&lines[1]), b"free", "{lines:?}");
    server.join().unwrap();
}

#[test]
fn the_tokio_face_serves_smb_clients_too() {
    let Some(host) = samba() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bytes_pipe = unique_pipe("tkb");
    let messages_pipe = unique_pipe("tkm");
    let options = smb_options(&host);
    let (bytes, messages) = runtime.block_on(async {
        (
            pipeway::tokio::PipeListener::bind_with(bytes_pipe.as_str(), &options).unwrap(),
            pipeway::tokio::MessageListener::bind_with(messages_pipe.as_str(), &options).unwrap(),
        )
    });
    runtime.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok(mut stream) = bytes.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    runtime.spawn(async move {
        while let Ok(stream) = messages.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(message)) = stream.recv_vec().await {
                    let mut reply = message.clone();
                    reply.reverse();
                    if stream.send(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let lines = impacket(
        &host,
        host.user(),
        &bytes_pipe,
        &[transact(b"async", 100), "bulk=1048576:30000".into()],
    );
    assert_eq!(ok_bytes(&lines[1]), b"async");
    let sums: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(sums[1], sums[2]);
    let lines = impacket(
        &host,
        host.user(),
        &messages_pipe,
        &[
            write(b"abc"),
            write(b"xy"),
            "read=100".into(),
            "read=100".into(),
        ],
    );
    assert_eq!(ok_bytes(&lines[3]), b"cba");
    assert_eq!(ok_bytes(&lines[4]), b"yx");
    drop(runtime);
}
