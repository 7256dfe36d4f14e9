//! What is at a socket path: nothing, something that is not a socket, a live
//! pipe, or a stale socket file nobody listens on.

use std::io;
use std::path::Path;

use rustix::fs::FileType;
use rustix::io::Errno;
use rustix::net::SocketAddrUnix;

use super::creds::Credentials;
use super::socket::{Socket, Wire};

/// The file's identity, to tell later whether the path still names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug)]
pub(crate) enum Liveness {
    Missing,
    NotSocket,
    /// A server accepts connections on it. `creds` are the server's, when the
    /// probe got far enough to ask.
    Live {
        owner: u32,
        creds: Option<Credentials>,
    },
    /// A socket file with nobody listening.
    Stale {
        owner: u32,
        id: FileId,
    },
    /// The file's mode keeps this user out, so liveness cannot be told.
    Unknown {
        owner: u32,
    },
}

// st_dev and st_ino are u64 on Linux but narrower or signed elsewhere.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn file_id(path: &Path) -> io::Result<Option<(FileId, rustix::fs::Stat)>> {
    match rustix::fs::lstat(path) {
        Ok(st) => Ok(Some((
            FileId {
                dev: st.st_dev as u64,
                ino: st.st_ino as u64,
            },
            st,
        ))),
        Err(Errno::NOENT) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Looks at `path`, connecting to it when it is a socket. A live server sees
/// that connection arrive and close at once: the price of knowing for sure
/// (a listing of bound sockets misses servers in other network namespaces).
pub(crate) fn probe(path: &Path) -> io::Result<Liveness> {
    let Some((id, st)) = file_id(path)? else {
        return Ok(Liveness::Missing);
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return Ok(Liveness::NotSocket);
    }
    let owner = st.st_uid;
    let addr = SocketAddrUnix::new(path)?;
    for wire in [Wire::Plain, Wire::Framed] {
        let socket = Socket::new(wire, true)?;
        match rustix::net::connect(&socket, &addr) {
            Ok(()) => {
                return Ok(Liveness::Live {
                    owner,
                    creds: socket.peer_cred().ok(),
                });
            }
            // Its backlog is full: very much alive.
            Err(Errno::AGAIN) => return Ok(Liveness::Live { owner, creds: None }),
            Err(Errno::CONNREFUSED) => return Ok(Liveness::Stale { owner, id }),
            Err(Errno::PROTOTYPE) => continue,
            Err(Errno::ACCESS) | Err(Errno::PERM) => return Ok(Liveness::Unknown { owner }),
            Err(Errno::NOENT) => return Ok(Liveness::Missing),
            Err(err) => return Err(err.into()),
        }
    }
    // Neither a stream nor a seqpacket listener: some other program's socket.
    Ok(Liveness::Live { owner, creds: None })
}

/// [`probe`] for a datagram socket (a mailslot): connecting an unbound
/// datagram socket to it tells whether anything is bound there, and sends
/// nothing.
pub(crate) fn probe_datagram(path: &Path) -> io::Result<Liveness> {
    let Some((id, st)) = file_id(path)? else {
        return Ok(Liveness::Missing);
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return Ok(Liveness::NotSocket);
    }
    let owner = st.st_uid;
    let addr = SocketAddrUnix::new(path)?;
    let socket = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&socket, &addr) {
        Ok(()) => Ok(Liveness::Live { owner, creds: None }),
        Err(Errno::CONNREFUSED) => Ok(Liveness::Stale { owner, id }),
        // A stream or seqpacket socket: some other program's, and live.
        Err(Errno::PROTOTYPE) => Ok(Liveness::Live { owner, creds: None }),
        Err(Errno::ACCESS) | Err(Errno::PERM) => Ok(Liveness::Unknown { owner }),
        Err(Errno::NOENT) => Ok(Liveness::Missing),
        Err(err) => Err(err.into()),
    }
}

/// A listening socket, as the kernel's table shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listening {
    pub inode: u64,
    /// `SOCK_SEQPACKET` (pipeway's framed wire) rather than `SOCK_STREAM`.
    pub seqpacket: bool,
}

/// The listening Unix sockets bound to a path, by path: read from
/// `/proc/net/unix`, which costs the servers nothing (no connection is
/// made). `None` where the kernel offers no such listing.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn listening_sockets() -> Option<std::collections::HashMap<std::path::PathBuf, Listening>>
{
    /// `__SO_ACCEPTCON`: the socket is listening.
    const ACCEPTING: u32 = 0x0001_0000;
    /// The table's `Type` of a `SOCK_SEQPACKET` socket.
    const SEQPACKET: u32 = 5;
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let mut listening = std::collections::HashMap::new();
    for line in table.lines().skip(1) {
        // Num RefCount Protocol Flags Type St Inode Path; the path may hold spaces.
        let mut fields = line.splitn(8, ' ').filter(|f| !f.is_empty());
        let _num = fields.next();
        let _refs = fields.next();
        let _proto = fields.next();
        let Some(flags) = fields.next().and_then(|f| u32::from_str_radix(f, 16).ok()) else {
            continue;
        };
        let Some(kind) = fields.next().and_then(|f| u32::from_str_radix(f, 16).ok()) else {
            continue;
        };
        let _state = fields.next();
        let Some(inode) = fields.next().and_then(|f| f.parse::<u64>().ok()) else {
            continue;
        };
        let rest: Vec<&str> = fields.collect();
        let path = rest.join(" ");
        if flags & ACCEPTING != 0 && path.starts_with('/') {
            listening.insert(
                std::path::PathBuf::from(path),
                Listening {
                    inode,
                    seqpacket: kind == SEQPACKET,
                },
            );
        }
    }
    Some(listening)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn listening_sockets() -> Option<std::collections::HashMap<std::path::PathBuf, Listening>>
{
    None
}

/// The process holding the socket with inode `inode`, found by reading
/// `/proc/*/fd`. Only processes this user may inspect are seen.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pid_holding_socket(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    for process in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == wanted.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pid_holding_socket(_inode: u64) -> Option<u32> {
    None
}
