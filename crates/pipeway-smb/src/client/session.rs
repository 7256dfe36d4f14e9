//! A logged-on session with its IPC$ tree: one per (host, port,
//! credentials), shared by every pipe to that host.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::conn::slot::Response;
use super::conn::{RequestHead, Shared};
use super::error::Error;
use super::handshake;
use super::options::ClientOptions;
use super::wait::{Wait, block_on};
use super::wire::header::Command;
use super::wire::messages::empty_request;
use super::wire::negotiate::{Cipher, SigningAlgorithm, dialect};
use super::wire::status;

/// What was agreed with the host, for `pipeway info` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The host as the caller named it.
    pub host: String,
    /// The address connected to.
    pub address: SocketAddr,
    /// The dialect (`dialect::SMB3_1_1`).
    pub dialect: u16,
    /// How requests are signed (`None` when encryption covers them).
    pub signing: Option<SigningAlgorithm>,
    /// The cipher, when the session is encrypted.
    pub cipher: Option<Cipher>,
    /// The server's NetBIOS name, from NTLM.
    pub server_name: Option<String>,
    /// The server's DNS name, from NTLM.
    pub server_dns_name: Option<String>,
    /// The server's NetBIOS domain, from NTLM.
    pub server_domain: Option<String>,
    /// The user logged on, as `DOMAIN\user` or `user`.
    pub user: String,
    /// The largest READ, WRITE and IOCTL the host takes.
    pub max_read: u32,
    /// See `max_read`.
    pub max_write: u32,
    /// See `max_read`.
    pub max_transact: u32,
}

impl SessionInfo {
    /// `3.1.1`.
    pub fn dialect_name(&self) -> String {
        dialect::name(self.dialect)
    }
}

/// A session and its IPC$ tree on one connection.
#[derive(Debug)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tree_id: u32,
    pub(crate) info: SessionInfo,
    /// Set once the host refused FSCTL_PIPE_WAIT (Samba does).
    pub(crate) no_pipe_wait: std::sync::atomic::AtomicBool,
    /// Whether requests may be larger than 64 KiB.
    pub(crate) large_mtu: bool,
}

/// The parts of the handshake's result a session keeps.
pub(crate) struct Established {
    pub tree_id: u32,
    pub info: SessionInfo,
    pub large_mtu: bool,
}

impl Session {
    /// Connects, logs on and connects IPC$, or reuses a live session to
    /// the same host with the same credentials.
    pub fn get(host: &str, options: &ClientOptions) -> Result<Arc<Session>, Error> {
        let key = PoolKey::new(host, options);
        let mut pool = pool().lock().unwrap_or_else(|p| p.into_inner());
        pool.retain(|_, weak| weak.strong_count() > 0);
        if let Some(session) = pool.get(&key).and_then(Weak::upgrade) {
            if !session.shared.is_lost() {
                return Ok(session);
            }
        }
        // Connecting under the pool's lock: two pipes to a new host make one session.
        let session = Arc::new(Self::connect(host, options)?);
        pool.insert(key, Arc::downgrade(&session));
        Ok(session)
    }

    /// A new session of its own (not shared).
    pub fn connect(host: &str, options: &ClientOptions) -> Result<Session, Error> {
        let deadline = Instant::now() + options.connect_timeout;
        let (socket, address) = dial(host, options.port, options.connect_timeout)?;
        let shared = Shared::start(host, socket, options.keepalive)?;
        let established = match handshake::run(&shared, host, address, options, deadline) {
            Ok(e) => e,
            Err(e) => {
                shared.close();
                return Err(e);
            }
        };
        tracing::debug!(
            host,
            dialect = %established.info.dialect_name(),
            cipher = ?established.info.cipher,
            "SMB session set up"
        );
        Ok(Session {
            shared,
            tree_id: established.tree_id,
            info: established.info,
            no_pipe_wait: Default::default(),
            large_mtu: established.large_mtu,
        })
    }

    /// What was agreed with the host.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The host, for messages.
    pub fn host(&self) -> &str {
        &self.info.host
    }

    /// One request and its response, polled: reserve credits, send, wait.
    /// `ticket` holds the request in flight between polls.
    pub(crate) fn poll_request(
        &self,
        wait: &mut Wait<'_, '_>,
        ticket: &mut Option<super::conn::Ticket>,
        head: RequestHead,
        body: &[&[u8]],
    ) -> std::task::Poll<Result<Response, Error>> {
        use std::task::Poll;
        if ticket.is_none() {
            let charge = if self.large_mtu {
                head.credit_charge
            } else {
                1
            };
            match wait.reserve(&self.shared, charge) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            *ticket = Some(self.shared.submit(head, body, false)?.0);
        }
        let t = ticket.as_mut().expect("just set");
        let out = wait.response(t);
        if out.is_ready() && !matches!(out, Poll::Ready(Err(Error::TimedOut))) {
            *ticket = None;
        }
        out
    }

    /// One blocking request; past `deadline` it is cancelled and fails with `TimedOut`.
    pub(crate) fn request(
        &self,
        head: RequestHead,
        body: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let mut ticket = None;
        block_on(deadline, |w| self.poll_request(w, &mut ticket, head, body))
    }

    /// Sends ECHO and waits for the answer: whether the host is there.
    pub fn echo(&self, timeout: Duration) -> Result<Duration, Error> {
        let start = Instant::now();
        let r = self.request(
            RequestHead::new(Command::Echo, 0),
            &[&empty_request()],
            Some(start + timeout),
        )?;
        if r.status() != status::SUCCESS {
            return Err(Error::from_status(self.host(), "ECHO", r.status()));
        }
        Ok(start.elapsed())
    }
}

/// The connection's TCP socket, for polling (shared by every pipe of the session).
#[cfg(unix)]
impl std::os::fd::AsFd for Session {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.shared.socket_fd()
    }
}

impl Drop for Session {
    /// Disconnects the tree and logs off without waiting for the answers,
    /// then ends the connection once the host has answered them.
    fn drop(&mut self) {
        if !self.shared.is_lost() {
            for (command, tree) in [
                (Command::TreeDisconnect, self.tree_id),
                (Command::Logoff, 0),
            ] {
                if self.shared.reserve(1, Some(Instant::now())).is_ok() {
                    if let Ok((ticket, _)) = self.shared.submit(
                        RequestHead::new(command, tree),
                        &[&empty_request()],
                        false,
                    ) {
                        ticket.detach();
                    }
                }
            }
        }
        self.shared.finish();
    }
}

/// Resolves `host` (a DNS name, an IPv4 address, or an IPv6 address, bare,
/// in brackets, or as Windows' `…ipv6-literal.net` form) and connects.
fn dial(host: &str, port: u16, timeout: Duration) -> Result<(TcpStream, SocketAddr), Error> {
    let addrs: Vec<SocketAddr> = match parse_ip(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => (host, port)
            .to_socket_addrs()
            .map_err(|source| Error::Resolve {
                host: host.to_owned(),
                source,
            })?
            .collect(),
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(socket) => {
                socket.set_nodelay(true)?;
                return Ok((socket, addr));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Unreachable {
        host: host.to_owned(),
        port,
        source: last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
    })
}

/// An IP address written as a host.
pub fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Some(ip);
    }
    // Windows writes IPv6 hosts in UNC names as fe80--1s4.ipv6-literal.net.
    let lower = bare.to_ascii_lowercase();
    let literal = lower.strip_suffix(".ipv6-literal.net")?;
    let (addr, zone) = match literal.split_once('s') {
        Some((a, z)) => (a, Some(z)),
        None => (literal, None),
    };
    let _ = zone; // scope ids are not supported by std's parser
    addr.replace('-', ":").parse().ok()
}

/// Sessions are shared by host, port, user, domain, password and the
/// encryption requirement. The password enters the key only as an HMAC
/// under a key made at random for this process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    host: String,
    port: u16,
    user: String,
    domain: String,
    password_tag: [u8; 32],
    require_encryption: bool,
}

impl PoolKey {
    fn new(host: &str, options: &ClientOptions) -> Self {
        static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
        let secret = SECRET.get_or_init(|| {
            let mut k = [0u8; 32];
            let _ = getrandom::fill(&mut k);
            k
        });
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(options.credentials.password.as_bytes());
        Self {
            host: host.to_ascii_lowercase(),
            port: options.port,
            user: options.credentials.user.to_lowercase(),
            domain: options.credentials.domain.to_lowercase(),
            password_tag: mac.finalize().into_bytes().into(),
            require_encryption: options.require_encryption,
        }
    }
}

fn pool() -> &'static Mutex<HashMap<PoolKey, Weak<Session>>> {
    static POOL: OnceLock<Mutex<HashMap<PoolKey, Weak<Session>>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms() {
        assert_eq!(parse_ip("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("::1"), Some("::1".parse().unwrap()));
        assert_eq!(
            parse_ip("fe80--1.ipv6-literal.net"),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(parse_ip("fileserver"), None);
    }
}
