//! iceoryx2's spinning publish/subscribe as a request/response round trip:
//! the fair comparison for the shared-memory channel (both copy the message
//! into shared memory once and read it there).

use std::time::Duration;

use iceoryx2::prelude::*;

use crate::{median_per_op, pin_to_cpu};

type Error = Box<dyn std::error::Error>;

fn ports(
    base: &str,
    send_to: &str,
    receive_from: &str,
    max_len: usize,
) -> Result<
    (
        Node<ipc::Service>,
        iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>,
        iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>,
    ),
    Error,
> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let outgoing = node
        .service_builder(&format!("{base}/{send_to}").as_str().try_into()?)
        .publish_subscribe::<[u8]>()
        .open_or_create()?;
    let incoming = node
        .service_builder(&format!("{base}/{receive_from}").as_str().try_into()?)
        .publish_subscribe::<[u8]>()
        .open_or_create()?;
    let publisher = outgoing
        .publisher_builder()
        .initial_max_slice_len(max_len)
        .create()?;
    let subscriber = incoming.subscriber_builder().create()?;
    Ok((node, publisher, subscriber))
}

/// The peer: answers each request with a copy of it, or with 8 bytes.
pub(crate) fn serve(base: &str, size: usize, ack: bool) -> Result<(), Error> {
    let reply_len = if ack { 8 } else { size };
    let (_node, publisher, subscriber) = ports(base, "response", "request", reply_len)?;
    println!("ready");
    loop {
        let Some(request) = subscriber.receive()? else {
            std::hint::spin_loop();
            continue;
        };
        let reply = publisher.loan_slice_uninit(reply_len)?;
        let reply = if ack {
            reply.write_from_fn(|_| 1u8)
        } else {
            reply.write_from_slice(request.payload())
        };
        drop(request);
        reply.send()?;
    }
}

/// The client's side: the median round trip.
pub(crate) fn round_trip(
    size: usize,
    ack: bool,
    client_cpu: usize,
    server_cpu: usize,
    ops: usize,
    batches: usize,
) -> Duration {
    let base = format!("pipeway-bench/{}", super::shm::unique("ice"));
    let role = if ack { "ice-ack" } else { "ice-echo" };
    let spec = format!("{role}|{base}|{server_cpu}|{size}|0");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(super::shm::PEER_ENV, &spec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start the iceoryx2 peer");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    pin_to_cpu(client_cpu);
    let (_node, publisher, subscriber) =
        ports(&base, "request", "response", size).expect("iceoryx2 ports");
    let message = vec![7u8; size];
    // Let the ports find each other before the first sample.
    std::thread::sleep(Duration::from_millis(50));
    let result = median_per_op(batches, ops, || {
        let request = publisher.loan_slice_uninit(size).unwrap();
        request.write_from_slice(&message).send().unwrap();
        loop {
            if let Some(reply) = subscriber.receive().unwrap() {
                std::hint::black_box(reply.payload().len());
                break;
            }
            std::hint::spin_loop();
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}
