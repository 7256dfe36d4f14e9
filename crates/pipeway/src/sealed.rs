//! Sealing pipeway's extension traits (`pipeway::unix::*Ext`,
//! `pipeway::windows::*Ext`): only pipeway's own types implement them, so a
//! method added to one breaks no one.

/// Implemented by the types pipeway's extension traits extend, and by no
/// type outside the crate (the trait cannot be named there).
pub trait Sealed {}

impl Sealed for crate::PeerIdentity {}
impl Sealed for crate::Principal {}
impl Sealed for crate::PipeName {}
impl Sealed for crate::ListenOptions {}
impl Sealed for crate::ConnectOptions {}
impl Sealed for crate::PipeListener {}
impl Sealed for crate::MessageListener {}
impl Sealed for crate::PipeStream {}
impl Sealed for crate::MessageStream {}
#[cfg(feature = "tokio")]
impl Sealed for crate::tokio::PipeListener {}
#[cfg(feature = "tokio")]
impl Sealed for crate::tokio::MessageListener {}
#[cfg(feature = "tokio")]
impl Sealed for crate::tokio::PipeStream {}
#[cfg(feature = "tokio")]
impl Sealed for crate::tokio::MessageStream {}
impl Sealed for crate::PeerProcess {}
