//! Operators, sessions and CSRF.
//!
//! - Operators are configured in `[[console.operators]]` with an argon2 PHC
//!   hash of their password (`password_hash = "$argon2id$v=19$…"`, salted by
//!   construction) and/or the SHA-256 of a token (`token_sha256`), which a
//!   script sends as `Authorization: Bearer TOKEN`.
//! - A session is a cookie `reckon_session = base64url(json) "." base64url(HMAC-SHA256)`
//!   signed with the console key; it carries a random session id, the
//!   operator (if signed in) and an expiry. Changing the key or removing the
//!   operator from the configuration ends the session.
//! - Every form carries `csrf = base64url(HMAC(key, "csrf:" + session id))`;
//!   a POST without the token of its own session is refused (403), and no
//!   action is served on GET (405).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ConsoleSettings;

/// The session cookie's name.
pub const COOKIE: &str = "reckon_session";

/// A configured operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSettings {
    /// Recorded as the actor of every action (`console:NAME`).
    pub name: String,
    /// argon2 PHC string (`reckon console-hash` prints one).
    pub password_hash: Option<String>,
    /// Hex SHA-256 of a bearer token.
    pub token_sha256: Option<String>,
}

/// The decoded content of a session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random id; the CSRF token is derived from it.
    pub sid: String,
    /// The signed-in operator.
    pub op: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Signs and checks cookies and CSRF tokens.
#[derive(Clone)]
pub struct Keys {
    key: Vec<u8>,
}

fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Keys {
    /// The configured key, or a random one for this process (sessions then
    /// end when the process restarts).
    pub fn new(secret: Option<&str>) -> Keys {
        let key = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => random_hex().into_bytes(),
        };
        Keys { key }
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A fresh anonymous session valid for `ttl_secs`.
    pub fn fresh(&self, now: i64, ttl_secs: i64) -> Session {
        Session {
            sid: random_hex(),
            op: None,
            exp: now + ttl_secs,
        }
    }

    /// The cookie value of `session`.
    pub fn seal(&self, session: &Session) -> String {
        let body = serde_json::to_vec(session).unwrap_or_default();
        format!("{}.{}", B64.encode(&body), B64.encode(self.mac(&body)))
    }

    /// The session in a cookie value, if its signature holds and it has not expired.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let (body, sig) = value.split_once('.')?;
        let body = B64.decode(body).ok()?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(&body);
        mac.verify_slice(&sig).ok()?;
        let session: Session = serde_json::from_slice(&body).ok()?;
        (session.exp > now).then_some(session)
    }

    /// The CSRF token of a session.
    pub fn csrf(&self, session: &Session) -> String {
        B64.encode(self.mac(format!("csrf:{}", session.sid).as_bytes()))
    }

    /// True when `token` is the CSRF token of `session` (constant time).
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        let Ok(given) = B64.decode(token) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return false;
        };
        mac.update(format!("csrf:{}", session.sid).as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

/// Checks a name and password (or token) against the configured operators.
/// Every failure looks the same to the caller.
pub fn verify_password(settings: &ConsoleSettings, name: &str, secret: &str) -> Option<String> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let operator = settings.operators.iter().find(|o| o.name == name)?;
    if let Some(hash) = &operator.password_hash
        && let Ok(parsed) = PasswordHash::new(hash)
        && argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    {
        return Some(operator.name.clone());
    }
    if let Some(expected) = &operator.token_sha256
        && token_matches(expected, secret)
    {
        return Some(operator.name.clone());
    }
    None
}

/// The operator whose token this is (`Authorization: Bearer TOKEN`).
pub fn verify_token(settings: &ConsoleSettings, token: &str) -> Option<String> {
    settings
        .operators
        .iter()
        .find(|o| {
            o.token_sha256
                .as_deref()
                .is_some_and(|expected| token_matches(expected, token))
        })
        .map(|o| o.name.clone())
}

fn token_matches(expected_hex: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    if token.is_empty() {
        return false;
    }
    let digest = hex(&Sha256::digest(token.as_bytes()));
    digest
        .as_bytes()
        .ct_eq(expected_hex.trim().to_ascii_lowercase().as_bytes())
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id PHC hash of `password` with a random salt (for `[[console.operators]]`).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes = *uuid::Uuid::new_v4().as_bytes();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Hex SHA-256 of a token (for `token_sha256`).
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_sessions_open_only_untampered_and_unexpired() {
        let keys = Keys::new(Some("k"));
        let s = keys.fresh(100, 50);
        let sealed = keys.seal(&s);
        assert_eq!(keys.open(&sealed, 120), Some(s.clone()));
        assert_eq!(keys.open(&sealed, 151), None, "expired");
        let mut forged = s.clone();
        forged.op = Some("admin".into());
        let (_, sig) = sealed.split_once('.').unwrap();
        let body = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(keys.open(&format!("{body}.{sig}"), 120), None, "tampered");
        assert_eq!(
            Keys::new(Some("other")).open(&sealed, 120),
            None,
            "other key"
        );
        let token = keys.csrf(&s);
        assert!(keys.csrf_ok(&s, &token));
        assert!(!keys.csrf_ok(&keys.fresh(100, 50), &token));
    }

    #[test]
    fn passwords_and_tokens() {
        let settings = ConsoleSettings {
            operators: vec![OperatorSettings {
                name: "alice".into(),
                password_hash: Some(hash_password("correct horse").unwrap()),
                token_sha256: Some(token_digest("t0ken")),
            }],
            ..ConsoleSettings::default()
        };
        assert_eq!(
            verify_password(&settings, "alice", "correct horse").as_deref(),
            Some("alice")
        );
        assert_eq!(verify_password(&settings, "alice", "wrong"), None);
        assert_eq!(verify_password(&settings, "bob", "correct horse"), None);
        assert_eq!(
            verify_password(&settings, "alice", "t0ken").as_deref(),
            Some("alice")
        );
        assert_eq!(verify_token(&settings, "t0ken").as_deref(), Some("alice"));
        assert_eq!(verify_token(&settings, ""), None);
    }
}
