//! Raw `SOCK_SEQPACKET` sockets, blocking and driven by tokio: what message
//! mode costs the kernel with no framing at all, the fair baseline for
//! pipeway's message pipes.
//!
//! A message larger than one record goes as consecutive records of a fixed
//! size; the receiver knows the message size and collects records until it
//! has it (the raw protocol the record-size table measures).

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType, sockopt,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::cases::common::{AsyncExchange, Exchange};

fn socket(nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        flags,
        None,
    )?)
}

/// A listening seqpacket socket at `path`.
pub fn listen(path: &Path) -> io::Result<OwnedFd> {
    let fd = socket(false)?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, 8)?;
    Ok(fd)
}

/// The next client of `listener`, blocking or not.
pub fn accept(listener: &OwnedFd, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    Ok(rustix::net::accept_with(listener, flags)?)
}

/// A client connected to `path`, blocking or not (a Unix connect to a
/// listening socket completes at once either way).
pub fn connect(path: &Path, nonblocking: bool) -> io::Result<OwnedFd> {
    let fd = socket(nonblocking)?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}

/// Sets both buffers of `fd` to `bytes` (the kernel doubles it), when given.
pub fn set_buffers(fd: &OwnedFd, bytes: Option<usize>) -> io::Result<()> {
    if let Some(bytes) = bytes {
        sockopt::set_socket_send_buffer_size(fd, bytes)?;
        sockopt::set_socket_recv_buffer_size(fd, bytes)?;
    }
    Ok(())
}

fn send(fd: &OwnedFd, record: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(fd, record, SendFlags::NOSIGNAL)?)
}

fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let (_, n) = rustix::net::recv(fd, buf, RecvFlags::empty())?;
    Ok(n)
}

/// A blocking seqpacket connection; messages go in records of at most
/// `record` bytes.
pub struct Records {
    pub fd: OwnedFd,
    pub record: usize,
}

impl Exchange for Records {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        for record in message.chunks(self.record) {
            send(&self.fd, record)?;
        }
        let mut got = 0;
        while got < reply.len() {
            match recv(&self.fd, &mut reply[got..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        Ok(got)
    }
}

/// A blocking seqpacket connection whose send and receive each sit in a
/// function of its own that the exchange calls, as a library's do, instead
/// of inline in the loop; a whole message is one record.
///
/// Why the row exists: on some machines (AMD Zen 4 under a paravirtualized
/// VM, here) a round trip whose `syscall` instructions sit inline in the
/// loop costs 6.1 µs or 7.6 µs depending on where the code lands, and the
/// same calls made from a function cost 7.6 µs wherever it lands
/// (`scripts/syscall-placement.sh`). [`Records`] is the first kind; any
/// library, pipeway included, is the second.
pub struct CalledRecords(pub OwnedFd);

#[inline(never)]
fn send_called(fd: &OwnedFd, record: &[u8]) -> io::Result<usize> {
    send(fd, record)
}

#[inline(never)]
fn recv_called(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    recv(fd, buf)
}

impl Exchange for CalledRecords {
    fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        send_called(&self.0, message)?;
        match recv_called(&self.0, reply)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => Ok(n),
        }
    }
}

/// Echoes whole-record messages of up to `size` bytes until end-of-file,
/// through [`CalledRecords`]' functions.
pub fn serve_called(fd: OwnedFd, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match recv_called(&fd, &mut buf)? {
            0 => return Ok(()),
            n => send_called(&fd, &buf[..n])?,
        };
    }
}

/// A seqpacket connection driven by tokio, registered as `AsyncFd::new`
/// registers it (for reads and writes), as tokio's documentation shows.
pub struct AsyncRecords {
    pub fd: AsyncFd<OwnedFd>,
    pub record: usize,
}

impl AsyncRecords {
    /// Registers `fd` (non-blocking) with the current runtime.
    pub fn new(fd: OwnedFd, record: usize) -> io::Result<Self> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: the `OwnedFd` moves into the `AsyncFd` and is closed only
        // when it drops, so the registered descriptor stays this socket for
        // the registration's whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, interest) }
            .map_err(|err| err.into_parts().1)?;
        Ok(Self { fd, record })
    }

    async fn send(&self, record: &[u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.writable().await?;
            if let Ok(result) = ready.try_io(|fd| send(fd.get_ref(), record)) {
                return result;
            }
        }
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            if let Ok(result) = ready.try_io(|fd| recv(fd.get_ref(), buf)) {
                return result;
            }
        }
    }
}

impl AsyncExchange for AsyncRecords {
    async fn exchange(&mut self, message: &[u8], reply: &mut [u8]) -> io::Result<usize> {
        for record in message.chunks(self.record) {
            self.send(record).await?;
        }
        let mut got = 0;
        while got < reply.len() {
            match self.recv(&mut reply[got..]).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        Ok(got)
    }
}

/// Echoes `size`-byte messages in `record`-byte records until end-of-file.
pub fn serve(fd: OwnedFd, size: usize, record: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        let mut got = 0;
        while got < size {
            match recv(&fd, &mut buf[got..])? {
                0 => return Ok(()),
                n => got += n,
            }
        }
        for chunk in buf.chunks(record) {
            send(&fd, chunk)?;
        }
    }
}

/// [`serve`], driven by tokio.
pub async fn serve_async(io: AsyncRecords, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        let mut got = 0;
        while got < size {
            match io.recv(&mut buf[got..]).await? {
                0 => return Ok(()),
                n => got += n,
            }
        }
        for chunk in buf.chunks(io.record) {
            io.send(chunk).await?;
        }
    }
}
