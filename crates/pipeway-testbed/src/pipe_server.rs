//! Pipe servers behind the host: Unix sockets in [`SambaHost::np_dir`]
//! that answer Samba's np hand-off (`named_pipe_auth_req`, answered with
//! the 36-byte `named_pipe_auth_rep` echoing its level) and then play a
//! role. Test fixtures only: pipeway's own server side for Samba is
//! `pipeway_smb::np`.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::SambaHost;

/// What a test pipe server does with each client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Byte mode: echoes every byte.
    EchoBytes,
    /// Message mode: echoes every message.
    EchoMessages,
    /// Message mode: sends `n` messages `push-<i>`, 50 ms apart, then
    /// waits for the client to close.
    Push(usize),
    /// Message mode: says nothing until the client sends "go", then sends "late".
    Hold,
}

/// A pipe server behind Samba's np hand-off.
pub struct PipeServer {
    /// The pipe's name.
    pub name: String,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// How many clients Samba handed over so far.
    pub clients: Arc<AtomicUsize>,
}

impl PipeServer {
    /// Serves pipe `name` of `host` in `role` until dropped.
    pub fn start(host: &SambaHost, name: &str, role: Role) -> Self {
        let path = host.np_dir().join(name.to_lowercase());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind in np dir");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicUsize::new(0));
        let (s, c) = (stop.clone(), clients.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        c.fetch_add(1, Ordering::Relaxed);
                        std::thread::spawn(move || {
                            let _ = serve(conn, role);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Self {
            name: name.to_owned(),
            path,
            stop,
            thread: Some(thread),
            clients,
        }
    }
}

impl Drop for PipeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Answers the hand-off: reads `named_pipe_auth_req`, replies with the
/// 36-byte `named_pipe_auth_rep` echoing its level.
fn hand_off(conn: &mut UnixStream, message_mode: bool) -> io::Result<()> {
    let mut len = [0u8; 4];
    conn.read_exact(&mut len)?;
    let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut req)?;
    if &req[..4] != b"NPAM" {
        return Err(io::Error::other("not a named_pipe_auth_req"));
    }
    let level = &req[4..8];
    let mut rep = Vec::with_capacity(36);
    rep.extend_from_slice(&0x20u32.to_be_bytes());
    rep.extend_from_slice(b"NPAM");
    rep.extend_from_slice(level);
    rep.extend_from_slice(level);
    rep.extend_from_slice(&(if message_mode { 2u16 } else { 1 }).to_le_bytes());
    rep.extend_from_slice(&0x05ffu16.to_le_bytes());
    rep.extend_from_slice(&[0; 4]);
    rep.extend_from_slice(&4096u64.to_le_bytes());
    rep.extend_from_slice(&0u32.to_le_bytes());
    conn.write_all(&rep)
}

fn read_message(conn: &mut UnixStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match conn.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut m = vec![0u8; u16::from_le_bytes(len) as usize];
    conn.read_exact(&mut m)?;
    Ok(Some(m))
}

fn write_message(conn: &mut UnixStream, m: &[u8]) -> io::Result<()> {
    let mut out = (m.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(m);
    conn.write_all(&out)
}

fn serve(mut conn: UnixStream, role: Role) -> io::Result<()> {
    hand_off(&mut conn, role != Role::EchoBytes)?;
    match role {
        Role::EchoBytes => {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                conn.write_all(&buf[..n])?;
            }
        }
        Role::EchoMessages => {
            while let Some(m) = read_message(&mut conn)? {
                write_message(&mut conn, &m)?;
            }
            Ok(())
        }
        Role::Push(n) => {
            for i in 0..n {
                std::thread::sleep(Duration::from_millis(50));
                write_message(&mut conn, format!("push-{i}").as_bytes())?;
            }
            while read_message(&mut conn)?.is_some() {}
            Ok(())
        }
        Role::Hold => {
            while let Some(m) = read_message(&mut conn)? {
                if m == b"go" {
                    write_message(&mut conn, b"late")?;
                }
            }
            Ok(())
        }
    }
}
