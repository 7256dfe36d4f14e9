#![cfg(target_os = "linux")]
mod common;
use common::*;
use pipeway_smb::client::{Pipe, ReadMode, Session};
use pipeway_testbed::SambaOptions;
use std::time::Duration;

#[test]
fn smoke() {
    let Some(host) = samba(&SambaOptions::default()) else {
        return;
    };
    let name = unique("smoke");
    let _server = PipeServer::start(&host, &name, Role::EchoMessages);
    let session = Session::get(&host_name(&host), &options(&host))
        .unwrap_or_else(|e| panic!("{e}\n{}", host.log()));
    eprintln!("{:?}", session.info());
    let pipe = Pipe::open(session, &name, ReadMode::Messages, Duration::from_secs(5)).unwrap();
    pipe.send(b"hello", None).unwrap();
    assert_eq!(pipe.recv(None).unwrap().unwrap(), b"hello");
    assert_eq!(pipe.transact(b"ping", None).unwrap(), b"ping");
}
