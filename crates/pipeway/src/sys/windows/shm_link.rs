//! What the shared-memory channel needs from Windows, behind the same
//! contract as the Linux backend (`sys/unix/shm_link.rs`):
//!
//! - **Memory**: an unnamed section backed by the paging file
//!   (`CreateFileMappingW` with no name), so there is nothing at a name
//!   another process could open.
//! - **Handing it over**: the server duplicates the section and two
//!   unnamed auto-reset events into the client's process (`DuplicateHandle`
//!   through a `PROCESS_DUP_HANDLE` handle opened from the pid the pipe
//!   reported, while the connection's own process handle pins that pid) and
//!   sends their values after the set-up message. The client checks each
//!   value ([`HandleOffer::decode`]) and what it names (a section, an event)
//!   before it takes it.
//! - **Waking**: `WaitOnAddress` wakes only threads of one process, so each
//!   end sleeps on its own event, which the peer sets when it clears one of
//!   this end's `…_waiting` words. The sleep also waits on the peer's
//!   process handle: a peer that dies ends the wait at once.
//! - **Peer death** without a process handle: the set-up pipe, which the
//!   peer never writes to after set-up, reads end-of-file once it is gone.

use std::io::{self, Read, Write};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use windows_sys::Wdk::Foundation::{NtQueryObject, ObjectTypeInformation};
use windows_sys::Win32::Foundation::{
    DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS, DuplicateHandle, HANDLE, INVALID_HANDLE_VALUE,
    UNICODE_STRING,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MEMORY_MAPPED_VIEW_ADDRESS, PAGE_READWRITE, UnmapViewOfFile,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentProcess, OpenProcess, PROCESS_DUP_HANDLE, SetEvent,
};

use super::shm::map;
use super::win::{owned, raw, wait_any};
use crate::PeerProcess;
use crate::shm::ShmError;
use crate::shm::layout::HandleOffer;

/// `len` bytes of a section mapped into this process, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    view: *mut u8,
    len: usize,
    _section: OwnedHandle,
}

// SAFETY: the view is plain memory owned by this value until Drop unmaps
// it; every access goes through raw pointers or atomics whose users
// synchronise.
unsafe impl Send for Mapping {}
// SAFETY: as above: `&Mapping` only hands out raw pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `section` read-write; fails if it is smaller.
    fn map(section: OwnedHandle, len: usize) -> io::Result<Self> {
        let (view, mapped) = map(&section, true, len)?;
        let mapping = Self {
            view,
            len,
            _section: section,
        };
        if mapped < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the memory the server sent has {mapped} bytes, its set-up message says {len}"
                ),
            ));
        }
        Ok(mapping)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.view
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `view` is what MapViewOfFile returned, unmapped once, here;
        // no borrow of the view outlives `self`.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.view.cast(),
            })
        };
    }
}

/// How the two ends wake each other: each sleeps on its own event, which
/// the other sets.
#[derive(Debug)]
pub(crate) struct Signals {
    /// The event this end sleeps on.
    own: OwnedHandle,
    /// The event the peer sleeps on.
    peer: OwnedHandle,
    /// The peer's process, signaled when it exits (if Windows let us open it).
    peer_process: Option<PeerProcess>,
}

fn set_event(event: &OwnedHandle) {
    // SAFETY: the handle is a live event this value owns; SetEvent fails only
    // for a bad handle, which ownership rules out.
    unsafe { SetEvent(raw(event)) };
}

impl Signals {
    /// Sleeps on this end's event while `word` holds `expected`, for at most
    /// `timeout`. Returns whether the peer's process has exited.
    pub(crate) fn wait(&self, word: &AtomicU32, expected: u32, timeout: Duration) -> bool {
        if word.load(Ordering::Relaxed) != expected {
            return false;
        }
        let own = raw(&self.own);
        let result = match &self.peer_process {
            Some(process) => {
                let process = process.sys().as_handle().as_raw_handle() as HANDLE;
                wait_any(&[own, process], Some(timeout))
            }
            None => wait_any(&[own], Some(timeout)),
        };
        matches!(result, Ok(Some(1)))
    }

    /// Wakes the peer (whichever of its words it sleeps on).
    pub(crate) fn wake_peer(&self, _word: &AtomicU32) {
        set_event(&self.peer);
    }

    /// Wakes a thread of this process sleeping on this end's event.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // The tokio face's.
    pub(crate) fn wake_own(&self, _word: &AtomicU32) {
        set_event(&self.own);
    }

    /// Whether the peer is gone: its process exited, or (without a process
    /// handle) its end of the set-up pipe closed.
    pub(crate) fn peer_gone(&self, pipe: &crate::PipeStream) -> bool {
        if let Some(process) = &self.peer_process {
            return matches!(process.is_alive(), Ok(false));
        }
        if pipe
            .set_read_timeout(Some(Duration::from_millis(1)))
            .is_err()
        {
            return false;
        }
        let mut byte = [0u8; 1];
        match (&*pipe).read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => !matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }
}

/// An unnamed auto-reset event, not set.
fn new_event() -> io::Result<OwnedHandle> {
    // SAFETY: no security attributes and no name; the handle is owned at once.
    owned(unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) })
}

/// The server's memory and events, made and not yet sent.
pub(crate) struct Offer {
    section: OwnedHandle,
}

/// The server's side of set-up: an unnamed section of `len` bytes, mapped here.
pub(crate) fn make_memory(len: u64) -> io::Result<(Mapping, Offer)> {
    // SAFETY: no security attributes (the section has no name, so only
    // handles reach it) and no name; the handle is owned at once.
    let section = owned(unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            PAGE_READWRITE,
            (len >> 32) as u32,
            len as u32,
            std::ptr::null(),
        )
    })?;
    let mapped = section.try_clone()?;
    Ok((Mapping::map(mapped, len as usize)?, Offer { section }))
}

/// A process handle that may duplicate handles into the peer's process.
fn open_for_handles(peer: &PeerProcess) -> Result<OwnedHandle, ShmError> {
    // SAFETY: OpenProcess has no memory arguments; the handle is owned at
    // once. `peer` holds the process open, so its pid names no other process.
    owned(unsafe { OpenProcess(PROCESS_DUP_HANDLE, 0, peer.pid()) }).map_err(|err| {
        ShmError::Io(io::Error::new(
            err.kind(),
            format!("cannot hand the channel's memory to the client's process: {err}"),
        ))
    })
}

/// Duplicates `handle` into `target` (a process), returning its value there.
fn duplicate_into(target: &OwnedHandle, handle: &OwnedHandle) -> io::Result<u64> {
    let mut value: HANDLE = std::ptr::null_mut();
    // SAFETY: both handles are live; `value` is a valid out pointer. The
    // new handle belongs to the target process, not to this one.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            raw(handle),
            raw(target),
            &mut value,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value as usize as u64)
}

/// Closes a handle this process duplicated into `target`, after a failed send.
fn close_in(target: &OwnedHandle, value: u64) {
    // SAFETY: `value` is a handle this process made in `target` and the
    // target has not been told of; DUPLICATE_CLOSE_SOURCE closes it there.
    unsafe {
        DuplicateHandle(
            raw(target),
            value as usize as HANDLE,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            0,
            DUPLICATE_CLOSE_SOURCE,
        )
    };
}

/// Hands the section and two new events to the client's process and sends
/// the set-up message, then the handles' values there.
pub(crate) fn send_offer(
    pipe: &crate::PipeStream,
    setup: &[u8],
    offer: Offer,
) -> Result<Signals, ShmError> {
    let process = pipe.peer().process().map_err(|err| {
        ShmError::Io(io::Error::other(format!(
            "the channel needs the client's process to hand it the memory: {err}"
        )))
    })?;
    let target = open_for_handles(process)?;
    let (wakes_server, wakes_client) = (new_event()?, new_event()?);
    let mut sent = Vec::with_capacity(3);
    let result = (|| -> io::Result<()> {
        for handle in [&offer.section, &wakes_server, &wakes_client] {
            sent.push(duplicate_into(&target, handle)?);
        }
        let handles = HandleOffer {
            memory: sent[0],
            wakes_server: sent[1],
            wakes_client: sent[2],
        };
        let mut message = setup.to_vec();
        message.extend_from_slice(&handles.encode());
        (&*pipe).write_all(&message)
    })();
    if let Err(err) = result {
        for value in sent {
            close_in(&target, value);
        }
        return Err(err.into());
    }
    Ok(Signals {
        own: wakes_server,
        peer: wakes_client,
        peer_process: Some(process.clone()),
    })
}

/// The handle values a server sent, not yet checked.
pub(crate) struct Received(HandleOffer);

/// Receives the set-up message into `setup`, then the handle values.
pub(crate) fn receive_offer(pipe: &crate::PipeStream, setup: &mut [u8]) -> io::Result<Received> {
    (&*pipe).read_exact(setup).map_err(eof_is_hang_up)?;
    let mut handles = [0u8; HandleOffer::LEN];
    (&*pipe).read_exact(&mut handles).map_err(eof_is_hang_up)?;
    HandleOffer::decode(&handles)
        .map(Received)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))
}

fn eof_is_hang_up(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the pipe during set-up",
        );
    }
    err
}

/// The kind of object `value` names in this process ("Section", "Event"),
/// or `None` if it names nothing.
fn object_type(value: u64) -> Option<String> {
    // A PUBLIC_OBJECT_TYPE_INFORMATION: a UNICODE_STRING, reserved words,
    // and the name's characters after them; u64s keep it aligned.
    let mut buf = [0u64; 128];
    let mut len = 0u32;
    // SAFETY: `buf` is a writable, aligned buffer of the size passed; a
    // value that names no handle only makes the call fail.
    let status = unsafe {
        NtQueryObject(
            value as usize as HANDLE,
            ObjectTypeInformation,
            buf.as_mut_ptr().cast(),
            std::mem::size_of_val(&buf) as u32,
            &mut len,
        )
    };
    if status < 0 {
        return None;
    }
    // SAFETY: on success the buffer starts with an initialised UNICODE_STRING.
    let name: UNICODE_STRING = unsafe { std::ptr::read(buf.as_ptr().cast()) };
    let units = usize::from(name.Length) / 2;
    let start = buf.as_ptr().cast::<u16>() as usize;
    let end = start + std::mem::size_of_val(&buf);
    let at = name.Buffer as usize;
    if name.Buffer.is_null() || at < start || at + units * 2 > end {
        return None;
    }
    // SAFETY: the string lies inside `buf` (checked just above).
    let units = unsafe { std::slice::from_raw_parts(name.Buffer, units) };
    Some(String::from_utf16_lossy(units))
}

/// Takes a handle value the server sent, if it names an object of `kind`.
fn take(value: u64, kind: &str, what: &str) -> Result<OwnedHandle, ShmError> {
    match object_type(value) {
        // SAFETY: the value names a handle of this process of the expected
        // kind, which the server made for this channel: this takes it over,
        // to close it once.
        Some(found) if found == kind => Ok(unsafe { OwnedHandle::from_raw_handle(value as _) }),
        found => Err(ShmError::Protocol(format!(
            "the server sent {value:#x} as the channel's {what}, which names {}",
            found.map_or("no object".into(), |found| format!("a(n) {found}"))
        ))),
    }
}

/// Checks what the handles name, takes them, and maps `len` bytes.
pub(crate) fn map_offer(
    pipe: &crate::PipeStream,
    received: Received,
    len: u64,
) -> Result<(Mapping, Signals), ShmError> {
    let offer = received.0;
    let section = take(offer.memory, "Section", "memory")?;
    let wakes_server = take(offer.wakes_server, "Event", "server's event")?;
    let wakes_client = take(offer.wakes_client, "Event", "client's event")?;
    let mapping = Mapping::map(section, len as usize).map_err(|err| match err.kind() {
        io::ErrorKind::InvalidData => ShmError::Protocol(err.to_string()),
        _ => ShmError::Protocol(format!(
            "the memory the server sent cannot be mapped as {len} bytes: {err}"
        )),
    })?;
    Ok((
        mapping,
        Signals {
            own: wakes_client,
            peer: wakes_server,
            peer_process: pipe.peer().process().ok().cloned(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(tag: &str) -> String {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("{tag}-{}-{n}", std::process::id())
    }

    #[test]
    fn without_the_peers_process_its_closed_pipe_says_it_is_gone() {
        let name = unique("shm-link-gone");
        let listener = crate::PipeListener::bind(&name).unwrap();
        let client = crate::PipeStream::connect(&name).unwrap();
        let server = listener.accept().unwrap();
        let signals = Signals {
            own: new_event().unwrap(),
            peer: new_event().unwrap(),
            peer_process: None,
        };
        assert!(!signals.peer_gone(&client), "the server end is open");
        drop(server);
        assert!(signals.peer_gone(&client), "the server end closed");
    }

    #[test]
    fn a_sleep_ends_on_a_wake_and_not_while_the_word_differs() {
        let signals = Signals {
            own: new_event().unwrap(),
            peer: new_event().unwrap(),
            peer_process: None,
        };
        let word = AtomicU32::new(1);
        signals.wake_own(&word);
        let started = std::time::Instant::now();
        assert!(!signals.wait(&word, 1, Duration::from_secs(10)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken, not timed out"
        );
        word.store(0, Ordering::Relaxed);
        assert!(
            !signals.wait(&word, 1, Duration::from_secs(10)),
            "returns at once"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
