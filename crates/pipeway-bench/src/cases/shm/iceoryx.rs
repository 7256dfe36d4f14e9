//! iceoryx2's spinning publish/subscribe as a request/response round trip,
//! the comparison for the spinning channel: both copy the message into
//! shared memory once and read the answer where it lies.

use std::io;
use std::time::{Duration, Instant};

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::cases::common::{Echo, Exchange, arg, corrupt_echo_asked};
use crate::{Context, Peer, Subject, peer};

type Ports = (
    Node<ipc::Service>,
    Publisher<ipc::Service, [u8], ()>,
    Subscriber<ipc::Service, [u8], ()>,
);

fn failed(err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("iceoryx2: {err}"))
}

fn ports(base: &str, send_to: &str, receive_from: &str, max_len: usize) -> io::Result<Ports> {
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(failed)?;
    let name = |end: &str| -> io::Result<ServiceName> {
        format!("{base}/{end}").as_str().try_into().map_err(failed)
    };
    let outgoing = node
        .service_builder(&name(send_to)?)
        .publish_subscribe::<[u8]>()
        .open_or_create()
        .map_err(failed)?;
    let incoming = node
        .service_builder(&name(receive_from)?)
        .publish_subscribe::<[u8]>()
        .open_or_create()
        .map_err(failed)?;
    let publisher = outgoing
        .publisher_builder()
        .initial_max_slice_len(max_len)
        .create()
        .map_err(failed)?;
    let subscriber = incoming.subscriber_builder().create().map_err(failed)?;
    Ok((node, publisher, subscriber))
}

/// Starts the iceoryx2 row: a server peer on `server_cpu`, and the client.
pub(super) fn start(cx: &Context, size: usize, server_cpu: usize) -> io::Result<Box<dyn Subject>> {
    let base = format!("pipeway-bench/{}", cx.unique("ice"));
    let server = Peer::spawn(
        "shm-iceoryx-echo",
        &[base.clone(), size.to_string()],
        server_cpu,
    )?;
    let (node, publisher, subscriber) = ports(&base, "request", "response", size)?;
    let mut exchange = IceExchange {
        _node: node,
        publisher,
        subscriber,
    };
    exchange.handshake(size)?;
    Ok(Echo::boxed(exchange, size, server))
}

/// How long a round trip may take before the row fails instead of hanging.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

struct IceExchange {
    _node: Node<ipc::Service>,
    publisher: Publisher<ipc::Service, [u8], ()>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
}

impl IceExchange {
    /// Sends pings until one is answered: a sample sent before the ports
    /// have found each other is lost, so the measured round trips start
    /// only once they have. Then drains any late answers.
    fn handshake(&mut self, size: usize) -> io::Result<()> {
        let ping = vec![0u8; size];
        let started = Instant::now();
        loop {
            let request = self.publisher.loan_slice_uninit(size).map_err(failed)?;
            request.write_from_slice(&ping).send().map_err(failed)?;
            let sent = Instant::now();
            while sent.elapsed() < Duration::from_millis(20) {
                if self.subscriber.receive().map_err(failed)?.is_some() {
                    std::thread::sleep(Duration::from_millis(20));
                    while self.subscriber.receive().map_err(failed)?.is_some() {}
                    return Ok(());
                }
                std::hint::spin_loop();
            }
            if started.elapsed() > REPLY_TIMEOUT {
                return Err(failed("the server never answered"));
            }
        }
    }
}

impl Exchange for IceExchange {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        let request = self
            .publisher
            .loan_slice_uninit(message.len())
            .map_err(failed)?;
        request.write_from_slice(message).send().map_err(failed)?;
        let sent = Instant::now();
        let mut polls = 0u32;
        loop {
            if let Some(answer) = self.subscriber.receive().map_err(failed)? {
                let payload = answer.payload();
                let len = payload.len().min(reply.len());
                reply[..len].copy_from_slice(&payload[..len]);
                return Ok(payload.len());
            }
            polls = polls.wrapping_add(1);
            if polls % 4096 == 0 && sent.elapsed() > REPLY_TIMEOUT {
                return Err(failed("no answer within 2 s (a lost sample?)"));
            }
            std::hint::spin_loop();
        }
    }
}

/// Peer: `base size`; answers each request with a copy, spinning, until
/// the harness ends it.
pub(super) fn serve(args: &[String]) -> io::Result<()> {
    let base: String = arg(args, 0)?;
    let size: usize = arg(args, 1)?;
    let (_node, publisher, subscriber) = ports(&base, "response", "request", size)?;
    peer::ready()?;
    peer::exit_when_stdin_closes();
    let corrupt = corrupt_echo_asked();
    let mut last = Instant::now();
    loop {
        let Some(request) = subscriber.receive().map_err(failed)? else {
            // Spin while busy; idle for over the channel's spin (1 ms),
            // nap, so that this server does not take the CPU from the
            // other rows' servers between its own rounds.
            if last.elapsed() > super::SPIN {
                std::thread::sleep(Duration::from_micros(200));
            } else {
                std::hint::spin_loop();
            }
            continue;
        };
        last = Instant::now();
        let reply = publisher
            .loan_slice_uninit(request.payload().len())
            .map_err(failed)?;
        let mut reply = reply.write_from_slice(request.payload());
        drop(request);
        if corrupt && !reply.payload().is_empty() {
            let middle = reply.payload().len() / 2;
            reply.payload_mut()[middle] ^= 0x20;
        }
        reply.send().map_err(failed)?;
    }
}
