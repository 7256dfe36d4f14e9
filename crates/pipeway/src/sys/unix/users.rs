//! The user and group database (`getpwnam_r` and friends, through nix).

use std::io;

use nix::unistd::{Gid, Group, Uid, User};

use crate::access::Account;
use crate::error::Error;

/// root: trusted as a server and admitted as a client whatever the rules.
pub(crate) const ROOT: u32 = 0;

/// A uid or gid, as server requirements and access rules name accounts.
impl crate::trust::Principal for u32 {
    const ONE_NAMESPACE: bool = false;

    fn describe(&self) -> String {
        match user_name(*self) {
            Some(name) => format!("uid {self} ({name})"),
            None => format!("uid {self}"),
        }
    }
}

/// This process's effective uid: the owner of what it binds.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub(crate) fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|user| user.name)
}

pub(crate) fn uid_of(account: &Account) -> Result<u32, Error> {
    match account {
        Account::Id(uid) => Ok(*uid),
        Account::Name(name) => match User::from_name(name).map_err(io::Error::from)? {
            Some(user) => Ok(user.uid.as_raw()),
            None => Err(Error::UnknownUser(name.clone())),
        },
    }
}

pub(crate) fn gid_of(account: &Account) -> Result<u32, Error> {
    match account {
        Account::Id(gid) => Ok(*gid),
        Account::Name(name) => match Group::from_name(name).map_err(io::Error::from)? {
            Some(group) => Ok(group.gid.as_raw()),
            None => Err(Error::UnknownGroup(name.clone())),
        },
    }
}

/// The groups the user database gives `uid`: used only where the kernel
/// cannot report a peer's own groups.
#[cfg(not(any(target_vendor = "apple", target_os = "redox", target_os = "haiku")))]
pub(crate) fn groups_of_uid(uid: u32, primary: u32) -> io::Result<Vec<u32>> {
    let Some(user) = User::from_uid(Uid::from_raw(uid)).map_err(io::Error::from)? else {
        return Ok(vec![primary]);
    };
    let name = std::ffi::CString::new(user.name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "user name with NUL"))?;
    let groups =
        nix::unistd::getgrouplist(&name, Gid::from_raw(primary)).map_err(io::Error::from)?;
    Ok(groups.into_iter().map(Gid::as_raw).collect())
}

#[cfg(any(target_vendor = "apple", target_os = "redox", target_os = "haiku"))]
pub(crate) fn groups_of_uid(_uid: u32, primary: u32) -> io::Result<Vec<u32>> {
    Ok(vec![primary])
}
