//! Roles of a membership, scopes of an API key, and what each allows.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's role in one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Member,
    Readonly,
    External,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Member,
        Role::Readonly,
        Role::External,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Readonly => "readonly",
            Role::External => "external",
        }
    }

    /// What this role may do with the tenant's shared records.
    ///
    /// External collaborators see only what is shared with them; sharing does not exist yet,
    /// so today they see no records at all.
    pub fn access(self) -> Access {
        match self {
            Role::Owner | Role::Admin => Access::ADMIN,
            Role::Manager | Role::Member => Access::WRITE,
            Role::Readonly => Access::READ,
            Role::External => Access::NONE,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the known names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {expected}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "role",
                value: s.to_owned(),
                expected: "owner, admin, manager, member, readonly, external",
            })
    }
}

/// What an API key is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// The access granted by a set of scopes: the union of each.
    pub fn access_of(scopes: &[Scope]) -> Access {
        scopes.iter().fold(Access::NONE, |acc, s| {
            acc.union(match s {
                Scope::Read => Access::READ,
                Scope::Write => Access::WRITE,
                Scope::Admin => Access::ADMIN,
            })
        })
    }
}

impl FromStr for Scope {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            _ => Err(UnknownName {
                kind: "scope",
                value: s.to_owned(),
                expected: "read, write, admin",
            }),
        }
    }
}

/// Read, write and administer rights over a tenant's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub admin: bool,
}

impl Access {
    pub const NONE: Access = Access {
        read: false,
        write: false,
        admin: false,
    };
    pub const READ: Access = Access {
        read: true,
        write: false,
        admin: false,
    };
    /// Writing implies reading: a client that may change a record may also see it.
    pub const WRITE: Access = Access {
        read: true,
        write: true,
        admin: false,
    };
    pub const ADMIN: Access = Access {
        read: true,
        write: true,
        admin: true,
    };

    pub fn union(self, other: Access) -> Access {
        Access {
            read: self.read || other.read,
            write: self.write || other.write,
            admin: self.admin || other.admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_grant() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(Role::Readonly.access().read);
        assert!(!Role::Readonly.access().write);
        assert!(Role::Member.access().write);
        assert!(!Role::Member.access().admin);
        assert_eq!(Role::External.access(), Access::NONE);
        assert!("boss".parse::<Role>().is_err());
    }

    #[test]
    fn scopes_union() {
        assert_eq!(Scope::access_of(&[Scope::Read]), Access::READ);
        assert_eq!(
            Scope::access_of(&[Scope::Read, Scope::Write]),
            Access::WRITE
        );
        assert_eq!(Scope::access_of(&[]), Access::NONE);
    }
}
