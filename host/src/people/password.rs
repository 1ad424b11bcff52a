//! Local users' passwords: argon2id (RustCrypto's `argon2`, its default
//! parameters: 19 MiB, 2 passes, OWASP's recommendation), hashed and
//! checked off the async runtime; and the sign-in limiter.
//!
//! No user enumeration: a sign-in for a name nobody has checks the password
//! against a hash of the same cost, and every failure reads the same.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

/// The shortest password `payops users add|passwd` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes `password` as an argon2id PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// A hash nobody's password matches, checked for names nobody has (the
/// same cost as a real check).
static NOBODY: LazyLock<String> = LazyLock::new(|| {
    hash(&crate::people::random_secret()).expect("argon2 hashes a random password")
});

/// Computes the hash checked for unknown names now, off the caller's
/// thread, so that the first such sign-in takes as long as any other.
pub fn warm_up() {
    std::thread::spawn(|| LazyLock::force(&NOBODY));
}

/// Does `password` match `phc` (an argon2id PHC string)? `None` checks
/// against a hash nobody matches, taking as long.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    let (phc, real) = match phc {
        Some(p) => (p, true),
        None => (NOBODY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Is `password` acceptable for a new password?
pub fn check_new(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// Failed sign-ins counted per name and per client address over a window;
/// past the limit, sign-in is refused for the rest of the window whether
/// or not the password is right (the same answer for a name nobody has).
#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    per_name: u32,
    per_address: u32,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Limiter {
    /// `per_name` failures per name and `per_address` per client address
    /// within `window`.
    pub fn new(window: Duration, per_name: u32, per_address: u32) -> Limiter {
        Limiter {
            window,
            per_name,
            per_address,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(name: &str, address: Option<IpAddr>) -> [Option<String>; 2] {
        [
            Some(format!("name:{}", name.to_lowercase())),
            address.map(|a| format!("addr:{a}")),
        ]
    }

    /// How long until this name or address may try again, if it must wait.
    pub fn wait(&self, name: &str, address: Option<IpAddr>) -> Option<Duration> {
        let mut f = self.failures.lock().expect("the limiter's lock");
        let now = Instant::now();
        f.retain(|_, (since, _)| now.duration_since(*since) < self.window);
        Self::keys(name, address)
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let (since, n) = f.get(&k)?;
                let max = if k.starts_with("name:") {
                    self.per_name
                } else {
                    self.per_address
                };
                (*n >= max).then(|| self.window.saturating_sub(now.duration_since(*since)))
            })
            .max()
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, name: &str, address: Option<IpAddr>) {
        let mut f = self.failures.lock().expect("the limiter's lock");
        let now = Instant::now();
        for k in Self::keys(name, address).into_iter().flatten() {
            let e = f.entry(k).or_insert((now, 0));
            e.1 = e.1.saturating_add(1);
        }
    }

    /// Forgets a name's failures after a good sign-in.
    pub fn succeeded(&self, name: &str) {
        let mut f = self.failures.lock().expect("the limiter's lock");
        f.remove(&format!("name:{}", name.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("correct horse batterx", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("x", Some("not a phc string")));
    }

    #[test]
    fn the_limiter_holds_a_name_after_its_failures() {
        let l = Limiter::new(Duration::from_secs(60), 2, 100);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(l.wait("Ayse", Some(ip)), None);
        l.failed("ayse", Some(ip));
        assert_eq!(l.wait("ayse", Some(ip)), None);
        l.failed("AYSE", Some(ip));
        assert!(l.wait("ayse", Some(ip)).is_some());
        assert_eq!(l.wait("mehmet", Some(ip)), None);
        l.succeeded("ayse");
        assert_eq!(l.wait("ayse", Some(ip)), None);
    }
}
