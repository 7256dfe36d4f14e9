//! Access rules resolved to SIDs: the DACL that enforces them when a client
//! opens the pipe, and the check at accept that enforces the denies once more.
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

use crate::access::{AccessRules, Account};
use crate::error::Error;

use super::accounts;

/// What an admitted client may do: `FILE_GENERIC_READ | FILE_GENERIC_WRITE`
/// without `FILE_CREATE_PIPE_INSTANCE` (0x4). Windows leaves 0x4 out of the
/// check when a client opens a pipe, so clients asking `GENERIC_WRITE` still
/// get in.
pub(crate) const CLIENT_RIGHTS: u32 = 0x0012_019b;

/// The rules of one listener, in SIDs.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedAccess {
    owner: String,
    everyone: bool,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl ResolvedAccess {
    /// Resolves every name in `rules`; an unknown account fails.
    pub(crate) fn resolve(rules: &AccessRules) -> Result<Self, Error> {
        let owner = accounts::current_user_sid()?;
        let sids = |accounts: &[Account], unknown: fn(String) -> Error| {
            accounts
                .iter()
                .map(|account| match account {
                    Account::Name(name) => match accounts::sid_of(name)? {
                        Some(sid) => Ok(sid),
                        None => Err(unknown(name.clone())),
                    },
                    Account::Id(id) => Err(unknown(format!("#{id}"))),
                })
                .collect::<Result<Vec<String>, Error>>()
        };
        let mut allow = sids(&rules.allow_users, Error::UnknownUser)?;
        allow.extend(sids(&rules.allow_groups, Error::UnknownGroup)?);
        let mut deny = sids(&rules.deny_users, Error::UnknownUser)?;
        deny.extend(sids(&rules.deny_groups, Error::UnknownGroup)?);
        Ok(Self {
            owner,
            everyone: rules.everyone,
            allow,
            deny,
        })
    }

    /// The pipe's security descriptor, in SDDL.
    pub(crate) fn sddl(&self) -> String {
        self.sddl_granting(CLIENT_RIGHTS)
    }

    /// A security descriptor for any kernel object, granting admitted
    /// users `client_rights` (a file mapping's differ from a pipe's).
    pub(crate) fn sddl_granting(&self, client_rights: u32) -> String {
        let mut sddl = format!("O:{owner}D:P(A;;FA;;;{owner})", owner = self.owner);
        for sid in &self.deny {
            sddl.push_str(&format!("(D;;FA;;;{sid})"));
        }
        sddl.push_str("(A;;FA;;;SY)");
        for sid in &self.allow {
            sddl.push_str(&format!("(A;;{client_rights:#x};;;{sid})"));
        }
        if self.everyone {
            sddl.push_str(&format!("(A;;{client_rights:#x};;;WD)"));
        }
        sddl
    }

    /// Whether the check at accept needs the client's groups.
    pub(crate) fn needs_groups(&self) -> bool {
        !self.deny.is_empty()
    }

    /// The check at accept: refuses a client whose user or groups a deny
    /// names. Allows need no second look (the DACL let the client in). A
    /// failure to read the groups refuses (fail closed).
    pub(crate) fn decide(
        &self,
        user: &str,
        groups: impl FnOnce() -> std::io::Result<Vec<String>>,
    ) -> Result<(), String> {
        if self.deny.iter().any(|sid| sid == user) {
            return Err(format!("{user} is denied"));
        }
        if self.needs_groups() {
            let groups =
                groups().map_err(|err| format!("cannot read the groups of {user}: {err}"))?;
            if let Some(group) = groups.iter().find(|g| self.deny.contains(g)) {
                return Err(format!("{user} is in denied group {group}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ResolvedAccess {
        ResolvedAccess {
            owner: "S-1-5-21-1-2-3-1000".into(),
            everyone: false,
            allow: vec![],
            deny: vec![],
        }
    }

    #[test]
    fn the_default_is_the_owner_and_system_only() {
        assert_eq!(
            rules().sddl(),
            "O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)(A;;FA;;;SY)"
        );
    }

    #[test]
    fn denies_come_after_the_owner_and_before_everyone_else() {
        let mut r = rules();
        r.everyone = true;
        r.allow = vec!["S-1-5-32-545".into()];
        r.deny = vec!["S-1-5-21-1-2-3-1001".into()];
        assert_eq!(
            r.sddl(),
            "O:S-1-5-21-1-2-3-1000D:P(A;;FA;;;S-1-5-21-1-2-3-1000)\
             (D;;FA;;;S-1-5-21-1-2-3-1001)(A;;FA;;;SY)\
             (A;;0x12019b;;;S-1-5-32-545)(A;;0x12019b;;;WD)"
        );
    }

    #[test]
    fn the_check_at_accept_applies_denies_to_users_and_groups() {
        let mut r = rules();
        r.deny = vec!["S-1-5-21-1-2-3-1000".into(), "S-1-5-32-546".into()];
        // The owner itself can be denied here, though not in the DACL.
        assert!(r.decide("S-1-5-21-1-2-3-1000", || Ok(vec![])).is_err());
        assert!(
            r.decide("S-1-5-21-9", || Ok(vec!["S-1-5-32-546".into()]))
                .is_err()
        );
        assert!(
            r.decide("S-1-5-21-9", || Ok(vec!["S-1-5-32-545".into()]))
                .is_ok()
        );
        let err = r
            .decide("S-1-5-21-9", || Err(std::io::Error::other("boom")))
            .unwrap_err();
        assert!(err.contains("cannot read the groups"), "{err}");
        // Without denies the groups are never read.
        assert!(rules().decide("S-1-5-21-9", || panic!("read")).is_ok());
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
