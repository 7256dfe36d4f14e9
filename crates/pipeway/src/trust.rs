//! Whom a client trusts to serve a pipe, and the refusal it gives a server
//! it does not trust, before a byte goes either way. Both backends resolve
//! and check the requirement here; they differ only in what identifies a
//! user (a uid, a SID) and who stands above every user (root; SYSTEM and
//! Administrators).

use crate::access::Account;
use crate::error::Error;
use crate::name::PipeName;
use crate::options::ServerRequirement;

/// What identifies a user or a group on a platform: a uid or gid, a SID.
pub(crate) trait Principal: PartialEq {
    /// Whether users and groups take their ids from one namespace (SIDs),
    /// so that an id means the same account whichever rule names it. Unix
    /// numbers users and groups apart: uid 50 is not gid 50.
    const ONE_NAMESPACE: bool;

    /// The user as errors and logs name it: its id, and its name when known.
    fn describe(&self) -> String;
}

/// The users a client accepts as the server.
#[derive(Debug)]
pub(crate) enum Trusted<P> {
    /// These users only.
    Only(Vec<P>),
    /// Anyone.
    Anyone,
}

impl<P: Principal> Trusted<P> {
    /// Resolves a client's requirement: by default its own user (`me`), else
    /// the user it names (`lookup`); either way also the `superusers`.
    pub(crate) fn resolve(
        requirement: &ServerRequirement,
        me: impl FnOnce() -> Result<P, Error>,
        lookup: impl FnOnce(&Account) -> Result<P, Error>,
        superusers: impl IntoIterator<Item = P>,
    ) -> Result<Self, Error> {
        let user = match requirement {
            ServerRequirement::SameUserOrRoot => me()?,
            ServerRequirement::User(account) => lookup(account)?,
            ServerRequirement::Anyone => return Ok(Trusted::Anyone),
        };
        let mut trusted = vec![user];
        trusted.extend(superusers);
        Ok(Trusted::Only(trusted))
    }

    /// Refuses a server run by a user the client does not trust (`None`: a
    /// server whose user could not be learned, which nobody but a client
    /// that trusts anyone accepts).
    pub(crate) fn check(
        &self,
        name: &PipeName,
        actual: Option<&P>,
        pid: Option<u32>,
    ) -> Result<(), Error> {
        let Trusted::Only(trusted) = self else {
            return Ok(());
        };
        if actual.is_some_and(|actual| trusted.contains(actual)) {
            return Ok(());
        }
        Err(Error::UntrustedServer {
            name: name.to_string(),
            actual: actual.map_or_else(|| "an unknown user".into(), P::describe),
            pid,
            expected: trusted
                .iter()
                .map(P::describe)
                .collect::<Vec<_>>()
                .join(" or "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct User(&'static str);

    impl Principal for User {
        const ONE_NAMESPACE: bool = true;
        fn describe(&self) -> String {
            format!("user {}", self.0)
        }
    }

    fn me() -> Result<User, Error> {
        Ok(User("me"))
    }

    fn lookup(account: &Account) -> Result<User, Error> {
        match account {
            Account::Name(name) if name == "svc" => Ok(User("svc")),
            other => Err(Error::UnknownUser(other.to_string())),
        }
    }

    #[test]
    fn by_default_only_this_user_and_the_superusers_are_trusted() {
        let name = PipeName::parse("trust").unwrap();
        let trusted = Trusted::resolve(
            &ServerRequirement::SameUserOrRoot,
            me,
            lookup,
            [User("root")],
        )
        .unwrap();
        assert!(trusted.check(&name, Some(&User("me")), None).is_ok());
        assert!(trusted.check(&name, Some(&User("root")), None).is_ok());
        match trusted.check(&name, Some(&User("squatter")), Some(7)) {
            Err(Error::UntrustedServer {
                actual,
                pid,
                expected,
                ..
            }) => {
                assert_eq!(actual, "user squatter");
                assert_eq!(pid, Some(7));
                assert_eq!(expected, "user me or user root");
            }
            other => panic!("expected UntrustedServer, got {other:?}"),
        }
        assert!(trusted.check(&name, None, None).is_err());
    }

    #[test]
    fn a_named_user_replaces_this_one_and_anyone_trusts_all() {
        let name = PipeName::parse("trust").unwrap();
        let svc = ServerRequirement::User(Account::Name("svc".into()));
        let trusted = Trusted::resolve(&svc, me, lookup, []).unwrap();
        assert!(trusted.check(&name, Some(&User("svc")), None).is_ok());
        assert!(trusted.check(&name, Some(&User("me")), None).is_err());
        let missing = ServerRequirement::User(Account::Name("nobody-here".into()));
        assert!(matches!(
            Trusted::resolve(&missing, me, lookup, []),
            Err(Error::UnknownUser(_))
        ));
        let anyone = Trusted::resolve(&ServerRequirement::Anyone, me, lookup, []).unwrap();
        assert!(anyone.check(&name, None, None).is_ok());
    }
}
