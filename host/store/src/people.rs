//! People and their console sessions: local users (argon2id hashes, made
//! by the host), the people an OpenID provider signed in (recorded at each
//! sign-in so that they can be disabled too), the sessions of both (by the
//! SHA-256 of their cookie), and OpenID Connect sign-ins under way.
//!
//! A session is valid while it has not expired and its person is not
//! disabled: disabling a person ends their live sessions on the next
//! request, on every daemon sharing the store.

use chrono::Utc;
use serde::Serialize;
use sqlx::Row;

use crate::Store;
use crate::model::*;

/// A person payops knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// What records name: `user:NAME` or `oidc:ISSUER#SUBJECT`.
    pub actor: String,
    /// `local` or `oidc`.
    pub kind: String,
    /// The name shown for them.
    pub display_name: String,
    /// A local user's role (`None` for OpenID people: their roles come
    /// from the identity provider at each sign-in).
    pub role: Option<String>,
    /// A local user's accounts (names, or `"*"`).
    pub accounts: Vec<String>,
    /// Disabled people cannot sign in; their sessions have ended.
    pub disabled: bool,
    /// When they were added (or first signed in).
    pub created_at: String,
    /// When they were last changed.
    pub updated_at: String,
    /// When they last signed in.
    pub last_sign_in_at: Option<String>,
    /// A local user's argon2id PHC string (never serialized).
    #[serde(skip)]
    pub password_hash: Option<String>,
}

/// A live session: whose, and the roles it carries (JSON, as the host
/// wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// Whose.
    pub actor: String,
    /// Their display name.
    pub display_name: String,
    /// The roles, as the host wrote them at sign-in.
    pub grants: String,
    /// When it ends (ms since the epoch).
    pub expires_ms: i64,
}

/// An OpenID Connect sign-in under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the code's challenge.
    pub pkce_verifier: String,
    /// Where the browser goes once signed in (a path of the console).
    pub return_to: String,
}

const PERSON: &str = "actor, kind, display_name, password_hash, role, accounts, disabled, created_at, updated_at, last_sign_in_at";

fn person(r: &sqlx::any::AnyRow) -> Result<Person, StoreError> {
    let actor: String = r.try_get("actor")?;
    let accounts: String = r.try_get("accounts")?;
    let accounts = serde_json::from_str(&accounts).map_err(|e| StoreError::Corrupt {
        id: actor.clone(),
        reason: format!("accounts: {e}"),
    })?;
    let disabled: i64 = r.try_get("disabled")?;
    Ok(Person {
        kind: r.try_get("kind")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        role: r.try_get("role")?,
        accounts,
        disabled: disabled != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        last_sign_in_at: r.try_get("last_sign_in_at")?,
        actor,
    })
}

fn now_text() -> String {
    ts(&Utc::now())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Store {
    /// Adds a local user; `false` when `actor` is already someone's.
    pub async fn add_local_user(
        &self,
        actor: &str,
        display_name: &str,
        password_hash: &str,
        role: &str,
        accounts: &[String],
    ) -> Result<bool, StoreError> {
        let now = now_text();
        let r = sqlx::query(
            "INSERT INTO people (actor, kind, display_name, password_hash, role, accounts, disabled, created_at, updated_at) VALUES ($1, 'local', $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (actor) DO NOTHING",
        )
        .bind(actor)
        .bind(display_name)
        .bind(password_hash)
        .bind(role)
        .bind(serde_json::to_string(accounts).unwrap_or_else(|_| "[]".into()))
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// One person.
    pub async fn person(&self, actor: &str) -> Result<Option<Person>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON} FROM people WHERE actor = $1"
        )))
        .bind(actor)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(person)
        .transpose()
    }

    /// Everyone, by actor.
    pub async fn people(&self) -> Result<Vec<Person>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON} FROM people ORDER BY actor"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(person)
        .collect()
    }

    /// Disables (or enables again) a person; disabling ends their
    /// sessions. `false` when there is no such person.
    pub async fn set_disabled(&self, actor: &str, disabled: bool) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE people SET disabled = $1, updated_at = $2 WHERE actor = $3")
            .bind(i64::from(disabled))
            .bind(now_text())
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE actor = $1")
                .bind(actor)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets a local user's password hash and ends their sessions; `false`
    /// when there is no such local user.
    pub async fn set_password(&self, actor: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE people SET password_hash = $1, updated_at = $2 WHERE actor = $3 AND kind = 'local'",
        )
        .bind(password_hash)
        .bind(now_text())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE actor = $1")
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records an OpenID person's sign-in (added the first time, their
    /// display name kept current); the person as recorded.
    pub async fn record_oidc_person(
        &self,
        actor: &str,
        display_name: &str,
    ) -> Result<Person, StoreError> {
        let now = now_text();
        sqlx::query(
            "INSERT INTO people (actor, kind, display_name, accounts, disabled, created_at, updated_at) VALUES ($1, 'oidc', $2, '[]', 0, $3, $3) ON CONFLICT (actor) DO UPDATE SET display_name = $2, updated_at = $3",
        )
        .bind(actor)
        .bind(display_name)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        self.person(actor)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                id: actor.to_owned(),
                reason: "a person just recorded is missing".into(),
            })
    }

    /// Starts a session: `id_sha256` is the SHA-256 of its cookie; it
    /// lasts `ttl_ms`. Expired sessions and sign-ins are removed on the way.
    pub async fn start_session(
        &self,
        id_sha256: &str,
        actor: &str,
        grants: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM oidc_logins WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_sha256, actor, grants, created_at, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(actor)
        .bind(grants)
        .bind(now_text())
        .bind(now.saturating_add(ttl_ms))
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE people SET last_sign_in_at = $1 WHERE actor = $2")
            .bind(now_text())
            .bind(actor)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live session whose cookie has SHA-256 `id_sha256`: not expired,
    /// its person known and not disabled.
    pub async fn live_session(&self, id_sha256: &str) -> Result<Option<LiveSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.actor, s.grants, s.expires_ms, p.display_name FROM sessions s JOIN people p ON p.actor = s.actor WHERE s.id_sha256 = $1 AND s.expires_ms > $2 AND p.disabled = 0",
        )
        .bind(id_sha256)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LiveSession {
                actor: r.try_get("actor")?,
                display_name: r.try_get("display_name")?,
                grants: r.try_get("grants")?,
                expires_ms: r.try_get("expires_ms")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn end_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records an OpenID Connect sign-in under way, for `ttl_ms`.
    pub async fn put_pending_login(
        &self,
        state_sha256: &str,
        login: &PendingLogin,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_logins (state_sha256, nonce, pkce_verifier, return_to, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_sha256)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier)
        .bind(&login.return_to)
        .bind(now_ms().saturating_add(ttl_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes (once) the sign-in under way whose state has SHA-256
    /// `state_sha256`, if it has not expired.
    pub async fn take_pending_login(
        &self,
        state_sha256: &str,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_sha256 = $1 RETURNING nonce, pkce_verifier, return_to, expires_ms",
        )
        .bind(state_sha256)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let expires: i64 = r.try_get("expires_ms")?;
        if expires <= now_ms() {
            return Ok(None);
        }
        Ok(Some(PendingLogin {
            nonce: r.try_get("nonce")?,
            pkce_verifier: r.try_get("pkce_verifier")?,
            return_to: r.try_get("return_to")?,
        }))
    }
}
