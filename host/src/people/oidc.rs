//! OpenID Connect sign-in: authorization code with PKCE (S256), through the
//! `openidconnect` crate over the host's own transport.
//!
//! [`Oidc::begin`] discovers the provider (cached for an hour), makes the
//! state, nonce and PKCE verifier, and gives the URL to send the browser
//! to; the caller keeps the three in the store until the browser comes
//! back. [`Oidc::finish`] exchanges the code (with the client secret and the
//! verifier), verifies the ID token (signature against the provider's keys,
//! issuer, audience, expiry, nonce), and maps the roles claim to grants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use payops_core::HttpTransport;
use serde_json::Value;

use super::{Grant, Role};
use payops_store::PendingLogin;

/// How long a discovered provider's metadata and keys are reused.
const METADATA_FOR: Duration = Duration::from_secs(3600);

/// One value of the roles claim and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    /// The claim's value (a group name).
    pub value: String,
    /// The role it grants.
    pub role: Role,
    /// On these accounts (names, or `"*"`).
    pub accounts: Vec<String>,
}

/// The settings of `[auth.oidc]`, validated, the client secret read.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer (its discovery document is under it).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// This daemon's callback URL as registered at the provider.
    pub redirect_url: String,
    /// Scopes asked for (`openid` first).
    pub scopes: Vec<String>,
    /// The ID token claim holding the person's groups.
    pub roles_claim: String,
    /// The ID token claims tried, in order, for the name shown.
    pub name_claims: Vec<String>,
    /// Which group grants which role.
    pub roles: Vec<RoleMapping>,
    /// The sign-in button's words.
    pub label: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// A person the provider signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `oidc:ISSUER#SUBJECT`.
    pub actor: String,
    /// The name shown.
    pub display_name: String,
    /// What their groups grant (empty: none of them is mapped).
    pub grants: Vec<Grant>,
    /// Their groups, as the claim gave them.
    pub groups: Vec<String>,
}

/// Why a sign-in through the provider failed (said to the person; details
/// go to the log).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OidcError(pub String);

/// The transport's failure, as the `openidconnect` client sees it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportFailure(String);

/// The OpenID Connect client of the daemon.
pub struct Oidc {
    settings: OidcSettings,
    transport: Arc<dyn HttpTransport>,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

type BoxedResponse = std::pin::Pin<
    Box<dyn Future<Output = Result<openidconnect::HttpResponse, TransportFailure>> + Send>,
>;

impl Oidc {
    /// A client for `settings`, reaching the provider through `transport`.
    pub fn new(settings: OidcSettings, transport: Arc<dyn HttpTransport>) -> Oidc {
        Oidc {
            settings,
            transport,
            metadata: tokio::sync::Mutex::new(None),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The HTTP client the `openidconnect` crate calls: the host's
    /// transport (its timeouts, its TLS), no redirects followed.
    fn http(&self) -> impl Fn(openidconnect::HttpRequest) -> BoxedResponse + use<> {
        let transport = self.transport.clone();
        move |request: openidconnect::HttpRequest| {
            let transport = transport.clone();
            Box::pin(async move {
                let (parts, body) = request.into_parts();
                let r = payops_core::HttpRequest {
                    method: parts.method.to_string(),
                    url: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                        .collect(),
                    body,
                    timeout_ms: Some(10_000),
                    safe: true,
                };
                let got = transport
                    .send(r)
                    .await
                    .map_err(|e| TransportFailure(e.to_string()))?;
                let mut b = openidconnect::http::Response::builder().status(got.status);
                for (k, v) in &got.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.body(got.body)
                    .map_err(|e| TransportFailure(format!("the provider's answer: {e}")))
            }) as BoxedResponse
        }
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < METADATA_FOR
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| OidcError(format!("the issuer URL: {e}")))?;
        let http = self.http();
        let m = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %self.settings.issuer, error = %chain(&e), "OpenID discovery failed");
                OidcError(format!(
                    "the identity provider {} cannot be reached or does not describe itself: {}",
                    self.settings.issuer,
                    chain(&e)
                ))
            })?;
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn redirect(&self) -> Result<RedirectUrl, OidcError> {
        RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| OidcError(format!("auth.oidc.redirect_url: {e}")))
    }

    /// Starts a sign-in: the URL to send the browser to, the state it will
    /// bring back, and what to keep until it does.
    pub async fn begin(
        &self,
        return_to: &str,
    ) -> Result<(String, String, PendingLogin), OidcError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect()?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = super::random_secret();
        let nonce = super::random_secret();
        let (s, n) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(s),
                move || Nonce::new(n),
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok((
            url.to_string(),
            state,
            PendingLogin {
                nonce,
                pkce_verifier: verifier.secret().clone(),
                return_to: return_to.to_owned(),
            },
        ))
    }

    /// Finishes a sign-in: exchanges `code`, verifies the ID token, maps
    /// the roles claim.
    pub async fn finish(&self, code: &str, login: &PendingLogin) -> Result<Identity, OidcError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect()?);
        let http = self.http();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %chain(&e), "OpenID code exchange failed");
                OidcError(format!(
                    "the identity provider refused the sign-in: {}",
                    chain(&e)
                ))
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError("the identity provider sent no ID token".into()))?;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(login.nonce.clone()),
            )
            .map_err(|e| {
                tracing::warn!(error = %chain(&e), "an ID token did not verify");
                OidcError(format!("the ID token does not verify: {}", chain(&e)))
            })?;
        // The claims the crate does not model (the roles claim, any name
        // claim), read from the token it has just verified.
        let all = payload(&id_token.to_string())?;
        let subject = claims.subject().as_str().to_owned();
        let issuer = claims.issuer().as_str().trim_end_matches('/').to_owned();
        let display_name = self
            .settings
            .name_claims
            .iter()
            .find_map(|c| all.get(c).and_then(Value::as_str))
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| subject.clone());
        let groups: Vec<String> = match all.get(&self.settings.roles_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let grants = self
            .settings
            .roles
            .iter()
            .filter(|m| groups.contains(&m.value))
            .map(|m| Grant {
                role: m.role,
                accounts: m.accounts.clone(),
            })
            .collect();
        Ok(Identity {
            actor: format!("oidc:{issuer}#{subject}"),
            display_name,
            grants,
            groups,
        })
    }
}

/// The claims of a JWT's payload (the caller has verified it).
fn payload(jwt: &str) -> Result<serde_json::Map<String, Value>, OidcError> {
    let part = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError("the ID token is not a JWT".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| OidcError(format!("the ID token's payload: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| OidcError(format!("the ID token's payload: {e}")))
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
