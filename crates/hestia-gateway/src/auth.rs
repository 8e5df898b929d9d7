//! CUI sign-in and bearer tokens (ISO/IEC 10192-4-3 §10 security; `../shared/DESIGN.md` §4):
//! a CUI user signs in with their IGRS user account, checked against the stored SCRAM keys as
//! SASL PLAIN checks it (the password is never stored), and gets an opaque random token with
//! an expiry. Tokens live in memory, keyed by their SHA-256, so a lookup compares no secret
//! byte by byte. Failed sign-ins are throttled per account.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use hestia_router::throttle::Throttle;
use hestia_sasl::{HashAlg, ScramKeys};
use hestia_store::{AccountKind, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::model::CuiError;

/// How long a token is good for.
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Failed sign-ins allowed per account within [`FAILURE_WINDOW`] before sign-in is refused.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Past this many live tokens, expired ones are swept on issue (memory stays bounded by use).
const SWEEP_AT: usize = 10_000;

/// The same message for every failure, so sign-in tells nobody which accounts exist.
const BAD_CREDENTIALS: &str = "wrong username or password";

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: Duration,
    pub user: String,
}

#[derive(Debug)]
struct Entry {
    user: String,
    expires_at: Instant,
}

/// The token table and the sign-in throttle.
#[derive(Debug)]
pub struct Tokens {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
    failures: Throttle<String>,
    ttl: Duration,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new(TOKEN_TTL)
    }
}

impl Tokens {
    pub fn new(ttl: Duration) -> Tokens {
        Tokens {
            entries: RwLock::default(),
            failures: Throttle::new(MAX_FAILURES, FAILURE_WINDOW),
            ttl,
        }
    }

    /// Checks `username`/`password` against the account's stored keys; the normalised
    /// localpart on success. Only enabled user accounts sign in (a device is no CUI user).
    pub async fn verify(
        &self,
        store: &Store,
        username: &str,
        password: &str,
    ) -> Result<String, CuiError> {
        let user = hestia_proto::jid::normalize_localpart(username)
            .map_err(|_| CuiError::unauthorized(BAD_CREDENTIALS))?;
        if !self.failures.is_allowed(&user) {
            return Err(CuiError::unauthorized(
                "too many failed sign-ins; try again later",
            ));
        }
        let found = store.credentials(&user).await.map_err(CuiError::internal)?;
        let keys = match found {
            Some((c, false, AccountKind::User)) => Some(ScramKeys::from(&c.sha256)),
            _ => None,
        };
        if check(keys, password.to_owned()).await? {
            self.failures.clear(&user);
            Ok(user)
        } else {
            self.failures.record(&user);
            Err(CuiError::unauthorized(BAD_CREDENTIALS))
        }
    }

    /// Issues a fresh token for `user`.
    pub fn issue(&self, user: &str) -> Issued {
        let mut raw = [0u8; TOKEN_BYTES];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = Instant::now();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, e| e.expires_at > now);
        }
        entries.insert(
            digest(&token),
            Entry {
                user: user.to_owned(),
                expires_at: now + self.ttl,
            },
        );
        Issued {
            token,
            expires_in: self.ttl,
            user: user.to_owned(),
        }
    }

    /// Ends a token before its time (sign-out); false when it was not live.
    pub fn revoke(&self, token: &str) -> bool {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(token))
            .is_some()
    }

    /// The user a live token was issued to.
    pub fn user_of(&self, token: &str) -> Result<String, CuiError> {
        let key = digest(token);
        let now = Instant::now();
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            match entries.get(&key) {
                Some(e) if e.expires_at > now => return Ok(e.user.clone()),
                Some(_) => {}
                None => return Err(CuiError::unauthorized("unknown token")),
            }
        }
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        Err(CuiError::unauthorized(
            "the token has expired; sign in again",
        ))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Runs the key derivation off the async threads. An unknown account is checked against
/// throw-away keys so it costs what a real one costs and answers in the same time.
async fn check(keys: Option<ScramKeys>, password: String) -> Result<bool, CuiError> {
    tokio::task::spawn_blocking(move || match keys {
        Some(k) => k.verify_password(HashAlg::Sha256, &password),
        None => {
            let decoy = ScramKeys {
                salt: vec![0; 16],
                iterations: 4096,
                stored_key: Vec::new(),
                server_key: Vec::new(),
            };
            // Empty keys never match: only the cost is wanted.
            let _ = decoy.verify_password(HashAlg::Sha256, &password);
            false
        }
    })
    .await
    .map_err(CuiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorCode;

    #[test]
    fn tokens_resolve_until_they_expire() {
        let tokens = Tokens::new(Duration::from_secs(60));
        let issued = tokens.issue("alice");
        assert_eq!(issued.user, "alice");
        assert_eq!(tokens.user_of(&issued.token).expect("live"), "alice");
        assert_eq!(
            tokens.user_of("garbage").expect_err("unknown").code,
            ErrorCode::Unauthorized
        );
        // A zero lifetime is over the moment it is issued: expiry without waiting.
        let brief = Tokens::new(Duration::ZERO);
        let gone = brief.issue("alice");
        let expired = brief.user_of(&gone.token).expect_err("expired");
        assert_eq!(expired.code, ErrorCode::Unauthorized);
        assert!(expired.message.contains("expired"), "{}", expired.message);
        assert!(
            brief
                .user_of(&gone.token)
                .expect_err("forgotten")
                .message
                .contains("unknown")
        );
    }

    #[test]
    fn tokens_are_distinct_and_url_safe() {
        let tokens = Tokens::default();
        let (a, b) = (tokens.issue("alice").token, tokens.issue("alice").token);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
