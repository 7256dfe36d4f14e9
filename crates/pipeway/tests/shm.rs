//! Named shared memory and the shared-memory channel, across processes:
//! request/response, either side killed mid-message, stale memory left by a
//! killed creator, and wrong size, permission and name errors. The
//! channel's tests run on Windows too (under Wine in scripts/test-windows.sh);
//! what only a Unix backend has (files under /dev/shm, other users by uid,
//! stale memory) is marked `#[cfg(unix)]`.

mod common;
mod roles;

use std::time::Duration;

#[cfg(unix)]
use common::{NOBODY, require_root};
use common::{unique, within};
#[cfg(unix)]
use pipeway::shm::ShmOptions;
use pipeway::shm::{SharedMemory, ShmAccess, ShmChannel, ShmChannelOptions, ShmError, ShmListener};
use pipeway::{ConnectOptions, ListenOptions};
use roles::{Peer, say};

/// Not a test: the body of the peer processes the tests start.
#[test]
#[ignore = "a peer process's body; the tests below run it"]
fn role() {
    let Some((role, arg)) = roles::role() else {
        return;
    };
    let code = match role.as_str() {
        // Creates shared memory, writes to it, and lives until killed.
        "create-memory" => {
            let memory = SharedMemory::create(&arg, 8192).unwrap();
            memory.write_at(0, b"from the creator").unwrap();
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // Tries to open memory another user created; exits 10 if refused.
        "open-memory" => match SharedMemory::open(&arg, ShmAccess::ReadOnly) {
            Err(ShmError::AccessDenied { .. }) => 10,
            Ok(_) => 0,
            Err(err) => {
                eprintln!("{err}");
                1
            }
        },
        // Serves one channel (4 KiB rings): echoes until the client closes.
        "echo-server" => {
            let options = ShmChannelOptions::new().ring_size(4096);
            let listener = ShmListener::bind_with(&arg, &ListenOptions::new(), &options).unwrap();
            say("ready");
            let mut channel = listener.accept().unwrap();
            while let Some(message) = channel.recv().unwrap() {
                channel.send(&message).unwrap();
            }
            say("closed");
            0
        }
        // Serves one channel (4 KiB rings): answers each message in place
        // with its bytes inverted and one more byte, 0xAA.
        "reply-server" => {
            let options = ShmChannelOptions::new().ring_size(4096);
            let listener = ShmListener::bind_with(&arg, &ListenOptions::new(), &options).unwrap();
            say("ready");
            let mut channel = listener.accept().unwrap();
            while let Some(message) = channel.recv_borrowed().unwrap() {
                let len = message.len() + 1;
                message.reply_with(len, invert_and_mark).unwrap();
            }
            say("closed");
            0
        }
        // Serves one channel and starts sending a message 16 times its
        // ring: it blocks with the ring full, part of the message published.
        "server-sends-big" => {
            let options = ShmChannelOptions::new().ring_size(4096);
            let listener = ShmListener::bind_with(&arg, &ListenOptions::new(), &options).unwrap();
            say("ready");
            let mut channel = listener.accept().unwrap();
            say("sending");
            channel.send(&vec![7u8; 64 * 1024]).unwrap();
            0
        }
        // Connects and starts sending a big message; blocks with the ring full.
        "client-sends-big" => {
            let mut channel = ShmChannel::connect(&arg).unwrap();
            say("sending");
            channel.send(&vec![7u8; 64 * 1024]).unwrap();
            0
        }
        // Connects to a channel; exits 10 if the pipe refused it.
        "connect-channel" => {
            let options = ConnectOptions::new()
                .timeout(Duration::from_secs(2))
                .trust_any_server();
            match ShmChannel::connect_with(&arg, &options, &ShmChannelOptions::new()) {
                Err(ShmError::Pipe(pipeway::Error::AccessDenied { .. })) => 10,
                Err(err) => {
                    eprintln!("{err}");
                    1
                }
                Ok(_) => 0,
            }
        }
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

#[test]
fn another_process_reads_what_the_creator_wrote_and_sees_who_created_it() {
    let name = unique("shm-read");
    let mut creator = Peer::start("create-memory", &name);
    creator.expect("ready");
    let memory = SharedMemory::open(&name, ShmAccess::ReadOnly).unwrap();
    assert_eq!(memory.len(), 8192);
    let mut text = [0u8; 16];
    memory.read_at(0, &mut text).unwrap();
    assert_eq!(&text, b"from the creator");
    // Windows does not keep the creator's pid for an opener.
    #[cfg(unix)]
    assert_eq!(memory.creator().unwrap().pid(), Some(creator.pid()));
    // Read-only means read-only.
    assert!(matches!(
        memory.write_at(0, b"x"),
        Err(ShmError::AccessDenied { .. })
    ));
    assert!(memory.as_mut_ptr().is_none());
    // Out of bounds is an error, not a crash.
    assert!(memory.read_at(8190, &mut [0u8; 4]).is_err());
}

#[cfg(unix)]
#[test]
fn creating_a_live_name_fails_and_names_the_holder() {
    let name = unique("shm-live");
    let mut creator = Peer::start("create-memory", &name);
    creator.expect("ready");
    match SharedMemory::create(&name, 4096) {
        Err(ShmError::InUse { holder, .. }) => {
            assert!(
                holder.contains(&format!("pid {}", creator.pid())),
                "{holder}"
            )
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    let listed = pipeway::shm::local_shared_memory().unwrap();
    let entry = listed.iter().find(|m| m.name == name).expect("listed");
    assert_eq!(entry.creator_pid, Some(creator.pid()));
    assert_eq!(entry.size, 8192);
    assert_eq!(entry.mode, 0o600);
}

#[cfg(unix)]
#[test]
fn memory_left_by_a_killed_creator_is_stale_and_reclaimed() {
    let name = unique("shm-stale");
    let mut creator = Peer::start("create-memory", &name);
    creator.expect("ready");
    creator.kill();
    let path = pipeway::shm::ShmName::parse(&name).unwrap().path();
    assert!(path.exists(), "SIGKILL leaves the file behind");
    assert!(matches!(
        SharedMemory::open(&name, ShmAccess::ReadWrite),
        Err(ShmError::Stale { .. })
    ));
    let listed = pipeway::shm::local_shared_memory().unwrap();
    assert_eq!(
        listed.iter().find(|m| m.name == name).unwrap().creator_pid,
        None
    );
    let memory = SharedMemory::create(&name, 4096).unwrap();
    assert_eq!(memory.len(), 4096);
    let mut fresh = [1u8; 16];
    memory.read_at(0, &mut fresh).unwrap();
    assert_eq!(
        fresh, [0u8; 16],
        "the reclaimed name has new, zeroed memory"
    );
    drop(memory);
    assert!(!path.exists(), "the creator removes its name when dropped");
}

#[cfg(unix)]
#[test]
fn a_file_that_is_not_shared_memory_is_never_removed() {
    let name = unique("shm-notours");
    let path = pipeway::shm::ShmName::parse(&name).unwrap().path();
    std::fs::create_dir(&path).unwrap();
    let result = SharedMemory::create(&name, 4096);
    let kept = path.is_dir();
    std::fs::remove_dir(&path).unwrap();
    assert!(result.is_err(), "{result:?}");
    assert!(kept);
}

#[test]
fn wrong_sizes_and_names_are_typed_errors() {
    assert!(matches!(
        SharedMemory::create(&unique("shm-zero"), 0),
        Err(ShmError::InvalidSize { .. })
    ));
    assert!(matches!(
        SharedMemory::create("a/b", 4096),
        Err(ShmError::InvalidName { .. })
    ));
    assert!(matches!(
        SharedMemory::open(&unique("shm-missing"), ShmAccess::ReadOnly),
        Err(ShmError::NotFound { .. })
    ));
    assert!(matches!(
        ShmListener::bind_with(
            unique("shm-ring"),
            &ListenOptions::new(),
            &ShmChannelOptions::new().ring_size(5000)
        ),
        Err(ShmError::InvalidSize { .. })
    ));
    // What a file mode cannot say is refused, not silently widened.
    #[cfg(unix)]
    assert!(matches!(
        SharedMemory::create_with(
            &unique("shm-deny"),
            4096,
            &ShmOptions::new().deny_user("nobody")
        ),
        Err(ShmError::Unsupported(_))
    ));
}

#[test]
fn local_names_are_the_same_memory() {
    let name = unique("shm-local");
    let memory = SharedMemory::create(&format!(r"Local\{name}"), 4096).unwrap();
    memory.write_at(0, b"hi").unwrap();
    let again = SharedMemory::open(&name, ShmAccess::ReadWrite).unwrap();
    let mut buf = [0u8; 2];
    again.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hi");
}

#[cfg(unix)]
#[test]
fn owner_only_memory_refuses_another_user() {
    if !require_root() {
        return;
    }
    let name = unique("shm-perm");
    let _memory = SharedMemory::create(&name, 4096).unwrap();
    let peer = Peer::start_as("open-memory", &name, Some(NOBODY));
    assert_eq!(peer.wait(), 10, "nobody must be refused");

    let shared = unique("shm-everyone");
    let _memory =
        SharedMemory::create_with(&shared, 4096, &ShmOptions::new().allow_everyone()).unwrap();
    let peer = Peer::start_as("open-memory", &shared, Some(NOBODY));
    assert_eq!(peer.wait(), 0, "everyone includes nobody");
}

#[cfg(unix)]
#[test]
fn the_channel_pipe_refuses_another_user() {
    if !require_root() {
        return;
    }
    let name = unique("shm-chan-perm");
    let listener = ShmListener::bind(&name).unwrap();
    let peer = Peer::start_as("connect-channel", &name, Some(NOBODY));
    assert_eq!(peer.wait(), 10, "the pipe's access check applies");
    drop(listener);
}

#[test]
fn request_response_across_processes_in_place_and_in_chunks() {
    let name = unique("shm-echo");
    let mut server = Peer::start("echo-server", &name);
    server.expect("ready");
    let mut client = ShmChannel::connect(&name).unwrap();
    assert_eq!(client.peer().pid(), Some(server.pid()));
    assert_eq!(client.max_in_place(), 4096 - 8);
    for size in [0usize, 1, 64, 4088, 4089, 4096, 100_000, 1 << 20] {
        let message: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        client.send(&message).unwrap();
        let reply = client.recv().unwrap().unwrap();
        assert_eq!(reply.len(), size);
        assert!(reply == message, "reply to {size} bytes differs");
    }
    // Many small messages in flight at once wrap the ring many times.
    for round in 0..2000u32 {
        client.send(&round.to_le_bytes()).unwrap();
        if round % 3 == 2 {
            for earlier in round - 2..=round {
                assert_eq!(client.recv().unwrap().unwrap(), earlier.to_le_bytes());
            }
        }
    }
    for last in 1998..2000u32 {
        assert_eq!(client.recv().unwrap().unwrap(), last.to_le_bytes());
    }
    // In place, both ways.
    client.send_with(100, |slot| slot.fill(9)).unwrap();
    let borrowed = client.recv_borrowed().unwrap().unwrap();
    assert_eq!(&*borrowed, &[9u8; 100][..]);
    drop(borrowed);
    client.close();
    server.expect("closed");
    assert_eq!(server.wait(), 0);
}

/// The reply-server's answer: `request` inverted, then 0xAA.
fn invert_and_mark(request: &[u8], reply: &mut [u8]) {
    assert_eq!(reply.len(), request.len() + 1);
    for (to, from) in reply.iter_mut().zip(request) {
        *to = !from;
    }
    reply[request.len()] = 0xAA;
}

fn inverted_and_marked(request: &[u8]) -> Vec<u8> {
    let mut reply = vec![0; request.len() + 1];
    invert_and_mark(request, &mut reply);
    reply
}

#[test]
fn replies_written_in_place_carry_the_answer_at_every_size() {
    let name = unique("shm-reply");
    let mut server = Peer::start("reply-server", &name);
    server.expect("ready");
    let mut client = ShmChannel::connect(&name).unwrap();
    // In place both ways; a reply one byte over a record (through a
    // buffer); a request assembled from chunks answered in chunks.
    for size in [0usize, 64, 4086, 4087, 4088, 100_000] {
        let message: Vec<u8> = (0..size).map(|i| (i * 13 + size) as u8).collect();
        client.send(&message).unwrap();
        let reply = client.recv_borrowed().unwrap().unwrap();
        assert!(
            *reply == inverted_and_marked(&message)[..],
            "the reply to {size} bytes is not the answer"
        );
    }
    // Requests queued ahead of the server: its replies fill its ring, so it
    // waits for room while it still holds a request.
    let queued: Vec<Vec<u8>> = (0..3u8).map(|k| vec![k; 2000]).collect();
    for message in &queued {
        client.send(message).unwrap();
    }
    for message in &queued {
        assert_eq!(
            client.recv().unwrap().unwrap(),
            inverted_and_marked(message)
        );
    }
    client.close();
    server.expect("closed");
    assert_eq!(server.wait(), 0);
}

#[test]
fn a_server_killed_mid_message_is_an_error_not_a_torn_message() {
    let name = unique("shm-kill-server");
    let mut server = Peer::start("server-sends-big", &name);
    server.expect("ready");
    let mut client = ShmChannel::connect(&name).unwrap();
    server.expect("sending");
    // Let it fill the ring with the first chunks, then kill it.
    std::thread::sleep(Duration::from_millis(200));
    server.kill();
    let result = within(Duration::from_secs(10), move || client.recv());
    assert!(
        matches!(result, Err(ShmError::PeerGone { mid_message: true })),
        "{result:?}"
    );
}

#[test]
fn a_client_killed_mid_message_is_an_error_not_a_torn_message() {
    let name = unique("shm-kill-client");
    let options = ShmChannelOptions::new().ring_size(4096);
    let listener = ShmListener::bind_with(&name, &ListenOptions::new(), &options).unwrap();
    let mut client = Peer::start("client-sends-big", &name);
    let mut server = listener.accept().unwrap();
    client.expect("sending");
    std::thread::sleep(Duration::from_millis(200));
    client.kill();
    let result = within(Duration::from_secs(10), move || server.recv());
    assert!(
        matches!(result, Err(ShmError::PeerGone { mid_message: true })),
        "{result:?}"
    );
}

#[test]
fn a_peer_killed_between_messages_ends_a_waiting_receive() {
    let name = unique("shm-kill-idle");
    let mut server = Peer::start("echo-server", &name);
    server.expect("ready");
    let mut client = ShmChannel::connect(&name).unwrap();
    client.send(b"hello").unwrap();
    assert_eq!(client.recv().unwrap().unwrap(), b"hello");
    let waiting = std::thread::spawn(move || client.recv());
    std::thread::sleep(Duration::from_millis(150));
    server.kill();
    let result = within(Duration::from_secs(10), move || waiting.join().unwrap());
    assert!(
        matches!(result, Err(ShmError::PeerGone { mid_message: false })),
        "{result:?}"
    );
}

#[test]
fn messages_over_the_maximum_and_timeouts_are_typed() {
    let name = unique("shm-limits");
    let options = ShmChannelOptions::new()
        .ring_size(4096)
        .max_message_size(10_000);
    let listener = ShmListener::bind_with(&name, &ListenOptions::new(), &options).unwrap();
    let accepting = std::thread::spawn(move || listener.accept().unwrap());
    let mut client = ShmChannel::connect(&name).unwrap();
    let mut server = accepting.join().unwrap();
    assert_eq!(client.max_message_size(), 10_000);
    assert!(matches!(
        client.send(&[0u8; 10_001]),
        Err(ShmError::MessageTooLarge {
            size: 10_001,
            max: 10_000
        })
    ));
    // The 4 KiB ring holds a part of it: the receiver takes the rest as it comes.
    let sending = std::thread::spawn(move || {
        client.send(&[1u8; 10_000]).unwrap();
        client
    });
    assert_eq!(server.recv().unwrap().unwrap().len(), 10_000);
    let mut client = sending.join().unwrap();
    server.set_timeout(Some(Duration::from_millis(50)));
    assert!(matches!(server.recv(), Err(ShmError::TimedOut)));
    // A closed peer: what it sent arrives, then the end; sends fail.
    client.send(b"last").unwrap();
    drop(client);
    assert_eq!(server.recv().unwrap().unwrap(), b"last");
    assert!(server.recv().unwrap().is_none());
    assert!(matches!(server.send(b"x"), Err(ShmError::PeerClosed)));
}

#[test]
fn a_pipe_that_is_not_a_channel_is_refused_clearly() {
    let name = unique("shm-plain-pipe");
    let listener = pipeway::PipeListener::bind(&name).unwrap();
    let accepting = std::thread::spawn(move || listener.accept().unwrap());
    let options = ShmChannelOptions::new().setup_timeout(Duration::from_millis(200));
    let result = ShmChannel::connect_with(&name, &ConnectOptions::new(), &options);
    let _server_side = accepting.join().unwrap();
    assert!(matches!(result, Err(ShmError::Protocol(_))), "{result:?}");
}

#[tokio::test]
async fn the_tokio_face_echoes_and_survives_a_cancelled_receive() {
    use pipeway::shm::tokio::{ShmChannel, ShmListener};
    let name = unique("shm-tokio");
    let options = ShmChannelOptions::new().ring_size(4096);
    let listener = ShmListener::bind_with(&name, &ListenOptions::new(), &options).unwrap();
    let server = tokio::spawn(async move {
        let mut channel = listener.accept().await.unwrap();
        while let Some(message) = channel.recv().await.unwrap() {
            channel.send(&message).await.unwrap();
        }
    });
    let mut client = ShmChannel::connect(&name).await.unwrap();
    // A receive cut short by a timeout loses nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(30), client.recv())
            .await
            .is_err()
    );
    let big: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    for message in [&b"ping"[..], &big] {
        client.send(message).await.unwrap();
        assert_eq!(client.recv().await.unwrap().unwrap(), message);
    }
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_tokio_face_replies_in_place_and_through_a_buffer() {
    use pipeway::shm::tokio::{ShmChannel, ShmListener};
    let name = unique("shm-tokio-reply");
    let options = ShmChannelOptions::new().ring_size(4096);
    let listener = ShmListener::bind_with(&name, &ListenOptions::new(), &options).unwrap();
    let server = tokio::spawn(async move {
        let mut channel = listener.accept().await.unwrap();
        while let Some(message) = channel.recv_borrowed().await.unwrap() {
            let len = message.len() + 1;
            message.reply_with(len, invert_and_mark).await.unwrap();
        }
    });
    let mut client = ShmChannel::connect(&name).await.unwrap();
    for size in [5usize, 4087, 50_000] {
        let message: Vec<u8> = (0..size).map(|i| (i * 3) as u8).collect();
        client.send(&message).await.unwrap();
        let reply = client.recv_borrowed().await.unwrap().unwrap();
        assert!(*reply == inverted_and_marked(&message)[..], "{size} bytes");
    }
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}

/// A server that sends handle values naming no section or event (here a
/// file of the client's own, or nothing at all) is refused before anything
/// is mapped, and the client's own handle is left open.
#[cfg(windows)]
#[test]
fn handle_values_that_name_no_section_or_event_are_refused_and_left_open() {
    use std::io::Write;
    use std::os::windows::io::AsRawHandle;

    use pipeway::shm::layout::{HandleOffer, Setup};

    let path = std::env::temp_dir().join(unique("shm-own-file"));
    let mut own_file = std::fs::File::create(&path).unwrap();
    let file_value = own_file.as_raw_handle() as usize as u64;
    let offers = [
        HandleOffer {
            memory: file_value,
            wakes_server: 0xff_fff0,
            wakes_client: 0xff_fff4,
        },
        HandleOffer {
            memory: 0xff_fff8,
            wakes_server: 0xff_fff0,
            wakes_client: 0xff_fff4,
        },
    ];
    for (offer, names) in offers.into_iter().zip(["File", "no object"]) {
        let name = unique("shm-bad-handles");
        let listener = pipeway::PipeListener::bind(&name).unwrap();
        let serving = std::thread::spawn(move || {
            let mut pipe = listener.accept().unwrap();
            let setup = Setup {
                ring_size: 4096,
                max_message: 1 << 20,
            };
            pipe.write_all(&setup.encode()).unwrap();
            pipe.write_all(&offer.encode()).unwrap();
            pipe
        });
        let result = ShmChannel::connect(&name);
        let _server_end = serving.join().unwrap();
        match result {
            Err(ShmError::Protocol(why)) => assert!(why.contains(names), "{why}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }
    own_file.write_all(b"still open").unwrap();
    drop(own_file);
    assert_eq!(std::fs::read(&path).unwrap(), b"still open");
    std::fs::remove_file(&path).unwrap();
}
