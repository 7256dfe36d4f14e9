//! `pipeway serve` out of file descriptors keeps serving: more clients than
//! its descriptor limit connect at once, the ones it cannot take yet wait,
//! and each is served as others leave.
//!
//! (Unix: the server runs under an RLIMIT_NOFILE limit.)
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::{Server, unique};
use pipeway::{ConnectOptions, PipeStream};

/// The server's descriptor limit: a little above what its runtime, stdio
/// and listener hold, so that a few dozen clients exhaust it.
const LIMIT: u64 = 32;
const CLIENTS: usize = 48;

fn serve_survives_running_out_of_descriptors(mode: &[&str]) {
    let name = unique("emfile");
    let mut args = vec![name.as_str(), "--echo"];
    args.extend_from_slice(mode);
    let mut server = Server::start_with_descriptor_limit(&args, LIMIT);
    let patient = ConnectOptions::new().timeout(Duration::from_secs(60));
    // Clients that have been served stay until the gate opens, so that the
    // server does run out of descriptors while others wait.
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().unwrap();
    // More clients than the server has descriptors for, all at once, each
    // on its own thread: a client waits for its echo (and on the framed
    // wire, for its connect) until the server has a descriptor for it.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (name, patient, gate) = (name.clone(), patient.clone(), gate.clone());
            std::thread::spawn(move || {
                let mut client = PipeStream::connect_with(&name, &patient).unwrap();
                let ping = format!("ping {i}\n");
                client.write_all(ping.as_bytes()).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut echo = vec![0u8; ping.len()];
                client.read_exact(&mut echo).unwrap();
                assert_eq!(String::from_utf8(echo).unwrap(), ping);
                drop(gate.read().unwrap());
            })
        })
        .collect();
    let warning = server.wait_for("cannot accept a client now");
    assert!(warning.contains("Too many open files"), "{warning}");
    // The served clients leave, freeing descriptors for the rest.
    drop(closed);
    for client in clients {
        client.join().expect("every client is served");
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {:?}",
        server.stderr_lines()
    );
    assert!(server.stop().status.success());
}

#[test]
fn serve_survives_running_out_of_descriptors_in_byte_mode() {
    serve_survives_running_out_of_descriptors(&[]);
}

#[test]
fn serve_survives_running_out_of_descriptors_with_an_instance_limit() {
    // An instance limit puts the pipe on the framed wire.
    serve_survives_running_out_of_descriptors(&["--max-instances", "1000"]);
}
