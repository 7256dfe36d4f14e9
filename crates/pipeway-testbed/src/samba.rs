//! `smbd` as a second host.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::needs::is_root;
use crate::netns::Namespace;
use crate::process::{have, next_serial, run_with_input, signal};
use crate::users::{self, TestUser};

/// `server smb encrypt`: what the host asks of a session's encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// `off`: never encrypt.
    Off,
    /// `desired`: encrypt when the client can (Samba's and Windows' usual setting).
    #[default]
    Desired,
    /// `required`: refuse clients that cannot encrypt.
    Required,
}

/// Where the host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In its own network namespace on a veth pair, port 445 (needs root).
    Namespace,
    /// On 127.0.0.1 and a free high port.
    Loopback,
}

/// How to set the host up. `SambaOptions::default()` is signing mandatory,
/// encryption desired, in a namespace when running as root.
#[derive(Debug, Clone)]
pub struct SambaOptions {
    /// `server smb encrypt`.
    pub encryption: Encryption,
    /// `server signing = mandatory` (true) or `auto`.
    pub signing_mandatory: bool,
    /// Where to run; `None`: a namespace as root, loopback otherwise.
    pub placement: Option<Placement>,
    /// More `[global]` lines, written as they are (`"server max protocol = SMB3_00"`).
    pub extra_global: Vec<String>,
}

impl Default for SambaOptions {
    fn default() -> Self {
        Self {
            encryption: Encryption::Desired,
            signing_mandatory: true,
            placement: None,
            extra_global: Vec::new(),
        }
    }
}

/// A running Samba server: see the crate docs.
#[derive(Debug)]
pub struct SambaHost {
    dir: PathBuf,
    conf: PathBuf,
    np_dir: PathBuf,
    address: IpAddr,
    port: u16,
    namespace: Option<Namespace>,
    smbd: Option<Child>,
    users: Vec<TestUser>,
}

const PASSWORD: &str = "Pipeway-Test-1";

impl SambaHost {
    /// Starts a host with the default options and one user.
    pub fn start() -> io::Result<Self> {
        Self::start_with(&SambaOptions::default())
    }

    /// Starts a host with `options` and one user ([`user`](Self::user)).
    pub fn start_with(options: &SambaOptions) -> io::Result<Self> {
        for tool in ["smbd", "smbpasswd", "useradd"] {
            if !have(tool) && !have(&format!("/usr/sbin/{tool}")) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{tool} is not installed: scripts/test.sh installs Samba (apt-get install samba smbclient)"
                    ),
                ));
            }
        }
        let placement = options.placement.unwrap_or(if is_root() && have("ip") {
            Placement::Namespace
        } else {
            Placement::Loopback
        });
        let dir = std::env::temp_dir().join(format!(
            "pipeway-samba-{}-{}",
            std::process::id(),
            next_serial()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let (namespace, address, port) = match placement {
            Placement::Namespace => {
                let ns = Namespace::create()?;
                let address = IpAddr::V4(ns.address());
                (Some(ns), address, 445)
            }
            Placement::Loopback => (None, IpAddr::V4(Ipv4Addr::LOCALHOST), free_port()?),
        };
        let mut host = SambaHost {
            conf: dir.join("smb.conf"),
            np_dir: dir.join("ncalrpc").join("np"),
            dir,
            address,
            port,
            namespace,
            smbd: None,
            users: Vec::new(),
        };
        host.write_conf(options)?;
        host.add_user()?;
        host.launch()?;
        Ok(host)
    }

    /// The host's address (an IP literal: use it as the `host` of `\\host\pipe\name`).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The SMB port (445 in a namespace).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `address:port`.
    pub fn socket_address(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// The address SMB clients of this host come from, as the host sees them.
    pub fn client_address(&self) -> IpAddr {
        match &self.namespace {
            Some(ns) => IpAddr::V4(ns.host_address()),
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// The first test user (made at start).
    pub fn user(&self) -> &TestUser {
        &self.users[0]
    }

    /// Adds another Unix and SMB user; removed when the host is dropped.
    pub fn add_user(&mut self) -> io::Result<TestUser> {
        let user = users::create(PASSWORD)?;
        self.users.push(user.clone());
        let secret = format!("{0}\n{0}\n", user.password);
        run_with_input(
            Command::new("smbpasswd")
                .arg("-c")
                .arg(&self.conf)
                .args(["-s", "-a", &user.name]),
            Some(&secret),
        )?;
        Ok(user)
    }

    /// The directory whose Unix sockets are this host's custom pipes
    /// (`ncalrpc dir`/np; root's, mode 0700).
    pub fn np_dir(&self) -> &Path {
        &self.np_dir
    }

    /// The host's `smb.conf`.
    pub fn smb_conf(&self) -> &Path {
        &self.conf
    }

    /// The network namespace the host runs in, if any.
    pub fn namespace(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }

    /// What smbd printed so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("smbd.out")).unwrap_or_default()
    }

    /// Stops smbd and starts it again (clients see their connection drop).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop_smbd();
        self.launch()
    }

    fn write_conf(&self, options: &SambaOptions) -> io::Result<()> {
        let d = self.dir.display();
        let mut conf = String::from("[global]\n");
        let mut line = |s: &str| {
            let _ = writeln!(conf, "    {s}");
        };
        line("server role = standalone server");
        line("workgroup = PIPEWAY");
        line("netbios name = PWTESTHOST");
        match self.namespace {
            Some(_) => line(&format!("interfaces = {}/30", self.address)),
            None => line("interfaces = 127.0.0.1/8"),
        }
        line("bind interfaces only = yes");
        line(&format!("smb ports = {}", self.port));
        line("disable netbios = yes");
        line("server min protocol = SMB2_02");
        line(if options.signing_mandatory {
            "server signing = mandatory"
        } else {
            "server signing = auto"
        });
        line(match options.encryption {
            Encryption::Off => "server smb encrypt = off",
            Encryption::Desired => "server smb encrypt = desired",
            Encryption::Required => "server smb encrypt = required",
        });
        line("map to guest = never");
        line("restrict anonymous = 2");
        line("passdb backend = tdbsam");
        line("load printers = no");
        line("printing = bsd");
        line("printcap name = /dev/null");
        line("disable spoolss = yes");
        for (key, sub) in [
            ("lock directory", "lock"),
            ("state directory", "state"),
            ("cache directory", "cache"),
            ("pid directory", "pid"),
            ("private dir", "private"),
            ("ncalrpc dir", "ncalrpc"),
            ("binddns dir", "binddns"),
        ] {
            std::fs::create_dir_all(self.dir.join(sub))?;
            line(&format!("{key} = {d}/{sub}"));
        }
        line(&format!("log file = {d}/log.%m"));
        line("log level = 1");
        for extra in &options.extra_global {
            line(extra);
        }
        std::fs::write(&self.conf, conf)?;
        create_private_dir(&self.np_dir)
    }

    fn launch(&mut self) -> io::Result<()> {
        let out = File::create(self.dir.join("smbd.out"))?;
        let mut cmd = match &self.namespace {
            Some(ns) => ns.command("smbd"),
            None => Command::new("smbd"),
        };
        // Without --no-process-group smbd leads its own process group, so
        // stopping it reaches its children too.
        cmd.args(["--foreground", "--debug-stdout", "-s"])
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        self.smbd = Some(cmd.spawn()?);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&self.socket_address(), Duration::from_millis(200))
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self.smbd.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(io::Error::other(format!(
                    "smbd exited ({status}) before accepting: {}",
                    self.log()
                )));
            }
            if Instant::now() > deadline {
                self.stop_smbd();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "smbd did not accept on {} in 20 s: {}",
                        self.socket_address(),
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_smbd(&mut self) {
        let Some(mut child) = self.smbd.take() else {
            return;
        };
        let pid = child.id() as i32;
        signal(-pid, libc::SIGTERM);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(-pid, libc::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        // samba-dcerpcd is started on demand (for built-in pipes) and
        // leaves smbd's process group; its pid file says where it is.
        if let Ok(text) = std::fs::read_to_string(self.dir.join("pid").join("samba-dcerpcd.pid")) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                signal(pid, libc::SIGTERM);
            }
        }
    }
}

impl Drop for SambaHost {
    fn drop(&mut self) {
        self.stop_smbd();
        // The namespace kills what is left inside it and deletes itself.
        self.namespace = None;
        for user in &self.users {
            users::delete(&user.name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
