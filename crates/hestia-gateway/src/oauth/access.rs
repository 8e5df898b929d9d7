//! Accepting access tokens: a JWT this server issued is valid when its signature verifies under a
//! published key, `iss` is this server, it has not expired and neither it (`jti`) nor its grant
//! (`gid`) was revoked. Verified claims are cached by the token's SHA-256 until `exp`, so a token
//! already seen costs a hash and three map lookups; revocation is checked on every use, so it
//! wins over the cache at once. Revocations are kept in the store too and loaded at first use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::OnceCell;

use super::AuthServer;
use super::jwt::{self, AccessClaims};

/// Past this many cached tokens, expired ones are swept on insert.
const SWEEP_AT: usize = 50_000;
/// Seconds of clock skew allowed past `exp`.
const LEEWAY: i64 = 0;

/// Why a token is not accepted (said in the 401's message).
pub type Refusal = &'static str;

/// The cache of verified tokens and the revocation lists.
#[derive(Debug, Default)]
pub struct Accepted {
    cache: RwLock<HashMap<[u8; 32], Arc<AccessClaims>>>,
    /// Revoked token ids, with the token's `exp` (kept until then).
    revoked_tokens: RwLock<HashMap<String, i64>>,
    /// Revoked grants, with when they were revoked.
    revoked_grants: RwLock<HashMap<String, i64>>,
    loaded: OnceCell<()>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Accepted {
    fn is_revoked(&self, claims: &AccessClaims) -> bool {
        read(&self.revoked_tokens).contains_key(&claims.jti)
            || read(&self.revoked_grants).contains_key(&claims.gid)
    }
}

impl AuthServer {
    /// Loads the revocations still in force from the store, once.
    async fn load_revocations(&self) -> Result<(), Refusal> {
        self.accepted
            .loaded
            .get_or_try_init(|| async {
                let now = self.now();
                let tokens = self.store.revoked_access_tokens(now).await;
                // A grant revoked longer ago than a token lives has no live token left.
                let since = now - self.settings.access_ttl - 60;
                let grants = self.store.revoked_oauth_grants(since).await;
                match (tokens, grants) {
                    (Ok(tokens), Ok(grants)) => {
                        // Their exact expiry is not needed: an access lifetime bounds it.
                        let until = now + self.settings.access_ttl;
                        write(&self.accepted.revoked_tokens)
                            .extend(tokens.into_iter().map(|j| (j, until)));
                        write(&self.accepted.revoked_grants)
                            .extend(grants.into_iter().map(|g| (g, now)));
                        Ok(())
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::error!(error = %e, "loading OAuth revocations failed");
                        Err("the token cannot be checked now")
                    }
                }
            })
            .await
            .map(|_| ())
    }

    /// The claims of a valid access token this server issued, whatever its audience.
    pub async fn verify_access_token(&self, token: &str) -> Result<Arc<AccessClaims>, Refusal> {
        self.load_revocations().await?;
        let now = self.now();
        let key = super::digest(token);
        let cached = read(&self.accepted.cache).get(&key).cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signed(token, now).await?);
                let mut cache = write(&self.accepted.cache);
                if cache.len() >= SWEEP_AT {
                    cache.retain(|_, c| c.exp > now);
                }
                cache.insert(key, claims.clone());
                claims
            }
        };
        if claims.exp + LEEWAY <= now {
            return Err("the access token has expired");
        }
        if self.accepted.is_revoked(&claims) {
            return Err("the access token was revoked");
        }
        Ok(claims)
    }

    async fn verify_signed(&self, token: &str, now: i64) -> Result<AccessClaims, Refusal> {
        let parsed = jwt::parse(token)?;
        let is_valid = self
            .keys
            .verify(
                &self.store,
                now,
                &parsed.kid,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "OAuth signing keys unavailable");
                "the token cannot be checked now"
            })?;
        if !is_valid {
            return Err("the access token's signature is not valid");
        }
        if parsed.claims.iss != self.settings.issuer {
            return Err("the access token is from another issuer");
        }
        Ok(parsed.claims)
    }

    /// Refuses the token with id `jti` from now until `exp`.
    pub(crate) async fn revoke_token_id(&self, jti: &str, exp: i64) -> Result<(), String> {
        self.load_revocations().await.map_err(str::to_owned)?;
        write(&self.accepted.revoked_tokens).insert(jti.to_owned(), exp);
        self.store
            .revoke_access_token(jti, exp)
            .await
            .map_err(|e| e.to_string())
    }

    /// Refuses every token of the grant from now on (in memory; the store is written by the caller
    /// or was already).
    pub(crate) fn forget_grant(&self, grant_id: &str) {
        let now = self.now();
        let horizon = now - self.settings.access_ttl - 60;
        let mut grants = write(&self.accepted.revoked_grants);
        grants.retain(|_, at| *at >= horizon);
        grants.insert(grant_id.to_owned(), now);
        let mut tokens = write(&self.accepted.revoked_tokens);
        tokens.retain(|_, exp| *exp > now);
    }

    /// Revokes a grant family in the store and here.
    pub(crate) async fn revoke_grant(&self, grant_id: &str) -> Result<(), String> {
        self.load_revocations().await.map_err(str::to_owned)?;
        self.forget_grant(grant_id);
        self.store
            .revoke_oauth_grant(grant_id, self.now())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
