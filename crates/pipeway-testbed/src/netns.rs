//! A second host: a network namespace joined to this one by a veth pair.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use crate::process::{exists, next_serial, run, signal};

/// Namespaces this crate makes are called `pwt-<pid>-<serial>`.
const PREFIX: &str = "pwt-";
/// Where subnet leases are kept (one lock file per /30).
const LEASE_DIR: &str = "/run/pipeway-testbed";
/// /30 subnets in 10.77.0.0/16.
const SUBNETS: u32 = 1 << 14;

/// A network namespace with a veth pair to this one: this side is
/// [`host_address`](Self::host_address), the namespace's side
/// [`address`](Self::address). Dropping it kills every process left in it
/// and deletes the namespace, which deletes the pair.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    host_address: Ipv4Addr,
    address: Ipv4Addr,
    /// Holds the subnet while this namespace lives.
    _lease: Lease,
}

impl Namespace {
    /// Makes the namespace and its link (needs root and `ip`).
    pub fn create() -> io::Result<Self> {
        remove_abandoned();
        let pid = std::process::id();
        let serial = next_serial();
        let name = format!("{PREFIX}{pid}-{serial}");
        // Interface names are at most 15 bytes.
        let host_if = format!("pw{pid}h{}", serial % 10_000);
        let peer_if = format!("pw{pid}n{}", serial % 10_000);
        let (lease, index) = lease_subnet()?;
        let base = index * 4;
        let octets =
            |last: u32| Ipv4Addr::new(10, 77, (base >> 8) as u8, ((base & 0xff) + last) as u8);
        let (host_address, address) = (octets(1), octets(2));

        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Namespace {
            name,
            host_address,
            address,
            _lease: lease,
        };
        let ip = |args: &[&str]| run(Command::new("ip").args(args)).map(drop);
        let in_ns = |args: &[&str]| {
            run(Command::new("ip")
                .args(["netns", "exec", &ns.name, "ip"])
                .args(args))
            .map(drop)
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", &ns.name])?;
        ip(&[
            "addr",
            "add",
            &format!("{host_address}/30"),
            "dev",
            &host_if,
        ])?;
        ip(&["link", "set", &host_if, "up"])?;
        in_ns(&["addr", "add", &format!("{address}/30"), "dev", &peer_if])?;
        in_ns(&["link", "set", &peer_if, "up"])?;
        in_ns(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's address on the pair: where its servers listen.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// This side's address on the pair: where the namespace's peers come from.
    pub fn host_address(&self) -> Ipv4Addr {
        self.host_address
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// The processes running in the namespace.
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        let _ = run(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

fn pids_in(name: &str) -> Vec<i32> {
    run(Command::new("ip").args(["netns", "pids", name]))
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// SIGTERM, a short wait, then SIGKILL for whatever is left.
fn kill_all_in(name: &str) {
    for pid in pids_in(name) {
        signal(pid, libc::SIGTERM);
    }
    for _ in 0..40 {
        if pids_in(name).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for pid in pids_in(name) {
        signal(pid, libc::SIGKILL);
    }
}

/// Deletes namespaces left by test processes that died before dropping them.
fn remove_abandoned() {
    let Ok(list) = run(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let owner = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if owner.is_some_and(|pid| !exists(pid)) {
            kill_all_in(name);
            let _ = run(Command::new("ip").args(["netns", "del", name]));
        }
    }
}

/// A subnet held by a lock on its file, which is removed when the holder
/// is done (while it still holds the lock).
#[derive(Debug)]
struct Lease {
    path: PathBuf,
    /// Locked; closing it (after the removal) lets go.
    _file: File,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the first free /30, starting at a place that depends on the pid so
/// that concurrent test processes rarely contend.
fn lease_subnet() -> io::Result<(Lease, u32)> {
    std::fs::create_dir_all(LEASE_DIR)?;
    let start = (std::process::id() * 7 + next_serial() * 13) % SUBNETS;
    for offset in 0..SUBNETS {
        let index = (start + offset) % SUBNETS;
        if let Some(lease) = try_lease(PathBuf::from(format!("{LEASE_DIR}/subnet-{index}.lock")))? {
            return Ok((lease, index));
        }
    }
    Err(io::Error::other("no free test subnet in 10.77.0.0/16"))
}

/// Takes an exclusive lock on `file` if nobody holds one (false if taken).
/// (`File::try_lock` would do, but it is newer than the workspace's MSRV.)
fn lock_now(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor `file` keeps open; LOCK_NB never blocks.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Locks the file at `path` (made if missing), unless another holder has it.
fn try_lease(path: PathBuf) -> io::Result<Option<Lease>> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        if !lock_now(&file)? {
            return Ok(None);
        }
        // A holder that was done removed the file between our open and our
        // lock: what we locked is no longer the lease at `path`. Open again.
        let locked = file.metadata()?;
        match std::fs::metadata(&path) {
            Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                return Ok(Some(Lease { path, _file: file }));
            }
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::try_lease;

    #[test]
    fn a_lease_is_exclusive_and_its_file_goes_with_it() {
        let dir = std::env::temp_dir().join(format!("pw-lease-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("subnet-1.lock");
        let first = try_lease(path.clone()).unwrap().expect("a free subnet");
        assert!(
            try_lease(path.clone()).unwrap().is_none(),
            "held by the first lease"
        );
        drop(first);
        assert!(!path.exists(), "the holder removes its file");
        let again = try_lease(path.clone()).unwrap();
        assert!(again.is_some(), "free again");
        drop(again);
        std::fs::remove_dir(&dir).unwrap();
    }
}
