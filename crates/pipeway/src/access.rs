//! Access rules as the user writes them: who a pipe admits and who it refuses.
//!
//! The rules are resolved against the platform's accounts when a listener
//! binds ([`ResolvedRules::resolve`]), so an unknown user fails the bind
//! rather than silently admitting nobody; the decision at accept, in which
//! denies win, is [`ResolvedRules::decide`], the same on every platform.

use std::fmt;
use std::io;

use crate::error::Error;
use crate::trust::Principal;

/// A user or group, by name or (Unix) by numeric id. On Windows a name may
/// also be `DOMAIN\name` or a SID string (`S-1-5-32-545`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Account {
    Name(String),
    #[cfg_attr(not(unix), allow(dead_code))]
    Id(u32),
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Account::Name(name) => f.write_str(name),
            Account::Id(id) => write!(f, "#{id}"),
        }
    }
}

/// The rules: the owner (and root/SYSTEM) are always admitted unless denied;
/// the allows widen that; denies win over everything.
#[derive(Clone, Debug, Default)]
pub(crate) struct AccessRules {
    pub everyone: bool,
    pub allow_users: Vec<Account>,
    pub allow_groups: Vec<Account>,
    pub deny_users: Vec<Account>,
    pub deny_groups: Vec<Account>,
}

/// A listener's rules resolved to the platform's ids (uids and gids, or
/// SIDs) when it binds. Each backend adds what it makes of them (the socket
/// file's mode, the pipe's DACL); the decision at accept is [`decide`](Self::decide).
#[derive(Clone, Debug)]
pub(crate) struct ResolvedRules<Id> {
    /// The listener's own user.
    pub owner: Id,
    pub everyone: bool,
    pub allow_users: Vec<Id>,
    pub allow_groups: Vec<Id>,
    pub deny_users: Vec<Id>,
    pub deny_groups: Vec<Id>,
}

/// Whom a listener admits at accept, besides checking the denies.
#[derive(Debug)]
pub(crate) enum Admits<'a, Id> {
    /// The owner, these superusers, and whom the allows name (Unix: the
    /// socket file's mode cannot say all of it, so the check at accept does).
    #[cfg_attr(windows, allow(dead_code))]
    Checked { superusers: &'a [Id] },
    /// Whoever got in: the kernel already applied the allows when the client
    /// opened the pipe (Windows' DACL). Only the denies are checked again.
    #[cfg_attr(unix, allow(dead_code))]
    AlreadyChecked,
}

impl<Id> ResolvedRules<Id> {
    /// Rules that name no one: the owner (and the superusers) only.
    #[cfg(test)]
    pub(crate) fn owner_only(owner: Id) -> Self {
        Self {
            owner,
            everyone: false,
            allow_users: vec![],
            allow_groups: vec![],
            deny_users: vec![],
            deny_groups: vec![],
        }
    }
}

impl<Id: Principal + fmt::Display> ResolvedRules<Id> {
    /// Resolves every account the rules name; an unknown one fails.
    pub(crate) fn resolve(
        rules: &AccessRules,
        owner: Id,
        user: impl Fn(&Account) -> Result<Id, Error>,
        group: impl Fn(&Account) -> Result<Id, Error>,
    ) -> Result<Self, Error> {
        let users = |accounts: &[Account]| accounts.iter().map(&user).collect::<Result<_, _>>();
        let groups = |accounts: &[Account]| accounts.iter().map(&group).collect::<Result<_, _>>();
        Ok(Self {
            owner,
            everyone: rules.everyone,
            allow_users: users(&rules.allow_users)?,
            allow_groups: groups(&rules.allow_groups)?,
            deny_users: users(&rules.deny_users)?,
            deny_groups: groups(&rules.deny_groups)?,
        })
    }

    /// Whether a deny names `id`: a user deny, or a group deny for ids a
    /// user and a group can share.
    fn denies(&self, id: &Id, as_group: bool) -> bool {
        let (own, other) = if as_group {
            (&self.deny_groups, &self.deny_users)
        } else {
            (&self.deny_users, &self.deny_groups)
        };
        own.contains(id) || (Id::ONE_NAMESPACE && other.contains(id))
    }

    /// Whether the decision needs the client's groups: worth a system call
    /// only when a rule names a group.
    fn needs_groups(&self, admits: &Admits<'_, Id>) -> bool {
        !self.deny_groups.is_empty()
            || (Id::ONE_NAMESPACE && !self.deny_users.is_empty())
            || (matches!(admits, Admits::Checked { .. }) && !self.allow_groups.is_empty())
    }

    /// Admits or refuses the client `user`, whose groups `groups` reads.
    /// **Denies win**: a deny that names the user or one of its groups
    /// refuses it, the owner and the superusers included. Then `admits`
    /// says who gets in. Groups that cannot be read refuse (fail closed).
    pub(crate) fn decide(
        &self,
        user: &Id,
        groups: impl FnOnce() -> io::Result<Vec<Id>>,
        admits: Admits<'_, Id>,
    ) -> Result<(), String> {
        let groups = if self.needs_groups(&admits) {
            groups()
                .map_err(|err| format!("cannot read the groups of {}: {err}", user.describe()))?
        } else {
            Vec::new()
        };
        if self.denies(user, false) {
            return Err(format!("{} is denied", user.describe()));
        }
        if let Some(group) = groups.iter().find(|group| self.denies(group, true)) {
            return Err(format!("{} is in denied group {group}", user.describe()));
        }
        let Admits::Checked { superusers } = admits else {
            return Ok(());
        };
        let admitted = *user == self.owner
            || superusers.contains(user)
            || self.everyone
            || self.allow_users.contains(user)
            || groups.iter().any(|group| self.allow_groups.contains(group));
        if admitted {
            return Ok(());
        }
        let mut admits = vec![self.owner.describe()];
        admits.extend(superusers.iter().map(Id::describe));
        let allows = !self.allow_users.is_empty() || !self.allow_groups.is_empty();
        Err(format!(
            "{} is not admitted (the pipe admits {}{})",
            user.describe(),
            admits.join(", "),
            if allows {
                " and its allow rules"
            } else {
                " only"
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids as on Unix: a user and a group may share a number.
    #[derive(Clone, Debug, PartialEq)]
    struct Num(u32);
    impl Principal for Num {
        const ONE_NAMESPACE: bool = false;
        fn describe(&self) -> String {
            format!("#{}", self.0)
        }
    }
    impl fmt::Display for Num {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)
        }
    }

    /// Ids as on Windows: one namespace for users and groups.
    #[derive(Clone, Debug, PartialEq)]
    struct Sid(&'static str);
    impl Principal for Sid {
        const ONE_NAMESPACE: bool = true;
        fn describe(&self) -> String {
            self.0.to_owned()
        }
    }
    impl fmt::Display for Sid {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    const ROOT: &[Num] = &[Num(0)];

    fn checked() -> Admits<'static, Num> {
        Admits::Checked { superusers: ROOT }
    }

    fn no_groups<Id>() -> io::Result<Vec<Id>> {
        Ok(vec![])
    }

    #[test]
    fn the_owner_and_the_superusers_only_by_default() {
        let r = ResolvedRules::owner_only(Num(1000));
        assert!(r.decide(&Num(1000), no_groups, checked()).is_ok());
        assert!(r.decide(&Num(0), no_groups, checked()).is_ok());
        let err = r.decide(&Num(1001), no_groups, checked()).unwrap_err();
        assert_eq!(
            err,
            "#1001 is not admitted (the pipe admits #1000, #0 only)"
        );
    }

    #[test]
    fn denies_win_over_allows_the_owner_and_the_superusers() {
        let mut r = ResolvedRules::owner_only(Num(1000));
        r.everyone = true;
        r.deny_users = vec![Num(1002), Num(1000)];
        r.deny_groups = vec![Num(50)];
        assert!(r.decide(&Num(1001), || Ok(vec![Num(7)]), checked()).is_ok());
        assert!(r.decide(&Num(1002), no_groups, checked()).is_err());
        assert!(r.decide(&Num(1000), no_groups, checked()).is_err());
        let err = r
            .decide(&Num(0), || Ok(vec![Num(50)]), checked())
            .unwrap_err();
        assert_eq!(err, "#0 is in denied group 50");
        // A uid is not a gid: user 50 is not in group 50 by number alone.
        assert!(r.decide(&Num(50), no_groups, checked()).is_ok());
    }

    #[test]
    fn an_allowed_group_admits_its_members() {
        let mut r = ResolvedRules::owner_only(Num(1000));
        r.allow_groups = vec![Num(42)];
        assert!(
            r.decide(&Num(1001), || Ok(vec![Num(42)]), checked())
                .is_ok()
        );
        assert!(
            r.decide(&Num(1001), || Ok(vec![Num(43)]), checked())
                .is_err()
        );
    }

    #[test]
    fn groups_that_cannot_be_read_refuse_and_are_read_only_when_needed() {
        let mut r = ResolvedRules::owner_only(Num(1000));
        assert!(
            r.decide(&Num(1000), || panic!("read the groups"), checked())
                .is_ok()
        );
        r.allow_groups = vec![Num(42)];
        let err = r
            .decide(&Num(1001), || Err(io::Error::other("boom")), checked())
            .unwrap_err();
        assert!(err.contains("cannot read the groups of #1001"), "{err}");
    }

    #[test]
    fn where_users_and_groups_share_ids_a_deny_matches_either() {
        let mut r = ResolvedRules::owner_only(Sid("S-owner"));
        r.deny_users = vec![Sid("S-group-named-as-a-user")];
        r.deny_groups = vec![Sid("S-denied-group")];
        let member = || Ok(vec![Sid("S-group-named-as-a-user")]);
        assert!(
            r.decide(&Sid("S-someone"), member, Admits::AlreadyChecked)
                .is_err()
        );
        assert!(
            r.decide(&Sid("S-denied-group"), no_groups, Admits::AlreadyChecked)
                .is_err()
        );
        // The kernel admitted the client: only the denies are checked here.
        assert!(
            r.decide(&Sid("S-someone"), no_groups, Admits::AlreadyChecked)
                .is_ok()
        );
    }
}
