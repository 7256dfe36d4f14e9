//! Groups of tables, and the registry of groups a program runs.

use crate::peer::Role;
use crate::table::Table;

/// A group of tables selectable by name (`pipeway bench message`), and the
/// peer roles its rows start.
pub struct Group {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) tables: fn() -> Vec<Table>,
    pub(crate) roles: Vec<(&'static str, Role)>,
    /// Run only when named (it needs what most machines lack).
    pub(crate) only_when_named: bool,
}

impl Group {
    /// A group called `name` whose tables `tables` makes.
    pub fn new(name: &'static str, about: &'static str, tables: fn() -> Vec<Table>) -> Self {
        Self {
            name,
            about,
            tables,
            roles: Vec::new(),
            only_when_named: false,
        }
    }

    /// Makes the group run only when named (`pipeway bench smb-serve`), not in a
    /// run of every group: for groups that need what most machines lack
    /// (root, a Samba host).
    pub fn only_when_named(mut self) -> Self {
        self.only_when_named = true;
        self
    }

    /// Registers a peer role its rows start with [`Peer::spawn`](crate::Peer::spawn).
    /// Role names are shared by every group: start them with the group's name.
    pub fn role(mut self, name: &'static str, serve: Role) -> Self {
        self.roles.push((name, serve));
        self
    }

    /// The group's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What the group measures, in a line.
    pub fn about(&self) -> &'static str {
        self.about
    }

    /// Its tables, ready to run with [`run_table`](crate::run_table).
    pub fn tables(&self) -> Vec<Table> {
        (self.tables)()
    }
}

/// The groups a program can run, in order.
pub struct Registry {
    groups: Vec<Group>,
}

impl Registry {
    /// No groups.
    pub fn empty() -> Self {
        Self { groups: Vec::new() }
    }

    /// Every group this build of pipeway-bench has (see [`crate::cases`]).
    pub fn standard() -> Self {
        crate::cases::all()
            .into_iter()
            .fold(Self::empty(), Self::with)
    }

    /// Adds a group after the others.
    pub fn with(mut self, group: Group) -> Self {
        assert!(
            self.group(group.name).is_none(),
            "two groups named {}",
            group.name
        );
        for (role, _) in &group.roles {
            assert!(self.role(role).is_none(), "two peer roles named {role}");
        }
        self.groups.push(group);
        self
    }

    /// The groups, in order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }

    /// The peer role called `name`, in whichever group has it.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.groups
            .iter()
            .flat_map(|group| &group.roles)
            .find(|(role, _)| *role == name)
            .map(|(_, serve)| *serve)
    }
}

/// (Unix: no group is registered on Windows yet.)
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn role_and_group_names_are_unique() {
        // `with` asserts it for every group of the standard build.
        let registry = Registry::standard();
        assert!(!registry.groups().is_empty());
        for group in registry.groups() {
            for (role, _) in &group.roles {
                assert!(
                    role.starts_with(group.name),
                    "role {role} does not start with its group's name {}",
                    group.name
                );
            }
        }
    }
}
