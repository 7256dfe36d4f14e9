//! How a listener of either face opens its SMB door (see `smb`), so that
//! the faces need no feature switches of their own: without the `smb`
//! feature a listener never has a door.

use std::sync::Arc;

use crate::error::Error;
use crate::gate::InstanceGate;
use crate::name::PipeName;
use crate::options::{ListenOptions, PipeMode};

use super::admit::Connection;

#[cfg(feature = "remote")]
pub(crate) use super::smb::SmbDoor as Door;

/// Without the feature there is no door (this type has no values).
#[cfg(not(feature = "remote"))]
#[derive(Debug)]
pub(crate) enum Door {}

#[cfg(not(feature = "remote"))]
impl Door {
    pub(crate) fn shutdown(&self) {
        match *self {}
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        match *self {}
    }
}

/// Whether the listener also serves SMB clients: then local clients go
/// through an eager acceptor, so that `accept` waits on one queue for both,
/// and that acceptor takes an instance only once it has a client (an idle
/// one would keep an instance from SMB clients).
pub(crate) fn serves_smb(options: &ListenOptions) -> bool {
    #[cfg(feature = "remote")]
    return options.smb.is_some();
    #[cfg(not(feature = "remote"))]
    {
        let _ = options;
        false
    }
}

/// Opens the listener's SMB door if it asked for one; `deliver` queues an
/// admitted client (a non-blocking socket) and says false once closed.
pub(crate) fn open(
    name: &PipeName,
    mode: PipeMode,
    options: &ListenOptions,
    gate: Option<Arc<InstanceGate>>,
    deliver: impl FnMut(Connection) -> bool + Send + 'static,
) -> Result<Option<Door>, Error> {
    #[cfg(feature = "remote")]
    if let Some(smb) = &options.smb {
        return Ok(Some(Door::open(
            name,
            mode,
            options,
            smb,
            gate,
            Box::new(deliver),
        )?));
    }
    let _ = (name, mode, options, gate, deliver);
    Ok(None)
}
