//! The test bed itself: a host starts, takes its user's password and no
//! other, restarts, and leaves nothing behind.
#![cfg(target_os = "linux")]

use std::process::Command;

use pipeway_testbed::SambaHost;

fn smbclient(host: &SambaHost, user: &str, password: &str) -> std::process::Output {
    Command::new("smbclient")
        .arg(format!("//{}/IPC$", host.address()))
        .args(["-p", &host.port().to_string()])
        .args(["-U", &format!("{user}%{password}")])
        .args(["--option=clientsigning=required", "-c", "exit"])
        .output()
        .expect("smbclient runs (scripts/test.sh installs it)")
}

#[test]
fn a_host_serves_its_user_and_refuses_a_wrong_password() {
    let mut host = SambaHost::start().expect("smbd starts");
    let user = host.user().clone();
    let ok = smbclient(&host, &user.name, &user.password);
    assert!(
        ok.status.success(),
        "login failed: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = smbclient(&host, &user.name, "wrong");
    assert!(!bad.status.success(), "a wrong password was accepted");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("LOGON_FAILURE"));

    host.restart().expect("smbd restarts");
    let again = smbclient(&host, &user.name, &user.password);
    assert!(again.status.success(), "login after restart failed");

    let ns = host.namespace().map(|ns| ns.name().to_owned());
    let user_name = user.name.clone();
    drop(host);
    if let Some(ns) = ns {
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains(&ns),
            "namespace {ns} left behind"
        );
    }
    let id = Command::new("id").arg(&user_name).output().unwrap();
    assert!(!id.status.success(), "user {user_name} left behind");
}
