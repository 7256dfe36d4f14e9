//! Running the system tools the test bed drives (`ip`, `useradd`, `smbpasswd`).

use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `cmd` and fails with its stderr when it exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> io::Result<String> {
    run_with_input(cmd, None)
}

/// Runs `cmd` with `input` on its stdin.
pub(crate) fn run_with_input(cmd: &mut Command, input: Option<&str>) -> io::Result<String> {
    use std::io::Write;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?;
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `make()`'s command until it succeeds, up to `attempts` times: the
/// user database tools fail while another process holds `/etc/passwd`'s lock.
pub(crate) fn run_retrying(
    attempts: u32,
    mut make: impl FnMut() -> Command,
    input: Option<&str>,
) -> io::Result<String> {
    let mut last = None;
    for attempt in 0..attempts {
        match run_with_input(&mut make(), input) {
            Ok(out) => return Ok(out),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(50 * u64::from(attempt + 1)));
    }
    Err(last.unwrap_or_else(|| io::Error::other("no attempt made")))
}

/// Whether `program` is on `PATH` (or is an existing absolute path).
pub(crate) fn have(program: &str) -> bool {
    if program.starts_with('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Sends `signal` to process `pid` (or, negative, to a process group);
/// true if it was delivered.
pub(crate) fn signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Whether process `pid` still exists.
pub(crate) fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 checks for existence only.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A process-wide counter, so that names made by one test process differ.
pub(crate) fn next_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}
