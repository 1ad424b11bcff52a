//! Signing, a leaf every other module may use: hex SHA-256 (bearer tokens
//! are stored as their hash), HMAC-SHA256 in hex (webhook signatures,
//! callback URL tokens) and its constant-time check, and the daemon's
//! callback URLs.
//!
//! A callback URL is `{server.public_url}/v1/callbacks/{provider}/{operation_id}/{token}`,
//! where `token` is the hex HMAC-SHA256 of `{provider}/{operation_id}`
//! under the callback secret: unguessable, bound to one operation.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Are `a` and `b` equal? In time that depends on their lengths only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Hex HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256_hex(key: &str, message: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Is `given` (hex) the HMAC-SHA256 of `message` under `key`? Compared in
/// constant time (`hmac`'s own check), whatever `given` holds.
pub(crate) fn hmac_sha256_hex_matches(key: &str, message: &str, given: &str) -> bool {
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut mac =
        HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The daemon's callback URLs and the secrets that sign them (the current
/// first; a previous one is accepted during a rotation).
#[derive(Clone)]
pub struct Callbacks {
    /// How providers reach the callback listener (`server.public_url`).
    pub public_url: String,
    /// Signing secrets, current first.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Callbacks {
    /// The token of `message` under the current secret.
    fn sign(&self, message: &str) -> String {
        hmac_sha256_hex(&self.secrets[0], message)
    }

    /// Is `given` the token of `message` under any secret?
    fn signs(&self, message: &str, given: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| hmac_sha256_hex_matches(s, message, given))
    }

    /// The callback URL of one operation.
    pub fn url(&self, provider: &str, operation_id: &str) -> String {
        format!(
            "{}/v1/callbacks/{provider}/{operation_id}/{}",
            self.public_url.trim_end_matches('/'),
            self.sign(&format!("{provider}/{operation_id}"))
        )
    }

    /// Is `given` the token of this operation under any secret?
    pub fn verify(&self, provider: &str, operation_id: &str, given: &str) -> bool {
        self.signs(&format!("{provider}/{operation_id}"), given)
    }

    /// The callback URL of one account, for a provider that posts to one
    /// URL per merchant (set once in its panel).
    pub fn account_url(&self, provider: &str, account: &str) -> String {
        format!(
            "{}/v1/callbacks/{provider}/accounts/{account}/{}",
            self.public_url.trim_end_matches('/'),
            self.sign(&account_message(provider, account))
        )
    }

    /// Is `given` the token of this account's callback URL under any
    /// secret?
    pub fn verify_account(&self, provider: &str, account: &str, given: &str) -> bool {
        self.signs(&account_message(provider, account), given)
    }
}

/// What an account's callback token signs: never an operation's message
/// (an operation's is `provider/operation_id`, with no newline).
fn account_message(provider: &str, account: &str) -> String {
    format!("account\n{provider}\n{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_urls_are_bound_to_one_account_and_never_pass_as_an_operation() {
        let cb = Callbacks {
            public_url: "https://payops.example/".into(),
            secrets: vec!["secret-0123456789abcdef".into()],
        };
        let url = cb.account_url("sipay", "shop");
        let (base, token) = url.rsplit_once('/').unwrap();
        assert_eq!(
            base,
            "https://payops.example/v1/callbacks/sipay/accounts/shop"
        );
        assert!(cb.verify_account("sipay", "shop", token));
        assert!(!cb.verify_account("sipay", "other", token));
        assert!(!cb.verify_account("paytr", "shop", token));
        assert!(!cb.verify("sipay", "shop", token));
        let op = cb.url("sipay", "shop");
        assert!(!cb.verify_account("sipay", "shop", op.rsplit_once('/').unwrap().1));
    }

    #[test]
    fn urls_are_bound_to_one_operation_and_rotation_keeps_old_ones_valid() {
        let old = Callbacks {
            public_url: "https://payops.example/".into(),
            secrets: vec!["old-secret-0123456789".into()],
        };
        let url = old.url("esnekpos", "op_1");
        assert!(
            url.starts_with("https://payops.example/v1/callbacks/esnekpos/op_1/"),
            "{url}"
        );
        let tok = url.rsplit('/').next().unwrap().to_owned();
        assert_eq!(tok.len(), 64);
        assert!(old.verify("esnekpos", "op_1", &tok));
        assert!(
            !old.verify("esnekpos", "op_2", &tok),
            "bound to its operation"
        );
        assert!(!old.verify("turkpos", "op_1", &tok), "and to its provider");
        // Rotated: new URLs use the new secret; the old ones still verify.
        let rotated = Callbacks {
            public_url: old.public_url.clone(),
            secrets: vec![
                "new-secret-0123456789".into(),
                "old-secret-0123456789".into(),
            ],
        };
        assert!(rotated.verify("esnekpos", "op_1", &tok));
        assert_ne!(rotated.url("esnekpos", "op_1"), url);
        let after = Callbacks {
            public_url: old.public_url.clone(),
            secrets: vec!["new-secret-0123456789".into()],
        };
        assert!(
            !after.verify("esnekpos", "op_1", &tok),
            "once the old secret is removed"
        );
        assert!(!old.verify("esnekpos", "op_1", "not hex"));
        assert!(!old.verify("esnekpos", "op_1", &tok[..62]));
        // The token is HMAC-SHA256("{provider}/{operation_id}") in hex:
        // printf 'esnekpos/op_1' | openssl dgst -sha256 -hmac old-secret-0123456789
        assert_eq!(
            tok,
            "cd616a47922b70daf8e18b3f33c4f69c7c92da2e67f4f8fcfbf298ab3799de62"
        );
    }
}

#[cfg(test)]
mod digests {
    /// `printf abc | sha256sum`, and RFC 4231's test case 2.
    #[test]
    fn known_digests() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mac = super::hmac_sha256_hex("Jefe", "what do ya want for nothing?");
        assert_eq!(
            mac,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(super::hmac_sha256_hex_matches(
            "Jefe",
            "what do ya want for nothing?",
            &mac
        ));
        assert!(super::hmac_sha256_hex_matches(
            "Jefe",
            "what do ya want for nothing?",
            &mac.to_uppercase()
        ));
        assert!(!super::hmac_sha256_hex_matches(
            "jefe",
            "what do ya want for nothing?",
            &mac
        ));
    }
}
