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
    self, AddressFamily, RecvAncillaryBuffer, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendFlags, Shutdown, SocketFlags, SocketType, sockopt,
};

/// Which of pipeway's two wires a socket carries (see [`crate::wire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `SOCK_STREAM`, raw bytes: what .NET, socat and every Unix program speak.
    Plain,
    /// `SOCK_SEQPACKET` with a hello and records.
    Framed,
}

impl Wire {
    fn socket_type(self) -> SocketType {
        match self {
            Wire::Plain => SocketType::STREAM,
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
    #[cfg(feature = "tokio")]
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

    /// One `sendmsg`: on the framed wire, exactly one record.
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>], dontwait: bool) -> io::Result<usize> {
        let mut flags = SendFlags::NOSIGNAL;
        if dontwait {
            flags |= SendFlags::DONTWAIT;
        }
        loop {
            match net::sendmsg(&self.fd, bufs, &mut SendAncillaryBuffer::default(), flags) {
                Err(rustix::io::Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// One `recvmsg`: on the framed wire, one record (or a peek at it).
    pub(crate) fn recv_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        peek: bool,
    ) -> io::Result<Received> {
        let mut flags = RecvFlags::empty();
        if peek {
            flags |= RecvFlags::PEEK;
        }
        loop {
            match net::recvmsg(&self.fd, bufs, &mut RecvAncillaryBuffer::default(), flags) {
                Ok(msg) => {
                    return Ok(Received {
                        bytes: msg.bytes,
                        truncated: msg.flags.contains(ReturnFlags::TRUNC),
                    });
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
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
