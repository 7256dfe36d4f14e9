//! What the SMB tests share: a Samba host to serve through, and impacket
//! as the SMB client on the other side.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use pipeway_testbed::{SambaHost, SambaOptions, TestUser, needs};

/// A pipe name no other test or process uses (lower case: Samba's form).
pub fn unique_pipe(tag: &str) -> String {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    format!(
        "pw{tag}{}x{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Samba host in a network namespace, if this machine can run one (root,
/// smbd), and impacket to be its client.
pub fn samba() -> Option<SambaHost> {
    if !needs::python(&["impacket.smbconnection"]) {
        return None;
    }
    samba_host()
}

/// A Samba host in a network namespace, if this machine can run one (root,
/// smbd), for tests whose SMB client is pipeway's own.
pub fn samba_host() -> Option<SambaHost> {
    if !needs::root("the Samba test host runs in a network namespace") {
        return None;
    }
    needs::samba(&SambaOptions::default())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/impacket_pipe.py")
}

/// Runs impacket against `pipe` on `host` as `user` with `ops` (see
/// `impacket_pipe.py`); returns its output lines.
pub fn impacket(host: &SambaHost, user: &TestUser, pipe: &str, ops: &[String]) -> Vec<String> {
    let out = Command::new("python3")
        .arg(script())
        .arg(host.address().to_string())
        .arg(host.port().to_string())
        .args([&user.name, &user.password, pipe])
        .args(ops)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "impacket failed: {stdout}{}\nsmbd: {}",
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    stdout.lines().map(str::to_owned).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `write=HEX`
pub fn write(bytes: &[u8]) -> String {
    format!("write={}", hex(bytes))
}

/// `transact=HEX:N`
pub fn transact(bytes: &[u8], n: usize) -> String {
    format!("transact={}:{n}", hex(bytes))
}

/// The bytes of an `ok HEX` line.
pub fn ok_bytes(line: &str) -> Vec<u8> {
    let hex = line
        .strip_prefix("ok")
        .unwrap_or_else(|| panic!("expected an ok line, got {line:?}"))
        .trim();
    unhex(hex)
}
