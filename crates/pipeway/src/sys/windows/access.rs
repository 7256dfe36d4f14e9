//! Access rules resolved to SIDs: the DACL that enforces them when a client
//! opens the pipe. The check at accept, which enforces the denies once more,
//! is the portable one ([`crate::access::ResolvedRules::decide`]).
//!
//! The DACL, in order (Windows reads it top down, first match per right):
//!
//! 1. the owner: full control. First, so that no deny can lock the server
//!    out of creating its own pipe's next instances.
//! 2. each deny: everything.
//! 3. SYSTEM: full control (Windows' root; denies still apply to it).
//! 4. each allow, and Everyone with `allow_everyone`: read and write the
//!    pipe, its attributes and its security descriptor, but not
//!    `FILE_CREATE_PIPE_INSTANCE`, so an admitted user cannot serve
//!    instances of this pipe to other clients.
//!
//! The descriptor is protected (`P`): nothing is inherited into it.
//!
//! Because the owner's entry comes first, a deny that matches the owner (a
//! `deny_group` of a group the owner is in, say) cannot act in the DACL; the
//! check at accept refuses such a client instead.

use crate::access::{AccessRules, Account, Admits, ResolvedRules};
use crate::error::Error;

use super::accounts::{self, Sid};

/// What an admitted client may do: `FILE_GENERIC_READ | FILE_GENERIC_WRITE`
/// without `FILE_CREATE_PIPE_INSTANCE` (0x4). Windows leaves 0x4 out of the
/// check when a client opens a pipe, so clients asking `GENERIC_WRITE` still
/// get in.
pub(crate) const CLIENT_RIGHTS: u32 = 0x0012_019b;

/// The rules of one listener, in SIDs.
pub(crate) type ResolvedAccess = ResolvedRules<Sid>;

/// Resolves every name in `rules`; an unknown account fails.
pub(crate) fn resolve(rules: &AccessRules) -> Result<ResolvedAccess, Error> {
    let sid = |account: &Account, unknown: fn(String) -> Error| match account {
        Account::Name(name) => match accounts::sid_of(name)? {
            Some(sid) => Ok(Sid(sid)),
            None => Err(unknown(name.clone())),
        },
        Account::Id(id) => Err(unknown(format!("#{id}"))),
    };
    ResolvedRules::resolve(
        rules,
        Sid(accounts::current_user_sid()?),
        |account| sid(account, Error::UnknownUser),
        |account| sid(account, Error::UnknownGroup),
    )
}

/// The check at accept: refuses a client whose user or groups a deny
/// names. Allows need no second look (the DACL let the client in).
pub(crate) fn decide(
    access: &ResolvedAccess,
    user: &Sid,
    groups: impl FnOnce() -> std::io::Result<Vec<Sid>>,
) -> Result<(), String> {
    access.decide(user, groups, Admits::AlreadyChecked)
}

/// The pipe's security descriptor, in SDDL.
pub(crate) fn sddl(access: &ResolvedAccess) -> String {
    sddl_granting(access, CLIENT_RIGHTS)
}

/// A security descriptor for any kernel object, granting admitted users
/// `client_rights` (a file mapping's differ from a pipe's).
pub(crate) fn sddl_granting(access: &ResolvedAccess, client_rights: u32) -> String {
    let owner = &access.owner.0;
    let mut sddl = format!("O:{owner}D:P(A;;FA;;;{owner})");
    for Sid(sid) in access.deny_users.iter().chain(&access.deny_groups) {
        sddl.push_str(&format!("(D;;FA;;;{sid})"));
    }
    sddl.push_str("(A;;FA;;;SY)");
    for Sid(sid) in access.allow_users.iter().chain(&access.allow_groups) {
        sddl.push_str(&format!("(A;;{client_rights:#x};;;{sid})"));
    }
    if access.everyone {
        sddl.push_str(&format!("(A;;{client_rights:#x};;;WD)"));
    }
    sddl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(text: &str) -> Sid {
        Sid(text.into())
    }

    fn rules() -> ResolvedAccess {
        ResolvedRules::owner_only(sid("S-1-5-21-1-2-3-1000"))
    }

    #[test]
    fn the_default_is_the_owner_and_system_only() {
        assert_eq!(
            sddl(&rules()),
            "O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)(A;;FA;;;SY)"
        );
    }

    #[test]
    fn denies_come_after_the_owner_and_before_everyone_else() {
        let mut r = rules();
        r.everyone = true;
        r.allow_groups = vec![sid("S-1-5-32-545")];
        r.deny_users = vec![sid("S-1-5-21-1-2-3-1001")];
        assert_eq!(
            sddl(&r),
            "O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)\
             (D;;FA;;;S-1-5-21-1-2-3-1001)(A;;FA;;;SY)\
             (A;;0x12019b;;;S-1-5-32-545)(A;;0x12019b;;;WD)"
        );
    }

    #[test]
    fn the_check_at_accept_applies_denies_to_users_and_groups() {
        let mut r = rules();
        r.deny_users = vec![sid("S-1-5-21-1-2-3-1000")];
        r.deny_groups = vec![sid("S-1-5-32-546")];
        // The owner itself can be denied here, though not in the DACL.
        assert!(decide(&r, &sid("S-1-5-21-1-2-3-1000"), || Ok(vec![])).is_err());
        assert!(decide(&r, &sid("S-1-5-21-9"), || Ok(vec![sid("S-1-5-32-546")])).is_err());
        assert!(decide(&r, &sid("S-1-5-21-9"), || Ok(vec![sid("S-1-5-32-545")])).is_ok());
        let err = decide(&r, &sid("S-1-5-21-9"), || {
            Err(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(err.contains("cannot read the groups"), "{err}");
        // Without denies the groups are never read.
        assert!(decide(&rules(), &sid("S-1-5-21-9"), || panic!("read")).is_ok());
    }

    #[test]
    fn client_rights_leave_out_creating_instances() {
        const FILE_GENERIC_READ: u32 = 0x0012_0089;
        const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
        const FILE_CREATE_PIPE_INSTANCE: u32 = 0x4;
        assert_eq!(
            CLIENT_RIGHTS,
            (FILE_GENERIC_READ | FILE_GENERIC_WRITE) & !FILE_CREATE_PIPE_INSTANCE
        );
    }
}
