//! A channel server reachable from another host: the same server serves
//! SMB clients through Samba (`ListenOptions` with `serve_smb`), and
//! impacket, speaking the channel's wire format from the README (the
//! hellos, then a request frame), makes a request across the network
//! namespace; so does pipeway-channel's own
//! client, dialing `\\host\pipe\name` with pipeway's remote client.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use pipeway::smb::SmbOptions;
use pipeway::unix::ListenOptionsExt;
use pipeway::{ConnectOptions, Credentials, ListenOptions};
use pipeway_channel::{Client, Event, Server};
use pipeway_testbed::{SambaHost, SambaOptions, needs};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Say {
    text: String,
}

/// A Samba host, and impacket to be its client.
fn samba() -> Option<SambaHost> {
    if !needs::python(&["impacket.smbconnection"]) {
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

/// A channel frame (README, "Wire format"): length, kind, id, body.
fn frame(kind: u8, id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = ((9 + body.len()) as u32).to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_request_crosses_hosts_through_samba() {
    let Some(host) = samba() else { return };
    let name = format!("pwchan{}", std::process::id());
    let user = host.user().clone();
    let options = ListenOptions::new()
        .allow_user(&user.name)
        .serve_smb(SmbOptions::new().socket_dir(host.np_dir()));
    let (server, mut events) = Server::<Say>::builder()
        .listen_options(options)
        .bind(name.as_str())
        .unwrap();

    let request = frame(1, 7, br#"{"text":"across"}"#);
    // The client's hello (README, "Handshake"): magic, version, role 0
    // (client), reserved, the codec's name and the schema's, zero-padded.
    let mut hello = b"PWCH\x01\x00\x00\x00json".to_vec();
    hello.resize(64, 0);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeway/tests/support/impacket_pipe.py");
    let client = tokio::process::Command::new("python3")
        .arg(script)
        .arg(host.address().to_string())
        .arg(host.port().to_string())
        .args([&user.name, &user.password, &name])
        .arg(format!("write={}", hex(&hello)))
        .arg("read=64")
        .arg(format!("transact={}:4096", hex(&request)))
        .kill_on_drop(true)
        .output();
    let client = tokio::spawn(client);

    let peer = match events.recv().await.unwrap() {
        Event::Connected { peer, .. } => peer,
        other => panic!("expected a connect, got {other:?}"),
    };
    let smb = peer.smb().expect("an SMB client");
    assert_eq!(smb.account(), user.name);
    assert_eq!(
        smb.client_address().map(|a| a.ip()),
        Some(host.client_address())
    );
    match events.recv().await.unwrap() {
        Event::Request {
            message, responder, ..
        } => {
            assert_eq!(message.text, "across");
            responder
                .reply(&Say {
                    text: format!("{} for {}", message.text.to_uppercase(), smb.account()),
                })
                .unwrap();
        }
        other => panic!("expected a request, got {other:?}"),
    }
    let out = client.await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "open ok", "{stdout}");
    // The server's hello: the same, as the server (role 1).
    let theirs = unhex(lines[2].strip_prefix("ok ").unwrap());
    assert_eq!(theirs.len(), 64, "{stdout}");
    assert_eq!(&theirs[..6], b"PWCH\x01\x01");
    assert_eq!(&theirs[8..12], b"json");
    let reply = unhex(lines[3].strip_prefix("ok ").unwrap());
    let body = format!(r#"{{"text":"ACROSS for {}"}}"#, user.name);
    assert_eq!(reply, frame(2, 7, body.as_bytes()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_client_on_this_host_dials_the_server_through_samba() {
    let Some(host) = samba_host() else { return };
    let name = format!("pwchanc{}", std::process::id());
    let user = host.user().clone();
    let options = ListenOptions::new()
        .allow_user(&user.name)
        .serve_smb(SmbOptions::new().socket_dir(host.np_dir()));
    let (server, mut events) = Server::<Say>::builder()
        .listen_options(options)
        .bind(name.as_str())
        .unwrap();
    // Answers one request, naming the SMB account the client came as.
    let serving = tokio::spawn(async move {
        let mut account = None;
        loop {
            match events.recv().await.expect("the server runs") {
                Event::Connected { peer, .. } => {
                    account = peer.smb().map(|smb| smb.account().to_owned());
                }
                Event::Request {
                    message, responder, ..
                } => {
                    let by = account.clone().unwrap_or_else(|| "a local client".into());
                    responder
                        .reply(&Say {
                            text: format!("{} for {by}", message.text.to_uppercase()),
                        })
                        .unwrap();
                    return events;
                }
                _ => {}
            }
        }
    });

    let unc = format!(r"\\{}\pipe\{name}", host.address());
    let connect = ConnectOptions::new()
        .credentials(Credentials::new(&user.name, user.password.as_str()))
        .smb_port(host.port());
    let (client, _incoming) = Client::<Say>::builder()
        .connect_options(connect)
        .no_reconnect()
        .connect(unc.as_str())
        .await
        .unwrap();
    let reply = client
        .request(&Say {
            text: "across".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.text, format!("ACROSS for {}", user.name));
    client.close().await.unwrap();
    let _events = serving.await.unwrap();
    server.shutdown().await;
}
