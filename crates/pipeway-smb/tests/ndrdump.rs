//! Samba's own NDR parser (`ndrdump`, package samba-testsuite) reads the
//! requests this crate's encoder makes: so the constructed test requests
//! are laid out as smbd lays them out, alignment included. ndrdump from
//! Samba 4.17 knows level 7; `--validate` also pushes what it pulled and
//! checks the bytes are the same.
#![cfg(target_os = "linux")]

use std::process::Command;

use pipeway_smb::np::{AuthRequest, Layout, Sid, decode_request};

fn ndrdump_available() -> bool {
    let found = Command::new("ndrdump").arg("--version").output().is_ok();
    if !found {
        pipeway_testbed::needs::missing("ndrdump (the package samba-testsuite) is not installed");
    }
    found
}

fn ndrdump(bytes: &[u8]) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "pipeway-ndrdump-{}-{}.bin",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ndrdump")
        .args([
            "--validate",
            "named_pipe_auth",
            "named_pipe_auth_req",
            "struct",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("dump OK") && text.contains("push returned Success"),
        "ndrdump refused the request: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn samba_reads_the_requests_the_encoder_makes() {
    if !ndrdump_available() {
        return;
    }
    for pad in 0..8usize {
        let mut req = AuthRequest::example(7, &format!("user{}", "x".repeat(pad)), 1000);
        assert_eq!(req.layout, Layout::for_level(7).unwrap()[0]);
        req.remote_client_name = Some("c".repeat(pad));
        req.local_server_addr = (pad % 2 == 0).then(|| "10.0.0.1".into());
        let user = req.session.user.as_mut().unwrap();
        user.dns_domain_name = Some("d".repeat(pad * 3));
        user.user_principal_name = (pad % 3 == 0).then(|| format!("u{pad}@example.test"));
        user.times = [pad as u64; 6];
        let token = req.session.token.as_mut().unwrap();
        for rid in 0..(pad as u32 * 5) {
            token
                .sids
                .push(format!("S-1-5-21-7-8-9-{rid}").parse::<Sid>().unwrap());
        }
        token.privilege_mask = 1 << pad;
        req.session.unix_token.as_mut().unwrap().groups = (0..pad as u64).collect();
        req.session.session_key.0 = vec![pad as u8; pad * 2];

        let bytes = req.encode().unwrap();
        let shown = ndrdump(&bytes);
        let num_sids = req.sids().len();
        for expected in [
            format!("account_name             : 'user{}'", "x".repeat(pad)),
            format!("num_sids                 : 0x{num_sids:08x} ({num_sids})"),
            format!("ngroups                  : 0x{pad:08x} ({pad})"),
            "uid                      : 0x00000000000003e8 (1000)".to_owned(),
        ] {
            assert!(
                shown.contains(&expected),
                "pad {pad}: no {expected:?} in {shown}"
            );
        }
        assert_eq!(decode_request(&bytes).unwrap(), req);
    }
}
