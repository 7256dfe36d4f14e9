//! Who may call: by default only the server's own user (and root); a
//! client of another uid is kept out, and the server goes on serving.
//!
//! The other user is a forked child that switches to `nobody` and speaks
//! through raw system calls only (the test process has threads, so the child
//! may only make async-signal-safe calls).
#![cfg(unix)]

mod common;

use std::ffi::c_int;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::pipetest::Text;
use common::{PipetestClient, Server, TestService, require_root, unique};
use pipeway::ListenOptions;

const NOBODY: u32 = 65534;

/// What the child saw; each is its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// connect() failed with EACCES or EPERM: the socket file kept it out.
    ConnectDenied = 10,
    /// connect() failed otherwise.
    ConnectFailed = 11,
    /// Sending the HTTP/2 preface failed: the server had hung up.
    SendFailed = 12,
    /// End-of-file: the server hung up without a word.
    Closed = 20,
    /// The server answered with HTTP/2 frames: it served the client.
    Served = 21,
    /// The connection was reset: the server hung up on unread bytes.
    Reset = 22,
    /// Nothing came back before the child's receive timeout.
    Silent = 23,
    /// Switching users failed.
    NoSwitch = 30,
    Other = 99,
}

impl Seen {
    fn from_code(code: c_int) -> Seen {
        use Seen::*;
        [
            ConnectDenied,
            ConnectFailed,
            SendFailed,
            Closed,
            Served,
            Reset,
            Silent,
            NoSwitch,
        ]
        .into_iter()
        .find(|s| *s as c_int == code)
        .unwrap_or(Other)
    }

    /// Refused after connecting: which of these the child sees depends on
    /// whether the server's hang-up came before its send, before its bytes
    /// were read, or after.
    fn refused_after_connect(self) -> bool {
        matches!(self, Seen::SendFailed | Seen::Closed | Seen::Reset)
    }
}

/// The HTTP/2 client preface and an empty SETTINGS frame: what any gRPC
/// client sends first. An HTTP/2 server answers it with its own SETTINGS.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Forks a child that becomes `uid`, connects to `path` and sends the HTTP/2
/// preface; returns what it saw.
fn connect_as(uid: u32, path: &Path) -> Seen {
    // Everything the child needs is prepared before the fork.
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len());
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let addr_len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let timeout = libc::timeval {
        tv_sec: 30,
        tv_usec: 0,
    };
    let mut buf = [0u8; 64];

    // SAFETY: fork has no preconditions; the child below only makes raw
    // system calls (async-signal-safe) on memory prepared before the fork,
    // and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: raw system calls on valid, prepared arguments; see above.
        unsafe {
            let seen = (|| {
                let gid = uid as libc::c_long;
                let uid = uid as libc::c_long;
                if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
                {
                    return Seen::NoSwitch;
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                if fd < 0 {
                    return Seen::Other;
                }
                if libc::connect(fd, (&raw const addr).cast(), addr_len) != 0 {
                    let errno = *libc::__errno_location();
                    return if errno == libc::EACCES || errno == libc::EPERM {
                        Seen::ConnectDenied
                    } else {
                        Seen::ConnectFailed
                    };
                }
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const timeout).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
                let sent = libc::send(
                    fd,
                    PREFACE.as_ptr().cast(),
                    PREFACE.len(),
                    libc::MSG_NOSIGNAL,
                );
                if sent != PREFACE.len() as isize {
                    return Seen::SendFailed;
                }
                match libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) {
                    0 => Seen::Closed,
                    n if n > 0 => Seen::Served,
                    _ => match *libc::__errno_location() {
                        libc::ECONNRESET => Seen::Reset,
                        libc::EAGAIN => Seen::Silent,
                        _ => Seen::Other,
                    },
                }
            })();
            libc::_exit(seen as c_int);
        }
    }
    let mut status: c_int = 0;
    // SAFETY: waits for our own child, into a valid status variable.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "the child did not exit: {status}");
    Seen::from_code(libc::WEXITSTATUS(status))
}

async fn echo_works(name: &str) {
    let mut client = PipetestClient::new(pipeway_grpc::connect(name).await.unwrap());
    let reply = client
        .echo(Text {
            text: "mine".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "mine");
}

#[tokio::test]
async fn a_client_of_another_uid_is_refused_by_default() {
    if !require_root() {
        return;
    }
    let name = unique("other-uid");
    let server = Server::start(&name, TestService::default());

    let meta = std::fs::metadata(&server.path).unwrap();
    assert_eq!(
        meta.uid(),
        0,
        "the socket file belongs to the server's user"
    );
    assert_eq!(meta.mode() & 0o777, 0o600, "and admits no one else");

    assert_eq!(connect_as(NOBODY, &server.path), Seen::ConnectDenied);
    // The server is unharmed and still serves its own user.
    echo_works(&name).await;
    server.stop().await;
}

#[tokio::test]
async fn a_denied_user_is_refused_at_accept_and_the_server_goes_on() {
    if !require_root() {
        return;
    }
    // Everyone may open the socket file, so the check at accept decides.
    let name = unique("deny-nobody");
    let options = ListenOptions::new().allow_everyone().deny_user("nobody");
    let server = Server::start_with(&name, &options, |builder| {
        builder.add_service(TestService::default().server())
    });

    let seen = connect_as(NOBODY, &server.path);
    assert!(
        seen.refused_after_connect(),
        "nobody was not refused: {seen:?}"
    );
    echo_works(&name).await;
    server.stop().await;
}

#[tokio::test]
async fn an_admitted_user_of_another_uid_is_served() {
    if !require_root() {
        return;
    }
    // The control for the test above: the same child, admitted, gets the
    // server's HTTP/2 SETTINGS back.
    let name = unique("allow-nobody");
    let options = ListenOptions::new().allow_everyone();
    let server = Server::start_with(&name, &options, |builder| {
        builder.add_service(TestService::default().server())
    });
    assert_eq!(connect_as(NOBODY, &server.path), Seen::Served);
    server.stop().await;
}
