//! A Unix socket descriptor and the few operations pipeway performs on it.
//!
//! Both faces use this type: the blocking face on a blocking descriptor, the
//! tokio face on a non-blocking one inside `AsyncFd`. Sends always pass
//! `MSG_NOSIGNAL`, so a vanished peer is an `EPIPE` error and never a
//! `SIGPIPE` that kills the process.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::net::{
    self, AddressFamily, RecvFlags, SendAncillaryBuffer, SendFlags, Shutdown, SocketFlags,
    SocketType, sockopt,
};

/// Which of pipeway's two wires a socket carries (see [`crate::wire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `SOCK_STREAM`, raw bytes: what .NET, socat and every Unix program speak.
    Plain,
    /// `SOCK_SEQPACKET` with a hello and records.
    Framed,
    /// `SOCK_STREAM` from Samba's `smbd`, after its hand-off: raw bytes, or
    /// messages after 2-byte lengths (see `samba_wire`).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Samba,
}

impl Wire {
    fn socket_type(self) -> SocketType {
        match self {
            Wire::Plain | Wire::Samba => SocketType::STREAM,
            Wire::Framed => SocketType::SEQPACKET,
        }
    }
}

/// What a `recv_vectored` returned.
pub(crate) struct Received {
    pub bytes: usize,
    /// The record was longer than the buffers (framed wire only).
    pub truncated: bool,
}

#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// A new, unbound, close-on-exec socket for `wire`.
    pub(crate) fn new(wire: Wire, nonblocking: bool) -> io::Result<Socket> {
        let mut flags = SocketFlags::CLOEXEC;
        if nonblocking {
            flags |= SocketFlags::NONBLOCK;
        }
        let fd = net::socket_with(AddressFamily::UNIX, wire.socket_type(), flags, None)?;
        Ok(Socket { fd })
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> Socket {
        Socket { fd }
    }

    /// A second descriptor for the same socket.
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        Ok(Socket {
            fd: self.fd.try_clone()?,
        })
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, nonblocking)?;
        Ok(())
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match net::recv(&self.fd, &mut *buf, RecvFlags::empty()) {
                Ok((_, n)) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// `recv` into memory that need not be initialised: the kernel only
    /// writes to it. Returns how many bytes it wrote, at the start of `buf`.
    #[cfg(feature = "tokio")]
    pub(crate) fn recv_uninit(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        loop {
            match net::recv(&self.fd, &mut *buf, RecvFlags::empty()) {
                Ok(((filled, _), _)) => return Ok(filled.len()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match net::send(&self.fd, buf, SendFlags::NOSIGNAL) {
                Err(rustix::io::Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// One record out (on the framed wire): `send` for one buffer, `sendmsg`
    /// gathering several. Measured here, a 64 B seqpacket round trip takes
    /// 7.8 µs of CPU with `send`/`recv` and 8.6 µs with `sendmsg`/`recvmsg`
    /// (the message header and iovec copied in and checked on every call),
    /// so one buffer goes the short way.
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>], dontwait: bool) -> io::Result<usize> {
        let mut flags = SendFlags::NOSIGNAL;
        if dontwait {
            flags |= SendFlags::DONTWAIT;
        }
        loop {
            let sent = match bufs {
                [one] => net::send(&self.fd, one, flags),
                _ => net::sendmsg(&self.fd, bufs, &mut SendAncillaryBuffer::default(), flags),
            };
            match sent {
                Err(rustix::io::Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// One record in (on the framed wire), or a peek at it: `recv` into one
    /// buffer, `recvmsg` scattering into several (see
    /// [`send_vectored`](Self::send_vectored) for why). Either way the
    /// result says whether the record was longer than the buffers.
    pub(crate) fn recv_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        peek: bool,
    ) -> io::Result<Received> {
        loop {
            let received = match bufs {
                [one] => self.recv_one(one, peek),
                _ => recvmsg_without_address(
                    self.fd.as_fd(),
                    bufs,
                    if peek { libc::MSG_PEEK } else { 0 },
                ),
            };
            match received {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// `recv` with `MSG_TRUNC`, which makes the kernel report a record's
    /// whole length even when the buffer took less of it.
    fn recv_one(&self, buf: &mut [u8], peek: bool) -> io::Result<Received> {
        let mut flags = RecvFlags::TRUNC;
        if peek {
            flags |= RecvFlags::PEEK;
        }
        let (_, len) = net::recv(&self.fd, &mut *buf, flags)?;
        Ok(Received {
            bytes: len.min(buf.len()),
            truncated: len > buf.len(),
        })
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => Shutdown::Read,
            std::net::Shutdown::Write => Shutdown::Write,
            std::net::Shutdown::Both => Shutdown::Both,
        };
        match net::shutdown(&self.fd, how) {
            // The peer is gone already: the half is as shut as it will get.
            Ok(()) | Err(rustix::io::Errno::NOTCONN) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Whether the connection is over both ways (`POLLHUP`): nothing more
    /// will arrive and nothing more can be sent, because the peer closed or
    /// because between them the two ends shut down both halves. Waits up to
    /// `timeout` for it (`None`: for ever; zero: just looks).
    pub(crate) fn wait_for_hangup(&self, timeout: Option<Duration>) -> io::Result<bool> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let timeout = timeout
            .map(Timespec::try_from)
            .transpose()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timeout out of range"))?;
        // No events asked for: poll reports a hang-up whatever it is asked.
        let mut fds = [PollFd::new(&self.fd, PollFlags::empty())];
        loop {
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) => return Ok(fds[0].revents().contains(PollFlags::HUP)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Whether the connection is over both ways now; see [`wait_for_hangup`](Self::wait_for_hangup).
    pub(crate) fn hung_up(&self) -> io::Result<bool> {
        self.wait_for_hangup(Some(Duration::ZERO))
    }

    /// The peer's credentials as the kernel recorded them at connect time.
    pub(crate) fn peer_cred(&self) -> io::Result<super::creds::Credentials> {
        super::creds::peer_credentials(self.fd.as_fd())
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Recv, timeout)?;
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Send, timeout)?;
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(sockopt::socket_timeout(&self.fd, sockopt::Timeout::Recv)?)
    }

    pub(crate) fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(sockopt::socket_timeout(&self.fd, sockopt::Timeout::Send)?)
    }

    pub(crate) fn set_buffer_sizes(
        &self,
        recv: Option<usize>,
        send: Option<usize>,
    ) -> io::Result<()> {
        if let Some(bytes) = recv {
            sockopt::set_socket_recv_buffer_size(&self.fd, bytes)?;
        }
        if let Some(bytes) = send {
            sockopt::set_socket_send_buffer_size(&self.fd, bytes)?;
        }
        Ok(())
    }

    pub(crate) fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_recv_buffer_size(&self.fd)?)
    }

    pub(crate) fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_send_buffer_size(&self.fd)?)
    }

    /// Bytes written to this socket that the peer has not read yet.
    pub(crate) fn unread_by_peer(&self) -> io::Result<usize> {
        super::creds::outq_len(self.fd.as_fd())
    }

    /// The largest record payload this socket can send in one piece: the
    /// protocol's ceiling, or less when the send buffer is small (the kernel
    /// refuses a record larger than the send buffer with `EMSGSIZE`).
    pub(crate) fn record_budget(&self) -> io::Result<usize> {
        // The kernel keeps 32 bytes of the buffer for itself; keep a margin.
        let sndbuf = self.send_buffer_size()?;
        Ok(crate::wire::MAX_RECORD_PAYLOAD
            .min(sndbuf.saturating_sub(256))
            .max(crate::wire::MESSAGE_HEADER_LEN + 1))
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What a Unix pipe is, as the end holding `socket` (and, under an instance
/// limit on a server end, `permit`) sees it: both faces' `info()`.
pub(crate) fn pipe_info(
    socket: &Socket,
    negotiated: &crate::negotiated::Negotiated,
    permit: Option<&crate::gate::Permit>,
) -> io::Result<crate::PipeInfo> {
    let counts = permit.map(crate::gate::Permit::counts);
    Ok(crate::PipeInfo {
        mode: negotiated.pipe_mode,
        end: negotiated.end,
        direction: negotiated.direction,
        in_buffer_size: socket.recv_buffer_size()?,
        out_buffer_size: socket.send_buffer_size()?,
        instances: counts.map(|(active, _)| active),
        max_instances: counts.map(|(_, max)| max),
    })
}
/// `recvmsg` asking for no sender address: on a connected socket the peer
/// is known, and having the kernel copy out its address (as
/// `rustix::net::recvmsg` always does) costs a copy and the checks around it
/// on every record.
fn recvmsg_without_address(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    flags: libc::c_int,
) -> io::Result<Received> {
    // SAFETY: `msghdr` is plain C data (integers and pointers, and padding on
    // some platforms) for which all zeros is a valid value: no name, no
    // control data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix (std guarantees it).
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: `msg` describes `bufs.len()` buffers of writable memory that
    // `bufs` borrows for the whole call, and nothing else; the kernel writes
    // only within them and into `msg` itself.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Received {
        bytes: n as usize,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Socket, Socket) {
        let (a, b) = net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        (Socket::from_fd(a), Socket::from_fd(b))
    }

    #[test]
    fn a_record_longer_than_the_buffers_reads_as_truncated_either_way() {
        let (a, b) = pair();
        for parts in [1, 2] {
            a.send_vectored(&[IoSlice::new(&[7u8; 100])], false)
                .unwrap();
            let (mut head, mut tail) = ([0u8; 4], [0u8; 6]);
            let received = if parts == 1 {
                b.recv_vectored(&mut [IoSliceMut::new(&mut tail)], false)
            } else {
                b.recv_vectored(
                    &mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut tail)],
                    false,
                )
            }
            .unwrap();
            assert!(received.truncated, "{parts} buffers");
            assert_eq!(received.bytes, if parts == 1 { 6 } else { 10 });
        }
        // A record that fits is whole, and gathered parts make one record.
        a.send_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")], false)
            .unwrap();
        let mut buf = [0u8; 8];
        let received = b
            .recv_vectored(&mut [IoSliceMut::new(&mut buf)], false)
            .unwrap();
        assert!(!received.truncated);
        assert_eq!(&buf[..received.bytes], b"abcd");
    }
}
