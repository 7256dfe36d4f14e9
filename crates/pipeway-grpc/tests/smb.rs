//! A tonic server reachable from another host: the same server serves SMB
//! clients through Samba (`ListenOptions` with `serve_smb`), and a gRPC
//! call crosses the network namespace: impacket opens the pipe, and HTTP/2
//! (the h2 package) runs over its byte stream (`tests/smb/grpc_over_smb.py`).
//! The handler sees the caller as Samba mapped it. A tonic client on this
//! side makes the same calls through `PipeEndpoint` and pipeway's remote
//! client, dialing `\\host\pipe\name`.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::pipetest::{Caller, Empty, Text};
use common::{PipetestClient, Server, TestService};
use pipeway::smb::SmbOptions;
use pipeway::unix::ListenOptionsExt;
use pipeway::{ConnectOptions, Credentials, ListenOptions};
use pipeway_grpc::PipeEndpoint;
use pipeway_testbed::{SambaHost, SambaOptions, needs};
use prost::Message;

/// A Samba host, and impacket with h2 to be its client.
fn samba() -> Option<SambaHost> {
    if !needs::python(&["impacket.smbconnection", "h2"]) {
        return None;
    }
    samba_host()
}

/// A Samba host (root starts it), for tests whose client is pipeway's own.
fn samba_host() -> Option<SambaHost> {
    if !needs::root("the Samba test host runs in a network namespace") {
        return None;
    }
    needs::samba(&SambaOptions::default())
}

/// Options that serve SMB clients of `host` and admit its test user.
fn smb_options(host: &SambaHost) -> ListenOptions {
    ListenOptions::new()
        .allow_user(&host.user().name)
        .serve_smb(SmbOptions::new().socket_dir(host.np_dir()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// One call of `path` with `request` from the namespace host; the reply.
fn call(host: &SambaHost, pipe: &str, path: &str, request: &[u8]) -> Vec<u8> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smb/grpc_over_smb.py");
    let user = host.user();
    let out = Command::new("python3")
        .arg(script)
        .arg(host.address().to_string())
        .arg(host.port().to_string())
        .args([&user.name, &user.password, pipe, path, &hex(request)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = stdout
        .trim()
        .strip_prefix("ok")
        .unwrap_or_else(|| panic!("the call failed: {stdout}"));
    unhex(reply.trim())
}

#[test]
fn a_grpc_call_crosses_hosts_through_samba_and_the_handler_sees_the_smb_user() {
    let Some(host) = samba() else { return };
    let pipe = common::unique("smb").to_lowercase();
    let server = Server::start_with(&pipe, &smb_options(&host), |builder| {
        builder.add_service(TestService::default().server())
    });

    let echo = call(
        &host,
        &pipe,
        "/pipetest.Pipetest/Echo",
        &Text {
            text: "across hosts".into(),
        }
        .encode_to_vec(),
    );
    assert_eq!(Text::decode(&echo[..]).unwrap().text, "across hosts");

    let caller = Caller::decode(&call(&host, &pipe, "/pipetest.Pipetest/Whoami", &[])[..]).unwrap();
    let user = host.user();
    assert_eq!(caller.pid, 0, "an SMB caller has no pid here");
    assert_eq!((caller.uid, caller.gid), (user.uid, user.gid));
    assert_eq!(caller.user_name, user.name);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_on_this_host_calls_the_server_through_samba() {
    let Some(host) = samba_host() else { return };
    let pipe = common::unique("smbc").to_lowercase();
    let server = Server::start_with(&pipe, &smb_options(&host), |builder| {
        builder.add_service(TestService::default().server())
    });
    let user = host.user();
    let connect = ConnectOptions::new()
        .credentials(Credentials::new(&user.name, user.password.as_str()))
        .smb_port(host.port());
    let channel = PipeEndpoint::new(format!(r"\\{}\pipe\{pipe}", host.address()))
        .unwrap()
        .connect_options(connect)
        .connect()
        .await
        .unwrap();
    let mut client = PipetestClient::new(channel);

    let echo = client
        .echo(Text {
            text: "across hosts".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(echo.text, "across hosts");
    let caller = client.whoami(Empty {}).await.unwrap().into_inner();
    assert_eq!(caller.pid, 0, "an SMB caller has no pid here");
    assert_eq!((caller.uid, caller.gid), (user.uid, user.gid));
    assert_eq!(caller.user_name, user.name);
    drop(client);
    server.stop().await;
}
