//! Access rules as the user writes them: who a pipe admits and who it refuses.
//!
//! The rules are resolved against the platform's accounts when a listener
//! binds (`sys::*::access`), so an unknown user fails the bind rather than
//! silently admitting nobody.

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
