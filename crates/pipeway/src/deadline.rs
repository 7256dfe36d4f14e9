//! Deadlines on reads, writes and drains: the errors every backend gives
//! when one passes, and the one timeout no backend accepts.

use std::io;
use std::time::Duration;

/// Refuses a zero timeout. Sockets read zero as "no timeout" and Windows
/// waits as "try once": neither is what the caller meant, so a zero timeout
/// is an error here, as in std, and `None` is how to wait forever. The
/// portable face checks every timeout it is given, so backends never see zero.
pub(crate) fn refuse_zero(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not a timeout; pass None for no timeout",
        ));
    }
    Ok(())
}

/// A read or write that did not finish before its timeout.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the pipe operation timed out")
}

/// A wait for the peer to read everything that did not end before its timeout.
pub(crate) fn not_drained() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the peer did not read everything before the timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zero_is_refused() {
        let err = refuse_zero(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(refuse_zero(None).is_ok());
        assert!(refuse_zero(Some(Duration::from_nanos(1))).is_ok());
    }
}
