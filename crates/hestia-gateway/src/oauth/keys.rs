//! Signing keys (Ed25519, JWS `EdDSA`) with rotation, published as a JWK Set (RFC 7517, RFC 8037).
//! Keys live in the store so every restart and every gateway of a cluster signs and verifies with
//! the same ones. The current key signs; a superseded key stays published (and accepted) until
//! every token it signed has expired. The private key never leaves this module but to the store.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hestia_store::{SigningKey, Store, StoreError};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Seconds a superseded key outlives the longest token it may have signed (clock skew).
const RETIRE_LEEWAY: i64 = 60;
/// An unknown `kid` makes the ring reload from the store at most this often (another gateway of
/// the cluster may have rotated).
const RELOAD_EVERY: i64 = 10;

/// One key: its pair and the public half verifiers use.
struct Key {
    kid: String,
    pair: Ed25519KeyPair,
    created_at: i64,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Key {
    fn from_stored(stored: &SigningKey) -> Result<Key, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(&stored.private_key)
            .map_err(|_| KeyError::Unreadable(stored.kid.clone()))?;
        Ok(Key {
            kid: stored.kid.clone(),
            pair,
            created_at: stored.created_at,
        })
    }

    fn public(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn jwk(&self) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "x": B64.encode(self.public()),
            "kid": self.kid, "use": "sig", "alg": "EdDSA" })
    }
}

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("key generation failed")]
    Generate,
    #[error("token encoding failed: {0}")]
    Encode(String),
    #[error("stored key {0} is not a readable Ed25519 key")]
    Unreadable(String),
}

#[derive(Debug, Default)]
struct Loaded {
    /// Newest first; the first is current.
    keys: Vec<Arc<Key>>,
    loaded_at: i64,
}

/// The keys in use, loaded from the store on first use.
#[derive(Debug, Default)]
pub struct KeyRing {
    loaded: RwLock<Option<Loaded>>,
    /// One loader or rotator at a time.
    update: tokio::sync::Mutex<()>,
}

/// The RFC 7638 thumbprint of an Ed25519 public key: its `kid`.
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        B64.encode(public)
    );
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyRing {
    fn snapshot(&self) -> Option<Vec<Arc<Key>>> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.as_ref().map(|l| l.keys.clone())
    }

    async fn reload(&self, store: &Store, now: i64) -> Result<Vec<Arc<Key>>, KeyError> {
        let stored = store.signing_keys(now).await?;
        let keys = stored
            .iter()
            .map(|k| Key::from_stored(k).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Loaded {
            keys: keys.clone(),
            loaded_at: now,
        });
        Ok(keys)
    }

    /// The published keys, loading them (and creating the first) when needed.
    async fn keys(&self, store: &Store, now: i64) -> Result<Vec<Arc<Key>>, KeyError> {
        if let Some(keys) = self.snapshot().filter(|k| !k.is_empty()) {
            return Ok(keys);
        }
        let _guard = self.update.lock().await;
        let keys = self.reload(store, now).await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        self.rotate_locked(store, now, 0).await?;
        self.reload(store, now).await
    }

    /// Makes a new key current; the previous one stays published `keep_for` more seconds (the
    /// access-token lifetime) plus a leeway. The new key's `kid`.
    pub async fn rotate(&self, store: &Store, now: i64, keep_for: i64) -> Result<String, KeyError> {
        let _guard = self.update.lock().await;
        let kid = self.rotate_locked(store, now, keep_for).await?;
        self.reload(store, now).await?;
        Ok(kid)
    }

    async fn rotate_locked(
        &self,
        store: &Store,
        now: i64,
        keep_for: i64,
    ) -> Result<String, KeyError> {
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generate)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Generate)?;
        let kid = thumbprint(pair.public_key().as_ref());
        let key = SigningKey {
            kid: kid.clone(),
            private_key: pkcs8.as_ref().to_vec(),
            created_at: now,
            retires_at: None,
        };
        store
            .rotate_signing_key(
                &key,
                now.saturating_add(keep_for).saturating_add(RETIRE_LEEWAY),
            )
            .await?;
        tracing::info!(kid, "OAuth signing key rotated");
        Ok(kid)
    }

    /// Signs with the current key, rotating first when it is older than `rotate_after` seconds:
    /// `build` makes the signing input from the key's `kid`; the input and the signature.
    pub async fn sign(
        &self,
        store: &Store,
        now: i64,
        rotate_after: Option<i64>,
        keep_for: i64,
        build: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<(String, Vec<u8>), KeyError> {
        let mut keys = self.keys(store, now).await?;
        let is_due = |k: &[Arc<Key>]| {
            k.first()
                .zip(rotate_after)
                .is_some_and(|(key, after)| now - key.created_at >= after)
        };
        if is_due(&keys) {
            let _guard = self.update.lock().await;
            // Another request may have rotated while this one waited.
            keys = self.reload(store, now).await?;
            if is_due(&keys) || keys.is_empty() {
                self.rotate_locked(store, now, keep_for).await?;
                keys = self.reload(store, now).await?;
            }
        }
        let key = keys.first().ok_or(KeyError::Generate)?;
        let input = build(&key.kid).map_err(KeyError::Encode)?;
        let signature = key.pair.sign(input.as_bytes()).as_ref().to_vec();
        Ok((input, signature))
    }

    /// Whether `signature` over `message` is valid under the published key `kid`. An unknown kid
    /// reloads the keys (rate-limited) before it is refused.
    pub async fn verify(
        &self,
        store: &Store,
        now: i64,
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        let find = |keys: &[Arc<Key>]| keys.iter().find(|k| k.kid == kid).cloned();
        let mut key = find(&self.keys(store, now).await?);
        if key.is_none() {
            let is_stale = {
                let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
                loaded
                    .as_ref()
                    .is_none_or(|l| now - l.loaded_at >= RELOAD_EVERY)
            };
            if is_stale {
                let _guard = self.update.lock().await;
                key = find(&self.reload(store, now).await?);
            }
        }
        Ok(key.is_some_and(|k| {
            UnparsedPublicKey::new(&ED25519, k.public())
                .verify(message, signature)
                .is_ok()
        }))
    }

    /// The JWK Set of every published key, current first.
    pub async fn jwks(&self, store: &Store, now: i64) -> Result<Value, KeyError> {
        let keys = self.keys(store, now).await?;
        let stale = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|l| now - l.loaded_at >= RELOAD_EVERY);
        let keys = if stale {
            let _guard = self.update.lock().await;
            self.reload(store, now).await?
        } else {
            keys
        };
        Ok(json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_the_rfc_8037_thumbprint() {
        // RFC 8037 Appendix A.3: the thumbprint of the example Ed25519 key.
        let x = B64
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .expect("x");
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
