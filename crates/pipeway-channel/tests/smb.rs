//! A channel server reachable from another host: the same server serves
//! SMB clients through Samba (`ListenOptions` with `serve_smb`), and
//! impacket, speaking the channel's wire format from the README, makes a
//! request across the network namespace.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;

use pipeway::ListenOptions;
use pipeway::smb::SmbOptions;
use pipeway::unix::ListenOptionsExt;
use pipeway_channel::{Event, Server};
use pipeway_testbed::SambaHost;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Say {
    text: String,
}

fn samba() -> Option<SambaHost> {
    let impacket = Command::new("python3")
        .args(["-c", "import impacket.smbconnection"])
        .output()
        .is_ok_and(|o| o.status.success());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !(impacket && root) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the SMB tests need root and impacket (scripts/test.sh installs it)"
        );
        eprintln!("skipped: the SMB tests need root and impacket");
        return None;
    }
    Some(SambaHost::start().expect("the Samba test host starts"))
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
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeway/tests/support/impacket_pipe.py");
    let client = tokio::process::Command::new("python3")
        .arg(script)
        .arg(host.address().to_string())
        .arg(host.port().to_string())
        .args([&user.name, &user.password, &name])
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
    let reply = unhex(lines[1].strip_prefix("ok ").unwrap());
    let body = format!(r#"{{"text":"ACROSS for {}"}}"#, user.name);
    assert_eq!(reply, frame(2, 7, body.as_bytes()));
    server.shutdown().await;
}
