//! Access rules resolved to uids and gids, the decision made at accept, and
//! the socket file permissions that express as much of it as they can.

use crate::access::AccessRules;
use crate::error::Error;

use super::creds::Credentials;
use super::users;

/// The rules of one listener, in numbers.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedAccess {
    owner: u32,
    everyone: bool,
    allow_uids: Vec<u32>,
    allow_gids: Vec<u32>,
    deny_uids: Vec<u32>,
    deny_gids: Vec<u32>,
}

/// The socket file's mode, and the group to give it when one group is all
/// the rules widen access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FilePermissions {
    pub mode: u32,
    pub group: Option<u32>,
}

const ROOT: u32 = 0;

impl ResolvedAccess {
    pub(crate) fn resolve(rules: &AccessRules) -> Result<Self, Error> {
        let uids = |accounts: &[crate::access::Account]| -> Result<Vec<u32>, Error> {
            accounts.iter().map(users::uid_of).collect()
        };
        let gids = |accounts: &[crate::access::Account]| -> Result<Vec<u32>, Error> {
            accounts.iter().map(users::gid_of).collect()
        };
        Ok(Self {
            owner: users::effective_uid(),
            everyone: rules.everyone,
            allow_uids: uids(&rules.allow_users)?,
            allow_gids: gids(&rules.allow_groups)?,
            deny_uids: uids(&rules.deny_users)?,
            deny_gids: gids(&rules.deny_groups)?,
        })
    }

    /// Whether the decision needs the peer's groups (worth a syscall only then).
    fn needs_groups(&self) -> bool {
        !self.allow_gids.is_empty() || !self.deny_gids.is_empty()
    }

    /// Admits or refuses a peer: denies first, then the owner and root, then
    /// the allows. A failure to learn the peer's groups refuses (fail closed).
    pub(crate) fn decide(
        &self,
        peer: &Credentials,
        peer_groups: impl FnOnce() -> std::io::Result<Vec<u32>>,
    ) -> Result<(), String> {
        let groups = if self.needs_groups() {
            let mut groups = peer_groups()
                .map_err(|err| format!("cannot read the groups of uid {}: {err}", peer.uid))?;
            groups.push(peer.gid);
            groups
        } else {
            Vec::new()
        };
        if let Some(reason) = self.denial(peer.uid, &groups) {
            return Err(reason);
        }
        if self.admits(peer.uid, &groups) {
            Ok(())
        } else {
            Err(self.not_admitted(peer.uid))
        }
    }

    /// Why the deny rules refuse a user with these groups, if they do.
    pub(crate) fn denial(&self, uid: u32, groups: &[u32]) -> Option<String> {
        if self.deny_uids.contains(&uid) {
            return Some(format!("uid {uid} is denied"));
        }
        groups
            .iter()
            .find(|gid| self.deny_gids.contains(gid))
            .map(|gid| format!("uid {uid} is in denied group {gid}"))
    }

    /// Whether the owner, root, everyone or the allow rules admit a user
    /// with these groups (denies aside).
    pub(crate) fn admits(&self, uid: u32, groups: &[u32]) -> bool {
        uid == self.owner
            || uid == ROOT
            || self.everyone
            || self.allow_uids.contains(&uid)
            || groups.iter().any(|gid| self.allow_gids.contains(gid))
    }

    pub(crate) fn not_admitted(&self, uid: u32) -> String {
        format!(
            "uid {uid} is not admitted (the pipe admits uid {}{})",
            self.owner,
            if self.allow_uids.is_empty() && self.allow_gids.is_empty() {
                " and root only"
            } else {
                ", root and its allow rules"
            }
        )
    }

    /// The socket file's permissions. Connecting needs write permission on the
    /// file, so the mode keeps out whoever it can; what it cannot express
    /// (several groups, single users) is left to the check at accept.
    pub(crate) fn file_permissions(&self) -> FilePermissions {
        let widened_to_others = self.everyone || !self.allow_uids.is_empty();
        match (widened_to_others, self.allow_gids.as_slice()) {
            (false, []) => FilePermissions {
                mode: 0o600,
                group: None,
            },
            (false, [gid]) => FilePermissions {
                mode: 0o660,
                group: Some(*gid),
            },
            _ => FilePermissions {
                mode: 0o666,
                group: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(owner: u32) -> ResolvedAccess {
        ResolvedAccess {
            owner,
            everyone: false,
            allow_uids: vec![],
            allow_gids: vec![],
            deny_uids: vec![],
            deny_gids: vec![],
        }
    }

    fn peer(uid: u32, gid: u32) -> Credentials {
        Credentials {
            pid: Some(1),
            uid,
            gid,
        }
    }

    fn no_groups() -> std::io::Result<Vec<u32>> {
        Ok(vec![])
    }

    #[test]
    fn owner_and_root_only_by_default() {
        let r = rules(1000);
        assert!(r.decide(&peer(1000, 1000), no_groups).is_ok());
        assert!(r.decide(&peer(0, 0), no_groups).is_ok());
        assert!(r.decide(&peer(1001, 1001), no_groups).is_err());
        assert_eq!(r.file_permissions().mode, 0o600);
    }

    #[test]
    fn denies_win_over_allows() {
        let mut r = rules(1000);
        r.everyone = true;
        r.deny_uids = vec![1002];
        r.deny_gids = vec![50];
        assert!(r.decide(&peer(1001, 1001), || Ok(vec![7])).is_ok());
        assert!(r.decide(&peer(1002, 1002), no_groups).is_err());
        assert!(r.decide(&peer(1003, 1003), || Ok(vec![50])).is_err());
        // Denies apply even to root and the owner.
        assert!(r.decide(&peer(0, 50), no_groups).is_err());
        assert_eq!(r.file_permissions().mode, 0o666);
    }

    #[test]
    fn one_allowed_group_is_expressed_by_the_file() {
        let mut r = rules(1000);
        r.allow_gids = vec![42];
        assert!(r.decide(&peer(1001, 1001), || Ok(vec![42])).is_ok());
        assert!(r.decide(&peer(1001, 42), no_groups).is_ok());
        assert!(r.decide(&peer(1001, 1001), || Ok(vec![43])).is_err());
        assert_eq!(
            r.file_permissions(),
            FilePermissions {
                mode: 0o660,
                group: Some(42)
            }
        );
    }

    #[test]
    fn unreadable_groups_refuse() {
        let mut r = rules(1000);
        r.allow_gids = vec![42];
        let err = r
            .decide(&peer(1001, 1001), || Err(std::io::Error::other("boom")))
            .unwrap_err();
        assert!(err.contains("cannot read the groups"), "{err}");
    }
}
