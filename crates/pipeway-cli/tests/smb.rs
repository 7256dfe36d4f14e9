//! `pipeway serve --smb`: a pipe served to another host through Samba, run
//! as a user would run it, with impacket as the SMB client, and with
//! `pipeway connect \\host\pipe\NAME` (pipeway's remote client).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use pipeway_testbed::{SambaHost, needs};

const PIPEWAY: &str = env!("CARGO_BIN_EXE_pipeway");

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwcli{tag}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

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
    needs::samba(&pipeway_testbed::SambaOptions::default())
}

/// `pipeway serve ARGS`, its stderr read line by line; SIGTERM at drop.
struct Server {
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(PIPEWAY)
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stderr) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            stderr,
            seen: Vec::new(),
        };
        server.wait_for("serving ");
        server
    }

    fn wait_for(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no {text:?} on the server's stderr; saw {:?}", self.seen),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn impacket(host: &SambaHost, pipe: &str, ops: &[&str]) -> Vec<String> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeway/tests/support/impacket_pipe.py");
    let user = host.user();
    let out = Command::new("python3")
        .arg(script)
        .arg(host.address().to_string())
        .arg(host.port().to_string())
        .args([&user.name, &user.password, pipe])
        .args(ops)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn serve_smb_echoes_to_an_smb_client_and_reports_who_it_is() {
    let Some(host) = samba() else { return };
    let pipe = unique("echo");
    let conf = host.smb_conf().to_str().unwrap().to_owned();
    let user = host.user().name.clone();
    let mut server = Server::start(&[
        &pipe,
        "--echo",
        "--smb",
        "--smb-conf",
        &conf,
        "--allow-user",
        &user,
    ]);
    let serving = server.wait_for("serving ");
    let smb_socket = host.np_dir().join(&pipe);
    assert!(
        serving.contains(&format!(
            "SMB clients through Samba at {}",
            smb_socket.display()
        )),
        "{serving}"
    );
    // 68656c6c6f = "hello"
    let lines = impacket(&host, &pipe, &["transact=68656c6c6f:100"]);
    assert_eq!(lines, ["open ok", "ok 68656c6c6f"]);
    let connected = server.wait_for("connected:");
    assert!(
        connected.contains(&format!(
            r"SMB PWTESTHOST\{user} from {}",
            host.client_address()
        )),
        "{connected}"
    );
    assert!(connected.contains("pid ?"), "{connected}");
}

#[test]
fn pipeway_connect_on_this_host_reaches_pipeway_serve_smb_on_the_other() {
    let Some(host) = samba_host() else { return };
    let pipe = unique("both");
    let np_dir = host.np_dir().to_str().unwrap().to_owned();
    let user = host.user().clone();
    let mut server = Server::start(&[
        &pipe,
        "--echo",
        "--smb",
        "--smb-dir",
        &np_dir,
        "--allow-user",
        &user.name,
    ]);
    let unc = format!(r"\\{}\pipe\{pipe}", host.address());
    let mut client = Command::new(PIPEWAY)
        .args(["connect", &unc, "--port", &host.port().to_string(), "-U"])
        .arg(format!("{}%{}", user.name, user.password))
        .env_remove("PIPEWAY_USER")
        .env_remove("PIPEWAY_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello across hosts\n")
        .unwrap();
    let out = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello across hosts\n");
    let connected = server.wait_for("connected:");
    assert!(
        connected.contains(&format!(r"SMB PWTESTHOST\{} from", user.name)),
        "{connected}"
    );
}

#[test]
fn serve_smb_without_root_says_so_and_how_else_and_leaves_the_directory_alone() {
    if !needs::root("it makes a root-owned directory and runs as nobody") {
        return;
    }
    let dir = std::env::temp_dir().join(unique("np"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let tmp = std::env::temp_dir().join(unique("tmp"));
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            PIPEWAY,
            "serve",
        ])
        .arg(unique("noroot"))
        .args(["--smb", "--smb-dir"])
        .arg(&dir)
        .env("TMPDIR", &tmp)
        .output()
        .expect("setpriv runs (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&tmp);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    let _ = std::fs::remove_dir(&dir);
    assert!(!out.status.success());
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(stderr.contains("symlink"), "{stderr}");
    assert_eq!(mode, 0o700, "the directory's mode was changed");
}
