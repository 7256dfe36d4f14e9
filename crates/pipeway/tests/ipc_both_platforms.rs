//! Shared memory and mailslots through the portable API, in one process:
//! these run on Linux and, under Wine, against the Windows backends.

use std::time::Duration;

use pipeway::mailslot::{MailslotClient, MailslotError, MailslotOptions, MailslotServer};
use pipeway::shm::{SharedMemory, ShmAccess, ShmError};

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pw-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn shared_memory_is_created_opened_and_shared() {
    let name = unique("both-shm");
    let creator = SharedMemory::create(&name, 10_000).unwrap();
    assert_eq!(creator.len(), 10_000);
    assert_eq!(creator.creator().unwrap().pid(), Some(std::process::id()));
    creator.write_at(9_990, b"0123456789").unwrap();
    let writer = SharedMemory::open(&format!(r"Local\{name}"), ShmAccess::ReadWrite).unwrap();
    assert!(writer.len() >= 10_000);
    let mut tail = [0u8; 10];
    writer.read_at(9_990, &mut tail).unwrap();
    assert_eq!(&tail, b"0123456789");
    writer.write_at(0, b"back").unwrap();
    let mut head = [0u8; 4];
    creator.read_at(0, &mut head).unwrap();
    assert_eq!(&head, b"back");
    let reader = SharedMemory::open(&name, ShmAccess::ReadOnly).unwrap();
    assert!(matches!(
        reader.write_at(0, b"x"),
        Err(ShmError::AccessDenied { .. })
    ));
    assert!(matches!(
        SharedMemory::create(&name, 4096),
        Err(ShmError::InUse { .. })
    ));
}

#[test]
fn shared_memory_errors_are_typed() {
    assert!(matches!(
        SharedMemory::open(&unique("both-missing"), ShmAccess::ReadOnly),
        Err(ShmError::NotFound { .. })
    ));
    assert!(matches!(
        SharedMemory::create(&unique("both-zero"), 0),
        Err(ShmError::InvalidSize { .. })
    ));
    assert!(matches!(
        SharedMemory::create(r"Local\a\b", 4096),
        Err(ShmError::InvalidName { .. })
    ));
}

#[test]
fn a_mailslot_keeps_boundaries_counts_messages_and_times_out() {
    let name = unique("both-ms");
    let options = MailslotOptions::new().read_timeout(Some(Duration::from_millis(50)));
    let server = MailslotServer::create_with(&name, &options).unwrap();
    assert!(matches!(
        MailslotServer::create(&name),
        Err(MailslotError::InUse { .. })
    ));
    let client = MailslotClient::open(&format!(r"\\.\mailslot\{name}")).unwrap();
    client.send(b"hello").unwrap();
    client.send(b"mailslot!").unwrap();
    assert_eq!(server.info().unwrap().next_size, Some(5));
    assert_eq!(server.read().unwrap(), b"hello");
    assert_eq!(server.read().unwrap(), b"mailslot!");
    assert!(matches!(server.read(), Err(MailslotError::TimedOut)));
    assert!(matches!(
        MailslotClient::open(&unique("both-ms-missing")),
        Err(MailslotError::NotFound { .. })
    ));
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine's GetMailslotInfo reports one waiting message when there are more"
)]
fn info_counts_the_waiting_messages() {
    let name = unique("both-ms-count");
    let server = MailslotServer::create(&name).unwrap();
    let client = MailslotClient::open(&name).unwrap();
    for message in [&b"a"[..], b"bb", b"ccc"] {
        client.send(message).unwrap();
    }
    let info = server.info().unwrap();
    assert_eq!((info.count, info.next_size), (3, Some(1)));
    server.read().unwrap();
    assert_eq!(server.info().unwrap().count, 2);
}

#[test]
fn many_writer_threads_to_one_mailslot() {
    let name = unique("both-ms-many");
    let options = MailslotOptions::new().read_timeout(Some(Duration::from_secs(10)));
    let server = MailslotServer::create_with(&name, &options).unwrap();
    let writers: Vec<_> = (0..4u8)
        .map(|writer| {
            let name = name.clone();
            std::thread::spawn(move || {
                let client = MailslotClient::open(&name).unwrap();
                for n in 0..50u8 {
                    client.send(&[writer, n]).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u8; 4];
    for _ in 0..200 {
        let message = server.read().unwrap();
        assert_eq!(message.len(), 2);
        let writer = message[0] as usize;
        assert_eq!(message[1], next[writer], "writer {writer} out of order");
        next[writer] += 1;
    }
    for writer in writers {
        writer.join().unwrap();
    }
}
