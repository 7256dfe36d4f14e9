//! Mailslots across processes: boundaries, order, info, timeouts, the
//! maximum size, many writers at once, stale names and permissions.
#![cfg(unix)]

mod common;
mod roles;

use std::collections::HashMap;
use std::time::Duration;

use common::{NOBODY, require_root, unique};
use pipeway::mailslot::{MailslotClient, MailslotError, MailslotOptions, MailslotServer};
use roles::{Peer, say};

/// Not a test: the body of the peer processes the tests start.
#[test]
#[ignore = "a peer process's body; the tests below run it"]
fn role() {
    let Some((role, arg)) = roles::role() else {
        return;
    };
    let code = match role.as_str() {
        // Sends 200 numbered messages as "<pid> <n>".
        "writer" => {
            let client = MailslotClient::open(&arg).unwrap();
            for n in 0..200 {
                client
                    .send(format!("{} {n}", std::process::id()).as_bytes())
                    .unwrap();
            }
            0
        }
        // Creates a mailslot and lives until killed.
        "server" => {
            let _server = MailslotServer::create(&arg).unwrap();
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            0
        }
        // Opens and sends one message; 10 if the open was refused.
        "send-once" => match MailslotClient::open(&arg) {
            Err(MailslotError::AccessDenied { .. }) => 10,
            Err(err) => {
                eprintln!("{err}");
                1
            }
            Ok(client) => {
                client.send(b"from another user").unwrap();
                0
            }
        },
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

fn with_timeout() -> MailslotOptions {
    MailslotOptions::new().read_timeout(Some(Duration::from_secs(10)))
}

#[test]
fn messages_keep_their_boundaries_and_order_and_info_counts_them() {
    let name = unique("ms-order");
    let server = MailslotServer::create_with(&name, &with_timeout()).unwrap();
    let client = MailslotClient::open(format!(r"\\.\mailslot\{name}").as_str()).unwrap();
    let info = server.info().unwrap();
    assert_eq!((info.count, info.next_size), (0, None));
    for message in [&b"one"[..], b"", b"three", &[0u8; 1000]] {
        client.send(message).unwrap();
    }
    let info = server.info().unwrap();
    assert_eq!((info.count, info.next_size), (4, Some(3)));
    assert_eq!(server.read().unwrap(), b"one");
    assert_eq!(server.info().unwrap().next_size, Some(0));
    assert_eq!(server.read().unwrap(), b"");
    assert_eq!(server.read().unwrap(), b"three");
    assert_eq!(server.read().unwrap(), vec![0u8; 1000]);
    assert_eq!(server.info().unwrap().count, 0);
}

#[test]
fn a_read_times_out_with_a_typed_error() {
    let name = unique("ms-timeout");
    let options = MailslotOptions::new().read_timeout(Some(Duration::from_millis(30)));
    let server = MailslotServer::create_with(&name, &options).unwrap();
    assert!(matches!(server.read(), Err(MailslotError::TimedOut)));
    server.set_read_timeout(Some(Duration::ZERO)).unwrap();
    assert!(matches!(server.read(), Err(MailslotError::TimedOut)));
}

#[test]
fn a_message_over_the_maximum_is_refused_and_the_next_one_read() {
    let name = unique("ms-max");
    let server = MailslotServer::create_with(&name, &with_timeout().max_message_size(100)).unwrap();
    let client = MailslotClient::open(&name).unwrap();
    client.send(&[1u8; 101]).unwrap();
    client.send(&[2u8; 100]).unwrap();
    assert_eq!(server.info().unwrap().next_size, Some(101));
    match server.read() {
        Err(MailslotError::MessageTooLarge { size, max }) => assert_eq!((size, max), (101, 100)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert_eq!(server.read().unwrap(), vec![2u8; 100]);
    // What no datagram can carry fails at the sender.
    assert!(matches!(
        client.send(&vec![0u8; 16 << 20]),
        Err(MailslotError::MessageTooLarge { .. })
    ));
}

#[test]
fn many_writers_at_once_each_arrive_whole_and_in_order() {
    let name = unique("ms-many");
    let server = MailslotServer::create_with(&name, &with_timeout()).unwrap();
    let writers: Vec<Peer> = (0..4).map(|_| Peer::start("writer", &name)).collect();
    let mut next: HashMap<u32, u32> = writers.iter().map(|w| (w.pid(), 0)).collect();
    for _ in 0..4 * 200 {
        let message = String::from_utf8(server.read().unwrap()).unwrap();
        let (pid, n) = message.split_once(' ').unwrap();
        let (pid, n): (u32, u32) = (pid.parse().unwrap(), n.parse().unwrap());
        let expected = next.get_mut(&pid).expect("a known writer");
        assert_eq!(n, *expected, "writer {pid} out of order");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == 200));
    for writer in writers {
        assert_eq!(writer.wait(), 0);
    }
}

#[test]
fn a_live_name_is_refused_and_a_dead_servers_name_reclaimed() {
    let name = unique("ms-stale");
    let mut server = Peer::start("server", &name);
    server.expect("ready");
    assert!(matches!(
        MailslotServer::create(&name),
        Err(MailslotError::InUse { .. })
    ));
    server.kill();
    assert!(matches!(
        MailslotClient::open(&name),
        Err(MailslotError::NotFound { .. })
    ));
    let reclaimed = MailslotServer::create_with(&name, &with_timeout()).unwrap();
    MailslotClient::open(&name).unwrap().send(b"again").unwrap();
    assert_eq!(reclaimed.read().unwrap(), b"again");
}

#[test]
fn names_and_missing_mailslots_are_typed_errors() {
    assert!(matches!(
        MailslotServer::create("a/b"),
        Err(MailslotError::InvalidName { .. })
    ));
    assert!(matches!(
        MailslotServer::create(&"x".repeat(200)),
        Err(MailslotError::InvalidName { .. })
    ));
    assert!(matches!(
        MailslotClient::open(&unique("ms-missing")),
        Err(MailslotError::NotFound { .. })
    ));
    let path = std::env::temp_dir().join(format!("pipeway_mailslot_{}", unique("ms-file")));
    std::fs::write(&path, b"not a socket").unwrap();
    let name = path.file_name().unwrap().to_str().unwrap()["pipeway_mailslot_".len()..].to_owned();
    let result = MailslotServer::create(&name);
    let kept = path.exists();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(result, Err(MailslotError::NotASocket { .. })),
        "{result:?}"
    );
    assert!(kept, "a file that is not a socket is never removed");
}

#[test]
fn owner_only_by_default_and_deny_rules_drop_a_writers_messages() {
    if !require_root() {
        return;
    }
    let name = unique("ms-perm");
    let _server = MailslotServer::create(&name).unwrap();
    assert_eq!(Peer::start_as("send-once", &name, Some(NOBODY)).wait(), 10);

    let open = unique("ms-open");
    let server = MailslotServer::create_with(&open, &with_timeout().allow_everyone()).unwrap();
    assert_eq!(Peer::start_as("send-once", &open, Some(NOBODY)).wait(), 0);
    assert_eq!(server.read().unwrap(), b"from another user");

    let denied = unique("ms-deny");
    let server = MailslotServer::create_with(
        &denied,
        &with_timeout().allow_everyone().deny_user("nobody"),
    )
    .unwrap();
    assert_eq!(Peer::start_as("send-once", &denied, Some(NOBODY)).wait(), 0);
    MailslotClient::open(&denied)
        .unwrap()
        .send(b"owner")
        .unwrap();
    assert_eq!(
        server.read().unwrap(),
        b"owner",
        "the denied writer's message is dropped"
    );
}
