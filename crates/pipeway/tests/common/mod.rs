//! Helpers shared by the integration tests: unique pipe names, and (Unix)
//! child processes that run as another user and raw sockets.
#![allow(dead_code)]

pub mod child;
#[cfg(windows)]
pub mod win32;

#[cfg(unix)]
use std::ffi::CString;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The uid/gid of `nobody`, the second user these tests act as.
pub const NOBODY: u32 = 65534;
/// A uid with no passwd entry at all.
pub const STRANGER: u32 = 4242;
/// The `users` group, present on every Debian system.
pub const USERS_GID: u32 = 100;

/// A pipe name no other test (or test run) uses.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pw-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a local pipe's socket lives (computed independently of the crate).
pub fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::var("TMPDIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    Path::new(&dir).join(format!("CoreFxPipe_{name}"))
}

/// Tests that switch users need root. In CI that is a failure, not a skip.
#[cfg(unix)]
pub fn require_root() -> bool {
    pipeway_testbed::needs::root("it acts as another user")
}

/// What a client child saw. Each variant is an exit code of the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// connect() failed with EACCES/EPERM: the socket file kept it out.
    ConnectDenied = 10,
    /// connect() failed otherwise.
    ConnectFailed = 11,
    /// The send failed: the server had closed.
    SendFailed = 12,
    /// Read end-of-file: the server closed without answering.
    ClosedByServer = 20,
    /// The echo came back.
    Echoed = 21,
    /// The read failed with ECONNRESET: the server closed with our bytes
    /// unread in its queue.
    Reset = 22,
    /// The read failed otherwise.
    ReadFailed = 23,
    /// Wrong data came back.
    Garbled = 24,
    /// A pipeway hello that refused the client.
    HelloRefused = 30,
    /// A pipeway hello that admitted the client, then the echo came back.
    HelloEchoed = 31,
    /// Something else.
    Other = 99,
}

impl Outcome {
    /// Connected, then closed by the server without an answer: whether the
    /// close came before our send (EPIPE), before it was read (reset) or
    /// after (end-of-file) is a race, and all three mean "refused".
    pub fn refused_after_connect(self) -> bool {
        matches!(
            self,
            Outcome::SendFailed | Outcome::ClosedByServer | Outcome::Reset
        )
    }

    fn from_code(code: i32) -> Outcome {
        use Outcome::*;
        [
            ConnectDenied,
            ConnectFailed,
            SendFailed,
            ClosedByServer,
            Echoed,
            Reset,
            ReadFailed,
            Garbled,
            HelloRefused,
            HelloEchoed,
        ]
        .into_iter()
        .find(|o| *o as i32 == code)
        .unwrap_or(Other)
    }
}

/// Who a child runs as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Identity {
    pub fn nobody() -> Self {
        Self {
            uid: NOBODY,
            gid: NOBODY,
            groups: vec![],
        }
    }
    pub fn uid(uid: u32) -> Self {
        Self {
            uid,
            gid: uid,
            groups: vec![],
        }
    }
    pub fn with_group(mut self, gid: u32) -> Self {
        self.groups.push(gid);
        self
    }
}

/// A `sockaddr_un` for `path`, built before any fork.
#[cfg(unix)]
fn sockaddr(path: &Path) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len());
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    (
        addr,
        std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
    )
}

/// Drops to `who` in a forked child. Only async-signal-safe calls.
#[cfg(unix)]
fn become_user(who: &Identity) -> bool {
    // SAFETY: setgroups/setgid/setuid are async-signal-safe; `who.groups`
    // was allocated before the fork and is only read.
    unsafe {
        libc::setgroups(who.groups.len(), who.groups.as_ptr()) == 0
            && libc::setgid(who.gid) == 0
            && libc::setuid(who.uid) == 0
    }
}

/// Connects to `path` as `who`, in a child process, and tries an echo of
/// "ping": on a seqpacket pipe (pipeway's framed wire) it first reads the
/// hello. Returns what the child saw, and its pid.
#[cfg(unix)]
pub fn connect_as(who: &Identity, path: &Path, framed: bool) -> (Outcome, u32) {
    let (addr, len) = sockaddr(path);
    let who = who.clone();
    let kind = if framed {
        libc::SOCK_SEQPACKET
    } else {
        libc::SOCK_STREAM
    };
    // SAFETY: the child only makes async-signal-safe calls on memory that was
    // set up before the fork, then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = unsafe { client_child(&who, &addr, len, kind, framed) };
        unsafe { libc::_exit(code) };
    }
    (Outcome::from_code(wait(pid)), pid as u32)
}

/// # Safety
/// Call only in a freshly forked child.
#[cfg(unix)]
unsafe fn client_child(
    who: &Identity,
    addr: &libc::sockaddr_un,
    len: libc::socklen_t,
    kind: libc::c_int,
    framed: bool,
) -> i32 {
    if !become_user(who) {
        return 98;
    }
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, kind, 0);
        if fd < 0 {
            return 97;
        }
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        if libc::connect(fd, (addr as *const libc::sockaddr_un).cast(), len) != 0 {
            let errno = *libc::__errno_location();
            return if errno == libc::EACCES || errno == libc::EPERM {
                Outcome::ConnectDenied as i32
            } else {
                Outcome::ConnectFailed as i32
            };
        }
        let mut buf = [0u8; 64];
        if framed {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n <= 0 {
                return Outcome::ClosedByServer as i32;
            }
            if n >= 6 && &buf[..4] == b"PWAY" && buf[5] == 1 {
                return Outcome::HelloRefused as i32;
            }
        }
        // A framed byte pipe carries bytes in records; a plain one, a stream.
        let ping = b"ping";
        if libc::send(fd, ping.as_ptr().cast(), ping.len(), libc::MSG_NOSIGNAL) != 4 {
            return Outcome::SendFailed as i32;
        }
        let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
        match n {
            0 => Outcome::ClosedByServer as i32,
            n if n < 0 && *libc::__errno_location() == libc::ECONNRESET => Outcome::Reset as i32,
            n if n < 0 => Outcome::ReadFailed as i32,
            4 if &buf[..4] == b"ping" && framed => Outcome::HelloEchoed as i32,
            4 if &buf[..4] == b"ping" => Outcome::Echoed as i32,
            _ => Outcome::Garbled as i32,
        }
    }
}

#[cfg(unix)]
fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    assert!(libc::WIFEXITED(status), "child did not exit: {status}");
    libc::WEXITSTATUS(status)
}

/// A process of another user that binds `path` and listens on it (mode
/// 0666), accepting and closing connections, until dropped.
#[cfg(unix)]
pub struct Squatter {
    pub pid: u32,
    path: PathBuf,
}

#[cfg(unix)]
impl Squatter {
    pub fn start(who: &Identity, path: &Path) -> Squatter {
        let (addr, len) = sockaddr(path);
        let cpath = CString::new(path.as_os_str().as_bytes()).unwrap();
        let (ready_r, ready_w) = pipe();
        let who = who.clone();
        // SAFETY: the child only makes async-signal-safe calls on memory set
        // up before the fork, and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe {
                libc::close(ready_r);
                if !become_user(&who) {
                    libc::_exit(98);
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                if libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                    libc::_exit(97);
                }
                libc::chmod(cpath.as_ptr(), 0o666);
                libc::listen(fd, 16);
                libc::write(ready_w, b"r".as_ptr().cast(), 1);
                loop {
                    let c = libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
                    if c >= 0 {
                        libc::close(c);
                    }
                }
            }
        }
        // SAFETY: closing our copy of the write end; reading one byte into a
        // valid buffer.
        unsafe {
            libc::close(ready_w);
            let mut byte = 0u8;
            let n = libc::read(ready_r, (&mut byte as *mut u8).cast(), 1);
            libc::close(ready_r);
            assert_eq!(n, 1, "the squatter did not start");
        }
        Squatter {
            pid: pid as u32,
            path: path.to_owned(),
        }
    }
}

#[cfg(unix)]
impl Drop for Squatter {
    fn drop(&mut self) {
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(self.pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn pipe() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`
/// (a hang would otherwise stall the whole run).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// Logs from the crate go to the test output (`RUST_LOG`-free: warnings and up).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_test_writer()
        .try_init();
}

/// A raw `SOCK_SEQPACKET` socket: a peer that speaks pipeway's framed wire
/// by hand (or breaks it on purpose).
#[cfg(unix)]
pub struct RawSeqpacket {
    fd: libc::c_int,
}

#[cfg(unix)]
impl RawSeqpacket {
    pub fn connect(path: &Path) -> std::io::Result<RawSeqpacket> {
        let (addr, len) = sockaddr(path);
        // SAFETY: plain socket calls on a descriptor we own; `addr` is valid.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let raw = RawSeqpacket { fd };
            if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(raw)
        }
    }

    /// Binds and listens at `path`, then accepts one client.
    pub fn listen(path: &Path) -> std::io::Result<RawSeqpacketListener> {
        let (addr, len) = sockaddr(path);
        // SAFETY: as above.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let listener = RawSeqpacketListener {
                fd,
                path: path.to_owned(),
            };
            if libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0
                || libc::listen(fd, 8) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(listener)
        }
    }

    pub fn send(&self, record: &[u8]) -> std::io::Result<usize> {
        // SAFETY: `record` is a valid buffer of its length.
        let n = unsafe {
            libc::send(
                self.fd,
                record.as_ptr().cast(),
                record.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: `buf` is a valid, writable buffer of its length.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// A message's first record: its 8-byte little-endian length, then `payload`.
    pub fn send_message_start(&self, announced: u64, payload: &[u8]) -> std::io::Result<usize> {
        let mut record = announced.to_le_bytes().to_vec();
        record.extend_from_slice(payload);
        self.send(&record)
    }
}

#[cfg(unix)]
impl Drop for RawSeqpacket {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor we own, once.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(unix)]
pub struct RawSeqpacketListener {
    fd: libc::c_int,
    path: PathBuf,
}

#[cfg(unix)]
impl RawSeqpacketListener {
    pub fn accept(&self) -> std::io::Result<RawSeqpacket> {
        // SAFETY: accepting on the listening descriptor we own.
        let fd = unsafe {
            libc::accept4(
                self.fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(RawSeqpacket { fd })
        }
    }
}

#[cfg(unix)]
impl Drop for RawSeqpacketListener {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor we own, once.
        unsafe { libc::close(self.fd) };
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The hello a pipeway server sends when it admits a client: see the
/// "Wire format" of the framed wire in the crate docs.
pub fn welcome_hello(message_mode: bool, direction: u8, max_message: u64) -> Vec<u8> {
    let mut hello = b"PWAY".to_vec();
    hello.extend_from_slice(&[1, 0, message_mode as u8, direction]);
    hello.extend_from_slice(&max_message.to_le_bytes());
    hello.extend_from_slice(&[0; 8]);
    hello
}

/// Ends the writing side of a byte-mode exchange and reads the whole reply.
/// On Unix the client shuts down its writes (the server reads end-of-file)
/// and reads to end-of-file. Windows pipes have no half-close, so there the
/// client reads the `expected` bytes it knows are coming; the server sees
/// end-of-file when the client is dropped.
pub fn finish_exchange(client: &mut pipeway::PipeStream, expected: usize) -> Vec<u8> {
    use std::io::Read;
    let mut reply = Vec::new();
    if cfg!(unix) {
        client.shutdown(std::net::Shutdown::Write).unwrap();
        client.read_to_end(&mut reply).unwrap();
    } else {
        reply.resize(expected, 0);
        client.read_exact(&mut reply).unwrap();
    }
    reply
}

/// [`finish_exchange`] for the tokio face.
pub async fn finish_exchange_async(
    client: &mut pipeway::tokio::PipeStream,
    expected: usize,
) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut reply = Vec::new();
    if cfg!(unix) {
        client.shutdown().await.unwrap();
        client.read_to_end(&mut reply).await.unwrap();
    } else {
        reply.resize(expected, 0);
        client.read_exact(&mut reply).await.unwrap();
    }
    reply
}
