//! Access rules resolved to uids and gids, and the socket file permissions
//! that express as much of them as they can. The decision at accept is the
//! portable one ([`crate::access::ResolvedRules::decide`]).

use crate::access::{AccessRules, Admits, ResolvedRules};
use crate::error::Error;

use super::creds::Credentials;
use super::users::{self, ROOT};

/// The rules of one listener, in numbers.
pub(crate) type ResolvedAccess = ResolvedRules<u32>;

/// The socket file's mode, and the group to give it when one group is all
/// the rules widen access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FilePermissions {
    pub mode: u32,
    pub group: Option<u32>,
}

/// Resolves the rules for a listener this process owns.
pub(crate) fn resolve(rules: &AccessRules) -> Result<ResolvedAccess, Error> {
    ResolvedRules::resolve(rules, users::effective_uid(), users::uid_of, users::gid_of)
}

/// Admits or refuses a peer at accept: denies first, then the owner and
/// root, then the allows. `peer_groups` (its supplementary groups) is read
/// only if a rule names a group; the primary group always counts.
pub(crate) fn decide(
    access: &ResolvedAccess,
    peer: &Credentials,
    peer_groups: impl FnOnce() -> std::io::Result<Vec<u32>>,
) -> Result<(), String> {
    let groups = || {
        let mut groups = peer_groups()?;
        groups.push(peer.gid);
        Ok(groups)
    };
    access.decide(
        &peer.uid,
        groups,
        Admits::Checked {
            superusers: &[ROOT],
        },
    )
}

/// The socket file's permissions. Connecting needs write permission on the
/// file, so the mode keeps out whoever it can; what it cannot express
/// (several groups, single users) is left to the check at accept.
pub(crate) fn file_permissions(access: &ResolvedAccess) -> FilePermissions {
    let widened_to_others = access.everyone || !access.allow_users.is_empty();
    match (widened_to_others, access.allow_groups.as_slice()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(owner: u32) -> ResolvedAccess {
        ResolvedRules::owner_only(owner)
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
        assert!(decide(&r, &peer(1000, 1000), no_groups).is_ok());
        assert!(decide(&r, &peer(0, 0), no_groups).is_ok());
        assert!(decide(&r, &peer(1001, 1001), no_groups).is_err());
        assert_eq!(file_permissions(&r).mode, 0o600);
    }

    #[test]
    fn the_primary_group_counts_for_group_rules() {
        let mut r = rules(1000);
        r.everyone = true;
        r.deny_groups = vec![50];
        assert!(decide(&r, &peer(1003, 1003), || Ok(vec![50])).is_err());
        // Denies apply even to root: its primary group is denied here.
        assert!(decide(&r, &peer(0, 50), no_groups).is_err());
        assert_eq!(file_permissions(&r).mode, 0o666);
    }

    #[test]
    fn one_allowed_group_is_expressed_by_the_file() {
        let mut r = rules(1000);
        r.allow_groups = vec![42];
        assert!(decide(&r, &peer(1001, 1001), || Ok(vec![42])).is_ok());
        assert!(decide(&r, &peer(1001, 42), no_groups).is_ok());
        assert!(decide(&r, &peer(1001, 1001), || Ok(vec![43])).is_err());
        assert_eq!(
            file_permissions(&r),
            FilePermissions {
                mode: 0o660,
                group: Some(42)
            }
        );
    }
}
