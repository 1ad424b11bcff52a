-- People: the local users payops keeps (argon2id password hashes) and the
-- people who signed in through OpenID Connect (recorded at their first
-- sign-in, so that an admin can disable them too). `actor` is what every
-- record names: `user:NAME` for a local user, `oidc:ISSUER#SUBJECT` for a
-- person of the identity provider.
CREATE TABLE IF NOT EXISTS people (
    actor TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    role TEXT,
    accounts TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_sign_in_at TEXT
);
-- Console sessions: the SHA-256 of the session cookie (never the cookie),
-- whose they are, the roles they carry (from the local user, or from the
-- identity provider's claim at sign-in) and when they end (store clock in
-- milliseconds since the epoch). A session whose person is disabled ends.
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    grants TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_actor ON sessions (actor);
-- OpenID Connect sign-ins under way: the SHA-256 of their `state`, the
-- nonce and the PKCE verifier, until the identity provider sends the
-- browser back (taken once) or they expire.
CREATE TABLE IF NOT EXISTS oidc_logins (
    state_sha256 TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
