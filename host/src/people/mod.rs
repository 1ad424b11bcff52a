//! People: roles and what they allow, local users' passwords, console
//! sessions and OpenID Connect sign-in.
//!
//! Every caller of the API, a person with a session or a machine with a
//! bearer token, holds [`Grant`]s: a [`Role`] over some accounts. The roles
//! are cumulative: an operator may do what a viewer may, an approver what
//! an operator may, an admin everything.

pub mod oidc;
pub mod password;

use serde::{Deserialize, Serialize};

/// What a caller may do, on the accounts of its grant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read operations, orders, refusals and webhook deliveries.
    Viewer,
    /// Also run operations (within their limits) and reconcile.
    #[default]
    Operator,
    /// Also resolve unresolved operations, go past the order guard and
    /// approve others' requests.
    Approver,
    /// Also manage people (over every account: `accounts = ["*"]`).
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    /// Its name in configs, the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("no role {s:?} (viewer, operator, approver, admin)"))
    }
}

/// A role over some accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// Account names, or `"*"` for all.
    pub accounts: Vec<String>,
}

impl Grant {
    /// Does this grant cover `account`?
    pub fn covers(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a == "*" || a == account)
    }

    /// Does it cover every account?
    pub fn covers_all(&self) -> bool {
        self.accounts.iter().any(|a| a == "*")
    }
}

/// Does one of `grants` give at least `role` on `account`?
pub fn allows(grants: &[Grant], role: Role, account: &str) -> bool {
    grants.iter().any(|g| g.role >= role && g.covers(account))
}

/// The highest role of `grants`, if any.
pub fn highest(grants: &[Grant]) -> Option<Role> {
    grants.iter().map(|g| g.role).max()
}

/// A random secret of 32 bytes as URL-safe text (session cookies, OIDC
/// state): from the operating system's generator.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    hex::encode(bytes)
}

/// The CSRF token of a session: derived from its cookie (which scripts
/// cannot read), so a page of another site can neither read nor forge it.
pub fn csrf_of(session_cookie: &str) -> String {
    crate::signing::sha256_hex(&format!("payops-csrf:{session_cookie}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_cumulative_and_scoped() {
        let g = vec![
            Grant {
                role: Role::Viewer,
                accounts: vec!["*".into()],
            },
            Grant {
                role: Role::Operator,
                accounts: vec!["shop-a".into()],
            },
        ];
        assert!(allows(&g, Role::Viewer, "shop-b"));
        assert!(!allows(&g, Role::Operator, "shop-b"));
        assert!(allows(&g, Role::Operator, "shop-a"));
        assert!(!allows(&g, Role::Approver, "shop-a"));
        assert_eq!(highest(&g), Some(Role::Operator));
        assert_eq!("approver".parse::<Role>(), Ok(Role::Approver));
        assert!("root".parse::<Role>().is_err());
    }
}
