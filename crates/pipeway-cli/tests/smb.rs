//! `pipeway serve --smb`: a pipe served to another host through Samba, run
//! as a user would run it, with impacket as the SMB client.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use pipeway_testbed::SambaHost;

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

fn missing(what: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} (scripts/test.sh installs it)"
    );
    eprintln!("skipped: {what}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn samba() -> Option<SambaHost> {
    let impacket = Command::new("python3")
        .args(["-c", "import impacket.smbconnection"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !impacket {
        missing("impacket is not installed");
        return None;
    }
    if !is_root() {
        missing("the Samba test host needs root");
        return None;
    }
    Some(SambaHost::start().expect("the Samba test host starts"))
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
fn serve_smb_without_root_says_so_and_how_else_and_leaves_the_directory_alone() {
    if !is_root() {
        missing("this test makes a root-owned directory and runs as nobody");
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
