//! Access rules for SMB callers: the listener's rules by Unix name or id
//! apply to the Unix user Samba mapped the caller to; rules written as
//! `DOMAIN\user` or as a SID apply to the SMB identity.

use pipeway_smb::np::Sid;

use crate::access::{AccessRules, Account, Admits};
use crate::error::Error;
use crate::smb::SmbCaller;

use super::super::access::{self as unix_access, ResolvedAccess};
use super::super::users::ROOT;

/// A user named the SMB way.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SmbAccount {
    Sid(Sid),
    /// `DOMAIN\user`, compared without regard to case, as Windows does.
    DomainUser {
        domain: String,
        user: String,
    },
}

/// `S-1-5-7`: ANONYMOUS LOGON.
fn is_anonymous(sid: &Sid) -> bool {
    sid.authority() == 5 && sid.sub_authorities() == [7]
}

/// A listener's rules for SMB callers.
#[derive(Clone, Debug)]
pub(crate) struct SmbAccess {
    unix: ResolvedAccess,
    allow_users: Vec<SmbAccount>,
    allow_groups: Vec<Sid>,
    deny_users: Vec<SmbAccount>,
    deny_groups: Vec<Sid>,
}

/// Whether a rule's name is SMB-style (`DOMAIN\name` or a SID) rather than
/// a Unix name.
fn smb_style(name: &str) -> bool {
    name.contains('\\') || name.parse::<Sid>().is_ok()
}

/// The rules with the SMB-style names left out: what local clients are
/// judged by (a local client has no SMB identity for them to match).
pub(crate) fn unix_rules(rules: &AccessRules) -> AccessRules {
    let keep = |accounts: &[Account]| -> Vec<Account> {
        accounts
            .iter()
            .filter(|a| !matches!(a, Account::Name(name) if smb_style(name)))
            .cloned()
            .collect()
    };
    AccessRules {
        everyone: rules.everyone,
        allow_users: keep(&rules.allow_users),
        allow_groups: keep(&rules.allow_groups),
        deny_users: keep(&rules.deny_users),
        deny_groups: keep(&rules.deny_groups),
    }
}

fn user(account: &Account) -> Result<Option<SmbAccount>, Error> {
    let Account::Name(name) = account else {
        return Ok(None);
    };
    if let Ok(sid) = name.parse::<Sid>() {
        return Ok(Some(SmbAccount::Sid(sid)));
    }
    match name.split_once('\\') {
        Some((domain, user)) if !domain.is_empty() && !user.is_empty() && !user.contains('\\') => {
            Ok(Some(SmbAccount::DomainUser {
                domain: domain.to_owned(),
                user: user.to_owned(),
            }))
        }
        Some(_) => Err(Error::UnknownUser(format!(
            r"{name} (an SMB user is DOMAIN\name or a SID)"
        ))),
        None => Ok(None),
    }
}

fn group(account: &Account) -> Result<Option<Sid>, Error> {
    let Account::Name(name) = account else {
        return Ok(None);
    };
    if let Ok(sid) = name.parse::<Sid>() {
        return Ok(Some(sid));
    }
    if name.contains('\\') {
        // The hand-off carries the caller's group SIDs, not their names.
        return Err(Error::UnknownGroup(format!(
            r"{name}: SMB groups are matched by SID (S-1-5-21-…) or by the Unix group Samba maps them to, not by DOMAIN\name"
        )));
    }
    Ok(None)
}

impl SmbAccess {
    pub(crate) fn resolve(rules: &AccessRules) -> Result<Self, Error> {
        let users = |accounts: &[Account]| -> Result<Vec<SmbAccount>, Error> {
            accounts
                .iter()
                .filter_map(|a| user(a).transpose())
                .collect()
        };
        let groups = |accounts: &[Account]| -> Result<Vec<Sid>, Error> {
            accounts
                .iter()
                .filter_map(|a| group(a).transpose())
                .collect()
        };
        Ok(Self {
            unix: unix_access::resolve(&unix_rules(rules))?,
            allow_users: users(&rules.allow_users)?,
            allow_groups: groups(&rules.allow_groups)?,
            deny_users: users(&rules.deny_users)?,
            deny_groups: groups(&rules.deny_groups)?,
        })
    }

    fn names(caller: &SmbCaller, account: &SmbAccount) -> bool {
        match account {
            SmbAccount::Sid(sid) => caller.user_sid() == Some(sid),
            SmbAccount::DomainUser { domain, user } => {
                caller.domain().eq_ignore_ascii_case(domain)
                    && caller.account().eq_ignore_ascii_case(user)
            }
        }
    }

    /// Admits or refuses an SMB caller: denies first (SMB-style, then Unix),
    /// then the anonymous rule, then the owner, root and allows (Unix or
    /// SMB-style). The reason says who refused and why.
    pub(crate) fn decide(&self, caller: &SmbCaller) -> Result<(), String> {
        let who = caller.to_string();
        if self.deny_users.iter().any(|a| Self::names(caller, a)) {
            return Err(format!("{who} is denied"));
        }
        if let Some(sid) = caller.sids().iter().find(|s| self.deny_groups.contains(s)) {
            return Err(format!("{who} is in denied group {sid}"));
        }
        // The Unix rules judge the user Samba mapped the caller to, with
        // the groups Samba gave it.
        let groups = || {
            let mut groups = caller.groups().to_vec();
            groups.push(caller.gid());
            Ok(groups)
        };
        let uid = caller.uid();
        self.unix
            .decide(&uid, groups, Admits::AlreadyChecked)
            .map_err(|reason| format!("{who}: {reason}"))?;
        let smb_allowed = self.allow_users.iter().any(|a| Self::names(caller, a))
            || caller.sids().iter().any(|s| self.allow_groups.contains(s));
        if caller.user_sid().is_some_and(is_anonymous) && !smb_allowed {
            return Err(format!(
                "{who} is anonymous (admitted only by a rule naming S-1-5-7)"
            ));
        }
        if smb_allowed {
            return Ok(());
        }
        let superusers = [ROOT];
        self.unix
            .decide(
                &uid,
                groups,
                Admits::Checked {
                    superusers: &superusers,
                },
            )
            .map_err(|reason| {
                format!("{who}: {reason} (or, for SMB callers, a DOMAIN\\user or SID rule)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::unix::users::effective_uid;

    fn caller(domain: &str, account: &str, uid: u32, sids: &[&str]) -> SmbCaller {
        SmbCaller {
            account: account.into(),
            domain: domain.into(),
            sids: sids.iter().map(|s| s.parse().unwrap()).collect(),
            unix_name: None,
            uid,
            gid: uid,
            groups: vec![uid],
            guest: false,
            client_address: None,
            client_name: None,
            server_address: None,
            level: 7,
        }
    }

    fn rules(f: impl FnOnce(&mut AccessRules)) -> SmbAccess {
        let mut r = AccessRules::default();
        f(&mut r);
        SmbAccess::resolve(&r).unwrap()
    }

    const ALICE: &str = "S-1-5-21-1-2-3-1000";
    const STAFF: &str = "S-1-5-21-1-2-3-1200";

    #[test]
    fn by_default_only_the_listeners_own_user_and_root_as_samba_maps_them() {
        let access = rules(|_| {});
        let me = effective_uid();
        let other = if me == 4242 { 4243 } else { 4242 };
        assert!(access.decide(&caller("HOST", "me", me, &[ALICE])).is_ok());
        assert!(access.decide(&caller("HOST", "root", 0, &[ALICE])).is_ok());
        let err = access
            .decide(&caller("HOST", "alice", other, &[ALICE]))
            .unwrap_err();
        assert!(
            err.contains(r"HOST\alice") && err.contains("not admitted"),
            "{err}"
        );
    }

    #[test]
    fn domain_user_and_sid_rules_admit_smb_callers() {
        let other = effective_uid().wrapping_add(4242);
        let by_name = rules(|r| r.allow_users.push(Account::Name(r"host\ALICE".into())));
        assert!(
            by_name
                .decide(&caller("HOST", "alice", other, &[ALICE]))
                .is_ok()
        );
        assert!(
            by_name
                .decide(&caller("OTHER", "alice", other, &[ALICE]))
                .is_err()
        );

        let by_sid = rules(|r| r.allow_users.push(Account::Name(ALICE.into())));
        assert!(by_sid.decide(&caller("X", "y", other, &[ALICE])).is_ok());
        // A user rule matches the user's SID only, not a group's.
        assert!(
            by_sid
                .decide(&caller("X", "y", other, &[STAFF, ALICE]))
                .is_err()
        );

        let by_group = rules(|r| r.allow_groups.push(Account::Name(STAFF.into())));
        assert!(
            by_group
                .decide(&caller("X", "y", other, &[ALICE, STAFF]))
                .is_ok()
        );
    }

    #[test]
    fn denies_win_and_anonymous_needs_naming() {
        let me = effective_uid();
        let denied = rules(|r| {
            r.everyone = true;
            r.deny_groups.push(Account::Name(STAFF.into()));
        });
        assert!(
            denied
                .decide(&caller("X", "me", me, &[ALICE, STAFF]))
                .is_err()
        );
        assert!(denied.decide(&caller("X", "me", me, &[ALICE])).is_ok());
        let anonymous = caller("NT AUTHORITY", "ANONYMOUS LOGON", 65534, &["S-1-5-7"]);
        assert!(
            denied.decide(&anonymous).is_err(),
            "everyone does not include anonymous"
        );
        let named = rules(|r| r.allow_users.push(Account::Name("S-1-5-7".into())));
        assert!(named.decide(&anonymous).is_ok());
    }

    #[test]
    fn smb_style_names_stay_out_of_the_unix_rules_and_domain_groups_are_refused() {
        let mut r = AccessRules::default();
        r.allow_users.push(Account::Name(r"HOST\alice".into()));
        r.allow_groups.push(Account::Name(STAFF.into()));
        let unix = unix_rules(&r);
        assert!(unix.allow_users.is_empty() && unix.allow_groups.is_empty());
        r.allow_groups.push(Account::Name(r"HOST\staff".into()));
        assert!(matches!(
            SmbAccess::resolve(&r),
            Err(Error::UnknownGroup(msg)) if msg.contains("by SID")
        ));
    }
}
