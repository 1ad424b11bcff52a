//! `[auth]`: how people sign in (local users, OpenID Connect), how long
//! their sessions last, the limits of each person, and how the identity
//! provider's groups map to roles.

use std::path::PathBuf;

use figment::Figment;

use super::*;
use crate::people::Role;
use crate::people::oidc::{OidcSettings, RoleMapping};

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Local users (`payops users add`) may sign in to the console.
    pub local: bool,
    /// How long a console session lasts, in hours.
    pub session_hours: u64,
    /// The session cookie's `Secure` attribute: sent over HTTPS only.
    /// Browsers also send it to `http://localhost` and `http://127.0.0.1`;
    /// turn it off only for a console reached over plain HTTP elsewhere.
    pub cookie_secure: bool,
    /// Failed sign-ins per user name within 15 minutes before sign-in is
    /// held for the rest of them.
    pub max_failed_sign_ins: u32,
    /// The largest `amount` of one refund or cancel by a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_operation: Option<i64>,
    /// The most each person refunds and cancels per day (Turkish time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_day: Option<i64>,
    /// `[auth.oidc]`: sign-in through an OpenID provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            local: true,
            session_hours: 8,
            cookie_secure: true,
            max_failed_sign_ins: 5,
            max_amount_per_operation: None,
            max_amount_per_day: None,
            oidc: None,
        }
    }
}

impl AuthConfig {
    /// Each person's amount limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_amount_per_operation: self.max_amount_per_operation,
            max_amount_per_day: self.max_amount_per_day,
        }
    }
}

/// `[auth.oidc]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL (`https://idp.example.com/realms/payments`).
    pub issuer: String,
    /// The client id registered for payops.
    pub client_id: String,
    /// The client secret (or `client_secret_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// A file holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// This daemon's callback as registered at the provider:
    /// `https://payops.example.com/v1/auth/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim holding the person's groups.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The ID token claims tried, in order, for the name shown.
    #[serde(default = "default_name_claims")]
    pub name_claims: Vec<String>,
    /// The sign-in button's words.
    #[serde(default = "default_label")]
    pub label: String,
    /// `[[auth.oidc.roles]]`: which group grants which role.
    #[serde(default)]
    pub roles: Vec<OidcRoleConfig>,
}

/// One `[[auth.oidc.roles]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRoleConfig {
    /// A value of the roles claim (a group).
    pub group: String,
    /// The role it grants.
    pub role: Role,
    /// On these accounts (names, or `"*"`).
    pub accounts: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_roles_claim() -> String {
    "groups".into()
}
fn default_name_claims() -> Vec<String> {
    vec!["name".into(), "preferred_username".into(), "email".into()]
}
fn default_label() -> String {
    "Sign in with your identity provider".into()
}

/// Validates `[auth]` and the tokens' roles; the OpenID settings with their
/// secret read, when `[auth.oidc]` is given. Returns every problem.
pub fn resolve_auth(f: &Figment, cfg: &Config) -> Result<Option<OidcSettings>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut err = |k: String, message: String| {
        errors.push(ConfigError {
            origin: source_of(f, &k),
            key: k,
            message,
        })
    };
    let a = &cfg.auth;
    if a.session_hours == 0 || a.session_hours > 24 * 30 {
        err(
            "auth.session_hours".into(),
            "must be 1 to 720 (30 days)".into(),
        );
    }
    if a.max_failed_sign_ins == 0 {
        err(
            "auth.max_failed_sign_ins".into(),
            "must be at least 1".into(),
        );
    }
    for (i, t) in cfg.tokens.iter().enumerate() {
        if t.name.contains(':') {
            err(
                format!("tokens[{i}].name"),
                format!(
                    "{:?}: a token's name has no ':' (records name people as user:NAME and oidc:…, the CLI as cli:USER)",
                    t.name
                ),
            );
        }
        if t.role == Some(Role::Viewer) && (t.resolve || t.override_open) {
            err(
                format!("tokens[{i}].role"),
                "a viewer token may not resolve or override the order guard: drop resolve/override_open, or give it the approver role".into(),
            );
        }
    }
    let Some(o) = &a.oidc else {
        return if errors.is_empty() {
            Ok(None)
        } else {
            Err(errors)
        };
    };
    let http_url = |u: &str| {
        u.parse::<axum::http::Uri>().is_ok_and(|u| {
            matches!(u.scheme_str(), Some("https" | "http")) && u.authority().is_some()
        })
    };
    if !http_url(&o.issuer) {
        err(
            "auth.oidc.issuer".into(),
            format!("{:?} is not an http(s) URL", o.issuer),
        );
    }
    if !http_url(&o.redirect_url) || !o.redirect_url.ends_with("/v1/auth/oidc/callback") {
        err(
            "auth.oidc.redirect_url".into(),
            format!(
                "{:?}: give this daemon's URL as the provider reaches back to it, ending in /v1/auth/oidc/callback",
                o.redirect_url
            ),
        );
    }
    if o.client_id.trim().is_empty() {
        err("auth.oidc.client_id".into(), "must not be empty".into());
    }
    if !o.scopes.iter().any(|s| s == "openid") {
        err("auth.oidc.scopes".into(), "must include \"openid\"".into());
    }
    if o.roles.is_empty() {
        err(
            "auth.oidc.roles".into(),
            "map at least one group to a role ([[auth.oidc.roles]] group, role, accounts): without it nobody signed in may do anything".into(),
        );
    }
    for (i, r) in o.roles.iter().enumerate() {
        if r.accounts.is_empty() {
            err(
                format!("auth.oidc.roles[{i}].accounts"),
                "must name at least one account, or \"*\"".into(),
            );
        }
    }
    let secret =
        match super::secrets::read_secret(&o.client_secret, &o.client_secret_file, "client_secret")
        {
            Ok(Some(s)) if !s.is_empty() => Some(s),
            Ok(_) => {
                err(
                    "auth.oidc.client_secret".into(),
                    "missing: give client_secret or client_secret_file".into(),
                );
                None
            }
            Err(e) => {
                err("auth.oidc.client_secret".into(), e);
                None
            }
        };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(OidcSettings {
        issuer: o.issuer.trim_end_matches('/').to_owned(),
        client_id: o.client_id.clone(),
        client_secret: secret.unwrap_or_default(),
        redirect_url: o.redirect_url.clone(),
        scopes: o.scopes.clone(),
        roles_claim: o.roles_claim.clone(),
        name_claims: o.name_claims.clone(),
        roles: o
            .roles
            .iter()
            .map(|r| RoleMapping {
                value: r.group.clone(),
                role: r.role,
                accounts: r.accounts.clone(),
            })
            .collect(),
        label: o.label.clone(),
    }))
}
