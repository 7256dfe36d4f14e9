//! `pipeway connect` and `pipeway info` on a pipe of another host: a real
//! Samba host in a network namespace, a pipe server behind it. In CI a
//! missing Samba fails these tests; elsewhere they are skipped.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use pipeway_testbed::{PipeServer, Role, SambaHost, SambaOptions, needs};

const PIPEWAY: &str = env!("CARGO_BIN_EXE_pipeway");

fn samba() -> Option<SambaHost> {
    pipeway_testbed::needs::samba(&SambaOptions::default())
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `pipeway ARGS` with `input` on stdin and no PIPEWAY_* variables but `env`.
fn pipeway(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    let mut cmd = Command::new(PIPEWAY);
    cmd.args(args)
        .env_remove("PIPEWAY_USER")
        .env_remove("PIPEWAY_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn connect_relays_messages_to_a_remote_pipe_with_each_way_of_giving_the_password() {
    let Some(host) = samba() else { return };
    let name = unique("cli");
    let _server = PipeServer::start(&host, &name, Role::EchoMessages);
    let unc = format!(r"\\{}\pipe\{name}", host.address());
    let user = host.user().clone();

    // smbclient's -U USER%PASSWORD.
    let up = format!("{}%{}", user.name, user.password);
    let out = pipeway(
        &["connect", &unc, "--message", "-U", &up],
        &[],
        b"one\ntwo\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\n");

    // --user with PIPEWAY_PASSWORD, and the slash form of the name.
    let slash = format!("//{}/pipe/{name}", host.address());
    let out = pipeway(
        &["connect", &slash, "--message", "--user", &user.name],
        &[("PIPEWAY_PASSWORD", &user.password)],
        b"three\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "three\n");

    // --authfile in smbclient's format.
    let file = std::env::temp_dir().join(format!("pwauth-{name}"));
    std::fs::write(
        &file,
        format!("username = {}\npassword = {}\n", user.name, user.password),
    )
    .unwrap();
    let out = pipeway(
        &[
            "connect",
            &unc,
            "--message",
            "--authfile",
            file.to_str().unwrap(),
        ],
        &[],
        b"four\n",
    );
    std::fs::remove_file(&file).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "four\n");
}

#[test]
fn connect_refuses_a_wrong_password_and_a_missing_one_clearly() {
    let Some(host) = samba() else { return };
    let unc = format!(r"\\{}\pipe\{}", host.address(), unique("nope"));
    let bad = format!("{}%wrong", host.user().name);
    let out = pipeway(&["connect", &unc, "-U", &bad], &[], b"");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("refused user") && err.contains("wrong user name or password"),
        "{err}"
    );
    assert!(!err.contains("wrong%"), "the password was printed: {err}");

    let out = pipeway(&["connect", &unc, "--user", &host.user().name], &[], b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("PIPEWAY_PASSWORD"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn info_shows_dialect_signing_cipher_and_the_server() {
    let Some(host) = samba() else { return };
    let name = unique("info");
    let _server = PipeServer::start(&host, &name, Role::EchoBytes);
    let unc = format!(r"\\{}\pipe\{name}", host.address());
    let user = host.user();
    let up = format!("{}%{}", user.name, user.password);
    let out = pipeway(&["info", &unc, "-U", &up], &[], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "dialect:   SMB 3.1.1",
        "cipher:    AES-128-GCM",
        "server:    PWTESTHOST",
        "pipe:      served",
    ] {
        assert!(shown.contains(expected), "no {expected:?} in:\n{shown}");
    }
    let missing = format!(r"\\{}\pipe\{}", host.address(), unique("absent"));
    let out = pipeway(&["info", &missing, "-U", &up], &[], b"");
    assert!(
        text(&out.stdout).contains("pipe:      not found"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bench_smb_compares_pipeway_with_impacket_in_json() {
    // The bench starts its own Samba host (root, for the namespace) and
    // runs impacket against it.
    if !needs::root("the bench's Samba host runs in a network namespace")
        || !needs::python(&["impacket.smbconnection"])
        || samba().is_none()
    {
        return;
    }
    let out = pipeway(
        &[
            "bench",
            "smb",
            "--quick",
            "--json",
            "--rounds",
            "1",
            "--table",
            "transact, 64 B (signed)",
        ],
        &[],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["case"].as_str()).collect();
    assert!(
        names.contains(&"impacket (Python)") && names.contains(&"pipeway (blocking)"),
        "{names:?}"
    );
    for row in rows.iter().filter(|r| r["case"] != "impacket (Python)") {
        assert_eq!(row["baseline"], "impacket (Python)", "{row}");
        assert_eq!(row["verified"], true, "{row}");
        assert!(
            row["median_ns"].as_f64().is_some_and(|ns| ns > 0.0),
            "{row}"
        );
    }
}
